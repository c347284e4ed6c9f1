"""Periodic solvers at their edges (issue 16, item 9 first bullet and item 4).

- The one-period propagator's integration error, amplified by ``~1/(gamma tau)`` in the fixed
  point of a slowly relaxing system, is invisible to its periodicity check; the propagator now
  estimates it (`PeriodicDiagnostics.integration_error`, a second integration with a 10x looser
  controller) and flags it. Reference: `FloquetHarmonics` (harmonic tail below 1e-14), itself
  checked against the independent full-Liouville-space `DenseFloquetReference`.
- `periodic_steady_state` refuses bad `tol` and `throw` with a `ValueError` naming them.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._models.floquet import FloquetHarmonics, PeriodPropagator, periodic_steady_state
from jaxtls._models.floquet_reference import DenseFloquetReference

jax.config.update("jax_enable_x64", True)

OMEGA = 2.05


def slow_three_level(p):
    """Three levels u, l, m (energies ``E_u``, 0, ``E_m``; hopping ``t`` between l and m), a
    density-density interaction ``U (n_u n_m + n_l n_m / 2)``, one lead per level with rates
    ``gamma (1, 1.5, 0.7)`` and the drive ``2 eps cos(omega t) (c_u^+ c_l + h.c.)`` at
    ``omega = 2.05``. With ``E_u = omega`` the u-l coherence comes back in phase after one
    period, so ``U(tau)`` has an eigenvalue ``exp(-Gamma tau / 2)`` next to 1: the fixed point
    amplifies phase errors of the integration by ``~1/(gamma tau)``."""
    h = jnp.diag(jnp.stack([p["E_u"], 0.0 * p["E_u"], p["E_m"]])).astype(jnp.complex128)
    h = h.at[1, 2].set(p["t"]).at[2, 1].set(p["t"])
    hop = jnp.zeros((3, 3), jnp.complex128).at[0, 1].set(p["eps"])
    g = p["gamma"]
    leads = [
        jt.Lead(0, 1.8, 0.05, g, name="u"),
        jt.Lead(1, 0.3, 0.05, 1.5 * g, name="l"),
        jt.Lead(2, 0.9, 0.05, 0.7 * g, name="m"),
    ]
    coupling = jnp.array([[0.0, 0.0, 1.0], [0.0, 0.0, 0.5], [1.0, 0.5, 0.0]]) * p["U"]
    return jt.FermionicSystem(h, leads, interaction=coupling, drive={1: hop + hop.conj().T}, omega=OMEGA)


#: the case the default propagator gets wrong by 2e-8 with ok = True before this change
SLOW = {"E_u": OMEGA, "E_m": 1.0, "t": 0.0, "eps": 3e-5, "gamma": 3e-5, "U": 0.0}


def _params(d):
    return {k: jnp.asarray(v, jnp.float64) for k, v in d.items()}


def true_error(r, ref, gamma):
    """Largest deviation from the reference of ``rho(0)``, the populations, the power and the
    energy currents per unit rate (what `integration_error` estimates)."""
    parts = [
        jnp.max(jnp.abs(r.rho0 - ref.rho0), axis=(-2, -1)),
        jnp.max(jnp.abs(r.populations - ref.populations), axis=-1),
        jnp.abs(r.power - ref.power),
        jnp.max(jnp.abs(r.energy_current - ref.energy_current), axis=-1) / gamma,
    ]
    return np.asarray(jnp.max(jnp.stack(parts), axis=0))


@pytest.fixture(scope="module")
def slow_reference():
    system = slow_three_level(_params(SLOW))
    ref = periodic_steady_state(system, method=FloquetHarmonics(24))
    assert float(ref.diagnostics.harmonic_tail) < 1e-14
    return system, ref


def test_floquet_reference_of_the_slow_case_is_independent(slow_reference):
    """Sector Floquet harmonics = full Liouville-space Floquet harmonics (independent build)."""
    system, ref = slow_reference
    dense = periodic_steady_state(system, method=DenseFloquetReference(24))
    assert true_error(dense, ref, SLOW["gamma"]) < 1e-11
    np.testing.assert_allclose(dense.populations, ref.populations, rtol=0, atol=1e-12)


def test_propagator_integration_error_is_flagged(slow_reference):
    """Default propagator on the slowly relaxing case: off by > 1e-8 with a periodicity check
    at round-off; the integration-error estimate sees it and the result is flagged / raises."""
    system, ref = slow_reference
    r = periodic_steady_state(system, method=PeriodPropagator(), throw=False)
    err = float(true_error(r, ref, SLOW["gamma"]))
    assert err > 1e-8  # the defect: a wrong answer ...
    assert float(r.diagnostics.periodicity_error) < 1e-14  # ... that the periodicity check cannot see
    assert float(r.diagnostics.integration_error) >= err  # the estimate does
    assert not bool(r.diagnostics.ok)
    with pytest.raises(jt.SteadyStateError, match="integration error"):
        periodic_steady_state(system, method=PeriodPropagator())
    # under jit (throw only flags there)
    rj = jax.jit(lambda p: periodic_steady_state(slow_three_level(p), method="propagator", throw=False))(_params(SLOW))
    assert not bool(rj.diagnostics.ok)
    # without the estimate the defect is back (documented opt-out)
    blind = periodic_steady_state(system, method=PeriodPropagator(error_estimate=False), throw=False)
    assert float(blind.diagnostics.integration_error) == 0.0 and bool(blind.diagnostics.ok)


def test_propagator_right_to_1e9_or_flagged(slow_reference):
    """At tol = 1e-9 the propagator result is either right to 1e-9 or flagged; a tighter
    controller makes the slow case right and not flagged."""
    system, ref = slow_reference
    for method in (PeriodPropagator(), PeriodPropagator(rtol=1e-13, atol=1e-14)):
        r = periodic_steady_state(system, method=method, tol=1e-9, throw=False)
        assert (not bool(r.diagnostics.ok)) or true_error(r, ref, SLOW["gamma"]) < 1e-9
    tight = periodic_steady_state(system, method=PeriodPropagator(rtol=1e-13, atol=1e-14))
    assert bool(tight.diagnostics.ok)
    assert true_error(tight, ref, SLOW["gamma"]) < 1e-9
    assert float(tight.diagnostics.integration_error) >= true_error(tight, ref, SLOW["gamma"])


def test_integration_error_bounds_the_true_error_on_random_slow_systems():
    """Random slowly relaxing 3-level systems (rates 1e-4.5..1e-2, resonant and off-resonant
    drives, with and without interaction and hopping) at rtol = 1e-9 (errors well above
    round-off): the estimate is at or above the true error at every point, and no point with an
    error above tol = 1e-8 passes."""
    rng = np.random.default_rng(0)
    n = 8
    p = {
        "E_u": rng.uniform(1.9, 2.2, n),
        "E_m": rng.uniform(0.3, 3.0, n),
        "t": rng.uniform(0.0, 0.3, n) * (rng.uniform(size=n) < 0.5),
        "eps": 10 ** rng.uniform(-4.0, -0.5, n),
        "gamma": 10 ** rng.uniform(-4.5, -2.0, n),
        "U": rng.uniform(0.0, 0.5, n) * (rng.uniform(size=n) < 0.5),
    }
    p["E_u"][0] = OMEGA  # one exactly resonant point
    p = _params(p)
    ref = jax.jit(
        jax.vmap(lambda q: periodic_steady_state(slow_three_level(q), method=FloquetHarmonics(40), throw=False))
    )(p)
    assert bool(jnp.all(ref.diagnostics.ok)) and float(jnp.max(ref.diagnostics.harmonic_tail)) < 1e-14
    meth = PeriodPropagator(rtol=1e-9, atol=1e-10)
    r = jax.jit(jax.vmap(lambda q: periodic_steady_state(slow_three_level(q), method=meth, throw=False)))(p)
    err = true_error(r, ref, p["gamma"])
    est = np.asarray(r.diagnostics.integration_error)
    assert err.max() > 1e-8  # the sample does contain points the old check would pass wrongly
    np.testing.assert_array_less(err, est)
    ok = np.asarray(r.diagnostics.ok)
    assert not np.any(ok & (err > 1e-8))


@pytest.mark.parametrize("solver", [diffrax.Dopri8(), diffrax.Tsit5()])
def test_well_conditioned_cases_are_not_flagged(solver):
    """The beyond-RWA two-level points of test_periodic (rates 0.05-0.3) and Model A: the
    estimate stays far below tol and the results agree with Floquet to 1e-9."""
    from test_periodic import MODEL_A, two_level

    rng = np.random.default_rng(7)
    n = 4
    p = dict(
        E_u=rng.uniform(0.9, 1.1, n), E_l=rng.uniform(-0.1, 0.1, n), omega=rng.uniform(0.8, 1.3, n),
        eps=rng.uniform(0.05, 0.2, n), gamma_u=rng.uniform(0.05, 0.3, n), gamma_l=rng.uniform(0.05, 0.3, n),
        mu_u=rng.uniform(0.0, 1.2, n), mu_l=rng.uniform(-0.2, 1.0, n), T_u=rng.uniform(0.05, 0.3, n),
        T_l=rng.uniform(0.05, 0.3, n), U=np.array([0.0, 0.0, 0.4, 0.8]),
    )  # fmt: skip
    p = {k: np.append(v, MODEL_A.get(k, 0.0)) for k, v in p.items()}  # + Model A (U = 0), beyond RWA
    p = _params(p)
    meth = PeriodPropagator(solver=solver, rtol=1e-11 if isinstance(solver, diffrax.Dopri8) else 1e-10)
    r = jax.jit(jax.vmap(lambda q: periodic_steady_state(two_level(q, rwa=False), method=meth, throw=False)))(p)
    ref = jax.jit(
        jax.vmap(lambda q: periodic_steady_state(two_level(q, rwa=False), method=FloquetHarmonics(16), throw=False))
    )(p)
    assert bool(jnp.all(r.diagnostics.ok))
    assert float(jnp.max(r.diagnostics.integration_error)) < 1e-9
    assert float(jnp.max(jnp.abs(r.power - ref.power))) < 1e-9
    assert float(jnp.max(jnp.abs(r.rho0 - ref.rho0))) < 1e-9


def test_estimate_does_not_change_the_result_or_its_derivative():
    """The estimate is a side computation: the result and its forward-mode derivative along the
    occupations (what the self-consistent solver uses) are those without it."""
    p = _params({**SLOW, "gamma": 1e-2, "eps": 0.05, "U": 0.3, "t": 0.1})
    system = slow_three_level(p)
    f0 = jnp.array([0.3, 0.5, 0.7])

    def power(f, est):
        return PeriodPropagator(error_estimate=est).solve(system, f).power

    a, da = jax.jvp(lambda f: power(f, True), (f0,), (jnp.ones(3),))
    b, db = jax.jvp(lambda f: power(f, False), (f0,), (jnp.ones(3),))
    np.testing.assert_allclose([a, da], [b, db], rtol=1e-14, atol=0)
    # the derivative itself against a central finite difference
    h = 1e-5
    fd = (power(f0 + h, True) - power(f0 - h, True)) / (2 * h)
    np.testing.assert_allclose(da, fd, rtol=1e-6)


def test_error_estimate_option_checked():
    with pytest.raises(ValueError, match="error_estimate"):
        PeriodPropagator(error_estimate="yes")


# ------------------------------------------------------------------------------------------------
# periodic_steady_state options (item 4)
# ------------------------------------------------------------------------------------------------
def _small_system():
    hop = np.zeros((2, 2), complex)
    hop[0, 1] = 0.05
    leads = [jt.Lead(0, 0.9, 0.02, 0.03), jt.Lead(1, 0.1, 0.02, 0.05)]
    return jt.FermionicSystem(np.diag([1.0, 0.0]), leads, drive={1: hop}, omega=1.1)


@pytest.mark.parametrize("tol", [float("nan"), -1.0, 0.0, float("inf"), None, "1e-8", [1e-8], True, np.ones(2), 1j])
def test_bad_tol_refused(tol):
    with pytest.raises(ValueError, match=r"tol must be a finite (real )?number > 0"):
        periodic_steady_state(_small_system(), tol=tol)


@pytest.mark.parametrize("throw", ["yes", 1, None, np.array([True])])
def test_bad_throw_refused(throw):
    with pytest.raises(ValueError, match="throw must be True or False"):
        periodic_steady_state(_small_system(), throw=throw)


def test_valid_tol_and_throw_accepted():
    """Integer, NumPy and 0-d array tolerances and NumPy booleans are fine; the result then
    agrees with the default call."""
    ref = periodic_steady_state(_small_system())
    for tol, throw in ((1, True), (np.float64(1e-6), np.bool_(False)), (jnp.asarray(1e-8), False)):
        r = periodic_steady_state(_small_system(), tol=tol, throw=throw)
        np.testing.assert_allclose(r.particle_current, ref.particle_current, rtol=0, atol=1e-15)
