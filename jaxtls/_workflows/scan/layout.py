"""How a scan's grid is cut into chunks, and how large a chunk may be.

Every chunk is a block of the grid (whole trailing axes and a slice of one axis), one jitted
batched call and exactly one Zarr chunk of every output. The automatic chunk size comes from the
traced program: the bytes of every intermediate value per grid point (an upper bound of the
working memory), against a fraction of the free memory of a device (docs/scans.md).
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = [
    "Layout",
    "MEMORY_FRACTION",
    "MAX_POINTS_PER_DEVICE",
    "PROBE_SIZES",
    "jaxpr_bytes",
    "available_bytes",
    "auto_chunk_points",
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
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 * 2**30
    return avail // max(1, len(devices))  # host devices share the RAM


def auto_chunk_points(bytes_per_point: float, devices) -> int:
    per_device = int(MEMORY_FRACTION * available_bytes(devices) / max(bytes_per_point, 1.0))
    return max(1, min(per_device, MAX_POINTS_PER_DEVICE)) * len(devices)
