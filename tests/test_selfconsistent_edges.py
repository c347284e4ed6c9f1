"""The self-consistent effective energies (Appendix C) at their edges (issue 16, item 9):
the zero-current blend width of `jt.effective_energies` and the robustness of the fixed-point
solver of `jt.self_consistent_steady_state`. Every answer is checked against an independent dense
NumPy master equation written here (its own Jordan-Wigner operators, Lindbladian and flows, Eqs. 5,
8, C3) and, for the fixed point, SciPy's root finder on that reference."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so

import jaxtls as jt
from jaxtls._models.effective import ZeroCurrentWarning
from jaxtls._models.floquet import FloquetHarmonics

EPS = np.finfo(float).eps


# ------------------------------------------------------------------------------------------------
# Independent dense reference (NumPy): flows of every lead at occupations f
# ------------------------------------------------------------------------------------------------
def _fock(m):
    a, z, e = np.array([[0.0, 1.0], [0.0, 0.0]]), np.diag([1.0, -1.0]), np.eye(2)
    out = []
    for i in range(m):
        op = np.array([[1.0]])
        for j in range(m):
            op = np.kron(op, z if j < i else a if j == i else e)
        out.append(op)
    return out


def reference_flows(h, u, gamma, f):
    """``(Udot_a, Ndot_a, gross_a)`` of leads on levels 0..M-1 (Eq. 8 dissipators, Eq. 5 flows)
    from the null vector of the dense d^2 x d^2 Lindbladian (column-stacking vec)."""
    m = h.shape[0]
    cs = _fock(m)
    d = 2**m
    ns = [c.T @ c for c in cs]
    ham = sum(h[i, j] * cs[i].T @ cs[j] for i in range(m) for j in range(m))
    ham = ham + sum(u[i, j] * ns[i] @ ns[j] for i in range(m) for j in range(i + 1, m))
    eye = np.eye(d)
    lind = -1j * (np.kron(eye, ham) - np.kron(ham.T, eye))
    jumps = [[np.sqrt(gamma[a] * f[a]) * cs[a].T, np.sqrt(gamma[a] * (1 - f[a])) * cs[a]] for a in range(m)]
    for js in jumps:
        for s in js:
            sds = s.T @ s
            lind = lind + np.kron(s.conj(), s) - 0.5 * np.kron(eye, sds) - 0.5 * np.kron(sds.T, eye)
    a_mat = np.vstack([lind, eye.reshape(1, -1, order="F")])
    b = np.zeros(d * d + 1, complex)
    b[-1] = 1.0
    rho = np.linalg.lstsq(a_mat, b, rcond=None)[0].reshape(d, d, order="F")
    n_tot = sum(ns)
    ud, nd, gross = [], [], []
    for a, js in enumerate(jumps):
        dr = sum(s @ rho @ s.T - 0.5 * (s.T @ s @ rho + rho @ s.T @ s) for s in js)
        ud.append(np.trace(ham @ dr).real)
        nd.append(np.trace(n_tot @ dr).real)
        na = np.trace(ns[a] @ rho).real
        gross.append(gamma[a] * (f[a] * (1 - na) + (1 - f[a]) * na))
    return np.array(ud), np.array(nd), np.array(gross)


def fermi(e, mu, t):
    return 1.0 / (np.exp((e - mu) / t) + 1.0)


def reference_residual(h, u, mu, t, gamma, e):
    """``Udot_a/Ndot_a - E_a`` at ``f = fermi(E, mu, T)`` and the rounding bound of the reference
    ratio, ``eps gross_a / |Ndot_a| (|E_a| + |mu_a| + T_a)`` times 100 (dense lstsq)."""
    ud, nd, gross = reference_flows(h, u, gamma, fermi(e, mu, t))
    scale = np.abs(e) + np.abs(mu) + t
    return ud / nd - e, 100 * EPS * gross / np.abs(nd) * scale, scale


def _system(h, u, mu, t, gamma):
    inter = {(i, j): float(u[i, j]) for i in range(3) for j in range(i + 1, 3) if u[i, j] != 0}
    return jt.FermionicSystem(jnp.asarray(h), [jt.Lead(i, mu[i], t[i], gamma[i]) for i in range(3)], interaction=inter)


# ------------------------------------------------------------------------------------------------
# 1. Zero-current blend width
# ------------------------------------------------------------------------------------------------
# a static interacting chain whose third level is weakly tunnel-coupled (t = 1e-3): at the fixed
# point every lead carries |Ndot_a| ~ 1e-6 (1e-5 of gamma_a), and the energy current does not
# vanish with the particle current (interactions), so a blend as wide as the old default
# (1e-4 in occupation units) moved E~ of lead 1 by 1.5e-2
H1 = np.array([[0.0, 0.1, 0.0], [0.1, 0.5, 1e-3], [0.0, 1e-3, 1.0]])
U1 = np.array([[0.0, 0.6, 0.0], [0.0, 0.0, 0.4], [0.0, 0.0, 0.0]])
MU1, T1, G1 = np.array([0.8, 0.2, 0.9]), np.array([0.1, 0.1, 0.2]), np.array([0.1, 0.05, 0.08])


def test_effective_energies_near_zero_current_right_or_warned():
    system = _system(H1, U1, MU1, T1, G1)
    sc = jt.self_consistent_steady_state(system)
    e = np.asarray(sc.effective_energy)
    # the fixed point of the independent reference, polished by SciPy from jaxtls's answer
    sol = so.root(lambda x: reference_residual(H1, U1, MU1, T1, G1, x)[0], e, method="hybr", options={"xtol": 1e-15})
    res, bound, scale = reference_residual(H1, U1, MU1, T1, G1, sol.x)
    assert np.all(np.abs(res) <= 1e-10 * scale), res
    np.testing.assert_array_less(np.abs(e - sol.x), 1e-8 * scale)
    nd = reference_flows(H1, U1, G1, fermi(sol.x, MU1, T1))[1]
    assert np.all(np.abs(nd) < 1e-5) and np.all(np.abs(nd) > 1e-7)  # a lead at nearly zero current
    # effective_energies at the fixed point's occupations: right to 1e-8, no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroCurrentWarning)
        got = np.asarray(jt.effective_energies(system, occupations=jnp.asarray(fermi(sol.x, MU1, T1))))
    np.testing.assert_array_less(np.abs(got - sol.x), 1e-8 * scale)
    # the width of the old default (1e-4, in occupation units, about 1e-4 |Ndot'| / g ~ 1e-3 of the
    # gross flow here) is refused as too wide now, and a wide blend is not silent
    with pytest.raises(ValueError, match="zero_current_scale"):
        jt.effective_energies(system, zero_current_scale=0.5)
    with pytest.warns(ZeroCurrentWarning, match="uncertain"):
        wide = np.asarray(
            jt.effective_energies(system, occupations=jnp.asarray(fermi(sol.x, MU1, T1)), zero_current_scale=1e-3)
        )
    assert np.max(np.abs(wide - sol.x)) > 1e-6  # the wide blend is wrong, and it was warned


def test_effective_energies_approaching_zero_current_right_or_warned():
    """Move f_1 towards the zero of Ndot_1 (where Udot_1 != 0, so the true E~_1 diverges): at
    every step E~ of every lead equals the reference to 1e-8 relative (within the reference's own
    rounding) or jaxtls warns."""
    system = _system(H1, U1, MU1, T1, G1)
    f0 = fermi(np.diag(H1), MU1, T1)

    def n1(x):
        f = f0.copy()
        f[1] = x
        return reference_flows(H1, U1, G1, f)[1][1]

    fz = so.brentq(n1, 1e-6, 1 - 1e-6, xtol=1e-15)
    checked = warned = 0
    for off in [3e-2, 1e-3, 1e-5, 1e-7, 1e-9, 1e-11, 0.0]:
        f = f0.copy()
        f[1] = fz - off
        ud, nd, gross = reference_flows(H1, U1, G1, f)
        ref = ud / nd
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            got = np.asarray(jt.effective_energies(system, occupations=jnp.asarray(f)))
        if any(issubclass(w.category, ZeroCurrentWarning) for w in rec):
            warned += 1
            continue
        scale = np.abs(ref) + np.abs(MU1) + T1
        tol = 1e-8 * scale + 100 * EPS * gross / np.abs(nd) * scale
        assert np.all(np.abs(got - ref) <= tol), (off, got, ref)
        checked += 1
    assert checked >= 3 and warned >= 2  # both branches exercised


# ------------------------------------------------------------------------------------------------
# 2. Fixed-point solver robustness on random interacting 3-level systems
# ------------------------------------------------------------------------------------------------
def _random_systems(n, seed):
    """Static interacting chains of three levels (tunnelling 0.02-0.2, Coulomb 0-1 between
    neighbours), three leads with random mu, T, gamma: the 'drive' is the static tunnelling
    (omega = 0), between leads out of equilibrium."""
    r = np.random.default_rng(seed)
    return dict(
        e0=r.uniform(-0.5, 0.5, n), e1=r.uniform(0, 1, n), e2=r.uniform(0.5, 1.5, n),
        t01=r.uniform(0.02, 0.2, n), t12=r.uniform(0.02, 0.2, n), U01=r.uniform(0, 1, n),
        U12=r.uniform(0, 1, n), mu=r.uniform(-0.5, 1.5, (n, 3)), T=r.uniform(0.02, 0.4, (n, 3)),
        g=r.uniform(0.02, 0.3, (n, 3)),
    )  # fmt: skip


def _matrices(q, i):
    h = np.array(
        [[q["e0"][i], q["t01"][i], 0.0], [q["t01"][i], q["e1"][i], q["t12"][i]], [0.0, q["t12"][i], q["e2"][i]]]
    )
    u = np.zeros((3, 3))
    u[0, 1], u[1, 2] = q["U01"][i], q["U12"][i]
    return h, u


def _build(x):
    h = jnp.array([[x["e0"], x["t01"], 0.0], [x["t01"], x["e1"], x["t12"]], [0.0, x["t12"], x["e2"]]])
    leads = [jt.Lead(i, x["mu"][i], x["T"][i], x["g"][i]) for i in range(3)]
    return jt.FermionicSystem(h, leads, interaction={(0, 1): x["U01"], (1, 2): x["U12"]})


@jax.jit
def _solve_batch(q):
    return jax.vmap(lambda x: jt.self_consistent_steady_state(_build(x), method=FloquetHarmonics(0), throw=False))(q)


def _check_random(n, seed, max_failures):
    q = _random_systems(n, seed)
    out = _solve_batch({k: jnp.asarray(v) for k, v in q.items()})
    conv = np.asarray(out.converged)
    e = np.asarray(out.effective_energy)
    failures = int(np.sum(~conv))
    assert failures <= max_failures, (failures, np.flatnonzero(~conv))
    worst = 0.0
    for i in np.flatnonzero(conv):
        h, u = _matrices(q, i)
        res, bound, scale = reference_residual(h, u, q["mu"][i], q["T"][i], q["g"][i], e[i])
        assert np.all(np.abs(res) <= 1e-8 * scale + bound), (i, res, bound)
        worst = max(worst, float(np.max(np.abs(res) / scale)))
    return failures, worst


def test_fixed_point_converges_on_random_interacting_systems():
    """40 random systems (seed 1): at most one failure (the hardest have a cold lead, T ~ 0.03,
    whose fixed point only late restarts reach); every
    converged answer is a fixed point of the dense reference to 1e-8 relative. (The old default,
    Levenberg-Marquardt from the bare energies, failed on 40 % of such systems, stuck at residuals
    0.02-0.9 although SciPy's hybr from random starts finds a fixed point of each.)"""
    _check_random(40, 1, max_failures=1)


# 200 systems (and the driven ones below): benchmarks/bench_fixed_point.py (long runs live there)


# ------------------------------------------------------------------------------------------------
# 2b. The same on driven systems (issue 16 item 9: "200 random driven 3-level systems with
#     interaction"), verified against the dense full-space Floquet reference
# ------------------------------------------------------------------------------------------------
N_HARM = 8


def _random_drives(n, seed):
    r = np.random.default_rng(seed)
    return dict(a=r.uniform(0.05, 0.3, n), omega=r.uniform(0.5, 2.0, n))


def _build_driven(x):
    sys = _build(x)
    drive = jnp.zeros((3, 3), jnp.complex128).at[0, 1].set(x["a"])  # a c_0^+ c_1 e^{-i w t} + h.c.
    return jt.FermionicSystem(sys.h, list(sys.leads), interaction=sys.interaction, drive={1: drive}, omega=x["omega"])


@jax.jit
def _solve_driven(q):
    return jax.vmap(
        lambda x: jt.self_consistent_steady_state(_build_driven(x), method=FloquetHarmonics(N_HARM), throw=False)
    )(q)


def _check_driven(n, seed, max_failures):
    from jaxtls._models.floquet_reference import DenseFloquetReference

    q = _random_systems(n, seed) | _random_drives(n, seed + 1)
    out = _solve_driven({k: jnp.asarray(v) for k, v in q.items()})
    conv, e = np.asarray(out.converged), np.asarray(out.effective_energy)
    failures = int(np.sum(~conv))
    assert failures <= max_failures, (failures, np.flatnonzero(~conv))
    worst = 0.0
    for i in np.flatnonzero(conv):
        x = {k: jnp.asarray(v[i]) for k, v in q.items()}
        sys = _build_driven(x)
        mu, t = np.asarray(q["mu"][i]), np.asarray(q["T"][i])
        f = fermi(e[i], mu, t)
        ref = jt.periodic_steady_state(
            sys, occupations=jnp.asarray(f), method=DenseFloquetReference(N_HARM), throw=False
        )
        ud, nd = np.asarray(ref.energy_current), np.asarray(ref.particle_current)
        scale = np.abs(e[i]) + np.abs(mu) + t
        gross = np.asarray(q["g"][i])  # rounding of the reference ratio ~ eps gamma / |Ndot|
        bound = 1e3 * EPS * gross / np.abs(nd) * scale
        res = ud / nd - e[i]
        assert np.all(np.abs(res) <= 1e-7 * scale + bound), (i, res, bound)
        worst = max(worst, float(np.max(np.abs(res) / scale)))
    return failures, worst
