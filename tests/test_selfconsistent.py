"""Self-consistent effective energies (Appendix C): Eq. 14 in the RWA, the second law for
tunnel-coupled dots and beyond the RWA, the continuation through zero particle current, and
implicit gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pytest

import jaxtls as jt
from jaxtls._models.floquet import FloquetHarmonics, periodic_steady_state
from jaxtls._models.selfconsistent import (
    SelfConsistencyError,
    effective_energies,
    self_consistent_steady_state,
    solve_classical_self_consistent,
)
from jaxtls._models.system import FermionicSystem, Lead


# ------------------------------------------------------------------------------------------------
# RWA two-level system = Model A
# ------------------------------------------------------------------------------------------------
def test_rwa_self_consistent_equals_eq14_and_model_a():
    """The fixed point E~_a = Udot_a/Ndot_a, f_a = fermi(E~_a) of the lab-frame Floquet solution
    reproduces Eq. (14) to 1e-10 and every flow of Model A with effective occupations. The last
    column is the 0/0 case: mu_u - mu_l = omega, T_u = T_l gives f_u = f_l and R = 0 exactly."""
    p = dict(
        E_u=np.array([[1.0, 1.0, 1.2], [1.0, 0.9, 1.0]]),
        E_l=np.array([0.0, 0.1, 0.0]),
        omega=np.array([[1.1, 0.95, 1.1], [0.9, 1.3, 1.0]]),
        eps=np.array([0.05, 0.08 + 0.03j, 0.05]),
        gamma_u=np.array([0.03, 0.1, 0.04]),
        gamma_l=np.array([0.05, 0.02, 0.06]),
        mu_u=np.array([[0.9, 0.8, 1.25], [0.9, 0.7, 1.15]]),
        mu_l=np.array([0.1, 0.2, 0.15]),
        T_u=np.array([0.02, 0.05, 0.03]),
        T_l=np.array([0.02, 0.08, 0.03]),
    )
    # 0/0 column: mu_u - mu_l = omega with equal temperatures -> f_u = f_l at the fixed point
    p["mu_u"][:, 2] = p["mu_l"][2] + p["omega"][:, 2]
    r = solve_classical_self_consistent(**p)
    cf = jt.classical_closed_form(**p, occupations="effective")
    assert r.shape == (2, 3)
    assert r.occupations == "self_consistent"
    for a in ("u", "l"):
        np.testing.assert_allclose(r.effective_energy[a], cf["effective_energy"][a], rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.occupation[a], cf["occupation"][a], rtol=0, atol=1e-10)
        np.testing.assert_allclose(r.particle_current[a], cf["particle_current"][a], rtol=0, atol=1e-13)
        np.testing.assert_allclose(r.energy_current[a], cf["energy_current"][a], rtol=0, atol=1e-13)
    np.testing.assert_allclose(r.rate, cf["rate"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(r.power, cf["power"], rtol=0, atol=1e-13)
    np.testing.assert_allclose(r.entropy_production, cf["entropy_production"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.populations["u"], cf["sigma_uu"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r.coherence, cf["sigma_ul"], rtol=0, atol=1e-12)
    assert np.all(np.abs(r.first_law_residual) < 1e-14)
    assert np.all(r.diagnostics.ok)
    # the 0/0 points really carry no current; the plain ratio U/N is meaningless there
    assert np.all(np.abs(r.rate[:, 2]) < 1e-15)
    f0 = jnp.array([r.occupation["u"][0, 2], r.occupation["l"][0, 2]])
    sys0 = _rwa_system({k: np.broadcast_to(v, (2, 3))[0, 2] for k, v in p.items()})
    plain = periodic_steady_state(sys0, occupations=f0, method=FloquetHarmonics(2)).effective_energy
    assert not np.allclose(plain, [cf["effective_energy"]["u"][0, 2], cf["effective_energy"]["l"][0, 2]], atol=1e-6)


def _rwa_system(q):
    h = jnp.diag(jnp.array([q["E_u"], q["E_l"]], dtype=jnp.complex128))
    return FermionicSystem(
        h,
        [Lead(0, q["mu_u"], q["T_u"], q["gamma_u"], name="u"), Lead(1, q["mu_l"], q["T_l"], q["gamma_l"], name="l")],
        drive={1: jnp.zeros((2, 2), jnp.complex128).at[0, 1].set(q["eps"])},
        omega=q["omega"],
    )


def test_rwa_validation():
    with pytest.raises(ValueError, match="gamma_u"):
        solve_classical_self_consistent(
            E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=-0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02
        )
    with pytest.raises(ValueError, match="omega"):
        solve_classical_self_consistent(
            E_u=1.0, E_l=0.0, omega=np.nan, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02
        )  # omega = 0 is valid (tunnelling, issue 16 item 8: tests/test_validation_models.py)


# ------------------------------------------------------------------------------------------------
# omega = 0: two tunnel-coupled dots
# ------------------------------------------------------------------------------------------------
def test_tunnel_coupled_dots_second_law():
    """H = E_u n_u + E_l n_l + eps (c_u^+ c_l + h.c.), static. With the bias between the level
    energies (E_l < mu_l < mu_u < E_u, mu_u - mu_l < E_u - E_l) the local (bare) occupations
    drive particles from l to u against the bias: negative entropy production. The
    self-consistent construction gives E~_u = E~_l and a non-negative entropy production."""
    gu, gl, eu, el, eps = 0.1, 0.04, 1.0, 0.0, 0.05
    sys = FermionicSystem(
        jnp.array([[eu, eps], [eps, el]]),
        [Lead(0, 0.75, 0.05, gu, name="u"), Lead(1, 0.25, 0.05, gl, name="l")],
    )
    bare = periodic_steady_state(sys)
    assert float(bare.particle_current[0]) < 0  # l -> u, against mu_u > mu_l
    assert float(bare.entropy_production) < -1e-4  # bare energies violate the second law
    sc = self_consistent_steady_state(sys)
    e = np.asarray(sc.effective_energy)
    np.testing.assert_allclose(e[0], e[1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(e, (gl * eu + gu * el) / (gu + gl), rtol=0, atol=1e-10)  # Eq. 14, omega = 0
    assert float(sc.particle_current[0]) > 0
    assert float(sc.entropy_production) > 0
    assert abs(float(sc.first_law_residual)) < 1e-15
    # Model A with omega = 0 is the same problem
    cf = jt.classical_closed_form(
        E_u=eu, E_l=el, omega=0.0, eps=eps, gamma_u=gu, gamma_l=gl, mu_u=0.75, mu_l=0.25, T_u=0.05, T_l=0.05
    )
    np.testing.assert_allclose(sc.particle_current[0], cf["rate"], rtol=1e-10)
    np.testing.assert_allclose(sc.entropy_production, cf["entropy_production"], rtol=1e-10)


# ------------------------------------------------------------------------------------------------
# Beyond the RWA
# ------------------------------------------------------------------------------------------------
def _beyond_rwa(q):
    h = jnp.diag(jnp.stack([q["E_u"], q["E_l"]])).astype(jnp.complex128)
    x = jnp.zeros((2, 2), jnp.complex128).at[0, 1].set(q["eps"]).at[1, 0].set(q["eps"])
    return FermionicSystem(
        h,
        [Lead(0, q["mu_u"], q["T_u"], q["gamma_u"], name="u"), Lead(1, q["mu_l"], q["T_l"], q["gamma_l"], name="l")],
        interaction={(0, 1): q["U"]},
        drive={1: x},  # 2 eps cos(omega t) (c_u^+ c_l + h.c.)
        omega=q["omega"],
    )


def _random_points(n, seed):
    rng = np.random.default_rng(seed)
    q = dict(
        E_u=rng.uniform(0.8, 1.2, n), E_l=rng.uniform(-0.2, 0.2, n), omega=rng.uniform(0.6, 1.5, n),
        eps=rng.uniform(0.01, 0.2, n), gamma_u=rng.uniform(0.02, 0.3, n), gamma_l=rng.uniform(0.02, 0.3, n),
        mu_u=rng.uniform(-0.5, 1.5, n), mu_l=rng.uniform(-0.5, 1.5, n), T_u=rng.uniform(0.02, 0.5, n),
        T_l=rng.uniform(0.02, 0.5, n), U=rng.choice([0.0, 0.3, 1.0], n),
    )  # fmt: skip
    return {k: jnp.asarray(v) for k, v in q.items()}


@jax.jit
def _batch(q):
    def one(x):
        sys = _beyond_rwa(x)
        sc = self_consistent_steady_state(sys, method=FloquetHarmonics(12), throw=False)
        bare = periodic_steady_state(sys, method=FloquetHarmonics(12), throw=False)
        return sc, bare

    return jax.vmap(one)(q)


def test_beyond_rwa_second_law_on_random_parameters():
    """Drive 2 eps cos(omega t) (c_u^+ c_l + h.c.), Coulomb U in {0, 0.3, 1}: on 240 random points the
    self-consistent period-averaged entropy production is >= 0 and the first law holds to 1e-10,
    whereas bare occupations violate the second law at some of them."""
    q = _random_points(240, 3)
    sc, bare = _batch(q)
    assert np.all(np.asarray(sc.converged))
    assert np.all(np.asarray(sc.steady_state.diagnostics.ok))
    assert float(jnp.max(sc.steady_state.diagnostics.harmonic_tail)) < 1e-10
    s = np.asarray(sc.entropy_production)
    assert s.min() >= -1e-13, s.min()
    assert float(jnp.max(jnp.abs(sc.first_law_residual))) < 1e-10
    assert float(jnp.max(sc.effective_energy_residual)) < 1e-10
    # the test has teeth: the bare (local) prescription violates the second law here
    assert int(np.sum(np.asarray(bare.entropy_production) < -1e-8)) >= 5


def test_implicit_gradient_matches_finite_differences():
    """d/dparams of self-consistent quantities through optimistix.ImplicitAdjoint (implicit
    function theorem) against central finite differences."""
    base = {k: v[0] for k, v in _random_points(1, 5).items()}
    base.update(eps=jnp.asarray(0.15), U=jnp.asarray(0.5), mu_u=jnp.asarray(0.9), mu_l=jnp.asarray(0.1))
    names = ("eps", "mu_u", "U", "omega")

    def outputs(x):
        q = dict(base)
        q.update(zip(names, x))
        sc = self_consistent_steady_state(_beyond_rwa(q), method=FloquetHarmonics(12))
        return jnp.stack([sc.entropy_production, sc.effective_energy[0], sc.effective_energy[1], sc.power])

    x0 = jnp.array([base[k] for k in names])
    jac = jax.jit(jax.jacrev(outputs))(x0)
    f = jax.jit(outputs)
    h = 1e-5
    fd = jnp.stack([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in jnp.eye(len(names))], axis=-1)
    scale = jnp.maximum(jnp.abs(fd), 1e-3)
    assert float(jnp.max(jnp.abs(jac - fd) / scale)) < 1e-6
    assert float(jnp.max(jnp.abs(jac[1:3, 2]))) > 1e-4  # E~ depends on U through the fixed point


# ------------------------------------------------------------------------------------------------
# Zero particle current and failure modes
# ------------------------------------------------------------------------------------------------
def test_effective_energy_continuation_through_zero_current():
    """An interacting, driven three-level system where the currents are *not* affine in f_a. At
    the occupation f* where Ndot_a = Udot_a = 0 (equilibrium: equal mu, T, no drive) the
    continued E~_a equals the limit of Udot_a/Ndot_a (extrapolated from both sides), and away from
    it the continuation equals the plain ratio."""
    h = jnp.array([[0.0, 0.1, 0.0], [0.1, 0.6, 0.07], [0.0, 0.07, 1.1]])
    leads = [Lead(0, 0.4, 0.3, 0.1), Lead(1, 0.4, 0.3, 0.2), Lead(2, 0.4, 0.3, 0.15)]
    sys = FermionicSystem(h, leads, interaction={(0, 1): 0.5, (1, 2): 0.3})
    # equilibrium occupations of the leads; lead 1 is then in equilibrium with the system
    f_star = jnp.full(3, float(jt.fermi(0.0, 0.4, 0.3)))
    st = periodic_steady_state(sys, occupations=f_star)
    assert float(jnp.max(jnp.abs(st.particle_current))) < 1e-15
    assert float(jnp.max(jnp.abs(st.energy_current))) < 1e-15
    cont = effective_energies(sys, occupations=f_star)
    assert np.all(np.isfinite(np.asarray(cont)))

    def plain(delta):
        f = f_star.at[1].add(delta)
        s = periodic_steady_state(sys, occupations=f)
        return float(s.energy_current[1] / s.particle_current[1])

    # Richardson extrapolation of the plain ratio from both sides: g(d) = g0 + g1 d + O(d^2)
    d = 1e-3
    limit = 0.5 * (plain(d) + plain(-d))
    assert abs(plain(d) - plain(-d)) > 1e-6  # the ratio does vary with f_1: not a trivial case
    np.testing.assert_allclose(cont[1], limit, rtol=0, atol=1e-6)
    # away from the zero the continuation is the plain ratio
    far = f_star.at[1].add(0.05)
    np.testing.assert_allclose(effective_energies(sys, occupations=far)[1], plain(0.05), rtol=1e-10)


def test_non_convergence_raises_clear_error():
    q = {k: v[0] for k, v in _random_points(1, 5).items()}
    q.update(U=jnp.asarray(1.0), eps=jnp.asarray(0.2))
    sys = _beyond_rwa(q)
    with pytest.raises(SelfConsistencyError, match="did not converge"):
        self_consistent_steady_state(sys, method=FloquetHarmonics(12), max_steps=1)
    out = self_consistent_steady_state(sys, method=FloquetHarmonics(12), max_steps=1, throw=False)
    assert not bool(out.converged)
    assert not bool(out.steady_state.diagnostics.ok)
    # a fixed-point iteration instead of Newton reaches the same fixed point
    a = self_consistent_steady_state(sys, method=FloquetHarmonics(12))
    b = self_consistent_steady_state(
        sys, method=FloquetHarmonics(12), solver=optx.FixedPointIteration(rtol=1e-12, atol=1e-12), max_steps=200
    )
    np.testing.assert_allclose(a.effective_energy, b.effective_energy, atol=1e-9)
