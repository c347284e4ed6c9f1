"""Every model-solver input checked up front (issue 16, item 4): one shared set of option
validators (`jaxtls._engine.checks`), called by `solve_classical`, `classical_closed_form`,
`solve_cavity`, `solve_laser`, `bloch_gain` and `evolve` before any work, each message naming
the parameter and its allowed range; traced values pass the host checks unchecked. Plus the
closed form of Model A against 50-digit arithmetic on valid input (also where ``|eps|^2``
overflows), and ``g = 1e300`` in `solve_cavity` flagged instead of trusted."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._engine.checks import check_flag, check_int, check_solver, check_tolerance
from jaxtls._engine.diagnostics import describe_flags
from jaxtls._models import cavity

sys.path.insert(0, str(Path(__file__).parent))
import mp_reference  # noqa: E402

CLASSICAL = dict(
    E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02
)  # fmt: skip
CAVITY = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.2, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02,
    mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02, T_b=0.05, n_max=8,
)  # fmt: skip
LASER = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.05, g=0.05, gamma_u=0.01, gamma_l=0.02, gamma_b=0.005,
    mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05,
)  # fmt: skip
BLOCH = dict(E_u=0.15, E_l=0.0, gamma_u=0.005, gamma_l=0.005, mu_u=0.01, mu_l=0.005, T=0.01)

BAD_TOLERANCES = [float("nan"), -1.0, 0.0, float("inf"), "1e-8", None, [1e-8], True, 1e-8 + 1j]


# ---------------------------------------------------------------------------------------------
# The shared validators


@pytest.mark.parametrize("value", BAD_TOLERANCES)
def test_check_tolerance_refuses_and_names_the_range(value):
    with pytest.raises(jt.ParameterError, match=r"^tol must be a finite number > 0, got "):
        check_tolerance("tol", value)


def test_check_tolerance_non_strict_accepts_zero_and_tracers_pass():
    assert check_tolerance("atol", 0.0, strict=False) == 0.0
    assert check_tolerance("tol", np.float32(1e-3)) == np.float32(1e-3)
    with pytest.raises(jt.ParameterError, match=r"atol must be a finite number >= 0"):
        check_tolerance("atol", -1e-9, strict=False)
    # under jit the value is a tracer: not inspected on the host (no error, no concretization)
    assert float(jax.jit(lambda t: check_tolerance("tol", t) * 2)(-1.0)) == -2.0


@pytest.mark.parametrize("value", ["yes", None, 1, 0, 1.0, np.array([True])])
def test_check_flag(value):
    with pytest.raises(jt.ParameterError, match=r"^throw must be True or False, got "):
        check_flag("throw", value)
    assert check_flag("throw", np.bool_(False)) is False


@pytest.mark.parametrize(
    ("value", "lo", "hi", "message"),
    [
        (0, 1, None, r"order must be an integer >= 1, got 0"),
        (2.5, 1, None, r"order must be an integer >= 1, got 2.5"),
        ("16", 1, None, r"order must be an integer >= 1, got '16'"),
        (True, 1, None, r"order must be an integer >= 1, got True"),
        (513, 1, 512, r"order must be an integer between 1 and 512, got 513"),
    ],
)
def test_check_int(value, lo, hi, message):
    with pytest.raises(jt.ParameterError, match=message):
        check_int("order", value, lo, hi)
    assert check_int("order", np.int64(3), 1, 512) == 3


def test_check_solver():
    assert check_solver("solver", None, jt.AbstractSteadySolver) is None
    dense = jt.DenseSolver()
    assert check_solver("solver", dense, jt.AbstractSteadySolver) is dense
    for bad in ("lu", 3, object()):
        with pytest.raises(jt.ParameterError, match=r"solver must be a jaxtls.AbstractSteadySolver \(or None"):
            check_solver("solver", bad, jt.AbstractSteadySolver)


# ---------------------------------------------------------------------------------------------
# Each entry point, per category: the message names the parameter (and the allowed range)


def _classical(**kw):
    return jt.solve_classical(**{**CLASSICAL, **kw})


def _closed(**kw):
    return jt.classical_closed_form(**{**CLASSICAL, **kw})


def _cavity(**kw):
    return jt.solve_cavity(**{**CAVITY, **kw})


def _laser(**kw):
    return jt.solve_laser(**{**LASER, **kw})


def _bloch(**kw):
    return jt.bloch_gain(kw.pop("omega", 0.14), **{**BLOCH, **kw})


def _level(rate_in=0.03):
    (c,) = jt.fermion_annihilators(1)
    c = np.asarray(c)
    return (0.5 * c.T @ c, [(rate_in, c.T), (0.02, c)])


def _evolve(generator=None, **kw):
    return jt.evolve(_level() if generator is None else generator, np.diag([1.0, 0.0]), np.linspace(0, 5, 6), **kw)


EMPTY = [
    (_classical, "E_u"),
    (_classical, "gamma_l"),
    (_closed, "T_u"),
    (_closed, "eps"),
    (_cavity, "g"),
    (_cavity, "T_b"),
    (_laser, "gamma_b"),
    (_laser, "mu_l"),
    (_bloch, "omega"),
    (_bloch, "T"),
]


@pytest.mark.parametrize(("fn", "name"), EMPTY, ids=[f"{f.__name__}-{n}" for f, n in EMPTY])
def test_empty_arrays_are_refused_naming_the_parameter(fn, name):
    with pytest.raises(jt.ParameterError, match=rf"^{name} must be .* non-empty array .* got an empty array"):
        fn(**{name: np.array([])})


CLOSED_FORM_BAD = [
    (dict(gamma_u=-0.03), r"gamma_u must be a finite number > 0, got min -0.03"),
    (dict(T_l=0.0), r"T_l must be a finite number > 0"),
    (dict(E_u=float("nan")), r"E_u must be a finite real number, got a non-finite value"),
    (dict(mu_u=np.array([0.9, np.inf])), r"mu_u must be a finite real number, got a non-finite value"),
    (dict(omega="1.1"), r"omega must be a finite real number, got '1.1'"),
    (dict(E_l=True), r"E_l must be a finite real number, got True"),
    (dict(omega=1.1 + 0.1j), r"omega must be a finite real number \(real\), got a complex value"),
    (dict(eps=object()), r"eps must be a finite \(real or complex\) number"),
    (dict(gamma_u=np.full(2, 0.03), gamma_l=np.full(3, 0.05)), r"parameter shapes do not broadcast together"),
    (dict(occupations="efective"), r"occupations must be one of"),
]


@pytest.mark.parametrize(("change", "message"), CLOSED_FORM_BAD, ids=[str(m) for m, _ in CLOSED_FORM_BAD])
def test_closed_form_checks_its_inputs(change, message):
    with pytest.raises(jt.ParameterError, match=message):
        _closed(**change)


OPTIONS = [
    (_classical, "tol", float("nan"), r"tol must be a finite number > 0"),
    (_classical, "tol", float("inf"), r"tol must be a finite number > 0"),
    (_classical, "tol", None, r"tol must be a finite number > 0"),
    (_classical, "throw", "yes", r"throw must be True or False"),
    (_classical, "throw", None, r"throw must be True or False"),
    (_classical, "solver", "lu", r"solver must be a jaxtls.AbstractSteadySolver \(or None"),
    (_classical, "solver", 3, r"solver must be a jaxtls.AbstractSteadySolver \(or None"),
    (_cavity, "tol", -1.0, r"tol must be a finite number > 0"),
    (_cavity, "fock_tol", float("nan"), r"fock_tol must be a finite number > 0"),
    (_cavity, "fock_tol", [1e-8], r"fock_tol must be a finite number > 0"),
    (_cavity, "throw", "yes", r"throw must be True or False"),
    (_cavity, "solver", "lu", r"solver must be a jaxtls.AbstractSteadySolver \(or None"),
    (_laser, "throw", "yes", r"throw must be True or False"),
    (_bloch, "order", 0, r"order must be an integer between 1 and 512, got 0"),
    (_bloch, "order", 2.5, r"order must be an integer between 1 and 512"),
    (_bloch, "panels", -2, r"panels must be an integer between 1 and 65536, got -2"),
    (_bloch, "panels", "4", r"panels must be an integer between 1 and 65536"),
    (_bloch, "return_error", "yes", r"return_error must be True or False"),
    (_evolve, "rtol", None, r"rtol must be a finite number >= 0, got None"),
    (_evolve, "atol", "1e-8", r"atol must be a finite number >= 0, got '1e-8'"),
    (_evolve, "throw", "yes", r"throw must be True or False"),
]


@pytest.mark.parametrize(
    ("fn", "name", "value", "message"), OPTIONS, ids=[f"{f.__name__}-{n}={v!r}" for f, n, v, _ in OPTIONS]
)
def test_bad_options_are_refused_naming_the_option(fn, name, value, message):
    with pytest.raises(jt.ParameterError, match=message):
        fn(**{name: value})


def test_self_consistent_solver_must_be_an_optimistix_solver():
    with pytest.raises(jt.ParameterError, match=r"solver must be an optimistix root finder"):
        _classical(occupations="self_consistent", solver=jt.DenseSolver())
    with pytest.raises(jt.ParameterError, match=r"tol must be a finite number > 0"):
        _classical(occupations="self_consistent", tol=0.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [("rtol", -1.0), ("rtol", "1e-12"), ("atol", float("nan")), ("steady_tol", "1e-10"), ("t_max", None)],
)
def test_laser_integration_controls(name, value):
    bound = ">= 0" if name == "atol" else "> 0"
    with pytest.raises(jt.ParameterError, match=rf"^{name} must be a finite number {bound}, got "):
        _laser(method="integrate", **{name: value})


@pytest.mark.parametrize("rate", [None, "0.03", object(), True, -0.03, float("nan")])
def test_evolve_jump_rates(rate):
    with pytest.raises(jt.ParameterError, match=r"^jumps\[0\] rate must be a finite number >= 0"):
        _evolve(_level(rate))


def test_n_max_bound_with_a_memory_estimate():
    """10**9 Fock levels would allocate past RAM: refused before any work, with the estimate and
    the largest cutoff this host allows (the same check as the registry's)."""
    with pytest.raises(jt.ParameterError, match=r"n_max = 1000000000 would need about .*TiB of memory .* n_max "
                       r"must be an integer between 1 and \d+ here"):  # fmt: skip
        _cavity(n_max=10**9)
    with pytest.raises(jt.ParameterError, match=r"n_max = 100 would need about .* between 1 and 99 here"):
        cavity.check_n_max(100, available=100 * cavity.BYTES_PER_FOCK_LEVEL)
    assert cavity.check_n_max(99, available=100 * cavity.BYTES_PER_FOCK_LEVEL) == 99
    from jaxtls._models import registry

    assert registry.BYTES_PER_FOCK_LEVEL is cavity.BYTES_PER_FOCK_LEVEL  # one constant, not a copy


def test_traced_options_and_parameters_are_not_checked_on_the_host():
    """Under jit a tolerance is a tracer: the host checks skip it (the in-graph checks decide)."""
    r = jax.jit(lambda tol: _classical(tol=tol, throw=False).rate)(1e-8)
    ref = float(mp_reference.classical(**CLASSICAL)["rate"])
    assert abs(float(r) - ref) <= 1e-8 * abs(ref)


# ---------------------------------------------------------------------------------------------
# Accuracy guards and the closed form on valid input


def test_huge_coupling_is_flagged_not_trusted():
    """``g = 1e300`` against rates of 0.02..0.05: the Liouvillian spans ~1e301, float64 cannot
    resolve it (before: ok with Ndot_u + Ndot_l != 0). Flagged with the reason, raised with throw."""
    r = _cavity(g=1e300, throw=False)
    assert not bool(r.diagnostics.ok)
    assert "span more than 1e8" in describe_flags(np.asarray(r.diagnostics.flags))
    with pytest.raises(jt.SteadyStateError, match=r"span more than 1e8"):
        _cavity(g=1e300)
    # a zero coupling is valid (no transitions): not flagged, R = 0
    r0 = _cavity(g=0.0)
    assert bool(r0.diagnostics.ok) and float(r0.rate) == 0.0


POINTS = [
    CLASSICAL,
    dict(CLASSICAL, occupations="bare"),
    dict(CLASSICAL, omega=0.0),
    dict(CLASSICAL, eps=0.3 - 0.2j, gamma_u=1e-3, T_l=0.5),
    dict(CLASSICAL, eps=0.0),
    dict(CLASSICAL, eps=1e300),  # |eps|^2 overflows: the strong-field limit
    dict(CLASSICAL, eps=1e150 + 1e150j),
    dict(CLASSICAL, E_u=-3.0, mu_l=2.0, T_u=1e-3),
]


@pytest.mark.parametrize("point", POINTS, ids=[str(i) for i in range(len(POINTS))])
def test_closed_form_equals_the_50_digit_reference(point):
    got = jt.classical_closed_form(**point)
    ref = mp_reference.classical(**point)
    floor = 1e-14 * float(ref["gross_rate"])
    for key in ("rate", "power", "entropy_production"):
        assert abs(float(got[key]) - float(ref[key])) <= 1e-12 * abs(float(ref[key])) + floor * 100, key
    for k in ("u", "l"):
        assert (
            abs(float(got["energy_current"][k]) - float(ref["energy_current"][k]))
            <= 1e-12 * abs(float(ref["energy_current"][k])) + floor * 100
        )
        pops = {"u": "sigma_uu", "l": "sigma_ll"}[k]
        assert abs(float(got[pops]) - float(ref["populations"][k])) <= 1e-13
    assert np.all(np.isfinite(np.asarray(got["sigma_ul"])))


def test_closed_form_broadcasts_and_differentiates():
    """Arrays broadcast (shape of the result), and the overflow guard keeps gradients finite."""
    eps = jnp.array([0.01, 0.05, 0.2])
    got = jt.classical_closed_form(**{**CLASSICAL, "eps": eps, "mu_u": jnp.array([[0.9], [0.5]])})
    assert got["rate"].shape == (2, 3)
    for i, mu in enumerate((0.9, 0.5)):
        for j, e in enumerate((0.01, 0.05, 0.2)):
            ref = float(mp_reference.classical(**{**CLASSICAL, "eps": e, "mu_u": mu})["rate"])
            assert abs(float(got["rate"][i, j]) - ref) <= 1e-12 * abs(ref) + 1e-16
    d = jax.grad(lambda e: jt.classical_closed_form(**{**CLASSICAL, "eps": e})["rate"])(0.05)
    h = 1e-6
    fd = (float(mp_reference.classical(**{**CLASSICAL, "eps": 0.05 + h})["rate"])
          - float(mp_reference.classical(**{**CLASSICAL, "eps": 0.05 - h})["rate"])) / (2 * h)  # fmt: skip
    assert abs(float(d) - fd) <= 1e-7 * abs(fd)


# ---------------------------------------------------------------------------------------------
# Item 8: omega = 0 (tunnelling) with self-consistent occupations


def test_self_consistent_at_omega_zero_equals_eq14():
    """At omega = 0 (two coupled dots) the Appendix C fixed point is Eq. 14 with Delta = E_l - E_u,
    and every flow equals the 50-digit closed form with effective occupations."""
    point = dict(CLASSICAL, omega=0.0)
    r = jt.solve_classical(**point, occupations="self_consistent")
    ref = mp_reference.classical(**point)
    assert abs(float(r.rate) - float(ref["rate"])) <= 1e-8 * abs(float(ref["rate"]))
    for k in ("u", "l"):
        assert abs(float(r.effective_energy[k]) - float(ref["effective_energy"][k])) <= 1e-8
        assert abs(float(r.energy_current[k]) - float(ref["energy_current"][k])) <= 1e-8 * abs(float(ref["rate"]))
    assert float(r.power) == 0.0 and bool(r.ok)  # no field, no work
    assert abs(float(r.entropy_production) - float(ref["entropy_production"])) <= 1e-8 * abs(float(ref["rate"]))
