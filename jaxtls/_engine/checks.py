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
    "invalid_points",
    "rate_span",
    "MAX_RATE_SPAN",
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
    ``"nonneg"`` (finite, >= 0), ``"positive"`` (finite, > 0).
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
    for name, v in values.items():
        dtype = jnp.complex128 if name in complex_names else jnp.float64
        if name in complex_names and not jnp.iscomplexobj(jnp.asarray(v)):
            dtype = jnp.float64
        arrays[name] = jnp.asarray(v, dtype=dtype)
    try:
        shape = jnp.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError as err:
        shapes = {k: a.shape for k, a in arrays.items()}
        raise ParameterError(f"parameter shapes do not broadcast together: {shapes}") from err
    size = int(np.prod(shape)) if shape else 1
    flat = {k: jnp.broadcast_to(a, shape).reshape(size) for k, a in arrays.items()}
    return flat, tuple(shape)


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


def rate_span(*rates):
    """``max / min`` of the given non-negative rates, per point (inf if one is 0)."""
    r = jnp.stack(jnp.broadcast_arrays(*(jnp.abs(jnp.asarray(x)) for x in rates)))
    return jnp.max(r, axis=0) / jnp.min(r, axis=0)
