"""How a scan's grid is cut into chunks, and how large a chunk may be.

Every chunk is a block of the grid (whole trailing axes and a slice of one axis), one jitted
batched call and exactly one Zarr chunk of every output. The automatic chunk size comes from the
traced program: the bytes of every intermediate value per grid point (an upper bound of the
working memory), against a fraction of the free memory of a device (docs/scans.md).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np

from ..._models.spec import format_bytes, host_available_bytes
from .definition import ScanDefinitionError

__all__ = [
    "Layout",
    "MEMORY_FRACTION",
    "MAX_POINTS_PER_DEVICE",
    "PROBE_SIZES",
    "jaxpr_bytes",
    "available_bytes",
    "auto_chunk_points",
    "host_available_bytes",
    "format_bytes",
    "grid_memory_error",
    "check_axis_size",
    "check_grid_size",
]


class Layout:
    """Blocks ``(1, ..., 1, b_k, n_{k+1}, ..., n_{d-1})`` tiling the grid in C order."""

    def __init__(self, shape: tuple[int, ...], block: tuple[int, ...]):
        self.shape, self.block = tuple(shape), tuple(block)
        self.counts = tuple(-(-n // b) for n, b in zip(shape, block, strict=True))
        self.n_chunks = math.prod(self.counts)
        self.block_points = math.prod(block)

    @staticmethod
    def choose(shape: tuple[int, ...], target: int) -> tuple[int, ...]:
        """Largest block of whole trailing axes plus a balanced slice of one axis, at most
        `target` points (at least one point)."""
        block, inner = [1] * len(shape), 1
        for k in reversed(range(len(shape))):
            if inner * shape[k] <= target:
                block[k] = shape[k]
                inner *= shape[k]
            else:
                b = max(1, target // inner)
                pieces = -(-shape[k] // b)
                block[k] = -(-shape[k] // pieces)  # balanced: avoid a tiny last block
                break
        return tuple(block)

    def region(self, c: int) -> tuple[slice, ...]:
        idx = np.unravel_index(c, self.counts)
        return tuple(
            slice(int(i) * b, min((int(i) + 1) * b, n)) for i, b, n in zip(idx, self.block, self.shape, strict=True)
        )

    def indices(self, c: int, padded: int) -> tuple[list[np.ndarray], tuple[int, ...], int]:
        """Per-axis grid indices of the chunk's points (C order), edge-padded to `padded`."""
        region = self.region(c)
        ranges = [np.arange(s.start, s.stop) for s in region]
        mesh = np.meshgrid(*ranges, indexing="ij")
        valid_shape = tuple(len(r) for r in ranges)
        n = math.prod(valid_shape)
        idx = [np.pad(m.ravel(), (0, max(padded - n, 0)), mode="edge") for m in mesh]
        return idx, valid_shape, n


# ---------------------------------------------------------------------------------------------
# Memory estimate for the automatic chunk size

MEMORY_FRACTION = 0.25  # of the free memory of one device (of host RAM / device count on CPU)
MAX_POINTS_PER_DEVICE = 65536
PROBE_SIZES = (8, 16)


def _aval_bytes(aval) -> int:
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        return math.prod(shape) * np.dtype(dtype).itemsize
    except TypeError:
        return 0


def _sub_jaxprs(value):
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _sub_jaxprs(v)


def jaxpr_bytes(jaxpr) -> int:
    """Sum of the sizes of every intermediate value (an upper bound of the working memory)."""
    total = 0
    for eqn in jaxpr.eqns:
        total += sum(_aval_bytes(v.aval) for v in eqn.outvars)
        for value in eqn.params.values():
            for sub in _sub_jaxprs(value):
                total += jaxpr_bytes(sub)
    return total


def available_bytes(devices) -> int:
    try:
        stats = devices[0].memory_stats()
    except Exception:
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    return host_available_bytes() // max(1, len(devices))  # host devices share the RAM


def auto_chunk_points(bytes_per_point: float, devices) -> int:
    per_device = int(MEMORY_FRACTION * available_bytes(devices) / max(bytes_per_point, 1.0))
    return max(1, min(per_device, MAX_POINTS_PER_DEVICE)) * len(devices)


# ---------------------------------------------------------------------------------------------
# Size checks before anything is allocated (lower bounds: a scan refused here cannot fit)

VALUE_BYTES = 8  # float64 per value (outputs and parameters; complex ones need twice that)


def grid_memory_error(what: str, need: float, have: float, where: str = "memory"):
    """The `ScanDefinitionError` of a scan that cannot fit (`what` names the axis and size)."""
    return ScanDefinitionError(
        f"{what} would need at least {format_bytes(need)} of {where}, more than the "
        f"{format_bytes(have)} available; use fewer points (or split the scan into several)"
    )


def check_axis_size(name: str, num: int) -> None:
    """A range of `num` values for grid axis `name` fits in host memory (checked before the
    values are allocated: ``num = 1e12`` would need 7.3 TiB for its coordinate alone)."""
    need, have = num * VALUE_BYTES, host_available_bytes()
    if need > have:
        raise grid_memory_error(f"grid axis {name!r} with num = {num} values", need, have)


def _free_disk(path: Path) -> int | None:
    for parent in (path, *path.parents):
        if parent.exists():
            try:
                return shutil.disk_usage(parent).free
            except OSError:
                return None
    return None


def check_grid_size(sizes: dict, n_parameters: int, n_outputs: int, chunk_size: int | None, store: Path | None) -> None:
    """The whole scan fits, estimated from the grid size, the chunk size and the output count
    before anything is allocated: in memory (``store=None``) every output over the whole grid,
    and a chunk's parameters and outputs (an explicit `chunk_size`; the automatic one is chosen
    to fit); with a new store, every output over the grid on its disk. `sizes`: ``{axis: n}``.
    Raises `ScanDefinitionError` naming the largest axis and the grid size."""
    total = math.prod(sizes.values())
    shape = " x ".join(f"{k}: {n}" for k, n in sizes.items())
    big = max(sizes, key=sizes.get)
    what = f"a grid of {total} points ({shape}; largest axis {big!r} with {sizes[big]})"
    n_chunks = total if chunk_size is None else -(-total // max(1, min(chunk_size, total)))
    chunk = 0 if chunk_size is None else min(chunk_size, total) * (n_parameters + n_outputs) * VALUE_BYTES * 2
    bookkeeping = n_chunks * (2 + n_outputs) * VALUE_BYTES if chunk_size is not None else 0
    need = chunk + bookkeeping + (total * n_outputs * VALUE_BYTES if store is None else 0)
    have = host_available_bytes()
    if need > have:
        raise grid_memory_error(what + f" with {n_outputs} output(s)", need, have)
    if store is not None and not store.exists():
        free = _free_disk(store)
        need = total * n_outputs * VALUE_BYTES
        if free is not None and need > free:
            raise grid_memory_error(
                what + f" with {n_outputs} output(s) (uncompressed)", need, free, f"disk space at {str(store)!r}"
            )
