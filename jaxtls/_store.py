"""Where scan results go: a Zarr (v3) store on disk, or NumPy arrays in memory.

A scan store is an ordinary xarray-readable Zarr group:

- one array per output (``rate``, ``particle_current.u``, ...) with the grid's dimension names
  (Zarr v3 ``dimension_names``), NaN where not computed yet, and ``units`` in its attributes;
- one array per coordinate (grid parameters; scalar coordinates for numeric fixed parameters);
- root attributes: model, scan definition (JSON) and its hash, jaxtls and JAX versions, chunk
  layout, ``complete``;
- a ``_scan`` subgroup (invisible to xarray) with the bookkeeping: ``done`` (one byte per chunk,
  set to 1 only after every output of that chunk has been written) and ``failed`` (points of the
  chunk that failed the model's own checks).

Every chunk of the scan is exactly one Zarr chunk of every output array, and every ``done``
marker is its own Zarr chunk, so writers never share a storage object: processes and restarts can
write concurrently without locks, and a chunk whose ``done`` marker is 0 is simply recomputed.
The store is created in a temporary directory and renamed into place, so it is never seen
half-created.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

__all__ = ["VarSpec", "Template", "MemorySink", "ZarrSink", "open_store", "is_store"]

SCAN_GROUP = "_scan"
FORMAT = "jaxtls-scan/1"


@dataclasses.dataclass(frozen=True)
class VarSpec:
    """One output variable: dims, full shape, storage chunk shape, dtype, attributes."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype
    attrs: dict


@dataclasses.dataclass(frozen=True)
class Template:
    """Everything needed to lay out a scan's dataset before any point is computed.

    `coords` maps a name to ``(dims, values, attrs)``; `data_vars` maps an output name to its
    `VarSpec`; `attrs` are the dataset (root group) attributes; `n_chunks` the number of scan
    chunks (one ``done`` marker each).
    """

    coords: dict
    data_vars: dict
    attrs: dict
    n_chunks: int

    @property
    def dims(self) -> set:
        return {d for spec in self.data_vars.values() for d in spec.dims}

    def nondim_coords(self) -> list[str]:
        return [name for name in self.coords if name not in self.dims]


def fill_value(dtype: np.dtype):
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        return complex(np.nan, np.nan)
    if np.issubdtype(dtype, np.floating):
        return np.nan
    if dtype.kind == "b":
        return False
    return 0


class MemorySink:
    """Results kept in NumPy arrays (``store=None``): no resume, single process."""

    def __init__(self, template: Template):
        self.template = template
        self.arrays = {
            name: np.full(spec.shape, fill_value(spec.dtype), spec.dtype) for name, spec in template.data_vars.items()
        }
        self._done = np.zeros(template.n_chunks, np.uint8)
        self._failed = np.zeros(template.n_chunks, np.int64)
        self.attrs = dict(template.attrs)

    def done_mask(self) -> np.ndarray:
        return self._done.astype(bool)

    def failed_total(self) -> int:
        return int(self._failed.sum())

    def write(self, index: int, region: tuple, data: dict) -> None:
        for name, values in data.items():
            self.arrays[name][region] = values

    def mark_done(self, index: int, failed: int = 0) -> None:
        self._failed[index] = failed
        self._done[index] = 1

    def finalize(self) -> None:
        self.attrs["complete"] = bool(self._done.all())

    def dataset(self) -> xr.Dataset:
        t = self.template
        coords = {name: xr.Variable(dims, values, attrs) for name, (dims, values, attrs) in t.coords.items()}
        data = {name: xr.Variable(spec.dims, self.arrays[name], spec.attrs) for name, spec in t.data_vars.items()}
        return xr.Dataset(data, coords=coords, attrs=self.attrs)


def is_store(path) -> bool:
    """Whether `path` holds a Zarr group (scan store or not)."""
    return Path(path, "zarr.json").is_file()


class ZarrSink:
    """A scan store on a local (or shared: NFS, Lustre, GPFS) file system."""

    def __init__(self, path: Path, group: zarr.Group):
        self.path = Path(path)
        self.group = group
        self._arrays: dict = {}
        self._scan = group[SCAN_GROUP]

    @property
    def attrs(self) -> dict:
        return dict(self.group.attrs)

    @classmethod
    def create(cls, path, template: Template) -> ZarrSink:
        """Write the empty store (metadata, coordinates, bookkeeping) and rename it into place."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            g = zarr.open_group(tmp, mode="w", zarr_format=3, attributes=template.attrs)
            nondim = template.nondim_coords()
            for name, (dims, values, attrs) in template.coords.items():
                values = np.asarray(values)
                a = g.create_array(
                    name,
                    shape=values.shape,
                    dtype=values.dtype,
                    fill_value=fill_value(values.dtype),
                    dimension_names=list(dims),
                    attributes=attrs,
                )
                a[...] = values
            for name, spec in template.data_vars.items():
                attrs = dict(spec.attrs)
                if nondim:
                    attrs["coordinates"] = " ".join(nondim)  # CF: xarray makes these coordinates
                g.create_array(
                    name,
                    shape=spec.shape,
                    chunks=spec.chunks,
                    dtype=spec.dtype,
                    fill_value=fill_value(spec.dtype),
                    dimension_names=list(spec.dims),
                    attributes=attrs,
                )
            s = g.create_group(SCAN_GROUP)
            n = template.n_chunks
            s.create_array("done", shape=(n,), chunks=(1,), dtype="uint8", fill_value=0)
            s.create_array("failed", shape=(n,), chunks=(1,), dtype="int64", fill_value=0)
            os.rename(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return cls.open(path)

    @classmethod
    def open(cls, path) -> ZarrSink:
        return cls(Path(path), zarr.open_group(Path(path), mode="r+", zarr_format=3))

    def done_mask(self) -> np.ndarray:
        return np.asarray(self._scan["done"][:]).astype(bool)

    def failed_total(self) -> int:
        return int(np.asarray(self._scan["failed"][:]).sum())

    def _array(self, name):
        if name not in self._arrays:
            self._arrays[name] = self.group[name]
        return self._arrays[name]

    def write(self, index: int, region: tuple, data: dict) -> None:
        for name, values in data.items():
            self._array(name)[region] = values

    def mark_done(self, index: int, failed: int = 0) -> None:
        self._scan["failed"][index] = failed
        self._scan["done"][index] = 1  # last: the chunk counts as finished only now

    def finalize(self) -> None:
        complete = bool(self.done_mask().all())
        if self.group.attrs.get("complete") != complete:
            self.group.attrs.update({"complete": complete})

    def dataset(self) -> xr.Dataset:
        return open_store(self.path)


def open_store(path) -> xr.Dataset:
    """Open a scan store as an `xarray.Dataset` (lazily: values are read on access).

    Works on an unfinished store too (points not computed yet are NaN). Equivalent to
    ``xarray.open_dataset(path, engine="zarr", chunks=None, consolidated=False)``.
    """
    path = Path(path)
    if not is_store(path):
        raise FileNotFoundError(f"no Zarr store at {str(path)!r}")
    ds = xr.open_dataset(path, engine="zarr", chunks=None, consolidated=False)
    try:  # the outputs in the order the scan asked for them (Zarr lists members unordered)
        order = [*json.loads(ds.attrs["scan_definition"])["outputs"], "ok"]
    except (KeyError, TypeError, ValueError):
        return ds
    names = [v for v in order if v in ds.data_vars] + [v for v in ds.data_vars if v not in order]
    return ds[names]
