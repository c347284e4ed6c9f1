"""Periodic steady states of driven fermionic systems (Model E, Appendix C): the Floquet
harmonic expansion against the one-period propagator and against Model A, the correlation-matrix
method for quadratic systems against the Fock-space Liouvillian, and input validation."""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxtls as jt
from jaxtls._engine.checks import ParameterError
from jaxtls._models.correlation import correlation_rhs, correlation_steady_state
from jaxtls._models.floquet import FloquetHarmonics, PeriodPropagator, periodic_steady_state
from jaxtls._models.floquet_reference import dense_liouvillian
from jaxtls._models.system import FermionicSystem, Lead, fock_operators


def two_level(p, *, rwa):
    """Two levels (u = 0, l = 1) with Coulomb coupling U n_u n_l; drive eps c_u^+ c_l e^{-i w t}
    + h.c. (RWA) or 2 eps cos(w t) (c_u^+ c_l + h.c.) (beyond RWA)."""
    h = jnp.diag(jnp.stack([p["E_u"], p["E_l"]])).astype(jnp.complex128)
    hop = jnp.zeros((2, 2), jnp.complex128).at[0, 1].set(p["eps"])
    drive = hop if rwa else hop + hop.conj().T
    return FermionicSystem(
        h,
        [Lead(0, p["mu_u"], p["T_u"], p["gamma_u"], name="u"), Lead(1, p["mu_l"], p["T_l"], p["gamma_l"], name="l")],
        interaction=jnp.array([[0.0, 1.0], [1.0, 0.0]]) * p["U"],
        drive={1: drive},
        omega=p["omega"],
    )


MODEL_A = dict(
    E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02
)


def test_rwa_floquet_and_propagator_reproduce_model_a():
    """Lab-frame Floquet solution of the RWA drive = closed form of Model A (A8-A12, 11-13)."""
    cf = jt.classical_closed_form(**MODEL_A, occupations="effective")
    f = jnp.array([cf["occupation"]["u"], cf["occupation"]["l"]])
    p = {k: jnp.asarray(v) for k, v in MODEL_A.items()} | {"U": jnp.asarray(0.0)}
    sys = two_level(p, rwa=True)
    for method in (FloquetHarmonics(n_harm=2), PeriodPropagator(rtol=1e-12, atol=1e-13)):
        r = periodic_steady_state(sys, occupations=f, method=method)
        tol = 1e-14 if method.__class__ is FloquetHarmonics else 1e-11
        np.testing.assert_allclose(r.particle_current, [cf["rate"], -cf["rate"]], atol=tol)
        np.testing.assert_allclose(r.energy_current, [cf["energy_current"]["u"], cf["energy_current"]["l"]], atol=tol)
        np.testing.assert_allclose(r.power, cf["power"], atol=tol)
        np.testing.assert_allclose(r.entropy_production, cf["entropy_production"], atol=tol)
        assert abs(r.first_law_residual) < 1e-14
        assert bool(r.diagnostics.ok)
    # RWA: the exact state has harmonics |n| <= 1 only
    assert (
        float(periodic_steady_state(sys, occupations=f, method=FloquetHarmonics(2)).diagnostics.harmonic_tail) < 1e-15
    )


@pytest.fixture(scope="module")
def beyond_rwa_points():
    rng = np.random.default_rng(7)
    n = 4
    p = dict(
        E_u=rng.uniform(0.9, 1.1, n), E_l=rng.uniform(-0.1, 0.1, n), omega=rng.uniform(0.8, 1.3, n),
        eps=rng.uniform(0.05, 0.2, n), gamma_u=rng.uniform(0.05, 0.3, n), gamma_l=rng.uniform(0.05, 0.3, n),
        mu_u=rng.uniform(0.0, 1.2, n), mu_l=rng.uniform(-0.2, 1.0, n), T_u=rng.uniform(0.05, 0.3, n),
        T_l=rng.uniform(0.05, 0.3, n), U=np.array([0.0, 0.0, 0.4, 0.8]),
    )  # fmt: skip
    return {k: jnp.asarray(v) for k, v in p.items()}


def test_floquet_and_propagator_agree_beyond_rwa(beyond_rwa_points):
    """Drive 2 eps cos(omega t) (c_u^+ c_l + h.c.), with and without Coulomb U: the two independent
    periodic-steady-state methods agree to 1e-8, and the period-averaged first law holds."""
    floq = jax.jit(
        jax.vmap(lambda p: periodic_steady_state(two_level(p, rwa=False), method=FloquetHarmonics(16), throw=False))
    )
    prop = jax.jit(
        jax.vmap(
            lambda p: periodic_steady_state(
                two_level(p, rwa=False), method=PeriodPropagator(rtol=1e-12, atol=1e-13), throw=False
            )
        )
    )
    a = floq(beyond_rwa_points)
    b = prop(beyond_rwa_points)
    assert np.all(np.asarray(a.diagnostics.ok)) and np.all(np.asarray(b.diagnostics.ok))
    assert float(jnp.max(a.diagnostics.harmonic_tail)) < 1e-12
    for name in ("energy_current", "particle_current", "power", "entropy_production"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(a.rho0, b.rho0, atol=1e-8)
    assert float(jnp.max(jnp.abs(a.first_law_residual))) < 1e-10
    assert float(jnp.max(jnp.abs(b.first_law_residual))) < 1e-10
    # a genuinely non-RWA state: harmonics beyond |n| = 1 matter
    assert float(jnp.min(jnp.linalg.norm(a.rho_harmonics[:, 16 + 2], axis=(-2, -1)))) > 1e-6
    # rho(t) of the harmonic expansion is periodic and propagates to itself
    np.testing.assert_allclose(a.rho(2 * jnp.pi / beyond_rwa_points["omega"]), a.rho0, atol=1e-12)


def test_beyond_rwa_approaches_rwa_as_eps_over_omega_vanishes():
    """Drive 2 eps cos(omega t) against the RWA drive eps e^{-i omega t}, same lead occupations.

    As eps/omega -> 0 the relative difference of the rate d = |R_full - R_RWA| / |R_RWA| tends to
    the weak-drive counter-rotating contribution, a second Lorentzian at detuning omega + E_u - E_l:
    d0 = (Delta^2 + G^2) / ((omega + E_u - E_l)^2 + G^2), G = (gamma_u + gamma_l)/2 the
    coherence decay rate (closed form, checked to 1 %). Above that floor the drive-dependent
    (Bloch-Siegert-like) correction grows like (eps/omega)^2 and is clearly visible at
    eps/omega = 0.03."""
    base = dict(E_u=1.0, E_l=0.0, omega=1.02, gamma_u=0.005, gamma_l=0.008, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02)
    ratios = np.array([0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001])
    f = jnp.array([jt.fermi(base["E_u"], base["mu_u"], base["T_u"]), jt.fermi(base["E_l"], base["mu_l"], base["T_l"])])

    def rates(r):
        p = {k: jnp.asarray(v) for k, v in base.items()} | {"eps": r * base["omega"], "U": jnp.asarray(0.0)}
        full = periodic_steady_state(two_level(p, rwa=False), occupations=f, method=FloquetHarmonics(16), throw=False)
        rwa = periodic_steady_state(two_level(p, rwa=True), occupations=f, method=FloquetHarmonics(2), throw=False)
        return full.particle_current[0], rwa.particle_current[0], full.diagnostics.ok & rwa.diagnostics.ok

    full, rwa, ok = (np.asarray(a) for a in jax.jit(jax.vmap(rates))(jnp.asarray(ratios)))
    assert ok.all()
    d = np.abs(full - rwa) / np.abs(rwa)
    delta = base["omega"] - (base["E_u"] - base["E_l"])
    g2 = 0.5 * (base["gamma_u"] + base["gamma_l"])
    d0 = (delta**2 + g2**2) / ((base["omega"] + base["E_u"] - base["E_l"]) ** 2 + g2**2)
    np.testing.assert_allclose(d[-1], d0, rtol=1e-2)
    excess = d - d0
    assert np.all(np.diff(excess[1:]) < 0), excess  # decreases towards the weak-drive limit
    assert excess[1] > 30 * excess[3]  # ~ (eps/omega)^2: a factor 10 in eps gives ~50-100 here
    assert d[0] > 30 * d0  # the drive-dependent correction is visible at eps/omega = 0.03


def test_harmonic_truncation_is_reported():
    p = {k: jnp.asarray(v) for k, v in MODEL_A.items()} | {"U": jnp.asarray(0.0), "eps": jnp.asarray(0.3)}
    sys = two_level(p, rwa=False)
    coarse = periodic_steady_state(sys, method=FloquetHarmonics(2), throw=False)
    fine = periodic_steady_state(sys, method=FloquetHarmonics(12))
    assert float(coarse.diagnostics.harmonic_tail) > 1e-6 > float(fine.diagnostics.harmonic_tail)
    assert not bool(coarse.diagnostics.ok)
    with pytest.raises(jt.SteadyStateError, match="n_harm"):
        periodic_steady_state(sys, method=FloquetHarmonics(2))


def test_callable_drive_equals_fourier_drive():
    p = {k: jnp.asarray(v) for k, v in MODEL_A.items()} | {"U": jnp.asarray(0.0), "eps": jnp.asarray(0.1)}
    ref = periodic_steady_state(two_level(p, rwa=False), method=FloquetHarmonics(12))
    x = jnp.array([[0.0, 1.0], [1.0, 0.0]])
    sys = FermionicSystem(
        jnp.diag(jnp.array([1.0, 0.0])),
        [Lead(0, 0.9, 0.02, 0.03), Lead(1, 0.1, 0.02, 0.05)],
        drive=lambda t: 2 * 0.1 * jnp.cos(1.1 * t) * x,
        omega=1.1,
        drive_harmonics=2,
    )
    for method in (FloquetHarmonics(12), "auto"):  # auto = propagator for a callable drive
        r = periodic_steady_state(sys, method=method)
        np.testing.assert_allclose(r.energy_current, ref.energy_current, atol=1e-9)
        np.testing.assert_allclose(r.power, ref.power, atol=1e-9)


# ------------------------------------------------------------------------------------------------
# Quadratic systems: correlation matrix
# ------------------------------------------------------------------------------------------------
def _random_quadratic(m, seed, driven=True, n_leads=None, drive_scale=0.15):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))
    h = 0.5 * (h + h.conj().T)
    levels = list(range(m)) if n_leads is None else list(range(n_leads))
    leads = [Lead(i, rng.uniform(-0.5, 0.5), rng.uniform(0.1, 0.6), rng.uniform(0.2, 0.8)) for i in levels]
    if m > 1:  # a second lead on level 0 (several reservoirs on one level are allowed)
        leads.append(Lead(0, 0.7, 0.2, 0.3, name="extra"))
    drive = None
    if driven:
        drive = {1: drive_scale * (rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m)))}
    return FermionicSystem(h, leads, drive=drive, omega=1.3 if driven else 0.0)


def test_correlation_equation_of_motion_matches_fock_liouvillian():
    """dC/dt = -i[h(t), C] - {Gamma/2, C} + Gamma F equals Tr{c_j^+ c_i L(t)[rho]} for an
    arbitrary (non-steady, non-Gaussian) state rho."""
    m = 3
    sys = _random_quadratic(m, 3)
    rng = np.random.default_rng(11)
    a = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    rho = a @ a.conj().T
    rho /= np.trace(rho)
    f = np.asarray(sys.resolve_occupations(None))
    hop = fock_operators(m)["hop"]
    t = 0.37
    drho = (np.asarray(dense_liouvillian(sys, t, f)) @ rho.reshape(-1)).reshape(8, 8)
    c = np.einsum("jiab,ba->ij", hop, rho)
    dc_fock = np.einsum("jiab,ba->ij", hop, drho)
    dc = np.asarray(correlation_rhs(sys, t, jnp.asarray(c), f))
    np.testing.assert_allclose(dc, dc_fock, atol=1e-13)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_correlation_matrix_equals_fock_space(m):
    """Quadratic systems: C_ij = <c_j^+ c_i> and all flows from the correlation matrix equal the
    Fock-space (Floquet-Liouville) solution to 1e-10, static and driven."""
    driven = m != 3
    sys = _random_quadratic(m, m, driven=driven)
    n_harm = 16 if driven else 0
    fock = periodic_steady_state(sys, method=FloquetHarmonics(n_harm))
    hop = fock_operators(m)["hop"]
    c_fock = np.einsum("jiab,nba->nij", hop, np.asarray(fock.rho_harmonics))
    for solver in ("direct", "gmres"):
        corr = correlation_steady_state(sys, n_harm=n_harm, solver=solver)
        np.testing.assert_allclose(corr.correlation_harmonics, c_fock, atol=1e-10)
        for name in ("energy_current", "particle_current", "power", "entropy_production", "populations"):
            np.testing.assert_allclose(getattr(corr, name), getattr(fock, name), atol=1e-10, err_msg=name)
        assert abs(float(corr.first_law_residual)) < 1e-12


def test_correlation_matrix_200_levels():
    """A 200-level tight-binding chain with 100 leads: static Lyapunov solve against SciPy."""
    m = 200
    onsite = np.linspace(-1.0, 1.0, m)
    h = np.diag(onsite) + np.diag(0.5 * np.ones(m - 1), 1) + np.diag(0.5 * np.ones(m - 1), -1)
    leads = [Lead(i, 0.3 * np.sin(i), 0.1 + 0.01 * (i % 5), 0.05 + 0.02 * (i % 3)) for i in range(0, m, 2)]
    sys = FermionicSystem(h, leads)
    correlation_steady_state(sys)  # compile
    t0 = time.perf_counter()
    r = correlation_steady_state(sys)
    jax.block_until_ready(r.correlation)
    elapsed = time.perf_counter() - t0
    print(f"\nM = {m}: static correlation-matrix steady state in {elapsed:.3f} s (after compilation)")
    gamma = np.zeros(m)
    source = np.zeros(m)
    f = np.asarray(r.occupation)
    for k, lead in enumerate(leads):
        gamma[lead.level] += float(lead.gamma)
        source[lead.level] += float(lead.gamma) * f[k]
    a = -1j * h - 0.5 * np.diag(gamma)
    ref = scipy.linalg.solve_sylvester(a, a.conj().T, -np.diag(source))
    np.testing.assert_allclose(r.correlation, ref, atol=1e-10)
    assert bool(r.ok)
    assert abs(float(jnp.sum(r.particle_current))) < 1e-12  # particles are conserved
    assert abs(float(r.first_law_residual)) < 1e-12
    assert elapsed < 30.0


def test_correlation_periodic_gmres_equals_direct():
    sys = _random_quadratic(10, 5, driven=True, n_leads=4, drive_scale=0.03)
    a = correlation_steady_state(sys, n_harm=12, solver="gmres")
    b = correlation_steady_state(sys, n_harm=12, solver="direct")
    np.testing.assert_allclose(a.correlation_harmonics, b.correlation_harmonics, atol=1e-10)
    np.testing.assert_allclose(a.energy_current, b.energy_current, atol=1e-10)


# ------------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------------
def test_validation_names_the_parameter():
    good = [Lead(0, 0.0, 0.1, 0.1), Lead(1, 0.0, 0.1, 0.1)]
    h = np.diag([1.0, 0.0])
    cases = [
        (lambda: Lead(0, 0.0, 0.1, -0.1), "gamma"),
        (lambda: Lead(0, 0.0, 0.0, 0.1), "T"),
        (lambda: Lead(0, np.nan, 0.1, 0.1), "mu"),
        (lambda: Lead(-1, 0.0, 0.1, 0.1), "level"),
        (lambda: FermionicSystem(h, [Lead(2, 0.0, 0.1, 0.1)]), r"leads\[0\].level"),
        (lambda: FermionicSystem(np.array([[0.0, 1.0], [0.0, 0.0]]), good), "h must be Hermitian"),
        (lambda: FermionicSystem(h, []), "leads"),
        (lambda: FermionicSystem(h, good, drive={0: h}, omega=1.0), "drive keys"),
        (lambda: FermionicSystem(h, good, drive={1: np.eye(3)}, omega=1.0), r"drive\[1\]"),
        (lambda: FermionicSystem(h, good, drive={1: h}, omega=0.0), "omega"),
        (lambda: FermionicSystem(h, good, drive={1: h}, omega=-1.0), "omega"),
        (lambda: FermionicSystem(h, good, interaction={(0, 0): 1.0}), "interaction"),
        (lambda: FermionicSystem(h, good, interaction=np.eye(2)), "interaction"),
        (lambda: periodic_steady_state(FermionicSystem(h, good), occupations=[0.5]), "occupations"),
        (lambda: periodic_steady_state(FermionicSystem(h, good), occupations=[0.5, 1.5]), "occupations"),
        (lambda: periodic_steady_state(FermionicSystem(h, good), method="magic"), "method"),
        (
            lambda: periodic_steady_state(
                FermionicSystem(h, good, drive={2: h}, omega=1.0), method=FloquetHarmonics(1)
            ),
            "n_harm",
        ),
        (lambda: correlation_steady_state(FermionicSystem(h, good, interaction={(0, 1): 1.0})), "quadratic"),
        (lambda: correlation_steady_state(FermionicSystem(h, good), solver="lu"), "solver"),
        (lambda: periodic_steady_state(FermionicSystem(np.eye(7), [Lead(0, 0.0, 0.1, 0.1)])), "at most 6 levels"),
    ]
    for fn, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            fn()
    assert issubclass(ParameterError, ValueError)


def test_undamped_level_is_flagged():
    """A level coupled to nothing: non-unique steady state -> raise, never silent garbage."""
    h = np.diag([1.0, 0.0, 0.5])
    sys = FermionicSystem(h, [Lead(0, 0.0, 0.1, 0.1), Lead(1, 0.0, 0.1, 0.1)])
    with pytest.raises(jt.SteadyStateError):
        periodic_steady_state(sys)
    with pytest.raises(jt.SteadyStateError):
        correlation_steady_state(sys)


def test_throw_acts_under_jit_and_throw_false_flags():
    """Under `jax.jit` (traced rates) a failed periodic steady state raises with ``throw=True``
    (an equinox run-time error) and comes back with ``ok = False`` with ``throw=False``; a good
    point passes both ways."""

    def solve(gamma, throw):
        h = np.diag([1.0, 0.0, 0.5])  # level 2 is coupled to nothing unless gamma_2 > 0
        leads = [Lead(0, 0.0, 0.1, 0.1), Lead(1, 0.0, 0.1, 0.1), Lead(2, 0.0, 0.1, gamma)]
        return periodic_steady_state(FermionicSystem(h, leads), throw=throw)

    good = jax.jit(lambda g: solve(g, True).ok)(0.1)
    assert bool(good)
    flagged = jax.jit(lambda g: solve(g, False).ok)(0.0)
    assert not bool(flagged)
    with pytest.raises((eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError), match="periodic steady state failed"):
        jax.block_until_ready(jax.jit(lambda g: solve(g, True).particle_current)(0.0))
