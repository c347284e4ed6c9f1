"""Model C: the semiclassical laser and frequency pulling (paper Sec. IV, Eqs. 24-30)."""

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls
from jaxtls._models.laser import laser_effective_energies, lasing_frequency, solve_laser
from jaxtls._models.laser_equations import rhs as _rhs
from jaxtls._models.laser_li import laser_li_curve
from jaxtls._models.laser_trajectory import laser_trajectory

BASE = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.05, g=0.05, gamma_u=0.01, gamma_l=0.02, gamma_b=0.005,
    mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05,
)  # fmt: skip


def fermi_np(E, mu, T):
    return 1.0 / (np.exp((E - mu) / T) + 1.0)


def random_above_threshold(n, seed):
    """Random parameters with the pump ratio r drawn in [1.3, 5] (g chosen to hit r)."""
    rng = np.random.default_rng(seed)
    p = dict(
        E_u=rng.uniform(0.9, 1.1, n), E_l=rng.uniform(-0.1, 0.1, n),
        gamma_u=rng.uniform(0.005, 0.03, n), gamma_l=rng.uniform(0.005, 0.03, n),
        gamma_b=rng.uniform(0.002, 0.03, n), T_u=rng.uniform(0.02, 0.1, n), T_l=rng.uniform(0.02, 0.1, n),
    )  # fmt: skip
    e0 = p["E_u"] - p["E_l"]
    p["omega_cav"] = e0 + rng.uniform(-0.04, 0.04, n)
    p["mu_u"] = p["E_u"] + rng.uniform(0.0, 0.2, n)
    p["mu_l"] = p["E_l"] - rng.uniform(0.0, 0.2, n)
    eu, el, w = laser_effective_energies(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    inversion = fermi_np(eu, p["mu_u"], p["T_u"]) - fermi_np(el, p["mu_l"], p["T_l"])
    gam = p["gamma_u"] + p["gamma_l"]
    denom = p["gamma_b"] * gam / 4 - (w - p["omega_cav"]) * (w - e0)
    r = rng.uniform(1.3, 5.0, n)
    phase = np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    p["g"] = np.sqrt(r * denom / inversion) * phase  # complex g: only |g| matters
    return p, r


# ------------------------------------------------------------------------------ closed form


def test_frequency_pulling_eq30_and_its_limits():
    p = dict(BASE, gamma_b=np.array([1e-9, 0.005, 0.03, 1e9]))
    res = solve_laser(**p)
    w = np.asarray(res.omega)
    gam = p["gamma_u"] + p["gamma_l"]
    expected = (gam * p["omega_cav"] + p["gamma_b"] * 1.0) / (gam + p["gamma_b"])
    np.testing.assert_allclose(w, expected, rtol=1e-14)
    np.testing.assert_allclose(w[0], p["omega_cav"], atol=1e-9)  # good cavity: omega -> omega_cav
    np.testing.assert_allclose(w[-1], 1.0, atol=1e-9)  # bad cavity: omega -> E_u - E_l
    assert np.all((w >= 1.0) & (w <= p["omega_cav"]))  # pulled in between
    # textbook form (Siegman 12.23) with Q_c = omega/gamma_b, Q_a = omega/Gamma
    qc, qa = w / p["gamma_b"], w / gam
    np.testing.assert_allclose(w, (qc * p["omega_cav"] + qa * 1.0) / (qc + qa), rtol=1e-13)
    # omega = E~_ph = E~_u - E~_l (Eq. 21), and Eq. 14 at omega gives the same E~_u, E~_l
    e = res.effective_energy
    np.testing.assert_allclose(w, np.asarray(e["ph"]), rtol=1e-14)
    np.testing.assert_allclose(w, np.asarray(e["u"] - e["l"]), rtol=1e-13)
    eu14, el14 = jaxtls.effective_energies_rwa(1.0, 0.0, w, p["gamma_u"], p["gamma_l"])
    np.testing.assert_allclose(np.asarray(eu14), np.asarray(e["u"]), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.asarray(el14), np.asarray(e["l"]), rtol=1e-13, atol=1e-14)


def test_closed_form_is_a_stationary_solution_of_the_equations_of_motion():
    """Plug the closed-form state into Eqs. (B1, B2, 25, 26) in the frame rotating at omega:
    every derivative vanishes. Eq. 27 and Eq. 28 give the same coherence."""
    p, _ = random_above_threshold(8, seed=3)
    res = solve_laser(**p)
    assert bool(np.all(res.lasing))
    for i in range(8):
        q = {k: v[i] for k, v in p.items()}
        w = float(res.omega[i])
        s = complex(res.coherence[i])
        a = float(res.amplitude[i])
        args = dict(
            g_re=q["g"].real, g_im=q["g"].imag, gamma_u=q["gamma_u"], gamma_l=q["gamma_l"],
            gamma_b=q["gamma_b"], f_u=float(res.occupation["u"][i]), f_l=float(res.occupation["l"][i]),
            delta_f=w - (q["E_u"] - q["E_l"]), detuning_f=w - q["omega_cav"], a0=1e-6,
        )  # fmt: skip
        y = jnp.array([res.populations["u"][i], res.populations["l"][i], s.real, s.imag, a, 0.0])
        d = np.asarray(_rhs(0.0, y, args))
        scale = q["gamma_u"] + q["gamma_l"] + q["gamma_b"]
        assert np.max(np.abs(d[:4])) < 1e-13 * scale
        assert np.max(np.abs(d[4:])) < 1e-13 * scale * a
        eq27 = (w - q["omega_cav"] + 0.5j * q["gamma_b"]) * q["g"] * a / abs(q["g"]) ** 2
        np.testing.assert_allclose(s, eq27, rtol=1e-12)


def test_threshold_and_intensity_closed_form():
    """r = 1 separates lasing from not; |g a|^2 = (r - 1) gamma_u gamma_l (Gamma^2/4 + Delta^2)/Gamma^2
    rises linearly from zero at threshold; R = gamma_b |a|^2 (photon balance)."""
    g = np.linspace(0.0, 0.05, 201)
    res = solve_laser(**dict(BASE, g=g))
    r = np.asarray(res.threshold)
    assert np.all(np.asarray(res.lasing) == (r > 1))
    assert np.all(np.asarray(res.intensity)[r <= 1] == 0)
    assert np.all(np.asarray(res.rate)[r <= 1] == 0)
    np.testing.assert_allclose(np.asarray(res.populations["u"])[r <= 1], np.asarray(res.occupation["u"])[r <= 1])
    assert np.any(r > 1) and np.any((r < 1) & (r > 0))
    gam = BASE["gamma_u"] + BASE["gamma_l"]
    delta = np.asarray(res.omega) - 1.0
    x = (r - 1) * BASE["gamma_u"] * BASE["gamma_l"] * (gam**2 / 4 + delta**2) / gam**2
    on = r > 1
    np.testing.assert_allclose(np.asarray(res.intensity)[on] * g[on] ** 2, x[on], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.rate)[on], BASE["gamma_b"] * np.asarray(res.intensity)[on], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.output_power), BASE["gamma_b"] * np.asarray(res.omega * res.intensity))
    # r is proportional to |g|^2 (f_u - f_l): threshold coupling from the closed form
    f_u, f_l = np.asarray(res.occupation["u"]), np.asarray(res.occupation["l"])
    denom = BASE["gamma_b"] * gam / 4 - (np.asarray(res.omega) - BASE["omega_cav"]) * delta
    np.testing.assert_allclose(r, g**2 * (f_u - f_l) / denom, rtol=1e-13)


def test_energy_bookkeeping_and_second_law():
    """Udot_u + Udot_l + P = 0 (first law with the output as work); with effective occupations
    the lead entropy production is positive whenever the laser runs. With bare occupations a
    laser can run with negative entropy production: E_u - E_l < mu_u - mu_l < omega."""
    p, _ = random_above_threshold(16, seed=5)
    res = solve_laser(**p)
    first = res.energy_current["u"] + res.energy_current["l"] + res.power
    assert np.max(np.abs(np.asarray(first))) < 1e-15
    assert np.all(np.asarray(res.entropy_production) > 0)
    bad = dict(BASE, omega_cav=1.1, mu_u=1.01, mu_l=-0.01, T_u=0.005, T_l=0.005, g=0.05)
    bare = solve_laser(**bad, occupations="bare")
    eff = solve_laser(**bad, occupations="effective")
    assert bool(bare.lasing) and float(bare.entropy_production) < 0
    assert float(bare.omega) > bad["mu_u"] - bad["mu_l"] > bad["E_u"] - bad["E_l"]
    assert not bool(eff.lasing)  # effective occupations are not inverted: no lasing, no violation
    sc = solve_laser(**bad, occupations="self_consistent")
    assert float(sc.threshold) == float(eff.threshold)


def test_gradients_of_closed_form():
    def intensity(w_cav):
        return solve_laser(**dict(BASE, omega_cav=w_cav)).intensity

    w0, h = 1.03, 1e-6
    grad = float(jax.grad(intensity)(w0))
    fd = (float(intensity(w0 + h)) - float(intensity(w0 - h))) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


# ------------------------------------------------------------------------------ integration


@pytest.fixture(scope="module")
def integrated():
    p, r = random_above_threshold(12, seed=7)
    rng = np.random.default_rng(8)
    frame = (p["E_u"] - p["E_l"]) + rng.uniform(-0.05, 0.05, 12)  # arbitrary rotating frames
    return p, r, solve_laser(**p, method="integrate", omega_frame=frame), solve_laser(**p)


def test_integration_converges_to_eq30_and_closed_form_intensity(integrated):
    p, r, num, cf = integrated
    assert bool(np.all(num.converged)) and bool(np.all(num.lasing))
    np.testing.assert_allclose(np.asarray(cf.threshold), r, rtol=1e-12)
    w30 = lasing_frequency(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    assert np.max(np.abs(np.asarray(num.omega) - w30)) < 1e-8
    np.testing.assert_allclose(np.asarray(num.intensity), np.asarray(cf.intensity), rtol=1e-6)
    for k in ("u", "l"):
        np.testing.assert_allclose(np.asarray(num.populations[k]), np.asarray(cf.populations[k]), atol=1e-8)
    np.testing.assert_allclose(np.asarray(num.coherence), np.asarray(cf.coherence), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(num.rate), np.asarray(cf.rate), rtol=1e-6)
    # photon balance in the integrated steady state: R = gamma_b |a|^2
    np.testing.assert_allclose(np.asarray(num.rate), p["gamma_b"] * np.asarray(num.intensity), rtol=1e-6)


def test_integrated_energy_currents_define_the_effective_energies(integrated):
    """Udot_a computed from the integrated state (Tr{H^R L_a rho}) equals E~_a Ndot_a with the
    Eq. 21 energies: they are the Appendix C fixed point E~_a = Udot_a/Ndot_a."""
    p, _, num, _ = integrated
    e_u = np.asarray(num.energy_current["u"]) / np.asarray(num.particle_current["u"])
    e_l = np.asarray(num.energy_current["l"]) / np.asarray(num.particle_current["l"])
    np.testing.assert_allclose(e_u, np.asarray(num.effective_energy["u"]), atol=1e-7)
    np.testing.assert_allclose(e_l, np.asarray(num.effective_energy["l"]), atol=1e-7)
    np.testing.assert_allclose(e_u - e_l, np.asarray(num.omega), atol=2e-7)


@pytest.fixture(scope="module")
def trajectories():
    """Two points above threshold (r = 3, 1.5) and two below (r = 0.6, 0.2)."""
    g_thr = 0.05 / np.sqrt(float(solve_laser(**BASE).threshold))
    g = g_thr * np.sqrt(np.array([3.0, 1.5, 0.6, 0.2]))
    ts = np.linspace(0.0, 40000.0, 801)
    traj = laser_trajectory(ts, **dict(BASE, g=g), omega_frame=1.0)
    return g, ts, traj


def linear_modes(g, inversion, omega_frame):
    """Least-damped eigenvalue of the linearised (sigma_ul, a) equations about a = 0
    (populations at f_u, f_l) in the frame rotating at omega_frame."""
    gam = BASE["gamma_u"] + BASE["gamma_l"]
    m = np.array([
        [1j * (omega_frame - 1.0) - gam / 2, 1j * g * inversion],
        [-1j * np.conj(g), 1j * (omega_frame - BASE["omega_cav"]) - BASE["gamma_b"] / 2],
    ])  # fmt: skip
    ev = np.linalg.eigvals(m)
    return ev[np.argmax(ev.real)]


def test_below_threshold_the_field_decays(trajectories):
    g, ts, traj = trajectories
    res = solve_laser(**dict(BASE, g=g))
    assert list(np.asarray(res.lasing)) == [True, True, False, False]
    amp = np.abs(np.asarray(traj["a"]))
    a0 = amp[:, 0]
    for i in (2, 3):
        resolved = amp[i] > 1e-16  # the integrator's atol is 1e-20
        assert amp[i, resolved][-1] < 1e-9 * a0[i]
        assert np.all(np.diff(amp[i, 50:][resolved[50:]]) < 0)  # monotonic decay
        # exponential: constant log-slope once the fast transient has gone
        late = np.flatnonzero((amp[i] > 1e-13) & (amp[i] < 1e-3 * a0[i]))
        rates = np.diff(np.log(amp[i, late])) / np.diff(ts[late])
        lam = linear_modes(g[i], float(res.occupation["u"][i] - res.occupation["l"][i]), omega_frame=1.0)
        np.testing.assert_allclose(rates, lam.real, rtol=1e-5)  # slowest linear mode
        assert lam.real < 0
    for i in (0, 1):  # above threshold the seed grows to the closed-form intensity
        np.testing.assert_allclose(amp[i, -1] ** 2, float(res.intensity[i]), rtol=1e-6)
    num = solve_laser(**dict(BASE, g=g), method="integrate")
    assert list(np.asarray(num.lasing)) == [True, True, False, False]
    for i in (2, 3):  # below threshold `omega` is the frequency of the decaying field
        lam = linear_modes(g[i], float(res.occupation["u"][i] - res.occupation["l"][i]), BASE["omega_cav"])
        np.testing.assert_allclose(float(num.omega[i]), BASE["omega_cav"] - lam.imag, rtol=1e-9)
    assert np.all(np.asarray(num.intensity)[2:] < 1e-12 * np.asarray(num.intensity)[0])
    np.testing.assert_allclose(np.asarray(num.intensity)[:2], np.asarray(res.intensity)[:2], rtol=1e-6)


def test_lasing_frequency_from_the_phase_of_the_trajectory(trajectories):
    """Independent of the solver's phase-rate formula: fit the unwrapped phase of a(t) at late
    times; omega = omega_frame - d(arg a)/dt equals Eq. 30 to 1e-8."""
    g, ts, traj = trajectories
    w30 = lasing_frequency(1.0, 0.0, BASE["omega_cav"], BASE["gamma_u"], BASE["gamma_l"], BASE["gamma_b"])
    late = ts > 30000
    for i in (0, 1):
        phase = np.unwrap(np.angle(np.asarray(traj["a"][i])[late]))
        slope, _ = np.polyfit(ts[late], phase, 1)
        assert abs(1.0 - slope - w30) < 1e-8
        resid = phase - np.polyval(np.polyfit(ts[late], phase, 1), ts[late])
        assert np.max(np.abs(resid)) < 1e-6  # a pure rotation: steady state reached


def test_integration_flags_non_convergence():
    # 1e-7 above threshold the relaxation is critically slow; batch of 12 (same compiled
    # program as the `integrated` fixture), one point given too little time
    g = 0.05 / np.sqrt(float(solve_laser(**BASE).threshold)) * 1.0000001 * np.ones(12)
    near = dict(BASE, g=g)
    with pytest.raises(jaxtls.SteadyStateError, match="threshold"):
        solve_laser(**near, method="integrate", t_max=300.0)
    res = solve_laser(**near, method="integrate", t_max=300.0, throw=False)
    assert not np.any(np.asarray(res.converged)) and np.all(np.asarray(res.residual) > 1e-10)


# ------------------------------------------------------------------------------ L-I curve


def test_li_curve():
    mu = np.linspace(0.9, 1.3, 401)
    li = laser_li_curve(mu, **{k: v for k, v in BASE.items() if k != "mu_u"}, pump_name="mu_u")
    res = solve_laser(**dict(BASE, mu_u=mu))
    np.testing.assert_allclose(np.asarray(li.output_power), BASE["gamma_b"] * np.asarray(res.omega * res.intensity))
    np.testing.assert_allclose(np.asarray(li.photon_flux), np.asarray(li.current), rtol=1e-12)
    off = ~np.asarray(li.lasing)
    assert np.any(off) and np.any(~off)
    assert np.all(np.asarray(li.output_power)[off] == 0)
    assert np.all(np.diff(np.asarray(li.output_power)) >= 0)  # monotonic in the pump
    # threshold pump in closed form: f_u(E~_u; mu_u*) = f_l + denominator / |g|^2
    eu, el, w = laser_effective_energies(1.0, 0.0, BASE["omega_cav"], BASE["gamma_u"], BASE["gamma_l"], BASE["gamma_b"])
    gam = BASE["gamma_u"] + BASE["gamma_l"]
    denom = BASE["gamma_b"] * gam / 4 - (w - BASE["omega_cav"]) * (w - 1.0)
    fu_star = fermi_np(el, BASE["mu_l"], BASE["T_l"]) + denom / BASE["g"] ** 2
    mu_star = eu - BASE["T_u"] * np.log(1 / fu_star - 1)
    np.testing.assert_allclose(float(li.pump_at_threshold), mu_star, atol=1e-5)
    # above threshold P_out is linear in the pump ratio r (slope from the closed form)
    on = ~off
    r = np.asarray(li.threshold)[on]
    slope = (
        BASE["gamma_b"] * w * BASE["gamma_u"] * BASE["gamma_l"] * (gam**2 / 4 + (w - 1) ** 2) / gam**2 / BASE["g"] ** 2
    )
    np.testing.assert_allclose(np.asarray(li.output_power)[on], slope * (r - 1), rtol=1e-12)
    # efficiency P_out / (R (mu_u - mu_l)) = omega/(mu_u - mu_l) < 1 (T_u = T_l, effective occupations)
    eff = np.asarray(li.output_power)[on] / np.asarray(li.input_power)[on]
    np.testing.assert_allclose(eff, w / (mu[on] - BASE["mu_l"]), rtol=1e-12)
    assert np.all(eff < 1)


# ------------------------------------------------------------------------------ API


def test_broadcasting():
    g = np.array([0.01, 0.03, 0.05])[:, None]
    wc = np.array([0.98, 1.0, 1.02, 1.06])
    res = solve_laser(**dict(BASE, g=g, omega_cav=wc))
    assert res.omega.shape == (3, 4) and res.lasing.shape == (3, 4) and res.populations["u"].shape == (3, 4)
    for i in range(3):
        for j in range(4):
            one = solve_laser(**dict(BASE, g=float(g[i, 0]), omega_cav=float(wc[j])))
            assert one.omega.shape == ()
            np.testing.assert_allclose(float(res.intensity[i, j]), float(one.intensity), rtol=1e-14)
    d = solve_laser(**BASE).to_dict()
    assert d["lasing"] is True and isinstance(d["omega"], float) and d["method"] == "closed_form"


@pytest.mark.parametrize(
    "change, name",
    [
        (dict(gamma_b=-0.01), "gamma_b"),
        (dict(gamma_u=0.0), "gamma_u"),
        (dict(T_u=0.0), "T_u"),
        (dict(T_l=-0.1), "T_l"),
        (dict(g=float("nan")), "g"),
        (dict(mu_l=float("inf")), "mu_l"),
        (dict(omega_cav=np.array([1.0, np.nan])), "omega_cav"),
    ],
)
def test_invalid_parameters_raise_naming_them(change, name):
    with pytest.raises(ValueError, match=name):
        solve_laser(**dict(BASE, **change))


def test_invalid_choices_raise():
    with pytest.raises(ValueError, match="occupations"):
        solve_laser(**BASE, occupations="thermal")
    with pytest.raises(ValueError, match="method"):
        solve_laser(**BASE, method="euler")
    with pytest.raises(ValueError, match="a0"):
        solve_laser(**BASE, method="integrate", a0=-1.0)
    with pytest.raises(ValueError, match="broadcast"):
        solve_laser(**dict(BASE, g=np.ones(3), omega_cav=np.ones(4)))


# ------------------------------------------------------------------------------ quantum cavity


def test_quantum_cavity_far_above_threshold_matches_semiclassical_laser():
    """Model B (Jaynes-Cummings with leads, solved exactly on a Fock space) far above threshold:
    <a^+ a> approaches the semiclassical |a|^2 (relative difference < 2e-3 here, for r = 27-133
    and ~65 photons; spontaneous emission is what the semiclassical model leaves out), and
    the effective photon energy E~_ph of Eq. 21 equals the lasing frequency of Eq. 30."""
    p = dict(BASE, omega_cav=np.array([1.0, 1.01, 1.03]), g=0.01, gamma_b=1e-4)
    laser = solve_laser(**p)
    assert bool(np.all(laser.lasing)) and np.all(np.asarray(laser.threshold) > 20)
    cav = jaxtls.solve_cavity(**p, T_b=0.01, n_max=180)
    n_ph = np.asarray(cav.populations["ph"])
    assert np.all(n_ph > 50)
    np.testing.assert_allclose(n_ph, np.asarray(laser.intensity), rtol=2e-3)
    np.testing.assert_allclose(np.asarray(cav.effective_energy["ph"]), np.asarray(laser.omega), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(cav.rate), np.asarray(laser.rate), rtol=2e-3)
    # and below threshold the quantum mode holds at most a few (spontaneous) photons
    below = jaxtls.solve_cavity(**dict(p, g=0.0005), T_b=0.01, n_max=180)
    assert not bool(np.any(solve_laser(**dict(p, g=0.0005)).lasing))
    assert np.all(np.asarray(below.populations["ph"]) < 2.0)


class _Messages(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_second_call_with_new_values_does_not_recompile():
    solve_laser(**dict(BASE, g=np.array([0.01, 0.02])))
    handler = _Messages()
    logging.getLogger("jax").addHandler(handler)
    try:
        with jax.log_compiles():
            solve_laser(**dict(BASE, g=np.array([0.03, 0.04]), mu_u=1.5, T_l=0.02))
    finally:
        logging.getLogger("jax").removeHandler(handler)
    assert not [m for m in handler.messages if m.startswith("Compiling")], handler.messages


# ------------------------------------------------------------------------------ stability


def _lorenz_point(r, sigma=3.25, gamma=0.01):
    """Resonant laser with gamma_u = gamma_l = gamma (so gamma_perp = gamma_par = gamma, Lorenz
    b = 1) and a bad cavity gamma_b = sigma Gamma (Lorenz sigma = kappa / gamma_perp with
    kappa = gamma_b / 2), with the coupling chosen for the pump ratio r of Eq. 29."""
    p = dict(E_u=1.0, E_l=0.0, omega_cav=1.0, gamma_u=gamma, gamma_l=gamma, gamma_b=2 * gamma * sigma,
             mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05)  # fmt: skip
    inversion = fermi_np(1.0, 2.0, 0.05) - fermi_np(0.0, -1.0, 0.05)
    p["g"] = np.sqrt(np.asarray(r) * p["gamma_b"] * 2 * gamma / 4 / inversion)
    return p


def test_stability_threshold_is_the_lorenz_haken_second_threshold():
    """At resonance with gamma_u = gamma_l the laser equations are the Lorenz equations (Haken
    1975): the lasing state loses stability at r_H = sigma (sigma + b + 3) / (sigma - b - 1)
    through a Hopf bifurcation of frequency gamma_perp sqrt(b (sigma + r_H))."""
    sigma, b, gamma = 3.25, 1.0, 0.01
    r_h = sigma * (sigma + b + 3) / (sigma - b - 1)
    rs = r_h * np.array([0.5, 1 - 1e-4, 1 + 1e-4, 2.0])
    res = solve_laser(**_lorenz_point(rs, sigma, gamma), throw=False)
    growth = np.asarray(res.growth_rate)
    assert np.all(np.asarray(res.lasing))
    assert growth[0] < 0 and growth[1] < 0 and growth[2] > 0 and growth[3] > 0, growth
    np.testing.assert_array_equal(np.asarray(res.stable), [True, True, False, False])
    np.testing.assert_array_equal(np.asarray(res.ok), [True, True, False, False])
    # the zero crossing, interpolated between r_H (1 -+ 1e-4), is r_H to 1e-7 relative
    r_cross = rs[1] - growth[1] * (rs[2] - rs[1]) / (growth[2] - growth[1])
    assert abs(r_cross / r_h - 1) < 1e-7
    # and the critical pair oscillates at the Lorenz Hopf frequency (in the rotating frame)
    hopf = solve_laser(**_lorenz_point(r_h, sigma, gamma), throw=False)
    assert abs(float(hopf.growth_rate)) < 1e-9 * gamma
    freq = _critical_frequency(hopf, _lorenz_point(r_h, sigma, gamma))
    np.testing.assert_allclose(abs(freq), gamma * np.sqrt(b * (sigma + r_h)), rtol=1e-7)


def _critical_frequency(res, p):
    from jaxtls._models.laser_equations import linear_stability, ode_args, prepare

    flat, _ = prepare(dict(p, omega_frame=None, a0=None), "effective")
    flat["omega_frame"] = jnp.atleast_1d(res.omega)
    y = jnp.stack([res.populations["u"], res.populations["l"], jnp.real(res.coherence),
                   jnp.imag(res.coherence), res.amplitude, 0 * res.amplitude]).reshape(1, 6)  # fmt: skip
    return float(linear_stability(y, ode_args(flat, "effective"), jnp.array([True]))[1][0])


def _perturbation_growth(p, res, t_end, eps=1e-7):
    """Integrate Eqs. (B1, B2, 25, 26) from the closed-form state plus a perturbation (diffrax,
    independent of the eigenvalue analysis) and return |y(t_end) - y*| / |y(0) - y*|."""
    import diffrax

    from jaxtls._models.laser_equations import ode_args, prepare

    flat, _ = prepare(dict(p, omega_frame=None, a0=None), "effective")
    flat["omega_frame"] = jnp.atleast_1d(res.omega)
    args = jax.tree_util.tree_map(lambda x: x[0], ode_args(flat, "effective"))
    y_star = jnp.array([float(res.populations["u"]), float(res.populations["l"]), float(jnp.real(res.coherence)),
                        float(jnp.imag(res.coherence)), float(res.amplitude), 0.0])  # fmt: skip
    dy = eps * jnp.array([1.0, -1.0, 0.5, 0.3, 1.0, 0.0]) * jnp.maximum(jnp.abs(y_star), 1e-3)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(_rhs), diffrax.Dopri8(), t0=0.0, t1=t_end, dt0=None, y0=y_star + dy, args=args,
        stepsize_controller=diffrax.PIDController(rtol=1e-11, atol=1e-16), max_steps=400_000,
    )  # fmt: skip

    # the phase of (sigma_ul, a) drifts freely (neutral mode): compare gauge-invariant quantities
    def invariants(y):
        return jnp.array([y[0], y[1], jnp.hypot(y[2], y[3]), jnp.hypot(y[4], y[5])])

    return float(jnp.linalg.norm(invariants(sol.ys[-1]) - invariants(y_star)) / jnp.linalg.norm(dy))


def test_unstable_bad_cavity_point_is_flagged_and_raises():
    """The issue's bad-cavity point: gamma_b = 6.5 Gamma / 2, pump ratio 348 (far beyond the
    Lorenz-Haken threshold r_H = 18.85): the closed form is a fixed point but not what the laser
    does. It raises by default, is flagged with throw=False (also under jit), and a perturbation
    of it grows in a direct integration while one of a stable point decays."""
    p = _lorenz_point(348.0)
    with pytest.raises(jaxtls.SteadyStateError, match="linearly unstable"):
        solve_laser(**p)
    res = solve_laser(**p, throw=False)
    assert bool(res.lasing) and not bool(res.stable) and not bool(res.ok)
    growth = float(res.growth_rate)
    assert growth > 1e-5
    assert _perturbation_growth(p, res, t_end=15 / growth) > 1e3
    p_ok = _lorenz_point(10.0)
    res_ok = solve_laser(**p_ok)
    assert bool(res_ok.stable) and float(res_ok.growth_rate) < 0
    assert _perturbation_growth(p_ok, res_ok, t_end=15 / abs(float(res_ok.growth_rate))) < 1e-3
    # under jit: throw=True raises inside the computation, throw=False flags
    g = float(p["g"])
    kw = {k: v for k, v in p.items() if k != "g"}
    with pytest.raises(Exception, match="cannot be trusted"):
        jax.block_until_ready(jax.jit(lambda g: solve_laser(**kw, g=g).intensity)(g))
    ok = jax.jit(lambda g: solve_laser(**kw, g=g, throw=False).ok)(g)
    assert not bool(ok)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(rtol=-1.0), "rtol"),
        (dict(atol=float("nan")), "atol"),
        (dict(t_max=-1.0), "t_max"),
        (dict(steady_tol=0.0), "steady_tol"),
        (dict(max_steps=0), "max_steps"),
        (dict(max_steps=1.5), "max_steps"),
    ],
)
def test_integration_controls_are_checked(kwargs, name):
    with pytest.raises(ValueError, match=name):
        solve_laser(**BASE, method="integrate", **kwargs)


def test_none_and_vanishing_coupling_are_refused():
    with pytest.raises(ValueError, match="E_u is required"):
        solve_laser(**dict(BASE, E_u=None))
    with pytest.raises(ValueError, match="g is too small"):
        solve_laser(**dict(BASE, g=1e-300), method="integrate")
    # the closed form handles it: no lasing, finite, trusted
    res = solve_laser(**dict(BASE, g=1e-300))
    assert not bool(res.lasing) and float(res.intensity) == 0.0 and bool(res.ok)
