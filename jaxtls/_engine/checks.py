"""Input validation shared by every public entry point.

Two tiers (as in dynamiqs / diffrax): values known on the host (Python floats, NumPy or
concrete JAX arrays) are checked up front and raise `ValueError` naming the parameter and its
allowed range; traced values (under the user's `jit`/`grad`) cannot be inspected and are
checked inside the computation with `equinox.error_if` where it matters.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "ParameterError",
    "is_concrete",
    "check_parameters",
    "broadcast_parameters",
    "broadcast_shape",
    "invalid_points",
    "rate_span",
    "MAX_RATE_SPAN",
    "check_tolerance",
    "check_flag",
    "check_solver",
    "check_int",
]

#: largest ratio max/min of the dissipative rates of a point that float64 resolves to the
#: tested accuracy (1e-8 relative); beyond it results are flagged (accuracy guard, issue 16)
MAX_RATE_SPAN = 1e8

OCCUPATIONS = ("bare", "effective", "self_consistent")


class ParameterError(ValueError):
    """A parameter is outside its allowed range (a `ValueError`)."""


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _host(x):
    return np.asarray(x)


def check_parameters(values: Mapping[str, object], rules: Mapping[str, str]) -> None:
    """Check each parameter against a rule; raise `ParameterError` naming it.

    Rules: ``"real"`` (finite real), ``"complex"`` (finite, complex allowed),
    ``"nonneg"`` (finite, >= 0), ``"positive"`` (finite, > 0). Booleans, strings, objects and
    empty arrays are refused; traced values (under `jit`) are skipped.
    """
    allowed = {
        "real": "a finite real number",
        "complex": "a finite (real or complex) number",
        "nonneg": "a finite number >= 0",
        "positive": "a finite number > 0",
    }
    for name, rule in rules.items():
        if name not in values:
            continue
        x = values[name]
        if not is_concrete(x):
            continue
        try:
            arr = _host(x)
        except Exception as err:  # pragma: no cover - exotic input types
            raise ParameterError(f"{name} must be {allowed[rule]}, got {x!r}") from err
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise ParameterError(f"{name} must be {allowed[rule]}, got {x!r}")
        if arr.size == 0:
            raise ParameterError(f"{name} must be {allowed[rule]} or a non-empty array of them, got an empty array")
        if np.iscomplexobj(arr) and rule != "complex":
            raise ParameterError(f"{name} must be {allowed[rule]} (real), got a complex value")
        if not np.all(np.isfinite(arr)):
            raise ParameterError(f"{name} must be {allowed[rule]}, got a non-finite value")
        if rule == "nonneg" and np.any(arr < 0):
            raise ParameterError(f"{name} must be {allowed[rule]}, got min {arr.min():g}")
        if rule == "positive" and np.any(arr <= 0):
            raise ParameterError(f"{name} must be {allowed[rule]}, got min {arr.min():g}")


def check_occupations(occupations: str, allowed=OCCUPATIONS) -> str:
    if occupations not in allowed:
        raise ParameterError(f"occupations must be one of {', '.join(repr(a) for a in allowed)}; got {occupations!r}")
    return occupations


def broadcast_parameters(values: Mapping[str, object], complex_names=()) -> tuple[dict, tuple]:
    """Convert to float64 (complex128 for `complex_names`) JAX arrays and broadcast together.

    Returns ``(flat, shape)``: each parameter flattened to ``(prod(shape),)``.
    """
    arrays = {}
    host = all(is_concrete(v) and not isinstance(v, jax.Array) for v in values.values())
    xp = np if host else jnp  # host values stay NumPy until the jit they go to (no dispatches)
    for name, v in values.items():
        dtype = np.complex128 if name in complex_names else np.float64
        if name in complex_names and not np.iscomplexobj(v):
            dtype = np.float64
        arrays[name] = xp.asarray(v, dtype=dtype)
    shape = broadcast_shape(arrays)
    size = int(np.prod(shape)) if shape else 1
    flat = {k: xp.broadcast_to(a, shape).reshape(size) for k, a in arrays.items()}
    return flat, tuple(shape)


def broadcast_shape(values: Mapping[str, object]) -> tuple:
    """The broadcast shape of the parameters (NumPy rules); `ParameterError` listing the shapes
    if they do not broadcast together."""
    shapes = {k: tuple(np.shape(v)) for k, v in values.items()}
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError as err:
        raise ParameterError(f"parameter shapes do not broadcast together: {shapes}") from err


def invalid_points(values: Mapping[str, object], rules: Mapping[str, str]):
    """Per point (flat arrays of equal shape), whether any parameter breaks its rule: the
    traced counterpart of `check_parameters` (concrete values never reach it invalid)."""
    bad = None
    for name, rule in rules.items():
        x = jnp.asarray(values[name])
        b = ~jnp.isfinite(x)
        if rule == "positive":
            b = b | ~(x > 0)
        elif rule == "nonneg":
            b = b | ~(x >= 0)
        bad = b if bad is None else bad | b
    return bad


def rate_span(*rates, couplings=()):
    """``max / min`` of the given non-negative rates, per point (inf if one is 0). The moduli of
    `couplings` (e.g. a light-matter coupling ``g``, which may be 0) enter the maximum only."""
    r = jnp.stack(jnp.broadcast_arrays(*(jnp.abs(jnp.asarray(x)) for x in rates)))
    top = jnp.max(r, axis=0)
    for c in couplings:
        top = jnp.maximum(top, jnp.abs(jnp.asarray(c)))
    return top / jnp.min(r, axis=0)


# ---------------------------------------------------------------------------------------------
# Options of the entry points (tolerances, flags, solvers, integer controls): one validator each,
# called before any work. A traced value (under the user's `jit`) passes unchecked.


def _real_scalar(value):
    """``float(value)`` of a real numeric scalar (Python or NumPy/JAX 0-d), else None."""
    if isinstance(value, bool | np.bool_ | str | bytes) or value is None:
        return None
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - exotic input types
        return None
    if arr.ndim != 0 or arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        return None
    if np.iscomplexobj(arr):
        return None
    return float(arr)


def check_tolerance(name: str, value, *, strict: bool = True):
    """A tolerance or scale: a finite real number > 0 (``strict``) or >= 0. Returns `value`."""
    if not is_concrete(value):
        return value
    bound = "> 0" if strict else ">= 0"
    v = _real_scalar(value)
    if v is None or not np.isfinite(v) or (v <= 0 if strict else v < 0):
        raise ParameterError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def check_flag(name: str, value) -> bool:
    """A switch: exactly ``True`` or ``False`` (NumPy booleans too; not ``None``, 0/1 or strings)."""
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_solver(name: str, value, base: type | tuple[type, ...], *, what: str | None = None):
    """A strategy object: ``None`` (the default) or an instance of `base` (e.g.
    `AbstractSteadySolver`). Returns `value`."""
    if value is None or isinstance(value, base):
        return value
    bases = base if isinstance(base, tuple) else (base,)
    what = what or " or ".join(f"a {b.__module__.split('.')[0]}.{b.__name__}" for b in bases)
    raise ParameterError(f"{name} must be {what} (or None for the default), got {value!r}")


def check_int(name: str, value, lo: int = 1, hi: int | None = None) -> int:
    """An integer count in ``[lo, hi]`` (Python or NumPy integer; not a bool, float or string)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ParameterError(f"{name} must be an integer {rng}, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"between {lo} and {hi}"
        raise ParameterError(f"{name} must be an integer {rng}, got {value!r}")
    return int(value)
