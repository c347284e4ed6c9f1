"""The scan driver: plan the scan, open (or resume) its sink, compute the chunks still to do,
finish. Each step is one function; `scan` strings them together (docs/scans.md)."""

from __future__ import annotations

import dataclasses
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import jax
import numpy as np
import zarr

from ..._models.registry import ModelSpec, registered_models, resolve_model
from ..store import MemorySink, check_writable
from ..store_safety import StoreLock, StoreLockedError, is_scan_store
from . import layout as _layout
from .arguments import check_arguments, check_chunk_size, check_devices, check_flag, check_outputs, check_store
from .axes import check_names, check_values, normalize_fixed, parse_axes
from .definition import ScanDefinitionError, definition_hash, scan_definition
from .devices import barrier, init_distributed, local_devices, next_stage, want_distributed
from .metadata import CHECK_VARIABLE, expected_layout
from .metadata import template as dataset_template
from .outputs import chunk_outputs
from .resume import chunks_to_compute, open_sink, stored_vars_of

__all__ = ["scan", "ChunkInfo", "refuse_import"]


@dataclasses.dataclass(frozen=True)
class ChunkInfo:
    """Passed to ``scan(..., on_chunk=)`` after each chunk is written and marked finished."""

    index: int  # chunk index (C order over the chunk grid)
    n_points: int  # grid points in the chunk
    padded_points: int  # points actually evaluated (multiple of the device count)
    seconds: float  # from dispatch to marked finished
    process_index: int
    shards: tuple  # ((device id, points), ...) of the chunk's output
    traces: int  # times the chunk function has been traced (compiled) so far in this scan
    failed: int  # points that failed the model's check output


def refuse_import(model, allow_import: bool) -> None:
    """A ``"package.module:function"`` model that is not a registered name runs code from
    anywhere (a TOML file could name ``subprocess:run``): refused unless the caller opts in.
    Nothing is imported here."""
    if allow_import or not isinstance(model, str) or model in registered_models() or ":" not in model:
        return
    raise ScanDefinitionError(
        f"model {model!r} is not a registered model name; importing 'package.module:function' from a "
        "scan definition is refused (it would run arbitrary code). Use a registered name "
        f"({', '.join(sorted(registered_models()))}, or jaxtls.register_model), or opt in: "
        "scan_from_toml(..., allow_import=True) / jaxtls scan --allow-import FILE"
    )


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything about a scan that is fixed before any work."""

    spec: ModelSpec
    axes: list
    fixed: dict
    outputs: list
    check_name: str | None
    definition: dict
    digest: str
    shape: tuple
    devices: list
    block: tuple | None  # from chunk_size; None: automatic (or the store's)
    path: Path | None
    barrier_prefix: str

    @property
    def total(self) -> int:
        return math.prod(self.shape)


def _plan(model, grid, fixed, outputs, chunk_size, store, zip_, devices, check, allow_import) -> _Plan:
    """Resolve the model and check every argument (names, types, values, sizes) before any work."""
    refuse_import(model, allow_import)
    spec = resolve_model(model)
    outputs = check_outputs(outputs)
    chunk_size = check_chunk_size(chunk_size)
    check_devices(devices)
    path = check_store(store)
    check_flag("check", check)
    axes = parse_axes(grid, zip_)
    fixed = normalize_fixed(spec, fixed)
    check_names(spec, axes, fixed)
    check_values(spec, axes, fixed)
    check_name = CHECK_VARIABLE if (check and spec.check is not None) else None
    if check_name is not None and check_name in outputs:
        raise ValueError(f"{check_name!r} is the scan's check variable; drop it from outputs or pass check=False")
    shape = tuple(a.size for a in axes)
    n_params = sum(len(a.values) for a in axes)
    _layout.check_grid_size(
        {a.name: a.size for a in axes}, n_params, len(outputs) + (check_name is not None), chunk_size, path
    )
    definition = scan_definition(spec, axes, fixed, outputs, spec.check_description if check_name else None)
    digest = definition_hash(definition)
    block = _layout.Layout.choose(shape, chunk_size) if chunk_size is not None else None
    if path is None and jax.process_count() > 1:
        raise ValueError("a multi-process scan needs store= (the processes merge their chunks there)")
    return _Plan(
        spec=spec,
        axes=axes,
        fixed=fixed,
        outputs=outputs,
        check_name=check_name,
        definition=definition,
        digest=digest,
        shape=shape,
        devices=local_devices(devices),
        block=block,
        path=path,
        barrier_prefix=f"jaxtls-scan-{digest[:16]}-{next_stage()}",
    )


class _Probe:
    """The model traced abstractly (never run) at two batch sizes: output shapes and dtypes,
    and the bytes of intermediate values per point for the automatic chunk size."""

    def __init__(self, plan: _Plan):
        self.plan = plan
        self.dtypes = {p: v.dtype for a in plan.axes for p, v in a.values.items()}
        self._cache: dict = {}

    def call(self, params):
        p = self.plan
        return chunk_outputs(p.spec, params, p.fixed, p.outputs, p.check_name)

    def _probe(self) -> dict:
        if not self._cache:
            sizes, avals = [], None
            for b in _layout.PROBE_SIZES:
                args = {p: jax.ShapeDtypeStruct((b,), dt) for p, dt in self.dtypes.items()}
                jaxpr, out = jax.make_jaxpr(self.call, return_shape=True)(args)
                sizes.append(_layout.jaxpr_bytes(jaxpr.jaxpr))
                avals = {k: (v.shape, v.dtype) for k, v in out.items()}
            b0, b1 = _layout.PROBE_SIZES
            self._cache["bytes_per_point"] = max((sizes[1] - sizes[0]) / (b1 - b0), 8.0)
            self._cache["avals"] = avals
        return self._cache

    def block(self) -> tuple:
        """The plan's block, else the largest that fits the memory estimate."""
        if self.plan.block is not None:
            return self.plan.block
        target = _layout.auto_chunk_points(self._probe()["bytes_per_point"], self.plan.devices)
        return _layout.Layout.choose(self.plan.shape, target)

    def expected(self, block: tuple):
        """What the store must hold (coordinates, outputs over the grid), without tracing."""
        p = self.plan
        names = [*p.outputs, p.check_name] if p.check_name else list(p.outputs)
        return expected_layout(p.spec, p.axes, p.fixed, names, _layout.Layout(p.shape, block))

    def template(self, block: tuple):
        p = self.plan
        avals = self._probe()["avals"]
        names = [k for k in [*p.outputs, p.check_name] if k in avals]
        layout = _layout.Layout(p.shape, block)
        return dataset_template(p.spec, p.axes, p.fixed, names, avals, layout, p.definition, p.digest)


def _grid_values(plan: _Plan) -> dict:
    """``{parameter: (axis index, values)}``."""
    return {p: (k, v) for k, a in enumerate(plan.axes) for p, v in a.values.items()}


def _validate_chunks(plan: _Plan, layout, todo) -> None:
    """The model's host-side check of parameter combinations, on every chunk still to do."""
    if plan.spec.validate is None:
        return
    values = _grid_values(plan)
    for c in todo:
        idx, _, _ = layout.indices(c, 0)
        plan.spec.run_validate({**{p: v[idx[k]] for p, (k, v) in values.items()}, **plan.fixed})


def _compute(plan, probe, sink, layout, todo, stored_vars, progress, on_chunk) -> None:
    """Every chunk in `todo`: one jitted call (padded to one size: one compilation), sharded
    over the local devices; the next chunk is dispatched before the previous one is written."""
    pid, nproc, devs = jax.process_index(), jax.process_count(), plan.devices
    padded = -(-layout.block_points // len(devs)) * len(devs)
    mesh = jax.sharding.Mesh(np.array(devs), ("batch",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    traces = [0]
    check_name = plan.check_name

    def _jaxtls_scan_chunk(params):
        traces[0] += 1
        outs = probe.call(params)
        return {k: outs[k] for k in stored_vars}

    jitted = jax.jit(_jaxtls_scan_chunk, in_shardings=sharding, out_shardings=sharding)

    def points(c):
        return math.prod(s.stop - s.start for s in layout.region(c))

    mine = plan.total if nproc == 1 else sum(points(c) for c in range(pid, layout.n_chunks, nproc))
    bar = _progress_bar(progress, mine, mine - sum(points(c) for c in todo), plan.spec.name, pid, nproc)

    def finish(item):
        c, out, n, valid_shape, t0 = item
        first = out[stored_vars[0]]
        shards = tuple((int(s.device.id), int(s.data.shape[0])) for s in first.addressable_shards)
        host = jax.device_get(out)
        data = {k: np.asarray(v)[:n].reshape(valid_shape + v.shape[1:]) for k, v in host.items()}
        failed = int(n - np.count_nonzero(data[check_name])) if check_name in data else 0
        try:
            sink.write(c, layout.region(c), data)
            sink.mark_done(c, failed)
        except OSError as err:  # disk full, quota, lost mount: the store stays resumable
            raise OSError(
                err.errno,
                f"writing chunk {c} of the scan store {str(plan.path)!r} failed ({err.strerror or err}); "
                "every finished chunk is kept and the store is resumable: fix the cause (e.g. free disk space) "
                "and rerun the same scan",
            ) from err
        bar.update(n)
        if on_chunk is not None:
            on_chunk(ChunkInfo(c, n, padded, time.perf_counter() - t0, pid, shards, traces[0], failed))

    values = _grid_values(plan)
    pending = None
    try:
        for c in todo:
            t0 = time.perf_counter()
            idx, valid_shape, n = layout.indices(c, padded)
            params = {p: v[idx[k]] for p, (k, v) in values.items()}
            out = jitted(jax.device_put(params, sharding))  # asynchronous: overlaps the write below
            if pending is not None:
                finish(pending)
            pending = (c, out, n, valid_shape, t0)
        if pending is not None:
            finish(pending)
    finally:
        bar.close()


def _finish(plan: _Plan, sink) -> None:
    """Wait for every process's chunks, mark the store complete, warn about failed points."""
    ready = None if isinstance(sink, MemorySink) else (lambda: bool(sink.done_mask().all()))
    barrier(f"{plan.barrier_prefix}-finished", ready=ready)
    if jax.process_index() == 0:
        sink.finalize()
        if plan.check_name is not None:
            failed = sink.failed_total()
            if failed:
                warnings.warn(
                    f"{failed} of {plan.total} scan points failed the model's checks ({plan.check_name} is "
                    f"False there); inspect ds[{plan.check_name!r}]",
                    stacklevel=3,
                )
    barrier(f"{plan.barrier_prefix}-final")


def _progress_bar(enabled, total, initial, name, pid, nproc):
    from tqdm.auto import tqdm

    desc = f"scan {name}" + (f" [process {pid}/{nproc}]" if nproc > 1 else "")
    return tqdm(
        total=total,
        initial=initial,
        unit="pt",
        unit_scale=True,
        desc=desc,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def scan(
    model,
    grid: Mapping,
    fixed: Mapping | None = None,
    outputs: Sequence[str] | str = ("rate",),
    chunk_size: int | None = None,
    store=None,
    zip: Mapping | None = None,  # noqa: A002  (the public keyword the issue asks for)
    progress: bool = True,
    devices=None,
    *,
    distributed=None,
    overwrite: bool = False,
    check: bool = True,
    on_chunk: Callable[[ChunkInfo], None] | None = None,
    verify: bool = True,
    recompute_corrupted: bool | None = None,
    allow_import: bool = True,
):
    """Evaluate a model on a parameter grid, chunk by chunk, optionally streaming to a Zarr store.

    **Arguments:**

    - `model`: a registered model name (``"classical"``, ``"cavity"``, see `registered_models`),
      a `ModelSpec`, ``"package.module:function"``, or any callable following the jaxtls
      convention (keyword parameters that broadcast; array fields of the result have the
      broadcast shape).
    - `grid`: ``{name: values}``; the scan is the cartesian product in this order (the
      dataset's dimensions, outer to inner). Values: a 1-D list/array, or a range table
      ``{"start": a, "stop": b, "num": n}`` (linspace; add ``"log": True`` for geomspace between
      the values a and b). A value that is itself a table of parameters, e.g.
      ``{"line": {"mu_u": [...], "omega": [...]}}``, is a *zipped* axis: its parameters vary
      together along one dimension named ``line``.
    - `fixed`: every other argument: scalar physical parameters (recorded as scalar coordinates)
      and static arguments (``n_max``, ``occupations``, ``tol``, ...) passed through unchanged
      (checked against the model's static options where it declares them).
    - `outputs`: result fields to keep; dotted paths reach into dicts and sub-modules
      (``"particle_current.u"``, ``"diagnostics.residual"``).
    - `chunk_size`: at most this many grid points per chunk. Default: automatic, from the traced
      program's intermediate values per point and the free memory (docs/scans.md). A chunk is a
      block of the grid (whole trailing axes and a slice of one axis), padded to a multiple of
      the device count; the padded size is the same for every chunk, so one compilation.
    - `store`: path of a Zarr store to stream results to. Rerunning the same call resumes: only
      chunks not marked finished are computed; a finished scan is not recomputed. A store holding
      a different scan is refused (`ScanDefinitionError`). ``None``: keep results in memory.
      The store path is checked to be writable before anything is computed (`OSError` naming
      the path otherwise).
    - `zip`: zipped axes appended after the grid's: ``{"line": {"mu_u": [...], "omega": [...]}}``.
    - `progress`: show a tqdm bar (points per second, ETA).
    - `devices`: local devices to shard each chunk over: ``None`` (all), a count, or a list.
    - `distributed`: ``True`` (or a dict of `init_distributed` arguments) to start
      `jax.distributed` and split the chunks between processes (chunk ``c`` goes to process
      ``c % process_count``); default: the ``JAXTLS_DISTRIBUTED`` environment variable.
    - `overwrite`: delete an existing store at `store` and start over.
    - `check`: also store the model's trust check (``diagnostics.ok`` for the built-in models,
      and the Fock cutoff for the cavity) as ``ok`` and warn if any point failed it (inside a
      scan the solvers cannot raise).
    - `on_chunk`: called with a `ChunkInfo` after each chunk is written.
    - `verify`: before resuming (or returning a finished store), read back every finished chunk
      and compare it with the checksum recorded when it was finished. A chunk that cannot be
      read (damaged file) or does not match raises `CorruptChunkError` naming the chunk, its grid
      region, the output and the file; nothing is written. ``False`` skips the check (it costs
      about one read of the store).
    - `recompute_corrupted`: instead of raising, recompute only the damaged chunks (with a
      warning listing them); every intact finished chunk is kept. Default: the
      ``JAXTLS_RECOMPUTE_CORRUPTED`` environment variable (for ``jaxtls scan``).
    - `allow_import`: accept ``"package.module:function"`` for `model` (imported). Python
      callers pass what they mean; `scan_from_toml` passes ``False`` unless told otherwise
      (a scan file must not run arbitrary code): `ScanDefinitionError` before anything is
      imported.

    **Returns:** an `xarray.Dataset`: one variable per output with the grid's dimensions,
    coordinates for the grid (and scalar ones for numeric fixed parameters), ``units`` attributes
    (hbar = k_B = 1). With a store, the dataset is opened lazily from it (``.load()`` to read).
    """
    check_arguments(distributed, progress, overwrite, verify, recompute_corrupted, on_chunk, allow_import)
    if want_distributed(distributed):
        init_distributed(**(distributed if isinstance(distributed, Mapping) else {}))
    plan = _plan(model, grid, fixed, outputs, chunk_size, store, zip, devices, check, allow_import)
    if recompute_corrupted is None:
        recompute_corrupted = os.environ.get("JAXTLS_RECOMPUTE_CORRUPTED", "").lower() in ("1", "true", "yes", "on")
    probe = _Probe(plan)
    lock = _lock(plan.path)
    try:
        sink, block = open_sink(plan, probe, overwrite, recompute_corrupted)
        layout = _layout.Layout(plan.shape, block)
        stored_vars = stored_vars_of(plan, sink)
        todo = chunks_to_compute(plan, sink, layout, stored_vars, verify, recompute_corrupted)
        if todo:
            _validate_chunks(plan, layout, todo)  # host-side checks of parameter combinations
            _compute(plan, probe, sink, layout, todo, stored_vars, progress, on_chunk)
        _finish(plan, sink)
    finally:
        if lock is not None:
            lock.release()
    return sink.dataset()


def _lock(path):
    """The store's exclusive lock (`StoreLock`), taken by process 0 for the whole scan (the
    processes of one distributed scan write one store together). A finished store on a
    read-only file system is read without one."""
    if path is None or jax.process_index() != 0:
        return None
    lock = StoreLock(path)
    if not path.parent.is_dir():  # a new store in a new directory: the lock lives beside it
        check_writable(path)  # the clear error first (a path under a regular file, permissions)
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return lock.acquire()
    except StoreLockedError:
        raise
    except OSError as err:
        if is_scan_store(path) and bool(dict(zarr.open_group(path, mode="r", zarr_format=3).attrs).get("complete")):
            return None
        raise OSError(
            err.errno,
            f"cannot create the lock file {str(lock.path)!r} of the scan store {str(path)!r}: "
            f"{err.strerror or err} (nothing was computed)",
        ) from err
