"""Store safety (issue "Trust"): overwrite deletes only jaxtls stores, one writer per store,
missing or damaged metadata found and rebuilt."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import zarr

from jaxtls._workflows.store import FORMAT, Template, VarSpec, ZarrSink
from jaxtls._workflows.store_safety import (
    NotAStoreError,
    StoreLock,
    StoreLockedError,
    damaged_members,
    is_scan_store,
    lock_path,
    remove_store,
    repair_members,
)


def _template(n=6, chunk=2):
    x = np.linspace(0.0, 1.0, n)
    spec = VarSpec(dims=("x",), shape=(n,), chunks=(chunk,), dtype=np.dtype("float64"), attrs={"units": "u"})
    attrs = {"scan_format": FORMAT, "scan_hash": "h", "chunk_shape": [chunk], "complete": False}
    return Template(
        coords={"x": (("x",), x, {})}, data_vars={"rate": spec, "ok": spec}, attrs=attrs, n_chunks=n // chunk
    )


def _store(tmp_path, name="s.zarr"):
    path = tmp_path / name
    sink = ZarrSink.create(path, _template())
    for c in range(3):
        sink.write(c, (slice(2 * c, 2 * c + 2),), {"rate": np.array([c, c + 0.5]), "ok": np.ones(2)})
        sink.mark_done(c)
    return path


def test_remove_store_refuses_anything_that_is_not_provably_ours(tmp_path):
    thesis = tmp_path / "d"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    with pytest.raises(NotAStoreError, match="not a jaxtls scan store"):
        remove_store(thesis)
    assert (thesis / "thesis.tex").read_text() == "years of work"
    # a foreign Zarr store (no jaxtls marker)
    foreign = tmp_path / "foreign.zarr"
    zarr.open_group(foreign, mode="w", zarr_format=3, attributes={"owner": "someone"})
    with pytest.raises(NotAStoreError):
        remove_store(foreign)
    assert (foreign / "zarr.json").is_file()
    # a file, and a symbolic link to a store
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotAStoreError):
        remove_store(f)
    store = _store(tmp_path)
    link = tmp_path / "link.zarr"
    link.symlink_to(store)
    with pytest.raises(NotAStoreError):
        remove_store(link)
    # a jaxtls store into which the user put a file of their own
    (store / "notes.txt").write_text("mine")
    with pytest.raises(NotAStoreError, match="notes.txt"):
        remove_store(store)
    assert (store / "notes.txt").read_text() == "mine" and is_scan_store(store)
    (store / "notes.txt").unlink()
    remove_store(store)
    assert not store.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    remove_store(tmp_path / "missing.zarr")  # nothing to do


def test_lock_excludes_a_second_writer_and_names_the_holder(tmp_path):
    store = tmp_path / "s.zarr"
    with StoreLock(store):
        with pytest.raises(StoreLockedError, match=f"process {os.getpid()}"):
            StoreLock(store).acquire()
        assert lock_path(store).is_file()
    assert not lock_path(store).exists()
    with StoreLock(store):  # free again
        pass


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    store = tmp_path / "s.zarr"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    lock_path(store).write_text(json.dumps({"host": socket.gethostname(), "pid": dead, "started": 0, "token": "t"}))
    with StoreLock(store) as lock:
        assert json.loads(lock_path(store).read_text())["pid"] == os.getpid()
        assert lock.held


def test_lock_on_another_host_is_not_taken(tmp_path):
    store = tmp_path / "s.zarr"
    lock_path(store).write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": 0, "token": "t"}))
    with pytest.raises(StoreLockedError, match="elsewhere.*delete the lock file"):
        StoreLock(store).acquire()
    assert json.loads(lock_path(store).read_text())["host"] == "elsewhere"  # untouched


def test_release_never_removes_someone_elses_lock(tmp_path):
    store = tmp_path / "s.zarr"
    lock = StoreLock(store).acquire()
    lock_path(store).write_text(json.dumps({"host": "x", "pid": 1, "started": 0, "token": "other"}))
    lock.release()
    assert lock_path(store).exists()


@pytest.mark.parametrize(
    "damage, member, recreated",
    [
        (lambda p: shutil.rmtree(p / "rate"), "rate", True),
        (lambda p: (p / "rate" / "zarr.json").unlink(), "rate", True),
        (lambda p: (p / "x" / "zarr.json").write_text("{garbage"), "x", False),
        (lambda p: (p / "zarr.json").write_text("not json"), "zarr.json", False),
        (lambda p: shutil.rmtree(p / "_scan" / "done"), "_scan/done", True),
    ],
)
def test_damaged_members_are_found_and_rebuilt(tmp_path, damage, member, recreated):
    store = _store(tmp_path)
    template = _template()
    assert damaged_members(store, template) == {}
    damage(store)
    found = damaged_members(store, template)
    assert list(found) == [member], found
    assert repair_members(store, template, found) is recreated
    assert damaged_members(store, template) == {}
    g = zarr.open_group(store, mode="r", zarr_format=3)
    np.testing.assert_array_equal(g["x"][...], np.linspace(0.0, 1.0, 6))
    if not recreated:  # computed chunks survive a metadata / coordinate repair
        np.testing.assert_array_equal(g["rate"][...], [0, 0.5, 1, 1.5, 2, 2.5])


def test_wrong_coordinate_values_are_damage(tmp_path):
    store = _store(tmp_path)
    zarr.open_array(store / "x", mode="r+", zarr_format=3)[0] = 7.0
    assert "x" in damaged_members(store, _template())


# ------------------------------------------------------------------------------ through jt.scan

import errno  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402

import jaxtls as jt  # noqa: E402
from jaxtls._workflows.scan.definition import CorruptChunkError  # noqa: E402

FIXED = dict(E_u=1.0, E_l=0.0, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_l=0.1, T_u=0.02, T_l=0.02)
GRID = {"mu_u": np.linspace(0.5, 1.5, 12), "omega": [0.95, 1.0, 1.05]}


def _scan(store, **kw):
    kw.setdefault("chunk_size", 6)
    return jt.scan("classical", grid=GRID, fixed=FIXED, outputs=["rate", "entropy_production"], store=store,
                   progress=False, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def reference():
    return _scan(None).load()


def _same(ds, ref):
    for name in ("rate", "entropy_production", "ok"):
        np.testing.assert_array_equal(np.asarray(ds[name]), np.asarray(ref[name]))


def test_overwrite_refuses_a_foreign_directory(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "thesis.tex").write_text("years of work")
    with pytest.raises(NotAStoreError, match="not a jaxtls scan store"):
        _scan(d, overwrite=True)
    assert (d / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in d.iterdir()) == ["thesis.tex"]


def test_overwrite_of_our_store_starts_over(tmp_path, reference):
    store = tmp_path / "s.zarr"
    _scan(store)
    _same(_scan(store, overwrite=True), reference)
    assert not lock_path(store).exists()


def test_a_second_writer_gets_a_clear_error_and_the_first_finishes_bit_identical(tmp_path, reference):
    store = tmp_path / "s.zarr"
    script = textwrap.dedent(f"""
        import time, numpy as np, jaxtls as jt
        jt.scan("classical", grid={{"mu_u": np.linspace(0.5, 1.5, 12), "omega": [0.95, 1.0, 1.05]}},
                fixed={FIXED!r}, outputs=["rate", "entropy_production"], store={str(store)!r},
                chunk_size=6, progress=False, on_chunk=lambda info: time.sleep(0.4))
    """)
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.time()
        while not (store / "_scan" / "done").exists() and time.time() - t0 < 120 and first.poll() is None:
            time.sleep(0.05)
        assert first.poll() is None, first.communicate()
        with pytest.raises(StoreLockedError, match=f"process {first.pid}"):
            _scan(store)
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert not lock_path(store).exists()
    _same(jt.open_store(store), reference)


def test_removed_output_is_reported_then_repaired(tmp_path, reference):
    store = tmp_path / "s.zarr"
    _scan(store)
    shutil.rmtree(store / "rate")
    with pytest.raises(CorruptChunkError, match="'rate' is missing"):
        _scan(store)
    with pytest.warns(UserWarning, match="recomputing every chunk"):
        ds = _scan(store, recompute_corrupted=True)
    _same(ds, reference)
    _same(_scan(store), reference)  # and now it resumes cleanly


@pytest.mark.parametrize("member", ["zarr.json", "mu_u/zarr.json", "rate/zarr.json"])
def test_garbage_metadata_is_reported_then_repaired(tmp_path, reference, member):
    store = tmp_path / "s.zarr"
    _scan(store)
    (store / member).write_text("{garbage")
    with pytest.raises(CorruptChunkError, match="damaged"):
        _scan(store)
    with pytest.warns(UserWarning, match="rebuilt damaged parts"):
        ds = _scan(store, recompute_corrupted=True)
    _same(ds, reference)


def test_disk_full_leaves_a_resumable_store(tmp_path, reference, monkeypatch):
    from jaxtls._workflows.store import ZarrSink

    store = tmp_path / "s.zarr"
    real = ZarrSink.write
    calls = []

    def full(self, index, region, data):
        calls.append(index)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, index, region, data)

    monkeypatch.setattr(ZarrSink, "write", full)
    with pytest.raises(OSError, match="No space left on device.*resumable") as info:
        _scan(store)
    assert info.value.errno == errno.ENOSPC and "\n" not in str(info.value)
    monkeypatch.setattr(ZarrSink, "write", real)
    assert not lock_path(store).exists()
    _same(_scan(store), reference)
