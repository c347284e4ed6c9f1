"""Fuzzing of every public entry point with bad and extreme inputs (issue 16, item 4).

For each entry point -- the workflows (`jt.scan`, `jt.scan_from_toml`, `jt.sensitivities`,
`jt.optimize`, `jt.plot_store`, the command line) and, read only, the model solvers
(`jt.solve_classical`, `jt.solve_cavity`, `jt.solve_laser`, `jt.bloch_gain`,
`jt.classical_closed_form`, `jt.steady_state`, `jt.periodic_steady_state`, `jt.evolve`) -- cases
are generated systematically: one argument at a time replaced by a bad or extreme value
(negative, zero, NaN, +-inf, huge, tiny, complex where real is expected, strings, None, bools,
wrong types, empty arrays, arrays holding NaN, shapes that do not broadcast), bad options, and a
few combinations named in the issue. A fixed-seed subsample keeps the file fast (`SAMPLE`;
``JAXTLS_FUZZ_ALL=1`` runs every generated case).

A case whose input lies outside the documented domain (`must_refuse`: non-finite, non-numeric,
empty, non-broadcasting, complex for a real parameter, a negative or zero rate or temperature,
an option outside its allowed values) must raise a `ValueError` (any subclass). Every other case
must end in one of:

- a `ValueError`;
- an explicit "cannot be trusted" error (`jt.SteadyStateError`, `jt.SelfConsistencyError`, the
  `equinox` runtime error of a check under jit);
- a result whose numeric fields are finite wherever its trust flag (``ok`` / ``diagnostics.ok``
  / the registry's trust check / a scan's ``ok``) says it can be trusted, and whose trusted
  values pass an independent check where one is cheap: Model A's closed form in 50-digit
  arithmetic (tests/mp_reference.py), the single-level closed form for `jt.steady_state`,
  frequency pulling (Eq. 30) for the laser, particle-number conservation and the first law for
  the cavity, a unit trace and Hermiticity for `jt.evolve`, the toy models' own closed forms.

Never a silent NaN, a trusted non-finite or wrong value, or another exception (`TypeError`,
`IndexError`, `ZeroDivisionError`, ... fail). Every case of the sample is collected (there is no
list of known failures).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._models import registry
from jaxtls._workflows.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).parent))
import mp_reference  # noqa: E402

NAN, INF = float("nan"), float("inf")
SEED = 16


# ---------------------------------------------------------------------------------------------
# Values tried in place of a numeric argument, and which of them lie outside a domain


def _values(base: float) -> dict:
    return {
        "negative": -abs(base) - 0.7,
        "zero": 0.0,
        "nan": NAN,
        "inf": INF,
        "-inf": -INF,
        "huge": 1e300,
        "1e16": 1e16,
        "1e8": 1e8,
        "tiny": 1e-300,
        "1e-12": 1e-12,
        "complex": complex(base, 0.02),
        "string": str(base),
        "none": None,
        "bool": True,
        "object": object(),
        "empty": np.array([]),
        "array_nan": np.array([base, NAN]),
        "array_inf": np.array([base, -INF]),
        "array_ok": np.array([base, 1.01 * base + 0.01]),
        "nested_str": [["a"]],
        "ragged": [[base], [base, base]],
        "jax_nan": jnp.asarray(NAN),
        "int": 1,
    }


INVALID = {
    "nan",
    "inf",
    "-inf",
    "string",
    "none",
    "bool",
    "object",
    "empty",
    "array_nan",
    "array_inf",
    "nested_str",
    "ragged",
    "jax_nan",
}


def domain(name: str) -> str:
    """The documented domain of a parameter (CONTRACT.md, PHYSICS.md): rates ``gamma_*`` and
    temperatures ``T*`` are > 0, couplings ``eps`` / ``g`` complex, everything else real."""
    if name.startswith("gamma") or name.startswith("T"):
        return "positive"
    if name in ("eps", "g"):
        return "complex"
    return "real"


def outside(label: str, rule: str) -> bool:
    """Whether the value labelled `label` lies outside the domain `rule`."""
    return (
        label in INVALID
        or (label == "complex" and rule not in ("complex",))
        or (label == "negative" and rule in ("positive", "nonneg"))
        or (label == "zero" and rule == "positive")
    )


ACCEPTED = (ValueError, jt.SteadyStateError, jt.SelfConsistencyError, eqx.EquinoxRuntimeError)


@dataclasses.dataclass(frozen=True)
class Case:
    """One input to one entry point: ``call()`` runs it; ``check(result)`` lists problems of a
    trusted result; ``flag(result)`` is its trust flag (default: `_default_flag`)."""

    entry: str
    label: str
    call: Callable
    check: Callable | None = None
    flag: Callable | None = None
    must_refuse: bool = False
    accept: tuple = ()  # further exception types that refuse the input properly (OSError for paths)

    @property
    def id(self) -> str:
        return f"{self.entry}[{self.label}]"


def _numeric_leaves(result) -> list[np.ndarray]:
    import xarray as xr

    if isinstance(result, xr.Dataset):
        leaves = [result[k].values for k in result.data_vars]
    elif isinstance(result, Path | str | int) or result is None:
        return []
    else:
        leaves = jax.tree_util.tree_leaves(result)
    out = []
    for leaf in leaves:
        try:
            a = np.asarray(leaf)
        except Exception:  # noqa: BLE001 - non-array leaves are not results
            continue
        if a.dtype.kind in "fc":
            out.append(a)
    return out


def _default_flag(result):
    import xarray as xr

    if isinstance(result, xr.Dataset):
        return result["ok"].values if "ok" in result else None
    diag = getattr(result, "diagnostics", None)
    if diag is not None and hasattr(diag, "ok"):
        return diag.ok
    if hasattr(result, "ok"):
        return result.ok
    if isinstance(result, dict) and "ok" in result:
        return result["ok"]
    return None


def _silent_non_finite(result, ok) -> list[str]:
    """Non-finite values where the result is trusted (or has no flag at all)."""
    problems = []
    ok = None if ok is None else np.asarray(ok, bool)
    for k, a in enumerate(_numeric_leaves(result)):
        bad = ~np.isfinite(a)
        if not bad.any():
            continue
        if ok is None:
            problems.append(f"field {k} (shape {a.shape}) holds non-finite values and the result has no trust flag")
        elif a.shape[: ok.ndim] == ok.shape:
            per_point = bad.reshape(ok.shape + (-1,)).any(-1) if ok.ndim else bad.any()
            if np.any(per_point & ok):
                problems.append(f"field {k} (shape {a.shape}) is non-finite at points flagged ok = True")
        elif ok.all():
            problems.append(f"field {k} (shape {a.shape}) holds non-finite values, yet every point is ok = True")
    return problems


def _message(err) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"


def outcome(case: Case) -> list[str]:
    """The problems of a case (empty: it passed)."""
    try:
        with np.errstate(all="ignore"):
            result = case.call()
    except ValueError:
        return []
    except case.accept:
        return []
    except ACCEPTED as err:
        return [f"refused with {_message(err)}, not a ValueError"] if case.must_refuse else []
    except jax.errors.JaxRuntimeError as err:
        if "EquinoxRuntimeError" in str(err) and not case.must_refuse:  # a check under jit (eqx.error_if)
            return []
        return [f"raised {_message(err)}"]
    except Exception as err:  # noqa: BLE001 - anything else is a failure of the case
        return [f"raised {_message(err)}"]
    if case.must_refuse:
        return ["accepted an input outside its documented domain (no ValueError)"]
    ok = (case.flag or _default_flag)(result)
    problems = _silent_non_finite(result, ok)
    if not problems and case.check is not None:
        if ok is None or bool(np.all(np.asarray(ok))):
            problems = case.check(result)
    return problems


def _call(fn, kw):
    return lambda: fn(**kw)


def _bind(check, kw):
    return None if check is None else (lambda result: check(result, kw))


def one_at_a_time(entry, fn, base: dict, names, options=None, check=None, flag=None, prefix="") -> list[Case]:
    """Each parameter in `names` replaced by each of `_values` (outside its `domain`: must be
    refused), each option of `options` (``{name: {label: value}}``; labels ``valid_*`` are
    allowed values, every other must be refused), and neighbouring parameters as arrays of
    shapes (2,) and (3,), which do not broadcast (must be refused)."""
    cases = []
    for name in names:
        start = base[name] if isinstance(base[name], float) else 0.05
        for label, value in _values(start).items():
            kw = {**base, name: value}
            cases.append(
                Case(
                    entry,
                    f"{prefix}{name}={label}",
                    _call(fn, kw),
                    _bind(check, kw),
                    flag,
                    outside(label, domain(name)),
                )
            )
    for name, values in (options or {}).items():
        for label, value in values.items():
            kw = {**base, name: value}
            cases.append(
                Case(
                    entry,
                    f"{prefix}{name}={label}",
                    _call(fn, kw),
                    _bind(check, kw),
                    flag,
                    not label.startswith("valid"),
                )
            )
    names = list(names)
    for a, b in zip(names, names[1:] + names[:1], strict=True):
        kw = {**base, a: np.full(2, base[a]), b: np.full(3, base[b])}
        cases.append(Case(entry, f"{prefix}{a},{b}=shapes(2),(3)", _call(fn, kw), None, flag, True))
    return cases


def sample(cases: list[Case], n: int) -> list[Case]:
    """A fixed-seed subsample of `n` cases (every case if there are fewer, or with
    ``JAXTLS_FUZZ_ALL=1``); `SLOW` cases (compilations of seconds) only with JAXTLS_FUZZ_ALL."""
    if os.environ.get("JAXTLS_FUZZ_ALL"):
        return cases
    cases = [c for c in cases if c.id not in SLOW]
    if len(cases) <= n:
        return cases
    keep = np.random.default_rng(SEED).choice(len(cases), n, replace=False)
    return [cases[i] for i in sorted(keep)]


def _scalar(kw) -> bool:
    return all(isinstance(v, float | int | complex) and not isinstance(v, bool) for v in kw.values())


def _close(name, value, ref, rtol, atol) -> list[str]:
    value, ref = complex(np.asarray(value)), complex(ref)
    if abs(value - ref) <= rtol * abs(ref) + atol:
        return []
    return [f"trusted {name} = {value.real:.17g} differs from the reference {ref.real:.17g}"]


TOLERANCES = {"nan": NAN, "negative": -1.0, "zero": 0.0, "inf": INF, "string": "1e-8", "none": None, "list": [1e-8]}


# ---------------------------------------------------------------------------------------------
# Model solvers (read only: others own them)

CLASSICAL = dict(
    E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02
)
CAVITY = dict(
    E_u=1.0,
    E_l=0.0,
    omega_cav=1.2,
    g=0.05,
    gamma_u=0.03,
    gamma_l=0.05,
    gamma_b=0.02,
    mu_u=0.9,
    mu_l=0.1,
    T_u=0.02,
    T_l=0.02,
    T_b=0.05,
)
LASER = dict(
    E_u=1.0,
    E_l=0.0,
    omega_cav=1.05,
    g=0.05,
    gamma_u=0.01,
    gamma_l=0.02,
    gamma_b=0.005,
    mu_u=2.0,
    mu_l=-1.0,
    T_u=0.05,
    T_l=0.05,
)
BLOCH = dict(
    omega=np.array([0.95, 1.0, 1.05]), E_u=1.0, E_l=0.0, gamma_u=0.01, gamma_l=0.02, mu_u=0.05, mu_l=0.0, T=0.02
)


def _check_classical(result, kw) -> list[str]:
    """Model A against its closed form in 50-digit arithmetic (A8-A12; self-consistent
    occupations equal the effective ones in the RWA), to 1e-6 with a floor of 1e-12 of the
    smaller rate (|R| is at most min(gamma_u, gamma_l))."""
    params = {k: kw[k] for k in CLASSICAL}
    if not _scalar(params):
        return []
    occ = kw.get("occupations", "effective")
    ref = mp_reference.classical(**params, occupations="bare" if occ == "bare" else "effective")
    rate = result["rate"] if isinstance(result, dict) else result.rate
    return _close("rate", rate, ref["rate"], 1e-6, 1e-12 * min(float(kw["gamma_u"]), float(kw["gamma_l"])))


def _classical_cases():
    options = {
        "occupations": {
            "valid_bare": "bare",
            "valid_self_consistent": "self_consistent",
            "typo": "efective",
            "int": 3,
            "none": None,
        },
        "tol": TOLERANCES,
        "throw": {"valid_false": False, "string": "yes", "none": None},
        "solver": {
            "string": "lu",
            "int": 3,
            "valid_block": jt.BlockTridiagonalSolver(),
            "valid_dense": jt.DenseSolver(),
        },
    }
    cases = one_at_a_time("solve_classical", jt.solve_classical, CLASSICAL, CLASSICAL, options, _check_classical)
    cases += one_at_a_time(
        "solve_classical",
        functools.partial(jt.solve_classical, throw=False),
        CLASSICAL,
        CLASSICAL,
        None,
        _check_classical,
        prefix="throw=False,",
    )
    for label, change in {
        "omega=0": dict(omega=0.0),
        "omega=0,T=1e-3": dict(omega=0.0, T_u=1e-3, T_l=1e-3),
        "T=1e-6": dict(T_u=1e-6, T_l=1e-6),
    }.items():
        kw = {**CLASSICAL, **change, "occupations": "self_consistent"}
        cases.append(
            Case(
                "solve_classical",
                f"self_consistent,{label}",
                _call(jt.solve_classical, kw),
                _bind(_check_classical, kw),
            )
        )
    return cases


def _closed_form_cases():
    options = {"occupations": {"valid_bare": "bare", "typo": "efective", "int": 3, "none": None}}
    return one_at_a_time(
        "classical_closed_form",
        jt.classical_closed_form,
        CLASSICAL,
        CLASSICAL,
        options,
        _check_classical,
        lambda r: None,
    )


def _cavity_flag(result):
    return registry.registered_models()["cavity"].trusted(result, {})


def _check_cavity(result, kw) -> list[str]:
    """Exact laws of a trusted steady state of Model B at any cutoff: Ndot_u = -Ndot_l = R and
    the first law (Eqs. 1, 5), to 1e-10 of the gross flows (rates times energies); populations
    in [0, 1]."""
    p = {k: np.asarray(kw[k], float) if k not in ("g",) else np.asarray(kw[k]) for k in CAVITY}
    rates = p["gamma_u"] + p["gamma_l"] + p["gamma_b"]
    energy = np.maximum(np.maximum(np.abs(p["E_u"]), np.abs(p["E_l"])), np.abs(p["omega_cav"]))
    n, r = result.particle_current, np.asarray(result.rate)
    problems = []
    if np.any(np.abs(np.asarray(n["u"]) + np.asarray(n["l"])) > 1e-10 * rates):
        problems.append("particle number not conserved by a trusted result: Ndot_u + Ndot_l != 0")
    if np.any(np.abs(np.asarray(n["u"]) - r) > 1e-10 * rates):
        problems.append("Ndot_u != R in a trusted result")
    if np.any(np.abs(np.asarray(result.first_law_residual)) > 1e-10 * rates * energy):
        problems.append("first law violated by a trusted result")
    for k in ("u", "l"):
        pop = np.asarray(result.populations[k])
        if np.any(pop < -1e-8) or np.any(pop > 1 + 1e-8):
            problems.append(f"population {k} outside [0, 1]")
    return problems


def _cavity_cases():
    base = dict(CAVITY, n_max=8)
    options = {
        "n_max": {
            "zero": 0,
            "negative": -1,
            "float": 1.5,
            "string": "8",
            "none": None,
            "bool": True,
            "valid_one": 1,
            "huge": 10**9,
            "valid_auto": "auto",
            "array": np.array([8]),
        },
        "occupations": {"self_consistent": "self_consistent", "typo": "efective", "int": 3},
        "tol": TOLERANCES,
        "fock_tol": TOLERANCES,
        "throw": {"valid_false": False, "string": "yes"},
        "solver": {"string": "lu", "valid_block": jt.BlockTridiagonalSolver(), "valid_dense": jt.DenseSolver()},
    }
    cases = one_at_a_time("solve_cavity", jt.solve_cavity, base, CAVITY, options, _check_cavity, _cavity_flag)
    cases += one_at_a_time(
        "solve_cavity",
        functools.partial(jt.solve_cavity, throw=False),
        base,
        CAVITY,
        None,
        _check_cavity,
        _cavity_flag,
        prefix="throw=False,",
    )
    for label, change in {
        "cold_1e-3": dict(T_u=1e-3, T_l=1e-3, T_b=1e-3),
        "cold_1e-6": dict(T_u=1e-6, T_l=1e-6, T_b=1e-6),
        "gamma_u=1e10": dict(gamma_u=1e10),
        "gamma_u=1e13": dict(gamma_u=1e13),
        "truncated": dict(mu_u=2.0, T_b=3.0, n_max=2),
    }.items():
        kw = {**base, **change}
        cases.append(Case("solve_cavity", label, _call(jt.solve_cavity, kw), _bind(_check_cavity, kw), _cavity_flag))
        quiet = {**kw, "throw": False}
        cases.append(
            Case(
                "solve_cavity",
                f"throw=False,{label}",
                _call(jt.solve_cavity, quiet),
                _bind(_check_cavity, quiet),
                _cavity_flag,
            )
        )
    return cases


def _check_laser(result, kw) -> list[str]:
    """Frequency pulling, Eq. 30, at a trusted lasing point; a non-negative intensity."""
    if np.any(np.asarray(result.intensity) < 0):
        return ["negative intensity"]
    if not _scalar({k: kw[k] for k in LASER}) or not bool(np.all(result.lasing)):
        return []
    gu, gl, gb = (float(kw[k]) for k in ("gamma_u", "gamma_l", "gamma_b"))
    omega = ((gu + gl) * float(kw["omega_cav"]) + gb * (float(kw["E_u"]) - float(kw["E_l"]))) / (gu + gl + gb)
    return _close("omega", result.omega, omega, 1e-8, 1e-12 * abs(omega))


def _laser_cases():
    options = {
        "method": {"valid_integrate": "integrate", "typo": "closed", "int": 1},
        "occupations": {"valid_bare": "bare", "typo": "efective"},
        "throw": {"valid_false": False, "string": "yes"},
    }
    cases = one_at_a_time("solve_laser", jt.solve_laser, LASER, LASER, options, _check_laser)
    integrate = dict(LASER, method="integrate")
    controls = {
        "rtol": TOLERANCES,
        "atol": {k: v for k, v in TOLERANCES.items() if k != "zero"},
        "steady_tol": TOLERANCES,
        "t_max": TOLERANCES,
        "max_steps": {"zero": 0, "float": 1.5, "string": "10", "none": None},
        "omega_frame": {"nan": NAN, "string": "x", "valid_zero": 0.0},
        "a0": {"nan": NAN, "string": "x", "zero": 0.0, "negative": -1.0},
    }
    for name, values in controls.items():
        for label, value in values.items():
            kw = {**integrate, name: value}
            cases.append(
                Case(
                    "solve_laser",
                    f"integrate,{name}={label}",
                    _call(jt.solve_laser, kw),
                    _bind(_check_laser, kw),
                    None,
                    not label.startswith("valid"),
                )
            )
    for label in ("zero", "tiny", "1e-12", "huge", "1e16", "negative", "complex"):
        kw = {**integrate, "g": _values(0.05)[label]}
        cases.append(Case("solve_laser", f"integrate,g={label}", _call(jt.solve_laser, kw), _bind(_check_laser, kw)))
    return cases


def _bloch(**kw):
    omega = kw.pop("omega")
    return jt.bloch_gain(omega, **kw)


def _bloch_cases():
    options = {
        "variant": {"valid_effective": "effective", "valid_naive": "naive", "typo": "dm", "int": 1},
        "distribution": {"valid_boltzmann": "boltzmann", "typo": "fermy"},
        "method": {"valid_quadrature": "quadrature", "typo": "x"},
        "panels": {"zero": 0, "negative": -2, "float": 2.5, "string": "4"},
        "order": {"zero": 0, "negative": -2, "float": 2.5, "string": "16"},
        "return_error": {"string": "yes"},
    }
    names = [k for k in BLOCH if k != "omega"]
    cases = one_at_a_time("bloch_gain", _bloch, BLOCH, names, options, None, lambda r: None)
    for label, value in _values(1.0).items():
        kw = {**BLOCH, "omega": value}
        cases.append(
            Case("bloch_gain", f"omega={label}", _call(_bloch, kw), None, lambda r: None, outside(label, "real"))
        )
    return cases


@functools.cache
def _single_level():
    """One fermionic level between two leads: H = E n, jumps c^+, c, c^+, c (rates c[1..4])."""
    (c,) = jt.fermion_annihilators(1)
    n = c.conj().T @ c
    return jt.LindbladStructure(hamiltonian=(n,), jumps=(c.conj().T, c, c.conj().T, c), observables=(n,))


def _steady(coefficients=None, structure="single", **kw):
    return jt.steady_state(
        _single_level() if isinstance(structure, str) and structure == "single" else structure, coefficients, **kw
    )


def _check_single_level(result, kw) -> list[str]:
    """The occupation of one level between two leads: (rates in) / (all rates)."""
    c = np.asarray(kw["coefficients"], float)
    occ = (c[..., 1] + c[..., 3]) / (c[..., 1] + c[..., 2] + c[..., 3] + c[..., 4])
    err = np.abs(np.asarray(result.expect)[..., 0] - occ)
    return [] if np.all(err <= 1e-8 * np.abs(occ) + 1e-12) else [f"trusted occupation off by {err.max():.3g}"]


def _steady_cases():
    good = np.array([0.3, 0.02, 0.01, 0.05, 0.04])
    base = dict(coefficients=good)
    cases = [Case("steady_state", "valid", _call(_steady, base), _bind(_check_single_level, base))]
    for k in range(good.size):
        rule = "real" if k == 0 else "nonneg"  # an energy, then jump rates (zero is a valid rate)
        for label, value in _values(float(good[k])).items():
            if isinstance(value, bool) or not isinstance(value, float | int | complex):
                continue
            c = good.astype(complex if isinstance(value, complex) else float)
            c[k] = value
            kw = {"coefficients": c}
            cases.append(
                Case(
                    "steady_state",
                    f"c[{k}]={label}",
                    _call(_steady, kw),
                    _bind(_check_single_level, kw),
                    None,
                    outside(label, rule),
                )
            )
    zero = good.copy()
    zero[1:] = 0.0
    cases.append(
        Case(
            "steady_state",
            "all_rates_zero",
            _call(_steady, {"coefficients": zero}),
            lambda r: ["a non-unique steady state (no jumps at all) is trusted"],
        )
    )
    for label, value in {
        "none": None,
        "empty": np.array([]),
        "short": good[:3],
        "long": np.ones(7),
        "string": "abc",
        "nested_str": [["a"] * 5],
        "batch_nan": np.stack([good, np.full(5, NAN)]),
        "valid_batch": np.stack([good, 2 * good]),
        "2d_wrong": np.ones((2, 3)),
    }.items():
        kw = {"coefficients": value}
        check = _bind(_check_single_level, kw) if label.startswith("valid") else None
        cases.append(
            Case(
                "steady_state", f"coefficients={label}", _call(_steady, kw), check, None, not label.startswith("valid")
            )
        )
    for name, values in {
        "tol": TOLERANCES,
        "throw": {"string": "yes", "valid_false": False},
        "solver": {"string": "lu", "int": 3},
        "structure": {"none": None, "string": "x", "int": 3},
    }.items():
        for label, value in values.items():
            kw = {**base, name: value}
            cases.append(
                Case(
                    "steady_state",
                    f"{name}={label}",
                    _call(_steady, kw),
                    _bind(_check_single_level, kw),
                    None,
                    not label.startswith("valid"),
                )
            )
    return cases


_DEFAULT = object()  # "not given" (None itself is one of the bad inputs)


def _two_level(h=_DEFAULT, leads=_DEFAULT, drive="default", omega=1.1, **options):
    h = np.diag([1.0, 0.0]) if h is _DEFAULT else h
    leads = [jt.Lead(0, 0.9, 0.02, 0.03), jt.Lead(1, 0.1, 0.02, 0.05)] if leads is _DEFAULT else leads
    hop = np.zeros((2, 2), complex)
    hop[0, 1] = 0.05
    drive = {1: hop} if isinstance(drive, str) and drive == "default" else drive
    return jt.periodic_steady_state(jt.FermionicSystem(h, leads, drive=drive, omega=omega), **options)


def _check_periodic(result) -> list[str]:
    """Period-averaged particle currents of a trusted periodic steady state sum to zero."""
    n = np.asarray(result.particle_current)
    scale = 0.03 + 0.05  # the base's lead rates; the cases that change them have their own checks off
    return [] if np.abs(n.sum(-1)).max() <= 1e-10 * max(scale, np.abs(n).max()) else ["currents do not sum to 0"]


def _periodic_cases():
    def case(label, fn, must_refuse, check=_check_periodic):
        return Case("periodic_steady_state", label, fn, check, None, must_refuse)

    cases = [case("valid", _two_level, False)]
    for label, h in {
        "nan": np.diag([NAN, 0.0]),
        "inf": np.diag([INF, 0.0]),
        "non_hermitian": np.array([[1.0, 1.0], [0.0, 0.0]]),
        "wrong_shape": np.ones((3, 2)),
        "empty": np.zeros((0, 0)),
        "string": "h",
        "none": None,
        "complex_diag": np.diag([1.0 + 1j, 0.0]),
        "valid_huge": np.diag([1e300, 0.0]),
    }.items():
        cases.append(case(f"h={label}", _call(_two_level, {"h": h}), not label.startswith("valid")))
    for field in ("mu", "T", "gamma"):
        rule = "real" if field == "mu" else "positive"
        for label, value in _values(0.05).items():
            if isinstance(value, np.ndarray | list) and label != "empty":
                continue

            def call(field=field, value=value):
                first = jt.Lead(**{**dict(level=0, mu=0.9, T=0.02, gamma=0.03), field: value})
                return _two_level(leads=[first, jt.Lead(1, 0.1, 0.02, 0.05)])

            check = _check_periodic if field != "gamma" else None
            cases.append(case(f"lead.{field}={label}", call, outside(label, rule), check))
    for label, value in {"negative": -1, "too_large": 5, "float": 0.5, "string": "u"}.items():
        cases.append(
            case(f"lead.level={label}", lambda value=value: _two_level(leads=[jt.Lead(value, 0.9, 0.02, 0.03)]), True)
        )
    for label, value in {"nan": NAN, "valid_negative": -1.1, "inf": INF, "string": "w", "none": None}.items():
        cases.append(case(f"omega={label}", _call(_two_level, {"omega": value}), not label.startswith("valid")))
    for label, value in {
        "nan": {1: np.full((2, 2), NAN)},
        "shape": {1: np.ones((3, 3))},
        "string": "d",
        "key": {"a": np.eye(2)},
    }.items():
        cases.append(case(f"drive={label}", _call(_two_level, {"drive": value}), True))
    for name, values in {
        "tol": TOLERANCES,
        "method": {"typo": "floket", "int": 3, "valid_propagator": "propagator", "valid_floquet": "floquet"},
        "occupations": {
            "typo": "efective",
            "nan": np.array([NAN, 0.5]),
            "wrong_len": np.array([0.5]),
            "out_of_range": np.array([1.5, -0.5]),
            "valid_bare": "bare",
        },
        "throw": {"string": "yes", "valid_false": False},
    }.items():
        for label, value in values.items():
            cases.append(case(f"{name}={label}", _call(_two_level, {name: value}), not label.startswith("valid")))
    return cases


def _level(rate_in=0.03, rate_out=0.02, h=None):
    (c,) = jt.fermion_annihilators(1)
    c = np.asarray(c)
    return (0.5 * c.T @ c if h is None else h, [(rate_in, c.T), (rate_out, c)])


def _evolve(generator=None, rho0=None, ts=None, **kw):
    generator = _level() if generator is None else generator
    rho0 = np.diag([1.0, 0.0]) if rho0 is None else rho0
    ts = np.linspace(0.0, 5.0, 6) if ts is None else ts
    return jt.evolve(generator, rho0, ts, **kw)


def _check_evolve(result) -> list[str]:
    rho = np.asarray(result.rho)
    problems = []
    if np.max(np.abs(np.trace(rho, axis1=-2, axis2=-1) - 1)) > 1e-6:
        problems.append("trace of rho(t) != 1 in a trusted solution")
    if np.max(np.abs(rho - np.conj(np.swapaxes(rho, -1, -2)))) > 1e-8:
        problems.append("rho(t) not Hermitian in a trusted solution")
    return problems


def _evolve_cases():
    def case(label, fn, must_refuse):
        return Case("evolve", label, fn, _check_evolve, lambda r: r.ok, must_refuse)

    cases = [case("valid", _evolve, False)]
    for label, value in _values(0.03).items():
        if isinstance(value, np.ndarray | list) and label != "empty":
            continue
        cases.append(
            case(f"rate_in={label}", lambda value=value: _evolve(_level(rate_in=value)), outside(label, "nonneg"))
        )
    for label, h in {
        "nan": np.diag([NAN, 0.0]),
        "non_hermitian": np.array([[0.0, 1.0], [0.0, 0.5]]),
        "wrong_shape": np.ones((3, 3)),
        "string": "h",
    }.items():
        cases.append(case(f"h={label}", lambda h=h: _evolve(_level(h=h)), True))
    for label, rho in {
        "negative_eigenvalue": np.array([[1.5, 0.0], [0.0, -0.5]]),
        "trace_2": np.eye(2),
        "non_hermitian": np.array([[0.5, 0.5], [0.0, 0.5]]),
        "nan": np.full((2, 2), NAN),
        "wrong_shape": np.eye(3) / 3,
        "empty": np.zeros((0, 0)),
        "string": "rho",
        "zero": np.zeros((2, 2)),
        "vector": np.array([1.0, 0.0]),
        "valid_complex": np.array([[0.5, 0.1j], [-0.1j, 0.5]]),
    }.items():
        cases.append(case(f"rho0={label}", _call(_evolve, {"rho0": rho}), not label.startswith("valid")))
    for label, ts in {
        "empty": np.array([]),
        "decreasing": np.array([1.0, 0.0]),
        "nan": np.array([0.0, NAN]),
        "2d": np.ones((2, 2)),
        "repeated": np.array([0.0, 0.0, 1.0]),
        "string": "t",
        "valid_huge": np.array([0.0, 1e300]),
        "valid_single": np.array([0.0]),
    }.items():
        cases.append(case(f"ts={label}", _call(_evolve, {"ts": ts}), not label.startswith("valid")))
    for name, values in {
        "rtol": {**TOLERANCES, "valid_zero": 0.0},
        "atol": {**TOLERANCES, "valid_zero": 0.0},
        "max_steps": {"zero": 0, "float": 1.5, "valid_one": 1, "string": "9"},
        "dt0": {"zero": 0.0, "negative": -1.0, "nan": NAN},
        "t0": {"later": 3.0, "nan": NAN, "array": np.ones(2)},
        "occupations": {"string": "bare"},
    }.items():
        values.pop("zero", None) if name in ("rtol", "atol") else None
        for label, value in values.items():
            cases.append(case(f"{name}={label}", _call(_evolve, {name: value}), not label.startswith("valid")))
    cases.append(case("valid_throw=False,max_steps=1", _call(_evolve, {"throw": False, "max_steps": 1}), False))
    cases.append(case("generator=string", _call(_evolve, {"generator": "L"}), True))
    cases.append(case("generator=triple", _call(_evolve, {"generator": (1, 2, 3)}), True))
    cases.append(case("jump=not_pair", lambda: _evolve((np.eye(2), [np.eye(2)])), True))
    return cases


# ---------------------------------------------------------------------------------------------
# Workflows: a toy model f = x y scale (x real, y > 0; trusted everywhere) and the built-ins


def _toy(*, x, y, scale=1.0):
    x, y = jnp.asarray(x), jnp.asarray(y)
    shape = jnp.broadcast_shapes(x.shape, y.shape)
    return {"f": x * y * scale, "g": jnp.sqrt(jnp.abs(x)) + 0 * y, "ok": jnp.ones(shape, bool)}


def _check_scale(value):
    """The toy's static option: a finite real number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise jt.ParameterError(f"scale must be a finite real number, got {value!r}")


def register_toy() -> None:
    jt.register_model(
        "fuzz_toy",
        _toy,
        parameters=("x", "y"),
        rules={"x": "real", "y": "positive"},
        check="ok",
        outputs=("f",),
        static={"scale": _check_scale},
    )


TOY_DOMAIN = {"x": "real", "y": "positive"}


def _check_toy_dataset(ds) -> list[str]:
    scale = float(ds["scale"]) if "scale" in ds.coords else 1.0
    x = ds["x"].values if "x" in ds.dims else np.asarray(float(ds["x"]))
    y = ds["y"].values if "y" in ds.dims else np.asarray(float(ds["y"]))
    ref = (x[:, None] * y[None, :] if x.ndim and y.ndim else x * y) * scale
    return [] if np.allclose(ds["f"].values, ref, rtol=1e-14, atol=0) else ["scan values differ from x y"]


def _scan_cases(tmp: Path):
    base = dict(model="fuzz_toy", grid={"x": [0.5, 1.0, 2.0], "y": [1.0, 3.0]}, outputs=["f"], progress=False)
    accept = (OSError,)  # a store path the file system refuses: an OSError naming it (docs/scans.md)
    cases = []

    def run(label, must_refuse, result_check=_check_toy_dataset, **change):
        kw = {**base, **change}
        cases.append(Case("scan", label, _call(jt.scan, kw), result_check, None, must_refuse, accept))

    run("valid", False)
    for axis in ("x", "y"):
        for label, value in _values(1.0).items():
            inner = isinstance(value, np.ndarray | list)  # an array inside a list: never valid
            run(
                f"grid.{axis}=[{label}]",
                inner or outside(label, TOY_DOMAIN[axis]),
                grid={**base["grid"], axis: [1.0, value]},
            )
            run(
                f"grid.{axis}={label}",
                label not in ("array_ok",) or outside(label, TOY_DOMAIN[axis]),
                grid={**base["grid"], axis: value},
            )
        for key in ("start", "stop", "num", "log"):
            for label, value in {**_values(2.0), "int3": 3}.items():
                if isinstance(value, np.ndarray | list) and label != "empty":
                    continue
                spec = {"start": 1.0, "stop": 2.0, "num": 3, key: value}
                if key == "num":
                    if label == "1e8":
                        continue  # 2e8 points would fit, but take minutes
                    refuse = label not in ("int", "int3")
                elif key == "log":
                    refuse = label != "bool"
                else:
                    refuse = outside(label, "real") or (axis == "y" and label in ("negative", "zero"))
                run(f"grid.{axis}.{key}={label}", refuse, grid={**base["grid"], axis: spec})
    for label, value in {
        "none": None,
        "list": [("x", [1.0])],
        "string": "x",
        "empty": {},
        "int_name": {1: [1.0]},
        "unknown": {"x": [1.0], "y": [1.0], "z": [1.0]},
        "static_on_grid": {"x": [1.0], "y": [1.0], "scale": [1.0]},
    }.items():
        run(f"grid={label}", True, grid=value)
    for label, value in _values(2.0).items():
        refuse = isinstance(value, np.ndarray | list) or outside(label, "positive")
        run(f"fixed.y={label}", refuse, grid={"x": [1.0, 2.0]}, fixed={"y": value})
    for label, value in {"nan": NAN, "inf": INF, "string": "big", "none": None, "valid_two": 2.0}.items():
        run(f"fixed.scale={label}", not label.startswith("valid"), fixed={"scale": value})
    for label, value in {"list": [1, 2], "string": "y=1", "int": 3, "missing_y": {}}.items():
        run(f"fixed={label}", True, grid={"x": [1.0]}, fixed=value)
    for label, value in {
        "empty": [],
        "none": None,
        "int": [3],
        "unknown": ["h"],
        "dup": ["f", "f"],
        "ok": ["ok"],
        "nested": [["f"]],
        "dict": {"f": 1},
        "empty_string": [""],
        "dotted_bad": ["f.x"],
        "valid_string": "f",
        "valid_two": ["f", "g"],
    }.items():
        run(f"outputs={label}", not label.startswith("valid"), None, outputs=value)
    for label, value in {
        "zero": 0,
        "negative": -4,
        "float": 2.5,
        "string": "2",
        "nan": NAN,
        "bool": True,
        "valid_huge": 10**15,
        "valid_one": 1,
        "valid_float": 2.0,
    }.items():
        run(f"chunk_size={label}", not label.startswith("valid"), chunk_size=value)
    for label, value in {
        "zero": 0,
        "float": 1.5,
        "string": "cpu",
        "list_int": [0],
        "empty": [],
        "many": 99,
        "valid_one": 1,
        "valid_list": jax.local_devices()[:1],
    }.items():
        run(f"devices={label}", not label.startswith("valid"), devices=value)
    for label, value in {
        "int": 3,
        "empty": "",
        "under_file": str(tmp / "note.txt" / "s.zarr"),
        "list": ["a"],
        "not_a_store": str(tmp / "garbage.zarr"),
    }.items():
        run(f"store={label}", True, store=value)
    for name in ("progress", "overwrite", "check", "verify", "recompute_corrupted", "allow_import"):
        for label, value in {"string": "yes", "int": 1, "list": []}.items():
            run(f"{name}={label}", True, **{name: value})
    for label, value in {
        "none": None,
        "int": 3,
        "unknown": "nope",
        "empty": "",
        "missing_module": "no_such_mod:f",
        "valid_callable": _toy,
    }.items():
        run(f"model={label}", not label.startswith("valid"), model=value)
    run("on_chunk=int", True, on_chunk=3)
    run("zip=list", True, zip=[1])
    run("zip=unequal", True, grid={"x": [1.0]}, zip={"line": {"y": [1.0, 2.0], "scale": [1.0]}})
    big = {"start": 0.0, "stop": 1.0, "num": 10**7}
    run("grid=10^14 points", True, grid={"x": big, "y": big})
    run("grid=num 1e12", True, grid={"x": {"start": 0.0, "stop": 1.0, "num": 1e12}, "y": [1.0]})
    fixed = {k: v for k, v in CLASSICAL.items() if k not in ("mu_u", "omega", "gamma_u")}
    for label, value in _values(0.03).items():
        grid = {
            "mu_u": [0.9],
            "omega": [1.1],
            "gamma_u": value if isinstance(value, np.ndarray | list) else [0.03, value],
        }
        refuse = label not in ("array_ok",) and (isinstance(value, np.ndarray | list) or outside(label, "positive"))
        cases.append(
            Case(
                "scan",
                f"classical.gamma_u=[{label}]",
                _call(jt.scan, dict(model="classical", grid=grid, fixed=fixed, progress=False)),
                None,
                None,
                refuse,
            )
        )
    return cases


TOML_VALUES = {
    "negative": "-1",
    "zero": "0",
    "nan": "nan",
    "inf": "inf",
    "-inf": "-inf",
    "huge": "1e300",
    "tiny": "1e-300",
    "string": '"1.0"',
    "bool": "true",
    "array": "[1.0]",
    "table": "{a = 1}",
    "date": "1979-05-27",
    "empty_array": "[]",
    "int_huge": "9223372036854775807",
    "float_int": "3.0",
    "nested": "[[1.0]]",
}


def _toml_file(tmp: Path, text: str) -> Path:
    path = tmp / f"{hashlib.sha256(text.encode()).hexdigest()[:12]}.toml"
    path.write_text(text)
    return path


def _toml_cases(tmp: Path):
    top = {"model": '"fuzz_toy"', "outputs": '["f"]'}
    cases = []

    def run(label, must_refuse, keys=None, grid="x = [1.0, 2.0]\ny = [1.0]", fixed=""):
        lines = [f"{k} = {v}" for k, v in {**top, **(keys or {})}.items()]
        text = "\n".join(lines) + (f"\n[fixed]\n{fixed}" if fixed else "") + f"\n[grid]\n{grid}\n"
        cases.append(
            Case(
                "scan_from_toml",
                label,
                lambda: jt.scan_from_toml(_toml_file(tmp, text), progress=False),
                _check_toy_dataset,
                None,
                must_refuse,
            )
        )

    run("valid", False)
    valid = {
        "outputs": (),
        "chunk_size": ("float_int", "huge", "int_huge"),
        "devices": (),
        "model": (),
        "store": ("string",),
    }  # store = "1.0" is a relative path; chunks larger than the grid are the grid
    for key in ("model", "outputs", "store", "chunk_size", "devices"):
        for label, value in TOML_VALUES.items():
            run(f"{key}={label}", label not in valid[key], keys={key: value})
    for label, value in TOML_VALUES.items():
        numeric_ok = label in ("huge", "tiny", "float_int", "int_huge")  # positive finite numbers
        run(f"grid.y=[{label}]", not numeric_ok, grid=f"x = [1.0]\ny = [1.0, {value}]")
        run(f"grid.y={label}", label != "array", grid=f"x = [1.0]\ny = {value}")
        run(
            f"grid.y.num={label}",
            label not in ("float_int",),
            grid=f"x = [1.0]\ny = {{start = 1.0, stop = 2.0, num = {value}}}",
        )
        run(
            f"grid.y.start={label}",
            not (numeric_ok or label == "float_int"),
            grid=f"x = [1.0]\ny = {{start = {value}, stop = 2.0, num = 3}}",
        )
        run(f"fixed.y={label}", not numeric_ok, grid="x = [1.0]", fixed=f"y = {value}")
    for label, text in {
        "garbage": "model = \n[[[",
        "deep": "x = " + "[" * 3000 + "]" * 3000,
        "deep_table": "a = " + "{b = " * 3000 + "1" + "}" * 3000,
        "control": "\x00\x01",
        "unknown_key": 'model = "fuzz_toy"\nbogus = 1\n[grid]\nx = [1.0]',
        "no_grid": 'model = "fuzz_toy"',
        "no_model": "[grid]\nx = [1.0]",
        "grid_not_table": 'model = "fuzz_toy"\ngrid = 3',
        "import": 'model = "os:getcwd"\n[grid]\nx = [1.0]',
        "empty": "",
    }.items():
        cases.append(
            Case(
                "scan_from_toml",
                f"file={label}",
                lambda text=text: jt.scan_from_toml(_toml_file(tmp, text), progress=False),
                None,
                None,
                True,
            )
        )
    for label, value in {"missing": tmp / "none.toml", "directory": tmp, "int": 3, "none": None, "empty": ""}.items():
        must = label in ("int", "none", "empty")  # wrong types; a missing file is an OSError (also fine)
        cases.append(Case("scan_from_toml", f"path={label}", lambda value=value: _toml_path(value), None, None, must))
    return cases


def _toml_path(value):
    try:
        return jt.scan_from_toml(value, progress=False)
    except OSError:
        return None  # a file that cannot be read: an OSError naming it is the right answer


def _check_toy_derivatives(result, kw) -> list[str]:
    x, y = np.asarray(kw["params"]["x"], float), np.asarray(kw["params"]["y"], float)
    shape = np.broadcast_shapes(x.shape, y.shape)
    d = result["f"]
    problems = []
    if "x" in d and not np.allclose(d["x"], np.broadcast_to(y, shape), rtol=1e-13):
        problems.append("df/dx != y")
    if "y" in d and not np.allclose(d["y"], np.broadcast_to(x, shape), rtol=1e-13):
        problems.append("df/dy != x")
    return problems


def _sensitivity_cases():
    base = dict(model="fuzz_toy", params={"x": 0.5, "y": 2.0}, outputs=("f",))
    no_flag = lambda r: None  # noqa: E731
    cases = []
    for name in ("x", "y"):
        for label, value in _values(1.0).items():
            kw = {**base, "params": {**base["params"], name: value}}
            cases.append(
                Case(
                    "sensitivities",
                    f"params.{name}={label}",
                    _call(jt.sensitivities, kw),
                    _bind(_check_toy_derivatives, kw),
                    no_flag,
                    outside(label, TOY_DOMAIN[name]),
                )
            )
    for name, values in {
        "wrt": {
            "unknown": "z",
            "int": 3,
            "empty": (),
            "dup": ("x", "x"),
            "none_item": (None,),
            "dict": {"x": 1},
            "static": "scale",
            "valid_one": "y",
            "valid_both": ["x", "y"],
        },
        "outputs": {
            "empty": (),
            "int": 3,
            "unknown": ("h",),
            "dup": ("f", "f"),
            "bool_field": ("ok",),
            "none_item": (None,),
            "valid_none": None,
        },
        "params": {
            "none": None,
            "list": [1.0],
            "missing": {"x": 1.0},
            "extra": {"x": 1.0, "y": 1.0, "z": 1.0},
            "shapes": {"x": np.ones(2), "y": np.ones(3)},
            "valid_batch": {"x": np.ones(2), "y": 3.0},
        },
        "return_values": {"string": "yes"},
        "throw": {"int": 1},
        "scale": {"nan": NAN, "valid_two": 2.0},
        "model": {"none": None, "int": 3, "unknown": "nope", "unregistered": lambda **k: 0},
    }.items():
        for label, value in values.items():
            kw = {**base, name: value}
            check = _bind(_check_toy_derivatives, kw) if name in ("wrt", "params") else None
            cases.append(
                Case(
                    "sensitivities",
                    f"{name}={label}",
                    _call(jt.sensitivities, kw),
                    check,
                    no_flag,
                    not label.startswith("valid"),
                )
            )
    for name in CLASSICAL:
        for label in ("nan", "negative", "zero", "empty", "string", "complex", "none"):
            kw = dict(
                model="classical",
                params={**CLASSICAL, name: _values(CLASSICAL[name])[label]},
                outputs="rate",
                wrt="mu_u",
            )
            cases.append(
                Case(
                    "sensitivities",
                    f"classical.{name}={label}",
                    _call(jt.sensitivities, kw),
                    None,
                    no_flag,
                    outside(label, domain(name)),
                )
            )
    return cases


def _check_optimum(result, kw) -> list[str]:
    values = [np.asarray(v) for v in jax.tree_util.tree_leaves(result.params)]
    return [] if all(np.all(np.isfinite(v)) for v in values) else ["non-finite parameters in the result"]


def _optimize_cases():
    base = dict(
        model="fuzz_toy",
        objective=lambda r: jnp.sum(r["f"] ** 2),
        params={"x": 0.5, "y": 2.0},
        free=("x",),
        steps=2,
        progress=False,
    )
    no_flag = lambda r: None  # noqa: E731
    cases = []
    for name in ("x", "y"):
        for label, value in _values(1.0).items():
            kw = {**base, "params": {**base["params"], name: value}}
            cases.append(
                Case(
                    "optimize",
                    f"params.{name}={label}",
                    _call(jt.optimize, kw),
                    _bind(_check_optimum, kw),
                    no_flag,
                    outside(label, TOY_DOMAIN[name]),
                )
            )
    for name, values in {
        "free": {
            "unknown": "z",
            "int": 3,
            "none": None,
            "empty": (),
            "dup": ("x", "x"),
            "static": ("scale",),
            "valid_y": "y",
        },
        "steps": {"zero": 0, "negative": -1, "float": 1.5, "string": "3", "bool": True, "none": None},
        "learning_rate": {
            "zero": 0.0,
            "negative": -0.1,
            "nan": NAN,
            "inf": INF,
            "string": "0.1",
            "complex": 0.1j,
            "valid_small": 1e-3,
        },
        "optimizer": {"string": "adam", "int": 3},
        "bounds": {
            "exclude": {"x": (0.7, 0.9)},
            "edge": {"x": (0.5, 1.0)},
            "reversed": {"x": (1.0, 0.0)},
            "nan": {"x": (NAN, 1.0)},
            "inf": {"x": (0.0, INF)},
            "string": {"x": "wide"},
            "triple": {"x": (0, 1, 2)},
            "other": {"y": (0.0, 3.0)},
            "list": [(0.0, 1.0)],
            "word": {"x": "negative"},
            "valid_box": {"x": (0.0, 1.0)},
        },
        "scales": {
            "zero": {"x": 0.0},
            "nan": {"x": NAN},
            "string": {"x": "s"},
            "not_dict": 1.0,
            "other": {"y": 1.0},
            "valid_one": {"x": 1.0},
        },
        "maximize": {"string": "yes", "none": None},
        "progress": {"string": "no"},
        "objective": {
            "none": None,
            "string": "f",
            "vector": lambda r: r["f"] * jnp.ones(2),
            "nan": lambda r: r["f"] * NAN,
            "complex": lambda r: r["f"] * 1j,
            "not_array": lambda r: "f",
            "int": lambda r: 3,
        },
        "model": {"none": None, "unregistered": lambda **k: {"f": 0.0}},
    }.items():
        for label, value in values.items():
            kw = {**base, name: value}
            cases.append(
                Case(
                    "optimize",
                    f"{name}={label}",
                    _call(jt.optimize, kw),
                    _bind(_check_optimum, kw),
                    no_flag,
                    not label.startswith("valid"),
                )
            )
    return cases


def _plot_cases(tmp: Path, store: Path):
    base = dict(store_path=store, output="f", out_file=tmp / "fig.png")
    cases = []
    for name, values in {
        "store_path": {
            "missing": tmp / "none.zarr",
            "file": tmp / "note.txt",
            "directory": tmp,
            "int": 3,
            "none": None,
            "garbage": tmp / "garbage.zarr",
        },
        "output": {"unknown": "h", "none": None, "int": 3, "empty": ""},
        "out_file": {"under_file": tmp / "note.txt" / "f.png", "suffix": tmp / "f.xyz", "int": 3, "directory": tmp},
        "x": {"unknown": "q", "int": 3, "valid_y": "y"},
        "y": {"unknown": "q", "int": 3, "same_as_x": "x"},
        "sel": {
            "string": "garbage",
            "off_grid": ["x=0.7"],
            "unknown": {"q": 1.0},
            "nan": {"y": NAN},
            "valid_nearest": ["y~2.9"],
            "int": 3,
            "everything": ["x=1.0", "y=1.0"],
        },
        "dpi": {"zero": 0, "negative": -1, "nan": NAN, "string": "x", "huge": 1e9},
        "title": {"valid_int": 3, "valid_text": "a title"},
    }.items():
        for label, value in values.items():
            kw = {**base, name: value}
            if name == "y":
                kw["x"] = "x"
            cases.append(
                Case(
                    "plot_store",
                    f"{name}={label}",
                    _call(jt.plot_store, kw),
                    None,
                    lambda r: None,
                    not label.startswith("valid"),
                    (OSError,),  # a path the file system refuses: an OSError naming it
                )
            )
    return cases


def _cli(argv, expect_error: bool):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli_main(argv)
    text = err.getvalue()
    problems = []
    if code not in ((2,) if expect_error else (0, 2)):  # valid input may still be refused (exit 2)
        problems.append(f"exit code {code} (stderr {text[:200]!r})")
    if code == 2 and (len(text.splitlines()) != 1 or not text.startswith("jaxtls: error: ")):
        problems.append(f"not a one-line error: {text[:300]!r}")
    if "Traceback" in text:
        problems.append("traceback on stderr")
    return problems


def _cli_cases(tmp: Path, store: Path):
    """Each case returns its problems (exit code, one line, no traceback) as its 'result'."""
    cases = []

    def run(label, argv, expect_error=True):
        """`argv`: a list, or a callable making it when the case runs (files in the work folder)."""
        cases.append(
            Case(
                "cli",
                label,
                lambda: _cli(argv() if callable(argv) else argv, expect_error),
                lambda problems: problems,
                lambda r: None,
            )
        )

    texts = {
        "nan": "nan",
        "inf": "inf",
        "negative": "-1",
        "zero": "0",
        "overflow": "1e400",
        "complex": "1+1j",
        "word": "abc",
        "empty": "",
        "hex": "0x10",
    }
    for model, params in (("classical", CLASSICAL), ("cavity", CAVITY)):
        for name in params:
            for label, text in texts.items():
                argv = ["solve", model]
                for k, v in params.items():
                    argv += [f"--{k}", text if k == name else str(v)]
                error = label in ("nan", "inf", "overflow", "word", "empty", "hex") or outside(label, domain(name))
                run(f"solve.{model}.{name}={label}", argv + (["--n_max", "6"] if model == "cavity" else []), error)
            argv = ["solve", model] + [x for k, v in params.items() if k != name for x in (f"--{k}", str(v))]
            run(f"solve.{model}.{name}=missing", argv)
    cavity = ["solve", "cavity"] + [x for k, v in CAVITY.items() for x in (f"--{k}", str(v))]
    for label, value in {"zero": "0", "negative": "-3", "word": "many", "float": "2.5", "huge": "10000000000"}.items():
        run(f"solve.cavity.n_max={label}", cavity + ["--n_max", value])
    for label, argv in {
        "scan.missing": ["scan", str(tmp / "none.toml")],
        "scan.dir": ["scan", str(tmp)],
        "scan.note": ["scan", str(tmp / "note.txt")],
        "scan.flag": ["scan", "--bogus", "x.toml"],
        "scan.abbreviated_flag": ["scan", "--overwr", str(tmp / "none.toml")],
        "plot.missing": ["plot", str(tmp / "none.zarr"), "--output", "f"],
        "plot.output": ["plot", str(store), "--output", "nope"],
        "plot.sel": ["plot", str(store), "--output", "f", "--sel", "x=0.77", "--out", str(tmp / "p.png")],
        "plot.garbage": ["plot", str(tmp / "garbage.zarr"), "--output", "f"],
        "reproduce.out_file": ["reproduce", "--out", str(tmp / "note.txt")],
        "top.none": [],
        "top.bogus": ["bogus"],
        "solve.none": ["solve"],
        "solve.unknown": ["solve", "nope"],
    }.items():
        run(label, argv)
    for label, text in {
        "garbage": "model = \n[[[",
        "deep": "x = " + "[" * 3000 + "]" * 3000,
        "huge": 'model = "fuzz_toy"\n[grid]\nx = {start = 0.0, stop = 1.0, num = 1e12}\ny = [1.0]',
        "nan": 'model = "fuzz_toy"\n[fixed]\ny = nan\n[grid]\nx = [1.0]',
        "import": 'model = "os:getcwd"\n[grid]\nx = [1.0]',
    }.items():
        run(f"scan.file={label}", lambda text=text: ["scan", "--no-progress", str(_toml_file(tmp, text))])
    return cases


# ---------------------------------------------------------------------------------------------
# The sampled cases and the failures known today (model solvers only)

SAMPLE = {
    "solve_classical": 90,
    "classical_closed_form": 60,
    "solve_cavity": 60,
    "solve_laser": 50,
    "bloch_gain": 60,
    "steady_state": 40,
    "periodic_steady_state": 40,
    "evolve": 12,
    "scan": 90,
    "scan_from_toml": 70,
    "sensitivities": 70,
    "optimize": 60,
    "plot_store": 35,
    "cli": 70,
}
# Cases whose compilation takes seconds: in JAXTLS_FUZZ_ALL runs only (the CI budget).
SLOW = {"solve_classical[occupations=valid_self_consistent]"} | {
    f"solve_classical[self_consistent,{x}]" for x in ("omega=0", "omega=0,T=1e-3", "T=1e-6")
}

GENERATED: dict[str, int] = {}  # entry -> number of generated cases before subsampling


def _workdir() -> Path:
    return Path(tempfile.gettempdir()) / f"jaxtls-fuzz-inputs-{os.getpid()}"


def all_cases() -> list[Case]:
    tmp = _workdir()
    store = tmp / "good.zarr"
    generated = {
        "solve_classical": _classical_cases(),
        "classical_closed_form": _closed_form_cases(),
        "solve_cavity": _cavity_cases(),
        "solve_laser": _laser_cases(),
        "bloch_gain": _bloch_cases(),
        "steady_state": _steady_cases(),
        "periodic_steady_state": _periodic_cases(),
        "evolve": _evolve_cases(),
        "scan": _scan_cases(tmp),
        "scan_from_toml": _toml_cases(tmp),
        "sensitivities": _sensitivity_cases(),
        "optimize": _optimize_cases(),
        "plot_store": _plot_cases(tmp, store),
        "cli": _cli_cases(tmp, store),
    }
    out = []
    for entry, cases in generated.items():
        ids = [c.id for c in cases]
        assert len(set(ids)) == len(ids), [i for i in ids if ids.count(i) > 1]
        GENERATED[entry] = len(cases)
        out += sample(cases, SAMPLE[entry])
    return out


CASES = all_cases()


def _param(case: Case):
    return pytest.param(case, id=case.id)


def make_files() -> Path:
    """What the workflow cases read: a note (not a store), a garbage store and a finished store
    of the toy model on a 3 x 2 grid."""
    tmp = _workdir()
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "note.txt").write_text("not a store")
    (tmp / "garbage.zarr").mkdir()
    (tmp / "garbage.zarr" / "zarr.json").write_text("{garbage")
    jt.scan("fuzz_toy", {"x": [0.5, 1.0, 2.0], "y": [1.0, 3.0]}, outputs=["f"], store=tmp / "good.zarr", progress=False)
    return tmp


@pytest.fixture(scope="module", autouse=True)
def workdir():
    saved = dict(registry._REGISTRY)
    register_toy()
    tmp = make_files()
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_refused_or_flagged(case, workdir):
    before = (workdir / "note.txt").read_text()
    problems = outcome(case)
    assert not problems, f"{case.id}: " + "; ".join(problems)
    assert (workdir / "note.txt").read_text() == before  # nothing overwritten


def test_summary_of_inputs_per_entry_point(capsys):
    """How many inputs each entry point gets (printed), and that every entry point the issue
    names is covered."""
    counts = {}
    for c in CASES:
        counts[c.entry] = counts.get(c.entry, 0) + 1
    assert set(counts) == set(SAMPLE)
    with capsys.disabled():
        print(
            "\nfuzzed inputs per entry point (sampled of generated):",
            ", ".join(f"{k} {v}/{GENERATED[k]}" for k, v in counts.items()),
            f"(total {sum(counts.values())}/{sum(GENERATED.values())})",
        )
    assert all(v >= 10 for v in counts.values())


def test_the_classifier_can_fail():
    """A silent NaN, a trusted NaN, a trusted wrong value, an accepted invalid input and a raw
    TypeError are failures; a flagged NaN and a ValueError are not."""

    class R(eqx.Module):
        rate: jax.Array
        ok: jax.Array

    assert outcome(Case("t", "nan", lambda: jnp.array([1.0, NAN]))) != []
    assert outcome(Case("t", "trusted", lambda: R(jnp.array([1.0, NAN]), jnp.array([True, True])))) != []
    assert outcome(Case("t", "flagged", lambda: R(jnp.array([1.0, NAN]), jnp.array([True, False])))) == []
    assert outcome(Case("t", "partly", lambda: R(jnp.array([NAN, 1.0]), jnp.array([True, False])))) != []
    assert outcome(Case("t", "type", lambda: 1 + "a")) != []
    assert outcome(Case("t", "value", lambda: int("a"))) == []
    assert outcome(Case("t", "accepted", lambda: 1.0, must_refuse=True)) != []
    assert outcome(Case("t", "refused", lambda: int("a"), must_refuse=True)) == []
    assert outcome(Case("t", "wrong", lambda: R(jnp.array(1.0), jnp.array(True)), lambda r: ["wrong"])) == ["wrong"]
    ref = float(mp_reference.classical(**CLASSICAL)["rate"])
    assert _check_classical({"rate": (1 + 1e-5) * ref}, CLASSICAL) != []
    assert _check_classical({"rate": ref}, CLASSICAL) == []
    assert outside("negative", "positive") and outside("complex", "real") and not outside("negative", "real")
