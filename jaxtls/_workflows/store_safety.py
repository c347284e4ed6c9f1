"""Safety of scan stores: what is ours to delete, one writer at a time, and intact metadata.

- **Ownership.** A directory is a jaxtls scan store when its root Zarr metadata carries
  ``scan_format = "jaxtls-scan/1"`` (written by `jaxtls._workflows.store.ZarrSink.create`) and it
  holds nothing but Zarr nodes. `remove_store` deletes only such a directory; anything else (a
  thesis, a foreign Zarr store, a store with the user's own files put inside) is refused with
  `NotAStoreError` and left untouched.
- **One writer.** `StoreLock` is an exclusive lock per store: a hidden file
  ``.<store name>.jaxtls-lock`` beside the store (beside, because a new store is created under a
  temporary name and renamed into place), created with ``O_CREAT | O_EXCL`` and holding the
  owner's host, process id, start time and a random token. A second writer gets
  `StoreLockedError` naming the holder; a lock left by a dead process on the same host is
  detected (the process id no longer exists) and taken over. On another host the lock cannot be
  checked: the message says which file to delete once that process is known to be gone.
- **Intact metadata.** `damaged_members` reads the root metadata and the metadata of every
  array a scan needs (outputs, coordinates, bookkeeping) and compares the coordinate values with
  the scan definition; `repair_members` recreates what is missing or damaged from the scan's
  template (a recreated output array means every chunk is recomputed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

import numpy as np
import zarr

from .store import DIGEST_ALGORITHM, FORMAT, SCAN_GROUP, Template, fill_value

__all__ = [
    "NotAStoreError",
    "StoreLockedError",
    "is_scan_store",
    "remove_store",
    "StoreLock",
    "lock_path",
    "damaged_members",
    "root_attrs",
    "repair_members",
]

BOOKKEEPING = ("done", "failed", "digest")


class NotAStoreError(ValueError):
    """A path that is not (provably) a jaxtls scan store; nothing was changed."""


class StoreLockedError(OSError):
    """Another process holds the store's lock (an `OSError`, like EBUSY); nothing was changed."""


def root_attrs(path: Path) -> dict | None:
    """The root group's attributes, or None if the metadata cannot be read."""
    try:
        meta = json.loads(Path(path, "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("node_type") != "group":
        return None
    attrs = meta.get("attributes")
    return attrs if isinstance(attrs, dict) else None


def is_scan_store(path) -> bool:
    """Whether `path` is a directory whose root metadata carries the jaxtls scan-store marker."""
    attrs = root_attrs(Path(path)) if Path(path).is_dir() else None
    return attrs is not None and attrs.get("scan_format") == FORMAT


def _foreign_entries(path: Path) -> list[str]:
    """Entries of a store directory that are not Zarr nodes (files a user put there)."""
    foreign = []
    for entry in sorted(os.listdir(path)):
        p = path / entry
        if entry == "zarr.json" and p.is_file():
            continue
        if p.is_dir() and not p.is_symlink() and (p / "zarr.json").is_file():
            continue
        foreign.append(entry)
    return foreign


def remove_store(path) -> None:
    """Delete the jaxtls scan store at `path` (for ``overwrite``); refuse anything else.

    Raises `NotAStoreError` (and deletes nothing) when `path` is a file, a symbolic link, a
    directory without the jaxtls marker (any other data, a foreign Zarr store), or a store that
    also holds entries that are not Zarr nodes. A missing path is fine (nothing to delete).
    """
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        raise NotAStoreError(
            f"refusing to overwrite {str(path)!r}: it is not a directory holding a jaxtls scan store "
            "(nothing was deleted); choose another store path"
        )
    if not is_scan_store(path):
        raise NotAStoreError(
            f"refusing to overwrite {str(path)!r}: it is not a jaxtls scan store (no {FORMAT!r} marker in "
            "its zarr.json), so it may hold data that is not ours; nothing was deleted. Choose another "
            "store path, or delete it yourself if you are sure"
        )
    foreign = _foreign_entries(path)
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise NotAStoreError(
            f"refusing to overwrite {str(path)!r}: besides the scan store it holds {len(foreign)} entr"
            f"{'y' if len(foreign) == 1 else 'ies'} that are not part of it ({shown}); nothing was deleted. "
            "Move them out, or choose another store path"
        )
    # rename first, so that the path never holds a half-deleted store
    trash = path.with_name(f".{path.name}.deleted-{uuid.uuid4().hex[:8]}")
    os.rename(path, trash)
    shutil.rmtree(trash)


# ----------------------------------------------------------------------------------------- lock


def lock_path(store) -> Path:
    store = Path(store)
    return store.with_name(f".{store.name}.jaxtls-lock")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return True
    return True


class StoreLock:
    """Exclusive lock of one scan store (module docstring); a context manager.

    **Arguments:** `store` (the store path). `acquire()` raises `StoreLockedError` naming the
    holder when another live process holds it; `release()` removes the lock file only if it is
    still ours (same token).
    """

    #: a lock file that cannot be parsed is treated as being written for this long, then stale
    UNREADABLE_GRACE_S = 30.0

    def __init__(self, store):
        self.store = Path(store)
        self.path = lock_path(self.store)
        self.token = uuid.uuid4().hex
        self.held = False

    def _holder(self) -> dict | None:
        try:
            info = json.loads(self.path.read_text())
            return info if isinstance(info, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def _stale(self, info: dict) -> bool:
        if not info:  # being written right now, or garbage
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return True
            return age > self.UNREADABLE_GRACE_S
        if info.get("host") != socket.gethostname():
            return False  # cannot be checked from here
        pid = info.get("pid")
        return isinstance(pid, int) and not _pid_alive(pid)

    def acquire(self) -> StoreLock:
        me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(), "token": self.token}
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                info = self._holder()
                if info is None:
                    continue  # released meanwhile: try again
                if self._stale(info):
                    # take it over atomically: only one of several contenders wins the rename
                    stale = self.path.with_name(f"{self.path.name}.stale-{uuid.uuid4().hex[:8]}")
                    with contextlib.suppress(FileNotFoundError):
                        os.rename(self.path, stale)
                        os.remove(stale)
                    continue
                since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
                raise StoreLockedError(
                    f"the scan store {str(self.store)!r} is being written by process {info.get('pid')} on "
                    f"host {info.get('host')!r} (since {since}); two scans may not write one store at once "
                    f"(nothing was changed). Wait for it to finish, or use another store path. If that "
                    f"process is gone, delete the lock file {str(self.path)!r}"
                ) from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.held = True
            return self
        raise StoreLockedError(f"could not take the lock {str(self.path)!r} of {str(self.store)!r} (contended)")

    def release(self) -> None:
        if not self.held:
            return
        info = self._holder()
        if info and info.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
        self.held = False

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ------------------------------------------------------------------------------------ integrity


def _array_meta(path: Path, name: str) -> dict | None:
    try:
        meta = json.loads(Path(path, name, "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("node_type") != "array":
        return None
    return meta


def damaged_members(path, template: Template) -> dict[str, str]:
    """Members of the store at `path` that a scan with `template` needs and that are missing or
    damaged: ``{member: problem}`` (empty when intact). Reads only.

    Checks the root metadata (readable, the jaxtls marker), every output array and the
    bookkeeping arrays (metadata readable; an output's leading dimensions are the template's
    shape: extra trailing dimensions of an output are its own) and every coordinate
    array (metadata readable, values equal to the scan definition's).
    """
    path = Path(path)
    problems: dict[str, str] = {}
    attrs = root_attrs(path)
    if attrs is None:
        problems["zarr.json"] = "the root metadata cannot be read"
    elif attrs.get("scan_format") != FORMAT:
        problems["zarr.json"] = "the root metadata has lost the jaxtls marker"
    expected = {name: tuple(spec.shape) for name, spec in template.data_vars.items()}
    expected.update({f"{SCAN_GROUP}/{b}": None for b in BOOKKEEPING})
    for name, shape in expected.items():
        meta = _array_meta(path, name)
        if meta is None:
            what = "is missing" if not Path(path, name).exists() else "has unreadable metadata"
            problems[name] = f"array {name!r} {what}"
        elif shape is not None and tuple(meta.get("shape", ()))[: len(shape)] != shape:
            stored = tuple(meta.get("shape", ()))
            problems[name] = f"array {name!r} has shape {stored}, expected the grid's {shape} (leading dimensions)"
    for name, (_, values, _) in template.coords.items():
        meta = _array_meta(path, name)
        if meta is None:
            problems[name] = f"coordinate {name!r} is missing or has unreadable metadata"
            continue
        try:
            stored = np.asarray(zarr.open_array(Path(path, name), mode="r", zarr_format=3)[...])
        except Exception as err:
            problems[name] = f"coordinate {name!r} cannot be read ({type(err).__name__})"
            continue
        want = np.asarray(values)
        if stored.shape != want.shape or not np.array_equal(stored, want, equal_nan=want.dtype.kind in "fc"):
            problems[name] = f"coordinate {name!r} does not hold the scan's values"
    return problems


def repair_members(path, template: Template, names) -> bool:
    """Recreate the members `names` (keys of `damaged_members`) from `template`.

    Returns True when an output or bookkeeping array was recreated, so that no finished chunk
    can be trusted any more (the caller marks every chunk as not finished); coordinates and
    the root metadata are rewritten in place without losing computed chunks.
    """
    path = Path(path)
    names = set(names)
    if "zarr.json" in names:
        meta = {"zarr_format": 3, "node_type": "group", "attributes": dict(template.attrs)}
        tmp = Path(path, f".zarr.json.{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, Path(path, "zarr.json"))
    group = zarr.open_group(path, mode="r+", zarr_format=3)
    nondim = template.nondim_coords()
    recreated = False
    for name, (dims, values, attrs) in template.coords.items():
        if name in names:
            values = np.asarray(values)
            arr = group.create_array(name, shape=values.shape, dtype=values.dtype, fill_value=fill_value(values.dtype),
                                     dimension_names=list(dims), attributes=attrs, overwrite=True)  # fmt: skip
            arr[...] = values
    for name, spec in template.data_vars.items():
        if name in names:
            attrs = dict(spec.attrs)
            if nondim:
                attrs["coordinates"] = " ".join(nondim)
            group.create_array(name, shape=spec.shape, chunks=spec.chunks, dtype=spec.dtype,
                               fill_value=fill_value(spec.dtype), dimension_names=list(spec.dims),
                               attributes=attrs, overwrite=True)  # fmt: skip
            recreated = True
    book = [b for b in BOOKKEEPING if f"{SCAN_GROUP}/{b}" in names]
    if book:
        scan_group = group.require_group(SCAN_GROUP)
        n = template.n_chunks
        nv = max(1, len(template.data_vars))
        specs = {
            "done": dict(shape=(n,), chunks=(1,), dtype="uint8"),
            "failed": dict(shape=(n,), chunks=(1,), dtype="int64"),
            "digest": dict(
                shape=(n, nv),
                chunks=(1, nv),
                dtype="uint64",
                attributes={"variables": list(template.data_vars), "algorithm": DIGEST_ALGORITHM},
            ),  # fmt: skip
        }
        for b in book:
            scan_group.create_array(b, fill_value=0, overwrite=True, **specs[b])
        recreated = True
    return recreated
