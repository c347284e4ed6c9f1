"""The model builder (jt.Space, jt.System, jt.Bath; issue 14 step 1) against independent
references: Model B's own solver, a QuTiP steadystate of Tavis-Cummings with the flows written
out here, Model A's closed form (Eqs. A8-A12) for a drive, and central finite differences."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls import dag

N_MAX = 12
RTOL = 1e-12


def _points(seed, n):
    rng = np.random.default_rng(seed)
    return dict(
        E_u=rng.uniform(0.8, 1.2, n), E_l=rng.uniform(-0.3, 0.1, n), omega_cav=rng.uniform(0.9, 1.3, n),
        g=rng.uniform(0.02, 0.08, n) + 1j * rng.uniform(-0.03, 0.03, n), gamma_u=rng.uniform(0.005, 0.03, n),
        gamma_l=rng.uniform(0.005, 0.03, n), gamma_b=rng.uniform(0.005, 0.03, n), mu_u=rng.uniform(1.0, 1.6, n),
        mu_l=rng.uniform(-0.6, -0.2, n), T_u=rng.uniform(0.2, 0.5, n), T_l=rng.uniform(0.2, 0.5, n),
        T_b=rng.uniform(0.1, 0.3, n),
    )  # fmt: skip


def model_b(p, n_max=N_MAX):
    """Model B as a `jt.System`, built as examples/builder_cavity.py builds it."""
    return _example("builder_cavity").build(p, n_max)


def _close(x, y, rtol=RTOL, scale=None):
    x, y = np.asarray(x), np.asarray(y)
    s = np.max(np.abs(y)) if scale is None else scale
    np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * s)


def test_model_b_equals_solve_cavity_batch():
    p = _points(0, 4)
    r = jt.steady_state(model_b(p), occupations="bare")
    c = jt.solve_cavity(**p, n_max=N_MAX, occupations="bare")
    assert r.ok.shape == (4,) and bool(np.all(r.ok))
    _close(r.particle_current["u"], c.rate)
    for k in ("u", "l", "b"):
        _close(r.particle_current[k], c.particle_current[k])
        _close(r.energy_current[k], c.energy_current[k])
        _close(r.entropy_flow[k], c.entropy_flow[k])
        _close(r.occupation[k], c.occupation[k])
    for k, kc in (("u", "u"), ("l", "l"), ("b", "ph")):  # Udot/Ndot = Eq. 21 at any occupations
        _close(r.effective_energy[k], c.effective_energy[kc], rtol=1e-10)
    _close(r.populations["u"], c.populations["u"])
    _close(r.populations["l"], c.populations["l"])
    _close(r.populations["a"], c.populations["ph"])
    u, l, a = model_b(p).space.annihilators()
    _close(r.expect(dag(a) @ a), c.populations["ph"])
    np.testing.assert_allclose(r.expect(dag(u) @ l @ a), c.coherence, rtol=1e-11, atol=1e-14)
    # entropy production: sum of Eq. 2 vs R x affinity (Eq. 22), within the documented bound
    assert np.all(np.abs(r.entropy_production - c.entropy_production) <= r.entropy_production_tolerance + 1e-15)
    _close(r.entropy_production, c.entropy_production, rtol=1e-11)
    assert np.max(np.abs(r.first_law_residual)) < 1e-15
    rho = np.asarray(r.density_matrix(1))
    assert abs(np.trace(rho) - 1) < 1e-12
    np.testing.assert_allclose(np.trace(rho @ (dag(a) @ a).toarray()).real, c.populations["ph"][1], rtol=1e-12)


def _scalar_point(E_u):
    p = {k: v[0] for k, v in _points(1, 1).items()}
    p["E_u"] = E_u
    return p


def test_model_b_jit_vmap_grad():
    e = jnp.array([0.9, 1.0, 1.1])
    ref = jt.solve_cavity(**{**_scalar_point(0.0), "E_u": e}, n_max=N_MAX, occupations="bare")

    def cur(e_u):
        return jt.steady_state(model_b(_scalar_point(e_u)), occupations="bare").energy_current["b"]

    _close(jax.jit(jax.vmap(cur))(e), ref.energy_current["b"])
    g = jax.grad(cur)(1.0)
    h = 1e-5
    fd = (cur(1.0 + h) - cur(1.0 - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6)


def _dissipate(s, rho):
    sd = s.conj().T
    return s @ rho @ sd - 0.5 * (sd @ s @ rho + rho @ sd @ s)


def test_tavis_cummings_equals_qutip():
    qt = pytest.importorskip("qutip", reason="QuTiP is needed for the independent steady state")
    rng = np.random.default_rng(7)
    n_max = 8
    space = jt.Space(fermions=["u1", "l1", "u2", "l2"], bosons={"a": n_max})
    u1, l1, u2, l2, a = space.annihilators()
    for _ in range(3):
        e = rng.uniform([0.9, -0.2, 0.95, -0.25], [1.1, 0.0, 1.15, -0.05])
        w, g1, g2 = rng.uniform(0.9, 1.2), rng.uniform(0.01, 0.04), rng.uniform(0.01, 0.03) + 0.01j
        mus = rng.uniform([1.0, -0.6, 1.0, -0.6], [1.5, -0.2, 1.5, -0.2])
        ts = rng.uniform(0.2, 0.5, 4)
        gs = rng.uniform(0.01, 0.05, 4)
        t_b, g_b = rng.uniform(0.1, 0.3), rng.uniform(0.06, 0.1)
        levels = (u1, l1, u2, l2)
        ham = [(e[k], dag(c) @ c) for k, c in enumerate(levels)]
        ham += [(w, dag(a) @ a), (g1, dag(u1) @ l1 @ a, "hc"), (g2, dag(u2) @ l2 @ a, "hc")]
        names = space.fermions
        system = jt.System(
            space,
            hamiltonian=ham,
            leads=[jt.Lead(n, mus[k], ts[k], gs[k], name=n) for k, n in enumerate(names)],
            baths=[jt.Bath(a, t_b, g_b, name="b")],
        )
        # DenseSolver: the default block-tridiagonal kernel takes ~45 s to compile on this sector
        r = jt.steady_state(system, occupations="bare", solver=jt.DenseSolver())
        assert bool(r.ok) and float(r.fock_tail["a"]) < 1e-8
        # the same model written out densely, solved by QuTiP
        dense = [c.toarray() for c in space.annihilators()]
        h = sum(e[k] * dense[k].conj().T @ dense[k] for k in range(4)) + w * dense[4].conj().T @ dense[4]
        for gk, (cu, cl) in ((g1, (dense[0], dense[1])), (g2, (dense[2], dense[3]))):
            o = cu.conj().T @ cl @ dense[4]
            h = h + gk * o + np.conj(gk) * o.conj().T
        jumps = {}
        for k, n in enumerate(names):
            f = 1 / (np.exp((e[k] - mus[k]) / ts[k]) + 1)
            jumps[n] = [(gs[k] * f, dense[k].conj().T), (gs[k] * (1 - f), dense[k])]
        nb = 1 / np.expm1(w / t_b)
        jumps["b"] = [(g_b * (nb + 1), dense[4]), (g_b * nb, dense[4].conj().T)]
        c_ops = [qt.Qobj(np.sqrt(rate) * s).to("CSR") for js in jumps.values() for rate, s in js]
        rho = qt.steadystate(qt.Qobj(h).to("CSR"), c_ops).full()
        number = {n: dense[k].conj().T @ dense[k] for k, n in enumerate(names)}
        number["b"] = dense[4].conj().T @ dense[4]
        u_total = 0.0
        for n, js in jumps.items():
            u_dot = sum(rate * np.trace(h @ _dissipate(s, rho)).real for rate, s in js)
            n_dot = sum(rate * np.trace(number[n] @ _dissipate(s, rho)).real for rate, s in js)
            np.testing.assert_allclose(r.energy_current[n], u_dot, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(r.particle_current[n], n_dot, rtol=1e-9, atol=1e-12)
            u_total += u_dot
        for k, n in enumerate(names):
            np.testing.assert_allclose(r.populations[n], np.trace(number[n] @ rho).real, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(r.expect(dag(a) @ a), np.trace(number["b"] @ rho).real, rtol=1e-9, atol=1e-12)
        assert abs(float(r.first_law_residual)) < 1e-12
        assert abs(float(r.entropy_production) - sum(float(v) for v in r.entropy_flow.values())) < 1e-15


def test_qutip_operators_accepted():
    qt = pytest.importorskip("qutip", reason="QuTiP is needed for Qobj operators")
    p = {k: v[0] for k, v in _points(3, 1).items()}
    space = jt.Space(fermions=["u", "l"], bosons={"a": N_MAX})
    u, l, a = (qt.Qobj(o.toarray()) for o in space.annihilators())
    system = jt.System(
        space,
        hamiltonian=[
            (p["E_u"], u.dag() * u),
            (p["E_l"], l.dag() * l),
            (p["omega_cav"], a.dag() * a),
            (p["g"], u.dag() * l * a, "hc"),
        ],  # fmt: skip
        leads=[
            jt.Lead("u", p["mu_u"], p["T_u"], p["gamma_u"], name="u"),
            jt.Lead("l", p["mu_l"], p["T_l"], p["gamma_l"], name="l"),
        ],  # fmt: skip
        baths=[jt.Bath(a, p["T_b"], p["gamma_b"], name="b")],
    )
    r = jt.steady_state(system, occupations="bare")
    c = jt.solve_cavity(**p, n_max=N_MAX, occupations="bare")
    _close(r.particle_current["u"], c.rate)
    _close(r.expect(a.dag() * a), c.populations["ph"])


def test_driven_two_level_equals_model_a():
    rng = np.random.default_rng(11)
    n = 3
    p = dict(
        E_u=rng.uniform(0.8, 1.2, n), E_l=rng.uniform(-0.2, 0.2, n), omega=rng.uniform(0.8, 1.2, n),
        eps=rng.uniform(0.01, 0.1, n) + 1j * rng.uniform(-0.05, 0.05, n), gamma_u=rng.uniform(0.01, 0.05, n),
        gamma_l=rng.uniform(0.01, 0.05, n), mu_u=rng.uniform(0.8, 1.5, n), mu_l=rng.uniform(-0.5, 0.0, n),
        T_u=rng.uniform(0.2, 0.5, n), T_l=rng.uniform(0.2, 0.5, n),
    )  # fmt: skip
    space = jt.Space(fermions=["u", "l"])
    u, l = space.annihilators()
    system = jt.System(
        space,
        hamiltonian=[(p["E_u"], dag(u) @ u), (p["E_l"], dag(l) @ l)],
        leads=[
            jt.Lead("u", p["mu_u"], p["T_u"], p["gamma_u"], name="u"),
            jt.Lead("l", p["mu_l"], p["T_l"], p["gamma_l"], name="l"),
        ],  # fmt: skip
        drive=[(1, p["eps"], dag(u) @ l)],
        omega=p["omega"],
    )
    r = jt.steady_state(system, occupations="bare")
    ref = jt.classical_closed_form(**p, occupations="bare")
    tol = 1e-10
    for k in ("u", "l"):
        np.testing.assert_allclose(r.particle_current[k], ref["particle_current"][k], rtol=tol, atol=tol * 1e-3)
        np.testing.assert_allclose(r.energy_current[k], ref["energy_current"][k], rtol=tol, atol=tol * 1e-3)
        np.testing.assert_allclose(r.occupation[k], ref["occupation"][k], rtol=tol)
    np.testing.assert_allclose(r.power, ref["power"], rtol=tol, atol=tol * 1e-3)
    np.testing.assert_allclose(r.populations["u"], ref["sigma_uu"], rtol=tol)
    np.testing.assert_allclose(r.populations["l"], ref["sigma_ll"], rtol=tol)
    np.testing.assert_allclose(r.entropy_production, ref["entropy_production"], rtol=1e-9, atol=1e-14)
    assert np.max(np.abs(r.first_law_residual)) < 1e-14


def test_bad_inputs_name_the_parameter():
    space = jt.Space(fermions=["u", "l"], bosons={"a": 4})
    u, l, a = space.annihilators()
    ham = [(1.0, dag(u) @ u), (0.0, dag(l) @ l), (1.0, dag(a) @ a), (0.1, dag(u) @ l @ a, "hc")]
    leads = [jt.Lead("u", 1.0, 0.3, 0.01, name="u"), jt.Lead("l", 0.0, 0.3, 0.01, name="l")]
    bath = [jt.Bath(a, 0.2, 0.01, name="b")]
    with pytest.raises(ValueError, match=r"leads\[1\]\.level"):
        jt.System(space, hamiltonian=ham, leads=[leads[0], jt.Lead("x", 0.0, 0.3, 0.01)], baths=bath)
    with pytest.raises(ValueError, match=r"baths\[0\] operator is not a lowering operator"):
        jt.System(space, hamiltonian=ham, leads=leads, baths=[jt.Bath(dag(a), 0.2, 0.01)])
    with pytest.raises(ValueError, match=r"baths\[0\] operator is not a lowering operator"):
        jt.System(space, hamiltonian=ham, leads=leads, baths=[jt.Bath(dag(a) @ a, 0.2, 0.01)])
    with pytest.raises(ValueError, match=r"hamiltonian\[3\] operator is not Hermitian"):
        jt.System(space, hamiltonian=ham[:3] + [(0.1, dag(u) @ l @ a)], leads=leads, baths=bath)
    with pytest.raises(ValueError, match=r"reservoir"):
        jt.System(space, hamiltonian=ham)
    with pytest.raises(ValueError, match=r"hamiltonian\[0\] coefficient"):
        jt.System(space, hamiltonian=[(1.0 + 1j, dag(u) @ u)] + ham[1:], leads=leads, baths=bath)
    with pytest.raises(ValueError, match=r"gamma"):
        jt.Bath(a, 0.2, -1.0)
    with pytest.raises(ValueError, match=r"occupations"):
        jt.steady_state(jt.System(space, hamiltonian=ham, leads=leads, baths=bath), occupations="effective")


@functools.cache
def _example(name):
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(__file__), os.pardir, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_builder_cavity():
    assert _example("builder_cavity").main(n_max=12) < 1e-12


def test_example_tavis_cummings_decoupled_limit():
    """With g_2 = 0 the second emitter decouples: the pair's photon output is one LED's (Model B)."""
    out = _example("tavis_cummings").main(n_max=8, g2=0.0)
    assert out["ok"]
    np.testing.assert_allclose(out["pair"], out["one_led"], rtol=1e-10)
    assert abs(out["first_law_residual"]) < 1e-12
    assert out["entropy_production"] >= -out["entropy_production_tolerance"]


def test_self_consistent_equals_solve_cavity_effective():
    """occupations='self_consistent' (E~_r = Udot_r/Ndot_r for both leads and the bath) on the
    builder's Model B is Eq. 21: solve_cavity(occupations='effective'), values and gradients."""
    p = _points(5, 3)
    r = jt.steady_state(model_b(p), occupations="self_consistent")
    c = jt.solve_cavity(**p, n_max=N_MAX, occupations="effective")
    assert bool(np.all(r.ok)) and r.occupations == "self_consistent"
    tol = 1e-10
    for k, kc in (("u", "u"), ("l", "l"), ("b", "ph")):
        _close(r.effective_energy[k], c.effective_energy[kc], rtol=tol)
        _close(r.particle_current[k], c.particle_current[k], rtol=tol)
        _close(r.energy_current[k], c.energy_current[k], rtol=tol)
        _close(r.occupation[k], c.occupation[k], rtol=tol)
    _close(r.entropy_production, c.entropy_production, rtol=tol)
    _close(r.populations["a"], c.populations["ph"], rtol=tol)

    def cur(e_u):
        return jt.steady_state(model_b(_scalar_point(e_u)), occupations="self_consistent").energy_current["b"]

    def ref(e_u):
        return jt.solve_cavity(**_scalar_point(e_u), n_max=N_MAX, occupations="effective").energy_current["b"]

    np.testing.assert_allclose(jax.grad(cur)(1.0), jax.grad(ref)(1.0), rtol=1e-8)


def test_fock_cutoff_is_flagged():
    """A mode truncated too low: ok is False (P(n_max) > fock_tol) and throw=True names n_max."""
    p = {k: v[0] for k, v in _points(2, 1).items()}
    p.update(T_b=2.0)  # a hot bath: <a^+ a> ~ 1.5, so P(n = 3) is far above 1e-8
    system = model_b(p, n_max=3)
    r = jt.steady_state(system, occupations="bare", throw=False)
    assert not bool(r.ok) and float(r.fock_tail["a"]) > 1e-3
    with pytest.raises(jt.SteadyStateError, match="n_max"):
        jt.steady_state(system, occupations="bare")


def test_effective_energy_is_nan_not_garbage_at_zero_current():
    """In equilibrium (equal mu and T everywhere, resonant mode) every particle current is
    rounding noise (|Ndot| ~ 1e-22): Udot/Ndot would be a meaningless number, so it is NaN; away
    from equilibrium it is finite and equals Eq. 21 (E~_ph = 1.04 for the README's device)."""
    space = jt.Space(fermions=["u", "l"], bosons={"a": 10})
    u, l, a = space.annihilators()

    def device(mu_u, mu_l, omega):
        return jt.System(
            space,
            hamiltonian=[
                (1.0, jt.dag(u) @ u),
                (0.0, jt.dag(l) @ l),
                (omega, jt.dag(a) @ a),
                (0.05, jt.dag(u) @ l @ a, "hc"),
            ],
            leads=[jt.Lead("u", mu_u, 0.05, 0.03, name="u"), jt.Lead("l", mu_l, 0.05, 0.05, name="l")],
            baths=[jt.Bath(a, 0.05, 0.02, name="b")],
        )

    r = jt.steady_state(device(0.5, 0.5, 1.0), occupations="bare")
    assert all(abs(float(v)) < 1e-18 for v in r.particle_current.values())
    assert all(np.isnan(float(v)) for v in r.effective_energy.values())
    r = jt.steady_state(device(1.2, -0.2, 1.05), occupations="self_consistent")
    delta, gamma = 1.05 - 1.0, 0.03 + 0.05 + 0.02  # Eq. 21: E~_ph = omega_cav - gamma_b Delta / Gamma
    np.testing.assert_allclose(float(r.effective_energy["b"]), 1.05 - 0.02 * delta / gamma, atol=1e-9)
