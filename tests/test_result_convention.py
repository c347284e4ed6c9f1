"""One result convention (issue 13): every result jaxtls returns is a `jt.AbstractResult` with
``ok`` of the broadcast shape, ``per_reservoir`` (dicts whatever the storage), ``audit()`` and a
JSON-ready ``to_dict()``; the same physical quantity read the same way from different models'
results agrees with the others' and with closed forms."""

import json
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._models.system import FermionicSystem, Lead

A = dict(E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02)
B = dict(E_u=1.0, E_l=0.0, omega_cav=1.2, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02, mu_u=0.9, mu_l=0.1,
         T_u=0.02, T_l=0.02, T_b=0.05)  # fmt: skip
LASER = dict(E_u=1.0, E_l=0.0, omega_cav=1.05, g=0.05, gamma_u=0.01, gamma_l=0.02, gamma_b=0.005, mu_u=2.0,
             mu_l=-1.0, T_u=0.05, T_l=0.05)  # fmt: skip

PUBLIC_RESULTS = (
    "TransitionResult", "LaserResult", "LICurve", "SteadyState", "PeriodicSteadyState",
    "SelfConsistentSteadyState", "CorrelationSteadyState", "TransientSolution", "PeriodicState", "BuilderResult",
)  # fmt: skip


def model_a_system():
    """Model A as a `FermionicSystem` in the lab frame: levels u = 0, l = 1, RWA drive
    ``eps c_u^+ c_l e^{-i omega t} + h.c.`` (Eq. 7)."""
    h = jnp.diag(jnp.array([A["E_u"], A["E_l"]])).astype(jnp.complex128)
    drive = jnp.zeros((2, 2), jnp.complex128).at[0, 1].set(A["eps"])
    leads = [Lead(0, A["mu_u"], A["T_u"], A["gamma_u"], name="u"), Lead(1, A["mu_l"], A["T_l"], A["gamma_l"], name="l")]
    return FermionicSystem(h, leads, drive={1: drive}, omega=A["omega"])


def effective_occupations():
    """f_u, f_l at the effective energies of Eq. 14 (what Model A uses by default)."""
    occ = jt.classical_closed_form(**A, occupations="effective")["occupation"]
    return jnp.array([occ["u"], occ["l"]])


def results():
    """One result of every public kind (small problems)."""
    sys = model_a_system()
    rho0 = jnp.diag(jnp.array([0.25, 0.25, 0.25, 0.25], jnp.complex128))
    return {
        "TransitionResult(classical)": jt.solve_classical(**dict(A, mu_u=np.array([0.8, 0.9]))),
        "TransitionResult(cavity)": jt.solve_cavity(**B, n_max=12),
        "LaserResult": jt.solve_laser(**LASER),
        "LICurve": jt.laser_li_curve(np.array([1.0, 2.0]), **{k: v for k, v in LASER.items() if k != "mu_u"}),
        "PeriodicSteadyState": jt.periodic_steady_state(sys, occupations=effective_occupations()),
        "CorrelationSteadyState": jt.correlation_steady_state(sys, occupations=effective_occupations()),
        "TransientSolution": jt.evolve(sys, rho0, jnp.linspace(0.0, 1.0, 3)),
    }


@pytest.fixture(scope="module")
def all_results():
    return results()


@pytest.mark.parametrize("name", PUBLIC_RESULTS)
def test_every_public_result_type_follows_the_convention(name):
    cls = getattr(jt, name)
    assert issubclass(cls, jt.AbstractResult), name
    assert issubclass(cls, eqx.Module)


def test_ok_shape_dict_and_audit(all_results):
    for name, r in all_results.items():
        assert isinstance(r, jt.AbstractResult), name
        assert np.asarray(r.ok).dtype == bool, name
        assert r.shape == np.shape(r.ok), name
        d = r.to_dict()
        json.loads(json.dumps(d))  # plain Python all the way down
        assert d["ok"] == np.asarray(r.ok).tolist(), name
        audit = r.audit()
        assert audit["ok"] is r.ok
    assert all_results["TransitionResult(classical)"].shape == (2,)
    assert all_results["LICurve"].shape == (2,)


def test_per_reservoir_reads_dicts_and_arrays_alike(all_results):
    """Model A from `solve_classical` (dict storage) and from a driven `FermionicSystem` (arrays
    over `lead_names`, Floquet and correlation-matrix solvers) give the same currents read
    through `per_reservoir`, all equal to the closed form of the rate (A8-A12 in 50-digit
    arithmetic, tests/mp_reference.py)."""
    import mp_reference

    ref = float(mp_reference.classical(**A)["rate"])
    a = jt.solve_classical(**A)
    for name in ("PeriodicSteadyState", "CorrelationSteadyState"):
        r = all_results[name]
        assert r.reservoir_names == ("u", "l")
        n = r.per_reservoir("particle_current")
        np.testing.assert_allclose(float(n["u"]), ref, rtol=1e-8)
        np.testing.assert_allclose(float(n["l"]), -ref, rtol=1e-8)
        np.testing.assert_allclose(np.asarray(n["u"]), np.asarray(r.particle_current)[..., 0], rtol=0)
    n = a.per_reservoir("particle_current")
    np.testing.assert_allclose(float(n["u"]), ref, rtol=1e-8)
    with pytest.raises(ValueError, match="per-reservoir field 'rate'"):
        a.per_reservoir("rate")


def test_audit_first_law_and_particle_conservation(all_results):
    """The audit's flows obey the first law (sum_a Udot_a + P = first_law_residual, which is
    ~0) and, for the cavity, particle conservation u -> l -> photons (Ndot_u = -Ndot_l =
    -Ndot_b = R, to 1e-9 relative with a floor of 1e-13 of the smallest rate, 0.02)."""
    for name in ("TransitionResult(classical)", "TransitionResult(cavity)", "PeriodicSteadyState"):
        audit = all_results[name].audit()
        total = sum(np.asarray(v) for v in audit["energy_current"].values()) + np.asarray(audit["power"])
        scale = sum(np.abs(np.asarray(v)) for v in audit["energy_current"].values())
        np.testing.assert_allclose(total, np.asarray(audit["first_law_residual"]), atol=1e-14 * np.max(scale) + 1e-300)
        assert np.all(np.abs(total) <= 1e-10 * np.max(scale)), name
        assert np.all(np.asarray(audit["second_law"])), name
    cav = all_results["TransitionResult(cavity)"]
    n = cav.audit()["particle_current"]
    for k, sign in (("u", 1), ("l", -1), ("b", -1)):
        np.testing.assert_allclose(sign * float(n[k]), float(cav.rate), rtol=1e-9, atol=2e-15)


class _Toy(jt.AbstractResult):
    entropy_production: jax.Array
    entropy_production_tolerance: jax.Array
    ok: jax.Array


def test_second_law_check_uses_the_rounding_bound():
    """A negative entropy production within its bound is round-off (second_law True); beyond it a
    violation (False)."""
    toy = _Toy(jnp.array([-1e-20, -1e-17, 0.0, 2.0]), jnp.array([1e-18, 1e-18, 0.0, 0.0]), jnp.ones(4, bool))
    np.testing.assert_array_equal(np.asarray(toy.audit()["second_law"]), [True, False, True, True])
    assert toy.shape == (4,)
    assert toy.to_dict()["entropy_production"] == [-1e-20, -1e-17, 0.0, 2.0]


def test_results_survive_jit_and_vmap():
    """Results are pytrees: they cross `jax.jit` and `jax.vmap`, and the convention holds on the
    batched output."""
    f = jax.jit(jax.vmap(lambda mu: jt.solve_classical(**dict(A, mu_u=mu), throw=False)))
    r = f(jnp.array([0.8, 0.9, 1.0]))
    assert isinstance(r, jt.TransitionResult) and r.shape == (3,)
    assert np.all(np.asarray(r.ok))


def test_failures_say_why_and_how_to_fix():
    """`failures()` is None when every point passed; otherwise it names the failed check and
    the fix from the result code (cavity: truncated Fock space -> raise n_max) or the worst
    health value (periodic: an undamped level leaves a singular system)."""
    assert jt.solve_classical(**A).failures() is None
    hot = jt.solve_cavity(**dict(B, mu_u=2.0, T_b=3.0), n_max=2, throw=False)
    text = hot.failures()
    assert text is not None and "Fock cutoff is too small" in text and "raise n_max" in text
    h = np.diag([1.0, 0.0, 0.5])
    dead = jt.periodic_steady_state(FermionicSystem(h, [Lead(0, 0.0, 0.1, 0.1), Lead(1, 0.0, 0.1, 0.1)]), throw=False)
    text = dead.failures()
    assert text is not None and text.startswith("1 of 1 points of PeriodicSteadyState failed")
    pivot = re.search(r"min_pivot ([0-9.e+-]+)", text)
    assert pivot and float(pivot.group(1)) < 1e-9, text  # the singular pivot is the reason
