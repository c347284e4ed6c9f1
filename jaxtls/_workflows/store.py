"""Where scan results go: a Zarr (v3) store on disk, or NumPy arrays in memory.

A scan store is an ordinary xarray-readable Zarr group:

- one array per output (``rate``, ``particle_current.u``, ...) with the grid's dimension names
  (Zarr v3 ``dimension_names``), NaN where not computed yet, and ``units`` in its attributes;
- one array per coordinate (grid parameters; scalar coordinates for numeric fixed parameters);
- root attributes: model, scan definition (JSON) and its hash, jaxtls and JAX versions, chunk
  layout, ``complete``;
- a ``_scan`` subgroup (invisible to xarray) with the bookkeeping: ``done`` (one byte per chunk,
  set to 1 only after every output of that chunk has been written), ``failed`` (points of the
  chunk that failed the model's own checks) and ``digest`` (per chunk and output, a 64-bit BLAKE2b
  checksum of the values written, recorded just before ``done``; a resumed scan reads every
  finished chunk back and compares, so a damaged chunk file is found before anything is written).

Every chunk of the scan is exactly one Zarr chunk of every output array, and every ``done``
marker is its own Zarr chunk, so writers never share a storage object: processes and restarts can
write concurrently without locks, and a chunk whose ``done`` marker is 0 is simply recomputed.
The store is created in a temporary directory and renamed into place, so it is never seen
half-created.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import xarray as xr
import zarr

__all__ = [
    "VarSpec",
    "Template",
    "MemorySink",
    "ZarrSink",
    "open_store",
    "is_store",
    "check_writable",
    "chunk_digest",
]

SCAN_GROUP = "_scan"
FORMAT = "jaxtls-scan/1"
DIGEST = "digest"  # _scan/digest: (n_chunks, n_outputs) uint64, 0 = no checksum recorded
DIGEST_ALGORITHM = "blake2b-64 of the chunk's values (little-endian, C order) and shape"


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


def chunk_digest(values, dtype) -> int:
    """64-bit BLAKE2b checksum of one chunk's values as stored (`dtype`, little-endian, C order),
    never 0 (0 marks "no checksum recorded")."""
    a = np.ascontiguousarray(np.asarray(values, dtype=dtype))
    a = a.astype(a.dtype.newbyteorder("<"), copy=False)  # the same checksum on any machine
    h = hashlib.blake2b(a.tobytes(), digest_size=8)
    h.update(repr(a.shape).encode())
    return int.from_bytes(h.digest(), "little") or 1


def _probe_writable(directory: Path) -> None:
    """Create and remove an empty directory in `directory` (what writing a chunk needs)."""
    os.rmdir(tempfile.mkdtemp(prefix=".jaxtls-write-test-", dir=directory))


def check_writable(path, members=None) -> None:
    """Raise a clear `OSError` now if the scan store at `path` cannot be written.

    `members` ``None``: the store does not exist yet; its nearest existing ancestor directory
    must be a writable directory (the store is created next to it and renamed into place).
    Otherwise `members` are the store's arrays that will be written (``"rate"``,
    ``"_scan/done"``, ...): the store's root and each of those directories must be writable.
    Probes by creating (and removing) an empty directory, so it is right for root, ACLs,
    read-only mounts and network file systems alike. Nothing else is changed.
    """
    path = Path(path)
    if members is None:
        anc = path.parent
        while not os.path.lexists(anc) and anc != anc.parent:
            anc = anc.parent
        if not anc.is_dir():
            raise NotADirectoryError(
                f"cannot create the scan store {str(path)!r}: {str(anc)!r} is a file, not a directory; "
                "choose another store path (nothing was computed)"
            )
        dirs = [anc]
    else:
        dirs = [path, *(path / m for m in members if (path / m).is_dir())]
    for d in dirs:
        try:
            _probe_writable(d)
        except OSError as err:
            what = "create" if members is None else "write into"
            raise type(err)(
                f"cannot {what} the scan store {str(path)!r}: {str(d)!r} is not writable "
                f"({err.strerror or err}); choose a writable store path or fix the permissions "
                "(nothing was computed)"
            ) from err


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
        self._pending: dict = {}  # chunk index -> {output: checksum}, until mark_done
        self.unreadable_done: list[int] = []  # chunks whose done marker could not be read
        try:
            self._digest = self._scan[DIGEST]
            self.digest_vars = list(self._digest.attrs["variables"])
        except (KeyError, TypeError):  # a store written before checksums were recorded
            self._digest, self.digest_vars = None, None

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
            nv = max(1, len(template.data_vars))
            s.create_array(
                DIGEST,
                shape=(n, nv),
                chunks=(1, nv),
                dtype="uint64",
                fill_value=0,
                attributes={"variables": list(template.data_vars), "algorithm": DIGEST_ALGORITHM},
            )
            os.rename(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return cls.open(path)

    @classmethod
    def open(cls, path) -> ZarrSink:
        return cls(Path(path), zarr.open_group(Path(path), mode="r+", zarr_format=3))

    def _markers(self, name: str) -> tuple[np.ndarray, list[int]]:
        """A bookkeeping array, read whole, or row by row if some rows cannot be read (damaged
        files): ``(values, unreadable rows)``, unreadable rows left at 0."""
        arr = self._scan[name]
        try:
            return np.asarray(arr[...]), []
        except Exception:
            out, bad = np.zeros(arr.shape, arr.dtype), []
            for i in range(arr.shape[0]):
                try:
                    out[i] = arr[i]
                except Exception:
                    bad.append(i)
            return out, bad

    def done_mask(self) -> np.ndarray:
        """Finished chunks; a marker that cannot be read counts as not finished (and is listed
        in `unreadable_done`)."""
        done, self.unreadable_done = self._markers("done")
        return done.astype(bool)

    def failed_total(self) -> int:
        return int(self._markers("failed")[0].sum())

    def chunk_file(self, name: str, region: tuple) -> str:
        """The storage key of the Zarr chunk of output `name` holding `region` (for messages)."""
        arr = self._array(name)
        coords = tuple(s.start // c for s, c in zip(region, arr.chunks, strict=False))
        coords += (0,) * (arr.ndim - len(coords))
        try:
            return f"{name}/{arr.metadata.encode_chunk_key(coords)}"
        except Exception:  # pragma: no cover - other Zarr versions
            return f"{name} chunk {coords}"

    def damaged_chunks(self, chunks, region_of, names) -> dict[int, list[str]]:
        """Read back outputs `names` of each chunk in `chunks` (finished ones; ``region_of(c)``
        gives a chunk's grid region) and compare them with the checksums recorded when the
        chunk was finished (stores without checksums: only that they can be read).

        Returns ``{chunk: [problem, ...]}`` for the chunks that cannot be read, do not match
        their checksum (changed, truncated or deleted files), or whose bookkeeping cannot be
        read; intact chunks are absent. Reads only; nothing is written.
        """
        chunks = list(chunks)
        problems: dict[int, list[str]] = {}
        if not chunks:
            return problems
        bad_failed = set(self._markers("failed")[1])
        digests, bad_digest = (None, []) if self._digest is None else self._markers(DIGEST)
        bad_digest = set(bad_digest)
        for c in chunks:
            out = []
            if c in bad_failed:
                out.append(f"its failed-point count ({SCAN_GROUP}/failed) cannot be read")
            if c in bad_digest:
                out.append(f"its checksums ({SCAN_GROUP}/{DIGEST}) cannot be read")
            region = region_of(c)
            for name in names:
                arr = self._array(name)
                where = self.chunk_file(name, region)
                try:
                    values = arr[region]
                except Exception as err:
                    out.append(f"output {name!r} cannot be read (file {where}: {type(err).__name__}: {err})")
                    continue
                if digests is None or c in bad_digest or name not in self.digest_vars:
                    continue
                expected = int(digests[c, self.digest_vars.index(name)])
                if not expected:  # recorded before `done` for every chunk of such a store
                    out.append(f"the checksum of output {name!r} is missing ({SCAN_GROUP}/{DIGEST} damaged)")
                elif chunk_digest(values, arr.dtype) != expected:
                    out.append(
                        f"output {name!r} does not match the checksum recorded when the chunk was "
                        f"finished (file {where} changed, truncated or deleted)"
                    )
            if out:
                problems[c] = out
        return problems

    def reset(self, chunks) -> None:
        """Mark `chunks` as not finished (to recompute them); the store is no longer complete."""
        for c in chunks:
            self._scan["done"][c] = 0
        if self.group.attrs.get("complete"):
            self.group.attrs.update({"complete": False})

    def _array(self, name):
        if name not in self._arrays:
            self._arrays[name] = self.group[name]
        return self._arrays[name]

    def write(self, index: int, region: tuple, data: dict) -> None:
        digests = {}
        for name, values in data.items():
            arr = self._array(name)
            arr[region] = values
            digests[name] = chunk_digest(values, arr.dtype)
        self._pending[index] = digests

    def mark_done(self, index: int, failed: int = 0) -> None:
        digests = self._pending.pop(index, {})
        if self._digest is not None:
            self._digest[index, :] = np.array([digests.get(v, 0) for v in self.digest_vars], np.uint64)
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
