"""Transients with diffrax (issue 5, item 5): `jaxtls.evolve` returns rho(t) and the flows of
Eqs. 5-6 over time from any initial state, for the classical model (A), the cavity model (B) and
any `FermionicSystem` (Model E), with a selectable solver and tolerances.

Every reference is independent of the integrator: steady-state solvers (`solve_classical`,
`solve_cavity`, the Floquet harmonic expansion), the closed form of Model A (A8-A12), the exact
relaxation of a single level, and flows re-evaluated here in NumPy from ``rho(t)``
(``Tr{O rate D[s] rho}`` with ``D[s]rho = s rho s^+ - {s^+ s, rho}/2``, Eq. 8). Units: hbar = 1.
"""

import diffrax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._models.floquet import FloquetHarmonics, periodic_steady_state
from jaxtls._models.system import FermionicSystem, Lead

# Model A with rates large enough that the slowest decay rate of the Liouvillian is 0.176
# (checked: eigenvalues of the rotating-frame generator), so e^{-0.176 * 150} ~ 5e-12 at t = 150
MODEL_A = dict(
    E_u=1.0, E_l=0.0, omega=1.1, eps=0.1, gamma_u=0.3, gamma_l=0.5, mu_u=0.9, mu_l=0.1, T_u=0.1, T_l=0.15
)  # fmt: skip
# Model B (population inversion, mu_u - mu_l > omega_cav: the cavity is pumped) at n_max = 4
CAVITY = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.05, g=0.1, gamma_u=0.3, gamma_l=0.4, gamma_b=0.2,
    mu_u=1.2, mu_l=-0.2, T_u=0.1, T_l=0.1, T_b=0.1,
)  # fmt: skip
TIGHT = dict(rtol=1e-10, atol=1e-12)


def lindblad_flow(op, rate, s, rho):
    """``Tr{op rate D[s] rho}`` for a stack ``rho`` ``(n_t, d, d)`` (``op`` ``(d, d)`` or
    ``(n_t, d, d)``), in NumPy: independent of the engine's vectorisation."""
    s = np.asarray(s, complex)
    sd = s.conj().T
    d_rho = s @ rho @ sd - 0.5 * (sd @ s @ rho + rho @ sd @ s)
    return float(rate) * np.real(np.trace(np.asarray(op) @ d_rho, axis1=-2, axis2=-1))


def expect(op, rho):
    return np.trace(np.asarray(op) @ rho, axis1=-2, axis2=-1)


# ------------------------------------------------------------------------------------------------
# (a) Model A: long-time limit = steady state of solve_classical; flows at every time
# ------------------------------------------------------------------------------------------------
def test_classical_model_relaxes_to_solve_classical():
    """From the empty state, the lab-frame master equation of Model A reaches the steady state of
    `solve_classical` (populations, rate, energy currents, power) to 1e-9 at t = 150 (the
    slowest decay rate is 0.176), and its coherence rotates as sigma_ul e^{-i omega t} with the
    closed-form sigma_ul (A8-A12). The energy flows and the power `evolve` reports equal
    Tr{H(t) L_a rho(t)} and Tr{rho dH/dt} evaluated here, at early (transient) times too."""
    h, jumps = jt.classical_master_equation(**MODEL_A)
    omega = MODEL_A["omega"]
    period = 2 * np.pi / omega
    ts = np.concatenate([[0.0, 0.7, 3.0], 150.0 + period * np.arange(4) / 4])
    sol = jt.evolve((h, jumps), jt.empty_state(2), ts, **TIGHT)
    assert bool(sol.ok)
    assert sol.energy_current.shape == (ts.size, 4)
    rho = np.asarray(sol.rho)
    np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1.0, atol=1e-12)

    r = jt.solve_classical(**MODEL_A)
    cf = jt.classical_closed_form(**MODEL_A)
    cu, cl = jt.fermion_annihilators(2)
    nu, nl = cu.T @ cu, cl.T @ cl
    late = slice(3, None)
    tol = 1e-9
    np.testing.assert_allclose(np.real(expect(nu, rho[late])), r.populations["u"], rtol=0, atol=tol)
    np.testing.assert_allclose(np.real(expect(nl, rho[late])), r.populations["l"], rtol=0, atol=tol)
    # particle currents (Eq. 5) from rho(t): Ndot_u = R, Ndot_l = -R
    n_u = lindblad_flow(nu, jumps[0][0], jumps[0][1], rho) + lindblad_flow(nu, jumps[1][0], jumps[1][1], rho)
    n_l = lindblad_flow(nl, jumps[2][0], jumps[2][1], rho) + lindblad_flow(nl, jumps[3][0], jumps[3][1], rho)
    np.testing.assert_allclose(n_u[late], r.rate, rtol=0, atol=tol)
    np.testing.assert_allclose(n_l[late], r.particle_current["l"], rtol=0, atol=tol)
    # energy currents: the per-jump flows of evolve, summed per lead
    u = np.asarray(sol.energy_current)
    np.testing.assert_allclose(u[late, 0] + u[late, 1], r.energy_current["u"], rtol=0, atol=tol)
    np.testing.assert_allclose(u[late, 2] + u[late, 3], r.energy_current["l"], rtol=0, atol=tol)
    np.testing.assert_allclose(np.asarray(sol.power)[late], r.power, rtol=0, atol=tol)
    # lab-frame coherence <c_l^+ c_u>(t) = sigma_ul e^{-i omega t}
    coh = expect(cl.T @ cu, rho[late])
    np.testing.assert_allclose(coh, cf["sigma_ul"] * np.exp(-1j * omega * ts[late]), rtol=0, atol=tol)
    # the start is far from the steady state (the comparison above is not trivially met)
    assert abs(float(r.populations["l"])) > 0.5 and np.real(expect(nl, rho[0])) == 0.0
    assert abs(n_u[1] - float(r.rate)) > 1e-2

    # the reported flows at every save time, transient included, equal the NumPy evaluation
    hs = np.stack([np.asarray(h(t)) for t in ts])
    for k, (rate, s) in enumerate(jumps):
        np.testing.assert_allclose(u[:, k], lindblad_flow(hs, rate, s, rho), rtol=0, atol=1e-13)
    hop = cu.T @ cl  # dH/dt = -i omega eps e^{-i omega t} c_u^+ c_l + h.c.
    dh = -1j * omega * MODEL_A["eps"] * np.exp(-1j * omega * ts)[:, None, None] * hop
    dh = dh + np.conj(np.swapaxes(dh, 1, 2))
    np.testing.assert_allclose(sol.power, np.real(expect(dh, rho)), rtol=0, atol=1e-13)
    np.testing.assert_allclose(sol.energy, np.real(expect(hs, rho)), rtol=0, atol=1e-13)


# ------------------------------------------------------------------------------------------------
# (b) + (d) a single level and one lead: exact relaxation, for several solvers
# ------------------------------------------------------------------------------------------------
LEVEL = dict(E=0.3, mu=0.1, T=0.2, gamma=0.7)
N0, COH0 = 0.9, 0.2 - 0.1j  # initial <n> and <1|rho|0> (|COH0|^2 <= N0 (1 - N0))


def single_level():
    return FermionicSystem(jnp.array([[LEVEL["E"]]]), [Lead(0, LEVEL["mu"], LEVEL["T"], LEVEL["gamma"], name="lead")])


def single_level_exact(ts):
    """n(t) = f + (n0 - f) e^{-gamma t}; <1|rho|0>(t) = rho_10(0) e^{-(i E + gamma/2) t}."""
    f = 1.0 / (np.exp((LEVEL["E"] - LEVEL["mu"]) / LEVEL["T"]) + 1.0)
    g = LEVEL["gamma"]
    n = f + (N0 - f) * np.exp(-g * ts)
    coh = COH0 * np.exp(-(1j * LEVEL["E"] + g / 2) * ts)
    return f, n, coh


RHO0_LEVEL = np.array([[1 - N0, np.conj(COH0)], [COH0, N0]])  # basis |0>, |1>


# tolerances as arrays: they are traced, so every tolerance shares one compiled program
TIGHT_TRACED = dict(rtol=jnp.asarray(1e-10), atol=jnp.asarray(1e-12))


@pytest.mark.parametrize(
    "options",
    [
        TIGHT_TRACED,  # the default solver (Tsit5) with the default PID controller at these tolerances
        # an implicit (stiff) solver with a step-size controller of one's own
        dict(solver=diffrax.Kvaerno5(), stepsize_controller=diffrax.PIDController(rtol=1e-12, atol=1e-14)),
    ],
    ids=["tsit5", "kvaerno5-controller"],
)
def test_single_level_relaxation_closed_form(options):
    """One level (energy E) and one lead (Eq. 8): n(t) = f + (n0 - f) e^{-gamma t}, the
    coherence decays at gamma/2 and rotates at E, Ndot(t) = gamma (f - n(t)), Udot = E Ndot,
    P = 0 -- to 1e-8 with the default explicit solver and with an implicit one (errors
    measured: 2e-11 and 2e-10)."""
    ts = np.linspace(0.0, 8.0, 17)  # gamma t up to 5.6
    sol = jt.evolve(single_level(), RHO0_LEVEL, ts, **options)
    assert bool(sol.ok)
    f, n_exact, coh_exact = single_level_exact(ts)
    rho = np.asarray(sol.rho)
    tol = 1e-8
    np.testing.assert_allclose(rho[:, 1, 1].real, n_exact, rtol=0, atol=tol)
    np.testing.assert_allclose(rho[:, 1, 0], coh_exact, rtol=0, atol=tol)
    np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1.0, atol=1e-12)
    ndot = LEVEL["gamma"] * (f - n_exact)
    np.testing.assert_allclose(sol.particle_current[:, 0], ndot, rtol=0, atol=tol)
    np.testing.assert_allclose(sol.energy_current[:, 0], LEVEL["E"] * ndot, rtol=0, atol=tol)
    np.testing.assert_allclose(sol.power, 0.0, atol=1e-15)
    np.testing.assert_allclose(sol.energy, LEVEL["E"] * n_exact, rtol=0, atol=tol)
    assert sol.lead_names == ("lead",)


def test_superoperator_generator_closed_form():
    """The third kind of generator, a callable t -> L(t) (d^2 x d^2, row-major vectorisation:
    vec(A rho B) = (A kron B^T) vec(rho)), built here with NumPy for the single level: rho(t)
    follows the same closed form; no flows are reported for it."""
    g, e = LEVEL["gamma"], LEVEL["E"]
    f = 1.0 / (np.exp((e - LEVEL["mu"]) / LEVEL["T"]) + 1.0)
    c = np.array([[0.0, 1.0], [0.0, 0.0]])  # |0><1|
    eye = np.eye(2)

    def dissipator(s):
        sds = s.conj().T @ s
        return np.kron(s, s.conj()) - 0.5 * np.kron(sds, eye) - 0.5 * np.kron(eye, sds.T)

    h = e * c.T @ c
    lv = -1j * (np.kron(h, eye) - np.kron(eye, h.T)) + g * f * dissipator(c.T) + g * (1 - f) * dissipator(c)
    ts = np.linspace(0.0, 8.0, 17)
    sol = jt.evolve(lambda t: jnp.asarray(lv), RHO0_LEVEL, ts, **TIGHT)
    _, n_exact, coh_exact = single_level_exact(ts)
    rho = np.asarray(sol.rho)
    np.testing.assert_allclose(rho[:, 1, 1].real, n_exact, rtol=0, atol=1e-8)
    np.testing.assert_allclose(rho[:, 1, 0], coh_exact, rtol=0, atol=1e-8)
    assert sol.energy_current is None and sol.power is None


def test_tolerances_are_honoured():
    """rtol/atol reach the step-size controller: loose tolerances take fewer steps and give a
    larger (but still controlled) error against the closed form than tight ones (measured:
    2e-5 in 9 steps at rtol = 1e-4, 1e-12 in 141 steps at rtol = 1e-11)."""
    ts = np.linspace(0.0, 8.0, 17)
    _, n_exact, _ = single_level_exact(ts)

    def run(rtol, atol):
        sol = jt.evolve(single_level(), RHO0_LEVEL, ts, rtol=jnp.asarray(rtol), atol=jnp.asarray(atol))
        return float(np.max(np.abs(np.asarray(sol.rho)[:, 1, 1].real - n_exact))), int(sol.num_steps)

    err_loose, steps_loose = run(1e-4, 1e-6)
    err_tight, steps_tight = run(1e-11, 1e-13)
    assert err_tight < 1e-9
    assert 10 * err_tight < err_loose < 1e-3
    assert steps_loose < steps_tight


# ------------------------------------------------------------------------------------------------
# (c) Model B: long-time limit = solve_cavity at the same Fock cutoff
# ------------------------------------------------------------------------------------------------
def test_cavity_model_relaxes_to_solve_cavity():
    """The Jaynes-Cummings master equation (n_max = 4, dimension 20) from the empty state
    (no carriers, no photons) reaches the steady state of `solve_cavity` at the same cutoff:
    populations, <a^+ a>, rate, the three energy currents and the photon current, to 1e-9."""
    n_max = 4
    h, jumps = jt.cavity_master_equation(**CAVITY, n_max=n_max)
    d = 4 * (n_max + 1)
    rho0 = np.zeros((d, d))
    rho0[0, 0] = 1.0  # |n_u = 0, n_l = 0> x |n = 0>
    ts = np.array([0.0, 2.0, 280.0, 300.0])
    sol = jt.evolve((h, jumps), rho0, ts, **TIGHT)
    assert bool(sol.ok)
    # P(n_max) ~ 2e-6: the same truncation on both sides, so the Fock check is relaxed to 1e-5
    r = jt.solve_cavity(**CAVITY, n_max=n_max, fock_tol=1e-5, throw=False)
    assert bool(r.diagnostics.ok)
    rho = np.asarray(sol.rho)
    cu, cl = jt.fermion_annihilators(2)
    a = jt.boson_annihilator(n_max)
    eye_f, eye_b = np.eye(4), np.eye(n_max + 1)
    nu, nl = jt.tensor(cu.T @ cu, eye_b), jt.tensor(cl.T @ cl, eye_b)
    nph = jt.tensor(eye_f, a.T @ a)
    late = slice(2, None)
    tol = 1e-9
    np.testing.assert_allclose(np.real(expect(nu, rho[late])), r.populations["u"], rtol=0, atol=tol)
    np.testing.assert_allclose(np.real(expect(nl, rho[late])), r.populations["l"], rtol=0, atol=tol)
    np.testing.assert_allclose(np.real(expect(nph, rho[late])), r.populations["ph"], rtol=0, atol=tol)
    rate = sum(lindblad_flow(nu, *jumps[k], rho[late]) for k in (0, 1))
    np.testing.assert_allclose(rate, r.rate, rtol=0, atol=tol)
    photons_in = sum(lindblad_flow(nph, *jumps[k], rho[late]) for k in (4, 5))
    np.testing.assert_allclose(photons_in, r.particle_current["b"], rtol=0, atol=tol)
    u = np.asarray(sol.energy_current)
    for name, pair in (("u", (0, 1)), ("l", (2, 3)), ("b", (4, 5))):
        np.testing.assert_allclose(u[late, pair[0]] + u[late, pair[1]], r.energy_current[name], rtol=0, atol=tol)
        np.testing.assert_allclose(u[:, pair[0]], lindblad_flow(h, *jumps[pair[0]], rho), rtol=0, atol=1e-13)
    np.testing.assert_allclose(sol.power, 0.0, atol=1e-15)  # static Hamiltonian
    assert float(r.populations["ph"]) > 0.05 and abs(float(r.rate)) > 1e-2  # a lasing-like, busy state
    assert abs(np.real(expect(nph, rho[1])) - float(r.populations["ph"])) > 1e-2  # t = 2 is still transient


# ------------------------------------------------------------------------------------------------
# Model E: a driven FermionicSystem beyond the RWA, against the Floquet periodic steady state
# ------------------------------------------------------------------------------------------------
def test_driven_system_approaches_floquet_periodic_state():
    """Two levels with a drive 2 eps cos(omega t) (c_u^+ c_l + h.c.) and Coulomb U: after the
    transient, rho(t) over one period equals the Floquet periodic steady state rho_ss(t)
    (`FloquetHarmonics`), and the period averages of the time-resolved flows (Udot_a(t),
    Ndot_a(t), P(t)) equal the period-averaged flows C1, C2 and Eq. 6, to 1e-9."""
    q = dict(E_u=1.0, E_l=0.0, omega=0.9, eps=0.15, U=0.4, mu_u=0.7, mu_l=0.2, T_u=0.1, T_l=0.2)
    h = jnp.diag(jnp.array([q["E_u"], q["E_l"]]))
    drive = jnp.array([[0.0, q["eps"]], [q["eps"], 0.0]], jnp.complex128)
    system = FermionicSystem(
        h,
        [Lead(0, q["mu_u"], q["T_u"], 0.4, name="u"), Lead(1, q["mu_l"], q["T_l"], 0.5, name="l")],
        interaction={(0, 1): q["U"]},
        drive={1: drive},
        omega=q["omega"],
    )
    period = 2 * np.pi / q["omega"]
    n_per = 32  # equally spaced samples: the rectangle rule is spectrally accurate for a periodic function
    t_start = 20 * period  # ~140: the transient has decayed far below 1e-9 (checked at 40 periods too)
    ts = np.concatenate([[0.0], t_start + period * np.arange(n_per) / n_per])
    sol = jt.evolve(system, jt.empty_state(2), ts, **TIGHT)
    assert bool(sol.ok)
    assert sol.lead_names == ("u", "l")
    ss = periodic_steady_state(system, method=FloquetHarmonics(n_harm=16))
    assert float(ss.diagnostics.harmonic_tail) < 1e-13
    tol = 1e-9
    rho_ss = np.asarray(ss.rho(jnp.asarray(ts[1:])))
    np.testing.assert_allclose(np.asarray(sol.rho)[1:], rho_ss, rtol=0, atol=tol)
    np.testing.assert_allclose(np.mean(sol.energy_current[1:], axis=0), ss.energy_current, rtol=0, atol=tol)
    np.testing.assert_allclose(np.mean(sol.particle_current[1:], axis=0), ss.particle_current, rtol=0, atol=tol)
    np.testing.assert_allclose(np.mean(sol.power[1:]), ss.power, rtol=0, atol=tol)
    # the flows really vary over the period (beyond the RWA), and the drive does work
    assert float(np.ptp(np.asarray(sol.power[1:]))) > 1e-3
    assert abs(float(ss.power)) > 1e-4
    # energy balance over one period: the mean of dE/dt = sum_a Udot_a + P vanishes
    np.testing.assert_allclose(np.mean(np.sum(sol.energy_current[1:], axis=1) + sol.power[1:]), 0.0, atol=tol)


# ------------------------------------------------------------------------------------------------
# (e) bad input
# ------------------------------------------------------------------------------------------------
def test_bad_input_raises_value_error_naming_the_parameter():
    system = single_level()
    rho0 = jt.empty_state(1)
    h, jumps = jt.classical_master_equation(**MODEL_A)
    cases = [
        (dict(generator=system, rho0=rho0, ts=[0.0, 2.0, 1.0]), "ts must be strictly increasing"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0, 1.0]), "ts must be strictly increasing"),
        (dict(generator=system, rho0=rho0, ts=[0.0, np.nan]), "ts must contain finite"),
        (dict(generator=system, rho0=rho0, ts=[0.0, np.inf]), "ts must contain finite"),
        (dict(generator=system, rho0=rho0, ts=np.zeros((2, 2))), "ts must be a non-empty 1-D"),
        (dict(generator=system, rho0=rho0, ts=[]), "ts must be a non-empty 1-D"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], t0=0.5), "t0 must not be later"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], t0=np.nan), "t0 must be a finite"),
        (dict(generator=system, rho0=jt.empty_state(2), ts=[0.0, 1.0]), r"rho0 must be a \(2, 2\)"),
        (dict(generator=system, rho0=np.ones(2) / 2, ts=[0.0, 1.0]), r"rho0 must be a \(2, 2\)"),
        (dict(generator=system, rho0=np.eye(2), ts=[0.0, 1.0]), "rho0 must have unit trace"),
        (dict(generator=system, rho0=np.array([[0.5, 0.3], [0.0, 0.5]]), ts=[0.0, 1.0]), "rho0 must be Hermitian"),
        (dict(generator=(h, jumps), rho0=jt.empty_state(1), ts=[0.0, 1.0]), "H must be a 2 x 2"),
        (dict(generator=(h, jumps), rho0=jt.empty_state(2), ts=[0.0, 1.0], occupations="bare"), "occupations"),
        (dict(generator=(h, [jumps[0][1]]), rho0=jt.empty_state(2), ts=[0.0, 1.0]), r"jumps\[0\]"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], occupations=[1.5]), "occupations"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], rtol=-1e-8), "rtol must be a finite number >= 0"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], atol=np.nan), "atol must be a finite number >= 0"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], rtol=0.0, atol=0.0), "rtol and atol"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], dt0=-0.1), "dt0 must be"),
        (dict(generator=system, rho0=rho0, ts=[0.0, 1.0], max_steps=0), "max_steps must be an integer >= 1"),
        (dict(generator="system", rho0=rho0, ts=[0.0, 1.0]), "generator must be"),
        (dict(generator=lambda t: jnp.eye(3), rho0=rho0, ts=[0.0, 1.0]), "L\\(t\\) must be a 4 x 4"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ValueError, match=match):
            jt.evolve(kwargs.pop("generator"), kwargs.pop("rho0"), kwargs.pop("ts"), **kwargs)
    assert issubclass(jt.ParameterError, ValueError)
