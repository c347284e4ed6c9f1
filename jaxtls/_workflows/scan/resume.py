"""Where a scan's results go and what is left to do: a sink in memory, a new store, or the
store of this very scan resumed (another scan's store is refused); this process's unfinished
chunks, and finished ones that are damaged (refused, or recomputed on request)."""

from __future__ import annotations

import warnings

import jax

from ..store import DIGEST, SCAN_GROUP, MemorySink, ZarrSink, check_writable, is_store
from .definition import CorruptChunkError, ScanDefinitionError, damage_report, validate_store
from .devices import barrier

__all__ = ["open_sink", "stored_vars_of", "chunks_to_compute"]


def open_sink(plan, probe, overwrite: bool):
    """The sink results go to, and its block shape: in memory, a new store, or the existing
    store of this very scan (resume; another scan's store is refused)."""
    path, pid = plan.path, jax.process_index()
    if path is None:
        block = probe.block()
        return MemorySink(probe.template(block)), block
    if overwrite and pid == 0 and path.exists():
        import shutil

        shutil.rmtree(path)
    if overwrite:
        barrier(f"{plan.barrier_prefix}-overwrite")
    exists = is_store(path)
    if not exists and path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise ScanDefinitionError(f"{str(path)!r} exists and is not a Zarr store; choose another store path")
    attrs = validate_store(path, plan.digest, plan.definition, plan.block) if exists else None
    if not exists and pid == 0:
        check_writable(path)  # a clear error before tracing anything
        ZarrSink.create(path, probe.template(probe.block()))
    barrier(f"{plan.barrier_prefix}-created")
    if not exists:
        attrs = validate_store(path, plan.digest, plan.definition, plan.block)
    return ZarrSink.open(path), tuple(attrs["chunk_shape"])


def stored_vars_of(plan, sink) -> list[str]:
    if isinstance(sink, MemorySink):
        return list(sink.template.data_vars)
    in_store = set(sink.group.array_keys())
    return [k for k in [*plan.outputs, plan.check_name] if k in in_store]


def chunks_to_compute(plan, sink, layout, stored_vars, verify: bool, recompute_corrupted: bool) -> list[int]:
    """This process's chunks not finished yet, plus finished ones that are damaged (refused
    with `CorruptChunkError`, or reset for recomputation with `recompute_corrupted`)."""
    path, pid, nproc = plan.path, jax.process_index(), jax.process_count()
    if path is not None and sink.attrs.get("complete") and not verify:
        return []
    done = sink.done_mask()
    mine = [c for c in range(layout.n_chunks) if c % nproc == pid]
    damaged: dict[int, list[str]] = {}
    if path is not None:  # finished chunks that cannot be trusted: refuse, or recompute them
        for c in sink.unreadable_done:
            if c % nproc == pid:
                damaged[c] = [f"its finished marker ({SCAN_GROUP}/done) cannot be read"]
        if verify:
            found = sink.damaged_chunks([c for c in mine if done[c]], layout.region, stored_vars)
            for c, problems in found.items():
                damaged.setdefault(c, []).extend(problems)
        if damaged and not recompute_corrupted:
            raise CorruptChunkError(
                f"the scan store {str(path)!r} has {len(damaged)} damaged finished chunk(s); refusing "
                f"to resume into it (nothing was written):\n  - {damage_report(damaged, plan.axes, layout)}\n"
                "Every other finished chunk is intact and is kept. To recompute only the damaged "
                "chunks, rerun with recompute_corrupted=True (jaxtls scan --recompute-corrupted); "
                "to start over, delete the store (overwrite=True, jaxtls scan --overwrite)."
            )
    todo = [c for c in mine if not done[c] or c in damaged]
    if todo and path is not None:  # before any work: every directory a chunk is written to
        members = [*stored_vars, *(f"{SCAN_GROUP}/{m}" for m in ("done", "failed", DIGEST))]
        check_writable(path, members)
    if damaged:
        sink.reset(sorted(damaged))
        warnings.warn(
            f"recomputing {len(damaged)} damaged chunk(s) of the scan store {str(path)!r} (every other "
            f"finished chunk is kept):\n  - {damage_report(damaged, plan.axes, layout)}",
            stacklevel=3,
        )
    return todo
