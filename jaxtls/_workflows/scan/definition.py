"""What a scan is, for resuming: its definition (model, axes with their values' hashes, fixed
values, outputs, check), the definition's SHA-256, the differences between two definitions, and
the check that a store holds this very scan."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import jax
import numpy as np

from ..._engine.config import VERSION
from ..._models.registry import ModelSpec
from ..store import FORMAT

__all__ = [
    "ScanDefinitionError",
    "CorruptChunkError",
    "scan_definition",
    "definition_hash",
    "validate_store",
    "damage_report",
]


class ScanDefinitionError(ValueError):
    """The store at the given path holds a different scan (or is not a jaxtls scan store, or is
    damaged: `CorruptChunkError`)."""


class CorruptChunkError(ScanDefinitionError):
    """Finished chunks of the store cannot be read or no longer match the checksums recorded when
    they were finished. The message lists them (chunk, grid region, output, file); nothing was
    written. ``recompute_corrupted=True`` recomputes only those chunks."""


def _jsonable(v):
    if isinstance(v, bool | str) or v is None:
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v)
    if isinstance(v, complex | np.complexfloating):
        return [float(v.real), float(v.imag)]
    if isinstance(v, np.ndarray | jax.Array) and np.ndim(v) == 0:
        return _jsonable(np.asarray(v).item())
    return repr(v)


def _describe_values(v: np.ndarray) -> dict:
    d = {"num": int(v.size), "dtype": str(v.dtype), "sha256": hashlib.sha256(v.tobytes()).hexdigest()[:16]}
    if v.size <= 16:
        d["values"] = [_jsonable(x) for x in v]
    else:
        d["first"], d["last"] = _jsonable(v[0]), _jsonable(v[-1])
    return d


def scan_definition(spec: ModelSpec, axes, fixed: dict, outputs: list[str], check: str | None) -> dict:
    """The scan as JSON-able data: the store records it, and resumes only the same scan."""
    return {
        "format": FORMAT,
        "model": spec.name,
        "axes": [{"name": a.name, "parameters": {p: _describe_values(v) for p, v in a.values.items()}} for a in axes],
        "fixed": {k: _jsonable(v) for k, v in sorted(fixed.items())},
        "outputs": list(outputs),
        "check": check,
    }


def definition_hash(definition: dict) -> str:
    """SHA-256 of the canonical JSON of a definition."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def _summary(parameters: dict) -> str:
    def one(d):
        if "values" in d:
            return f"{d['num']} values {d['values']}"
        return f"{d['num']} values {d['first']} .. {d['last']}"

    return "; ".join(f"{p}: {one(d)}" for p, d in parameters.items())


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in ("model", "outputs", "check", "format"):
        if old.get(key) != new.get(key):
            out.append(f"{key}: store has {old.get(key)!r}, this call {new.get(key)!r}")
    old_axes = [(a["name"], a["parameters"]) for a in old.get("axes", [])]
    new_axes = [(a["name"], a["parameters"]) for a in new.get("axes", [])]
    if [n for n, _ in old_axes] != [n for n, _ in new_axes]:
        out.append(f"grid axes: store has {[n for n, _ in old_axes]}, this call {[n for n, _ in new_axes]}")
    else:
        for (name, po), (_, pn) in zip(old_axes, new_axes, strict=True):
            if po != pn:
                out.append(f"grid values of axis {name!r} differ: store has {_summary(po)}, this call {_summary(pn)}")
    fo, fn = old.get("fixed", {}), new.get("fixed", {})
    for k in sorted(set(fo) | set(fn)):
        if fo.get(k, "<unset>") != fn.get(k, "<unset>"):
            out.append(f"fixed {k}: store has {fo.get(k, '<unset>')!r}, this call {fn.get(k, '<unset>')!r}")
    return out or ["(definition hash differs)"]


def validate_store(path: Path, digest: str, definition: dict, block: tuple | None) -> dict:
    """Check that the store at `path` holds this scan; return its attributes."""
    import zarr

    try:
        attrs = dict(zarr.open_group(path, mode="r", zarr_format=3).attrs)
    except Exception as err:
        raise ScanDefinitionError(
            f"cannot read the metadata of the store {str(path)!r} ({type(err).__name__}: {err}); it is "
            "damaged or not a Zarr v3 store. Delete it (overwrite=True) to start over, or use another path"
        ) from err
    if attrs.get("scan_format") != FORMAT or "scan_hash" not in attrs:
        raise ScanDefinitionError(
            f"{str(path)!r} exists but is not a jaxtls scan store; choose another store path (nothing was changed)"
        )
    if attrs["scan_hash"] != digest:
        old = json.loads(attrs.get("scan_definition", "{}"))
        diffs = "\n  - ".join(_differences(old, definition))
        raise ScanDefinitionError(
            f"the store {str(path)!r} holds a different scan (of model {old.get('model')!r}); refusing to "
            f"resume into it. Differences:\n  - {diffs}\nUse a new store path, or delete the store (Python: "
            "overwrite=True) to start over."
        )
    stored_block = tuple(attrs["chunk_shape"])
    if block is not None and tuple(block) != stored_block:
        raise ScanDefinitionError(
            f"the store {str(path)!r} was written with chunks of shape {stored_block}, but chunk_size "
            f"now gives {tuple(block)}; pass chunk_size=None (use the store's layout) or the original value"
        )
    if attrs.get("jaxtls_version") != VERSION or attrs.get("jax_version") != jax.__version__:
        warnings.warn(
            f"resuming {str(path)!r} written by jaxtls {attrs.get('jaxtls_version')} / JAX "
            f"{attrs.get('jax_version')} with jaxtls {VERSION} / JAX "
            f"{jax.__version__}",
            stacklevel=3,
        )
    return attrs


def damage_report(damaged: dict, axes, layout, limit: int = 10) -> str:
    """One line per damaged chunk: index, grid region, problems (at most `limit` lines)."""
    lines = []
    for c in sorted(damaged)[:limit]:
        pairs = zip(axes, layout.region(c), strict=True)
        region = ", ".join(f"{a.name}[{s.start}:{s.stop}]" for a, s in pairs)
        lines.append(f"chunk {c} ({region}): " + "; ".join(damaged[c]))
    if len(damaged) > limit:
        lines.append(f"... and {len(damaged) - limit} more chunk(s)")
    return "\n  - ".join(lines)
