"""Trust in Models A and B (issue 16): cold devices against extended-precision references,
value checks under `jax.jit`, input validation, the accuracy guard and the bound on the
entropy production."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mp_reference import cavity as mp_cavity
from mp_reference import classical as mp_classical

import jaxtls as jt

CAV = dict(E_u=1.0, E_l=0.0, omega_cav=1.0, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02,
           mu_u=0.9, mu_l=0.1, T_u=0.05, T_l=0.05, T_b=0.05)  # fmt: skip
CLS = dict(E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05,
           mu_u=0.9, mu_l=0.1, T_u=0.05, T_l=0.05)  # fmt: skip
TEMPS = np.logspace(-6, 2, 9)
# biases: u empty / l filled; both leads filled (|1,1,0> absorbing when cold); pumped; inverted
BIASES = ((0.9, 0.1), (1.5, 0.1), (1.5, -0.5), (0.5, 0.6))


def _close(value, ref, gross, rtol=1e-8, floor=1e-14):
    value, ref = float(value), float(ref)
    return abs(value - ref) <= rtol * abs(ref) + floor * gross


def _cold_grid(base, names):
    rows = [(mu_u, mu_l, t) for mu_u, mu_l in BIASES for t in TEMPS]
    p = dict(base)
    p["mu_u"] = np.array([r[0] for r in rows])
    p["mu_l"] = np.array([r[1] for r in rows])
    for name in names:
        p[name] = np.array([r[2] for r in rows])
    return p, rows


def _point(p, i):
    return {k: (v[i] if np.ndim(v) else v) for k, v in p.items()}


# ---------------------------------------------------------------- 1. cold devices


def test_cavity_cold_devices_match_mpmath_with_finite_gradients():
    n_max = 4
    p, rows = _cold_grid(CAV, ("T_u", "T_l", "T_b"))
    r = jt.solve_cavity(**p, n_max=n_max, fock_tol=1.0)  # throws if any point fails its checks
    assert bool(np.all(r.diagnostics.ok))
    gross = CAV["gamma_u"] + CAV["gamma_l"] + CAV["gamma_b"]
    for i in range(len(rows)):
        ref = mp_cavity(**_point(p, i), n_max=n_max)
        assert _close(r.rate[i], ref["rate"], gross), (rows[i], float(r.rate[i]), float(ref["rate"]))
        for a in ("u", "l", "b"):
            assert _close(r.particle_current[a][i], ref["particle_current"][a], gross)
            assert _close(r.energy_current[a][i], ref["energy_current"][a], gross)
        for a in ("u", "l", "ph"):
            assert _close(r.populations[a][i], ref["populations"][a], 1.0)

    def total(mu_u, t):
        q = dict(p, mu_u=mu_u, T_u=t, T_l=t, T_b=t)
        return jnp.sum(jt.solve_cavity(**q, n_max=n_max, fock_tol=1.0, throw=False).rate)

    grads = jax.grad(total, argnums=(0, 1))(jnp.asarray(p["mu_u"]), jnp.asarray(p["T_u"]))
    assert all(bool(jnp.all(jnp.isfinite(gr))) for gr in grads)


def test_classical_cold_devices_match_mpmath_with_finite_gradients():
    p, rows = _cold_grid(CLS, ("T_u", "T_l"))
    r = jt.solve_classical(**p)
    gross = CLS["gamma_u"] + CLS["gamma_l"]
    for i in range(len(rows)):
        ref = mp_classical(**_point(p, i))
        assert _close(r.rate[i], ref["rate"], gross), (rows[i], float(r.rate[i]), float(ref["rate"]))
        for a in ("u", "l"):
            assert _close(r.energy_current[a][i], ref["energy_current"][a], gross)
            assert _close(r.populations[a][i], ref["populations"][a], 1.0)

    def total(t):
        return jnp.sum(jt.solve_classical(**dict(p, T_u=t, T_l=t), throw=False).rate)

    assert bool(jnp.all(jnp.isfinite(jax.grad(total)(jnp.asarray(p["T_u"])))))


def test_cold_absorbing_state_gradient_matches_finite_difference():
    """At T = 1e-3 with both leads filled the block elimination fails (G_k singular); the dense
    fallback gives the state and an exact derivative (against a central difference in mpmath)."""
    p = dict(CAV, mu_u=1.5, mu_l=0.1, T_u=1e-3, T_l=1e-3, T_b=1e-3)

    def rate(g):
        return jt.solve_cavity(**dict(p, g=g), n_max=4, fock_tol=1.0).rate

    d = float(jax.grad(rate)(0.05))
    h = 1e-6
    fd = (
        float(mp_cavity(**dict(p, g=0.05 + h), n_max=4)["rate"])
        - float(mp_cavity(**dict(p, g=0.05 - h), n_max=4)["rate"])
    ) / (2 * h)
    assert fd != 0 and abs(d - fd) <= 1e-6 * abs(fd)


def test_jump_rates_of_filled_leads_and_cold_bath_are_exact():
    """``gamma (1 - f)`` and ``gamma (n_b + 1)`` computed directly: relative accuracy where f
    rounds to 1 (``1 - fermi`` gives exactly 0 there)."""
    import mpmath as mp

    p = dict(CLS, mu_u=1.5, mu_l=0.4, T_u=1e-2, T_l=1e-2)
    _, jumps = jt.classical_master_equation(**p, occupations="bare")
    ref = p["gamma_u"] / (mp.exp(-(mp.mpf(1.0) - mp.mpf(1.5)) / mp.mpf(1e-2)) + 1)
    assert abs(float(jumps[1][0]) - float(ref)) <= 1e-12 * float(ref)
    q = dict(CAV, mu_u=1.5, mu_l=0.1, T_u=1e-2, T_l=1e-2, T_b=1e-2)
    _, cjumps = jt.cavity_master_equation(**q, n_max=2, occupations="bare")
    ref_u = q["gamma_u"] / (mp.exp(-(mp.mpf(1.0) - mp.mpf(1.5)) / mp.mpf(1e-2)) + 1)
    assert abs(float(cjumps[1][0]) - float(ref_u)) <= 1e-12 * float(ref_u)


# ---------------------------------------------------------------- 2. checks inside jit


def _cavity_jit(name, value, throw, n_max=6):
    def f(x):
        return jt.solve_cavity(**dict(CAV, **{name: x}), n_max=n_max, throw=throw)

    return jax.jit(f)(value)


def _classical_jit(name, value, throw):
    def f(x):
        return jt.solve_classical(**dict(CLS, **{name: x}), throw=throw)

    return jax.jit(f)(value)


BAD_TRACED = (("gamma_u", -0.03), ("mu_l", float("nan")), ("T_u", -0.05), ("E_u", float("inf")))


@pytest.mark.parametrize("name, value", BAD_TRACED)
def test_bad_traced_inputs_raise_under_jit_and_are_flagged_without_throw(name, value):
    for run in (_cavity_jit, _classical_jit):
        with pytest.raises(Exception, match="invalid"):
            jax.block_until_ready(run(name, value, True).rate)
        r = run(name, value, False)
        assert not bool(r.diagnostics.ok)
        assert int(r.diagnostics.flags) & 2


def test_truncated_fock_space_under_jit():
    """n_max = 4 with P(n_max) about 0.03 (a hot bath): raises under jit with throw=True, ok =
    False with throw=False, jit or not."""
    hot = 3.0
    with pytest.raises(Exception, match="Fock cutoff"):
        jax.block_until_ready(_cavity_jit("T_b", hot, True, n_max=4).rate)
    r = _cavity_jit("T_b", hot, False, n_max=4)
    assert float(r.fock_tail) > 1e-3 and not bool(r.diagnostics.ok)
    r2 = jt.solve_cavity(**dict(CAV, T_b=hot), n_max=4, throw=False)
    assert not bool(r2.diagnostics.ok)


def test_checks_fire_under_grad():
    def loss(gu):
        return jt.solve_cavity(**dict(CAV, gamma_u=gu), n_max=6).rate

    with pytest.raises(Exception, match="invalid"):
        jax.block_until_ready(jax.grad(loss)(-0.03))
    assert np.isfinite(float(jax.jit(jax.grad(loss))(0.03)))


# ---------------------------------------------------------------- 4. accuracy guard


def test_rates_spanning_more_than_1e8_are_flagged_and_below_are_accurate():
    # cavity gamma_u = 1e10 (others ~0.03): R off by ~1e-5 in float64 -> flagged, never trusted
    p = dict(CAV, gamma_u=1e10, mu_u=1.2, T_b=0.1)
    r = jt.solve_cavity(**p, n_max=6, throw=False)
    ref = mp_cavity(**p, n_max=6)
    assert not bool(r.ok) and int(r.diagnostics.flags) & 8
    with pytest.raises(jt.SteadyStateError, match="span"):
        jt.solve_cavity(**p, n_max=6)
    c = dict(CLS, gamma_u=1e16)
    rc = jt.solve_classical(**c, throw=False)
    assert not bool(rc.ok) and int(rc.diagnostics.flags) & 8
    # within the guard (span 1e6) the results are right to 1e-8
    q = dict(CAV, gamma_u=3e4, mu_u=1.2, T_b=0.1)
    rq = jt.solve_cavity(**q, n_max=6)
    refq = mp_cavity(**q, n_max=6)
    assert bool(rq.ok) and _close(rq.rate, refq["rate"], 1.0, rtol=1e-8, floor=0.0)
    assert abs(float(r.rate) - float(ref["rate"])) >= 0.0  # the flagged value is reported, not hidden


# ---------------------------------------------------------------- 5. entropy production bound

BIAS = np.logspace(-3, -13, 6)


def _input_floor(gammas, energies, mus, temps):
    """What the rounding of the inputs implies for a current: ~eps of the gross flow scale."""
    return 8 * np.finfo(float).eps * sum(g * (abs(e - m) / t + 1) for g, e, m, t in zip(gammas, energies, mus, temps))


@pytest.mark.parametrize("model", ["classical", "cavity"])
def test_near_equilibrium_entropy_production_within_its_bound(model):
    t = 0.05
    if model == "classical":
        base = dict(CLS, T_u=t, T_l=t, omega=1.02)
        mu_u = base["mu_l"] + base["omega"] + BIAS * t  # equilibrium at mu_u - mu_l = omega (Eq. 14)
        p = dict(base, mu_u=mu_u)
        r = jt.solve_classical(**p)
        gammas, energies = (base["gamma_u"], base["gamma_l"]), (base["E_u"], base["E_l"])
        temps = (t, t)
    else:
        base = dict(CAV, T_u=t, T_l=t, T_b=t, omega_cav=1.02)
        mu_u = base["mu_l"] + BIAS * t  # equilibrium at mu_u = mu_l (Eq. 22, E~_u = E~_l + E~_ph)
        p = dict(base, mu_u=mu_u)
        r = jt.solve_cavity(**p, n_max=4, fock_tol=1e-6)
        gammas = (base["gamma_u"], base["gamma_l"], base["gamma_b"])
        energies = (base["E_u"], base["E_l"], base["omega_cav"])
        temps = (t, t, t)
    tol = np.asarray(r.entropy_production_tolerance)
    for i, b in enumerate(BIAS):
        q = _point(p, i)
        ref = mp_classical(**q) if model == "classical" else mp_cavity(**q, n_max=4)
        mus = (q["mu_u"], q["mu_l"], 0.0)[: len(gammas)]
        floor = _input_floor(gammas, energies, mus, temps)
        assert abs(float(r.rate[i]) - float(ref["rate"])) <= 1e-8 * abs(float(ref["rate"])) + floor, (b, model)
        for a in r.energy_current:
            assert (
                abs(float(r.energy_current[a][i]) - float(ref["energy_current"][a]))
                <= 1e-8 * abs(float(ref["energy_current"][a])) + floor * 2
            ), (a, b)
        scale = sum(g * (abs(e - m) / tt + 1) for g, e, m, tt in zip(gammas, energies, mus, temps))
        sdot_ref = float(ref["entropy_production"])
        assert abs(float(r.entropy_production[i]) - sdot_ref) <= tol[i], (
            b,
            model,
            float(r.entropy_production[i]),
            sdot_ref,
            tol[i],
        )
        assert 0 < tol[i] <= 1e-12 * scale, (tol[i], scale)
        assert float(r.entropy_production[i]) >= -tol[i]  # the second law, round-off allowed
