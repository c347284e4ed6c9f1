"""The checks of `scan`'s arguments other than the grid and the fixed values (`axes`): outputs,
chunk size, devices, store path and the flags, each refused with a `ScanDefinitionError` naming
the argument before any work."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import numpy as np

from .definition import ScanDefinitionError

__all__ = ["check_flag", "check_outputs", "check_chunk_size", "check_devices", "check_store", "check_arguments"]


def check_flag(name: str, value, *, allow_none: bool = False) -> None:
    if (value is None and allow_none) or isinstance(value, bool | np.bool_):
        return
    raise ScanDefinitionError(f"{name} must be True or False{' or None' if allow_none else ''}, got {value!r}")


def check_outputs(outputs) -> list[str]:
    """Outputs: a field name or a non-empty sequence of distinct, non-empty field names."""
    if isinstance(outputs, str):
        outputs = [outputs]
    elif isinstance(outputs, Sequence) and not isinstance(outputs, bytes):
        outputs = list(outputs)
    else:
        raise ScanDefinitionError(f"outputs must be a list of result field names (strings), got {outputs!r}")
    if not outputs:
        raise ScanDefinitionError("outputs must name at least one result field, got an empty list")
    bad = [o for o in outputs if not isinstance(o, str) or not o]
    if bad:
        raise ScanDefinitionError(f"outputs must be result field names (non-empty strings), got {bad!r}")
    if len(set(outputs)) != len(outputs):
        raise ScanDefinitionError(f"outputs must be distinct, got {outputs}")
    return outputs


def check_chunk_size(chunk_size) -> int | None:
    """None (automatic) or an integer >= 1 (an integral float such as TOML's ``1e4`` is accepted)."""
    if chunk_size is None:
        return None
    integral = isinstance(chunk_size, int | np.integer) or (
        isinstance(chunk_size, float | np.floating) and math.isfinite(chunk_size) and float(chunk_size).is_integer()
    )
    if isinstance(chunk_size, bool | np.bool_) or not integral or chunk_size < 1:
        raise ScanDefinitionError(f"chunk_size must be a positive integer (or None: automatic), got {chunk_size!r}")
    return int(chunk_size)


def check_devices(devices) -> None:
    """None (all local devices), a count >= 1, or a non-empty list of JAX devices."""
    if devices is None:
        return
    if isinstance(devices, int | np.integer) and not isinstance(devices, bool | np.bool_):
        if devices < 1:
            raise ScanDefinitionError(f"devices must be None, a count >= 1 or a list of JAX devices, got {devices!r}")
        return  # the upper bound (the local device count) is checked by local_devices
    if isinstance(devices, Sequence) and not isinstance(devices, str | bytes):
        if not devices or not all(isinstance(d, jax.Device) for d in devices):
            raise ScanDefinitionError(
                "devices must be None, a count >= 1 or a non-empty list of JAX devices (jax.devices()), "
                f"got {devices!r}"
            )
        return
    raise ScanDefinitionError(f"devices must be None, a count >= 1 or a list of JAX devices, got {devices!r}")


def check_store(store) -> Path | None:
    if store is None:
        return None
    if not isinstance(store, str | os.PathLike) or isinstance(store, str) and not store:
        raise ScanDefinitionError(f"store must be a path (a string) or None, got {store!r}")
    return Path(store).expanduser()


def check_arguments(distributed, progress, overwrite, verify, recompute_corrupted, on_chunk, allow_import) -> None:
    """The options of `scan` that are not part of the definition, before anything starts."""
    if distributed is not None and not isinstance(distributed, bool | np.bool_ | Mapping):
        raise ScanDefinitionError(
            f"distributed must be True, False, None or a dict of init_distributed arguments, got {distributed!r}"
        )
    for name, value in (("progress", progress), ("overwrite", overwrite), ("verify", verify)):
        check_flag(name, value)
    check_flag("allow_import", allow_import)
    check_flag("recompute_corrupted", recompute_corrupted, allow_none=True)
    if on_chunk is not None and not callable(on_chunk):
        raise ScanDefinitionError(f"on_chunk must be a callable on_chunk(ChunkInfo) or None, got {on_chunk!r}")
