"""Where a scan's results go and what is left to do: a sink in memory, a new store, or the
store of this very scan resumed (another scan's store is refused); this process's unfinished
chunks, and finished ones that are damaged (refused, or recomputed on request)."""

from __future__ import annotations

import warnings

import jax

from ..store import DIGEST, SCAN_GROUP, MemorySink, ZarrSink, check_writable, is_store
from ..store_safety import damaged_members, remove_store, repair_members, root_attrs
from .definition import CorruptChunkError, ScanDefinitionError, damage_report, validate_store
from .devices import barrier

__all__ = ["open_sink", "stored_vars_of", "chunks_to_compute"]


def _stored_block(path) -> tuple | None:
    """The block shape of a store whose root metadata is damaged, from an output array's own
    metadata (every output is chunked by the scan's block); None if none can be read."""
    import json

    for meta in sorted(path.glob("*/zarr.json")):
        try:
            m = json.loads(meta.read_text())
            if m.get("node_type") == "array" and m["dimension_names"] and len(m["shape"]) >= 1:
                chunks = m["chunk_grid"]["configuration"]["chunk_shape"]
                if len(chunks) == len(m["shape"]) and meta.parent.name not in m["dimension_names"]:
                    return tuple(int(c) for c in chunks)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def _check_members(plan, probe, path, recompute_corrupted: bool):
    """Missing or damaged metadata, outputs or coordinates of an existing store: refused with
    `CorruptChunkError`, or rebuilt from this scan's template with `recompute_corrupted`.
    Returns ``(attrs, block, recompute_all)``."""
    root = root_attrs(path)
    if root is not None or not (path / SCAN_GROUP / "zarr.json").is_file():
        # readable root metadata: another scan, another kind of store or this scan (validated);
        # no bookkeeping group: not a jaxtls store. Either way, nothing is ours to repair.
        attrs = validate_store(path, plan.digest, plan.definition, plan.block)
    else:
        attrs = None  # the root metadata itself is damaged
    block = tuple(attrs["chunk_shape"]) if attrs is not None else (_stored_block(path) or probe.block())
    problems = damaged_members(path, probe.expected(block))  # the model is not traced for this
    if not problems:
        return attrs, block, False
    listing = "\n  - ".join(f"{m}: {why}" for m, why in sorted(problems.items()))
    if not recompute_corrupted:
        raise CorruptChunkError(
            f"the scan store {str(path)!r} is damaged; refusing to resume into it (nothing was written):\n  - "
            f"{listing}\nTo rebuild what can be rebuilt and recompute what was lost, rerun with "
            "recompute_corrupted=True (jaxtls scan --recompute-corrupted); to start over, delete the store "
            "(overwrite=True, jaxtls scan --overwrite)."
        )
    recompute_all = repair_members(path, probe.template(block), problems)
    warnings.warn(
        f"rebuilt damaged parts of the scan store {str(path)!r}"
        + (" and recomputing every chunk (an output or the bookkeeping was lost)" if recompute_all else "")
        + f":\n  - {listing}",
        stacklevel=4,
    )
    return validate_store(path, plan.digest, plan.definition, plan.block), block, recompute_all


def open_sink(plan, probe, overwrite: bool, recompute_corrupted: bool = False):
    """The sink results go to, and its block shape: in memory, a new store, or the existing
    store of this very scan (resume; another scan's store is refused). ``overwrite`` deletes
    only a jaxtls store (`remove_store`); an existing store's metadata, outputs and coordinates
    are checked first (`_check_members`)."""
    path, pid = plan.path, jax.process_index()
    if path is None:
        block = probe.block()
        return MemorySink(probe.template(block)), block
    if overwrite and pid == 0:
        remove_store(path)  # refuses (NotAStoreError) anything that is not provably ours
    if overwrite:
        barrier(f"{plan.barrier_prefix}-overwrite")
    exists = is_store(path) or (path / SCAN_GROUP / "zarr.json").is_file()
    if not exists and path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise ScanDefinitionError(f"{str(path)!r} exists and is not a Zarr store; choose another store path")
    attrs, recompute_all = None, False
    if exists:
        if pid == 0:
            attrs, _, recompute_all = _check_members(plan, probe, path, recompute_corrupted)
        barrier(f"{plan.barrier_prefix}-checked")
    if not exists and pid == 0:
        check_writable(path)  # a clear error before tracing anything
        ZarrSink.create(path, probe.template(probe.block()))
    barrier(f"{plan.barrier_prefix}-created")
    if attrs is None:
        attrs = validate_store(path, plan.digest, plan.definition, plan.block)
    sink = ZarrSink.open(path)
    if recompute_all and pid == 0:
        sink.reset(range(len(sink.done_mask())))
    return sink, tuple(attrs["chunk_shape"])


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
