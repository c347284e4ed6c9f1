"""The outputs a scan keeps: result fields by dotted path, each with the chunk's batch as its
leading dimension, plus the model's trust check as the boolean variable ``ok``."""

from __future__ import annotations

from collections.abc import Mapping

import jax.numpy as jnp

from ..._models.registry import ModelSpec, available_fields, get_field

__all__ = ["extract", "chunk_outputs"]


def extract(result, outputs: list[str], n: int) -> dict:
    """``{name: array of shape (n, ...)}`` for every output (a scalar is broadcast)."""
    out = {}
    for name in outputs:
        try:
            v = get_field(result, name)
        except KeyError as err:
            raise ValueError(
                f"output {name!r} not in the model result (missing {err.args[0]!r}); available: "
                f"{', '.join(available_fields(result))}"
            ) from None
        if v is None:
            raise ValueError(f"output {name!r} is None for this model")
        if isinstance(v, Mapping):
            entries = ", ".join(f"{name}.{k}" for k in v)
            raise ValueError(f"output {name!r} is a dict of outputs; name its entries ({entries})")
        v = jnp.asarray(v)
        if v.ndim == 0:
            v = jnp.broadcast_to(v, (n,))
        if v.shape[0] != n:
            raise ValueError(f"output {name!r} has shape {v.shape}; expected the batch ({n},) as its leading dimension")
        out[name] = v
    return out


def chunk_outputs(spec: ModelSpec, params: dict, fixed: dict, outputs: list[str], check_name: str | None) -> dict:
    """One chunk: the model on the chunk's parameters (1-D arrays) and the fixed values; its
    outputs and, with `check_name`, the trust check (absent where the result has no such field)."""
    res = spec.fn(**params, **fixed)
    n = next(iter(params.values())).shape[0]
    outs = extract(res, outputs, n)
    if check_name is not None:
        ok = spec.trusted(res, {**params, **fixed})
        if ok is not None:
            outs[check_name] = jnp.broadcast_to(jnp.asarray(ok, bool), (n,))
    return outs
