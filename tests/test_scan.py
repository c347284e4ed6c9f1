"""Parameter scans (issue 7): chunking, one compilation, Zarr streaming and resume after SIGKILL,
sharding over devices, two-process jax.distributed, TOML, plots."""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
import zarr

import jaxtls as jt
from jaxtls._workflows import store as _store
from jaxtls._workflows.plot import plot_store
from jaxtls._workflows.scan import CorruptChunkError, ScanDefinitionError, register_model, scan, scan_from_toml
from jaxtls._workflows.scan import layout as _layout
from jaxtls._workflows.store import open_store

TESTS = Path(__file__).parent
WORKER = TESTS / "scan_worker.py"
sys.path.insert(0, str(TESTS))
import scan_worker as W  # noqa: E402

N_CHUNKS = 6  # W.GRID (11 x 5) in blocks of (2, 5)


def _env(**extra):
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env.pop("JAXTLS_TEST_CHUNK_DELAY", None)
    env["JAX_PLATFORMS"] = "cpu"
    env.update(extra)
    return env


def _reference(path=None, **kwargs):
    return scan("classical", W.GRID, W.FIXED, outputs=W.OUTPUTS, chunk_size=W.CHUNK_SIZE, store=path,
                progress=False, **kwargs)  # fmt: skip


@pytest.fixture(scope="module")
def reference_store(tmp_path_factory):
    """The store of the uninterrupted single-process scan of the worker's definition (tests that
    damage a store work on a copy)."""
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    _reference(path)
    return path


@pytest.fixture(scope="module")
def reference(reference_store):
    """The uninterrupted single-process scan of the worker's definition, read from its store."""
    return open_store(reference_store).load()


def _chunk_lines(text):
    """Parse the worker's ``CHUNK index process shards traces`` lines."""
    import json

    out = []
    for line in text.splitlines():
        if line.startswith("CHUNK "):
            _, idx, pid, rest = line.split(" ", 3)
            shards, traces = rest.rsplit(" ", 1)
            out.append((int(idx), int(pid), json.loads(shards), int(traces)))
    return out


# ---------------------------------------------------------------------------------------------
# Dataset layout


def test_dataset_dims_coords_units_and_values():
    fixed = {k: v for k, v in W.FIXED.items() if k not in ("T_u", "eps")}
    grid = {"T_u": {"start": 0.01, "stop": 0.1, "num": 3, "log": True}, "mu_u": [0.7, 1.0, 1.3, 1.6]}
    line = {"omega": [0.9, 1.0, 1.1], "eps": [0.01, 0.03, 0.05]}
    ds = scan("classical", grid, fixed, outputs=["rate", "entropy_production", "particle_current.u"],
              zip={"line": line}, chunk_size=5, progress=False)  # fmt: skip
    assert ds["rate"].dims == ("T_u", "mu_u", "line")
    assert dict(ds.sizes) == {"T_u": 3, "mu_u": 4, "line": 3}
    np.testing.assert_allclose(ds["T_u"], np.geomspace(0.01, 0.1, 3))
    np.testing.assert_array_equal(ds["mu_u"], [0.7, 1.0, 1.3, 1.6])
    np.testing.assert_array_equal(ds["line"], [0, 1, 2])
    assert ds["omega"].dims == ("line",) and ds["eps"].dims == ("line",)
    np.testing.assert_array_equal(ds["eps"], line["eps"])
    assert float(ds["E_u"]) == 1.0 and ds["E_u"].dims == ()  # fixed -> scalar coordinate
    assert ds["rate"].attrs["units"] == "per unit time (energy units, hbar = k_B = 1)"
    assert ds["entropy_production"].attrs["units"] == "k_B per unit time"
    assert ds["mu_u"].attrs["units"] == "energy units, hbar = k_B = 1"
    assert ds["T_u"].attrs["spacing"] == "log"
    assert ds["ok"].dtype == bool and bool(ds["ok"].all())
    assert ds.attrs["complete"] and ds.attrs["jax_version"] == jax.__version__
    assert ds.attrs["jaxtls_version"] == jt.__version__ and len(ds.attrs["scan_hash"]) == 64
    # values: the broadcast call of the model itself
    r = jt.solve_classical(
        T_u=ds["T_u"].values[:, None, None], mu_u=ds["mu_u"].values[None, :, None],
        omega=np.array(line["omega"]), eps=np.array(line["eps"]), **fixed,
    )  # fmt: skip
    np.testing.assert_allclose(ds["rate"], r.rate, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ds["particle_current.u"], r.particle_current["u"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ds["entropy_production"], r.entropy_production, rtol=1e-12, atol=1e-15)


def test_one_compilation_with_padded_last_chunk():
    infos, messages = [], []

    class Grab(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Grab(level=logging.DEBUG)
    logger = logging.getLogger("jax")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles():
            ds = scan("classical", {"mu_u": np.linspace(0.5, 1.5, 7), "omega": [1.0, 1.1, 1.2]}, W.FIXED,
                      chunk_size=4, progress=False, on_chunk=infos.append)  # fmt: skip
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    # blocks (1, 3): 7 chunks of 3 points; padded to 3 (one device) -> all the same shape
    assert len(infos) == 7 and {i.padded_points for i in infos} == {3}
    assert [i.traces for i in infos] == [1] * 7
    compiles = [m for m in messages if m.startswith("Compiling jit(_jaxtls_scan_chunk)")]
    assert len(compiles) == 1, compiles
    assert not np.isnan(ds["rate"].values).any()

    # a last chunk with fewer points than the others is padded: still one trace
    infos.clear()
    scan("classical", {"mu_u": np.linspace(0.5, 1.5, 7)}, {**W.FIXED, "omega": 1.0}, chunk_size=3,
         progress=False, on_chunk=infos.append)  # fmt: skip
    assert [i.n_points for i in infos] == [3, 3, 1] and {i.padded_points for i in infos} == {3}
    assert infos[-1].traces == 1


def test_chunk_layout_and_automatic_size(monkeypatch):
    choose = _layout.Layout.choose
    assert choose((400, 3), 1000) == (200, 3)  # whole trailing axis, balanced slices of the first
    assert choose((3, 400), 1000) == (2, 400)
    assert choose((3, 400), 100) == (1, 100)
    assert choose((5, 7), 1000) == (5, 7)
    assert choose((10,), 3) == (3,)
    lay = _layout.Layout((11, 5), (2, 5))
    assert lay.n_chunks == 6 and lay.region(5) == (slice(10, 11), slice(0, 5))
    idx, shape, n = lay.indices(5, 12)
    assert shape == (1, 5) and n == 5 and len(idx[0]) == 12 and idx[1][-1] == 4  # edge padding

    # automatic: small grid -> one chunk; capped per device -> several chunks of equal padded size
    infos = []
    scan("classical", W.GRID, W.FIXED, progress=False, on_chunk=infos.append)
    assert len(infos) == 1 and infos[0].n_points == 55
    monkeypatch.setattr(_layout, "MAX_POINTS_PER_DEVICE", 8)
    infos.clear()
    scan("classical", W.GRID, W.FIXED, progress=False, on_chunk=infos.append)
    assert len(infos) == 11 and max(i.n_points for i in infos) <= 8
    # the memory estimate is positive and scales with the model (per point, not per chunk)
    monkeypatch.setattr(_layout, "MAX_POINTS_PER_DEVICE", 10**9)
    monkeypatch.setattr(_layout, "available_bytes", lambda devices: 10**6)
    infos.clear()
    scan("classical", W.GRID, W.FIXED, progress=False, on_chunk=infos.append)
    assert 1 < len(infos) <= 55


# ---------------------------------------------------------------------------------------------
# Storage and resume


def test_store_equals_memory_and_finished_scan_not_recomputed(tmp_path, reference):
    mem = _reference()
    xr.testing.assert_identical(mem, reference)
    path = tmp_path / "s.zarr"
    first = []
    _reference(path, on_chunk=first.append)
    assert sorted(i.index for i in first) == list(range(N_CHUNKS))
    again = []
    ds = _reference(path, on_chunk=again.append)
    assert again == []  # finished: nothing recomputed
    xr.testing.assert_identical(ds.load(), reference)
    # the store is plain xarray/Zarr and records provenance
    raw = xr.open_zarr(path, consolidated=False)
    assert raw.attrs["scan_hash"] == reference.attrs["scan_hash"] and raw.attrs["complete"]
    assert np.all(zarr.open_group(path, mode="r")["_scan/done"][:] == 1)


def test_resume_after_sigkill(tmp_path, reference):
    store = tmp_path / "killed.zarr"
    err = open(tmp_path / "worker.err", "w+")
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "plain", str(store)],
        stdout=subprocess.PIPE, stderr=err, text=True, env=_env(JAXTLS_TEST_CHUNK_DELAY="1.0"),
    )  # fmt: skip
    watchdog = threading.Timer(90, proc.kill)
    watchdog.start()
    printed = []
    try:
        for line in proc.stdout:
            if line.startswith("CHUNK"):
                printed.append(int(line.split()[1]))
                if len(printed) == 2:
                    os.kill(proc.pid, signal.SIGKILL)  # part way: chunks 0 and 1 reported finished
                    break
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
    err.seek(0)
    assert proc.returncode == -signal.SIGKILL, err.read()
    done_before = set(np.flatnonzero(zarr.open_group(store, mode="r")["_scan/done"][:]).tolist())
    assert set(printed) <= done_before and len(done_before) < N_CHUNKS
    assert not open_store(store).attrs["complete"]

    computed = []
    ds = _reference(store, on_chunk=computed.append)  # the same call resumes
    assert sorted(i.index for i in computed) == sorted(set(range(N_CHUNKS)) - done_before)
    xr.testing.assert_identical(ds.load(), reference)  # bit for bit the uninterrupted scan
    again = []
    _reference(store, on_chunk=again.append)
    assert again == []


def test_resume_with_different_definition_is_refused(tmp_path):
    path = tmp_path / "s.zarr"
    _reference(path)
    with pytest.raises(ScanDefinitionError, match=r"grid values of axis 'mu_u' differ"):
        scan("classical", {**W.GRID, "mu_u": [0.5, 1.0]}, W.FIXED, outputs=W.OUTPUTS, store=path,
             progress=False)  # fmt: skip
    with pytest.raises(ScanDefinitionError, match=r"fixed T_l: store has 0.02, this call 0.03"):
        scan("classical", W.GRID, {**W.FIXED, "T_l": 0.03}, outputs=W.OUTPUTS, store=path, progress=False)
    with pytest.raises(ScanDefinitionError, match="outputs"):
        scan("classical", W.GRID, W.FIXED, outputs=["rate"], store=path, progress=False)
    with pytest.raises(ScanDefinitionError, match="chunks of shape"):
        scan("classical", W.GRID, W.FIXED, outputs=W.OUTPUTS, chunk_size=3, store=path, progress=False)
    # chunk_size=None on resume takes the store's layout
    assert _reference(path).attrs["chunk_shape"] == [2, 5]
    # the refused calls did not touch the store; overwrite=True starts over
    ds = scan("classical", W.GRID, W.FIXED, outputs=["rate"], store=path, progress=False, overwrite=True)
    assert list(ds.data_vars) != W.OUTPUTS and "rate" in ds
    # a directory that is not a scan store is never written into
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.txt").write_text("mine")
    with pytest.raises(ScanDefinitionError, match="not a Zarr store"):
        _reference(other)
    zarr.open_group(tmp_path / "plain.zarr", mode="w")
    with pytest.raises(ScanDefinitionError, match="not a jaxtls scan store"):
        _reference(tmp_path / "plain.zarr")


# ---------------------------------------------------------------------------------------------
# Devices and processes


def test_sharded_over_four_host_devices(tmp_path, reference):
    a, b = tmp_path / "four.zarr", tmp_path / "one.zarr"
    res = subprocess.run(
        [sys.executable, str(WORKER), "devices", str(a), str(b)], capture_output=True, text=True,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"), timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "DEVICES 4" in res.stdout
    four, one = res.stdout.split("SINGLE")
    chunks4 = _chunk_lines(four)
    assert sorted(c[0] for c in chunks4) == list(range(N_CHUNKS))
    for _, _, shards, traces in chunks4:  # every device got an equal share of every chunk
        assert sorted(d for d, _ in shards) == [0, 1, 2, 3] and {n for _, n in shards} == {3}
        assert traces == 1  # 10-point blocks padded to 12 = 4 x 3: one compilation
    assert all(len(s) == 1 for _, _, s, _ in _chunk_lines(one))
    ds4, ds1 = open_store(a).load(), open_store(b).load()
    xr.testing.assert_allclose(ds4, ds1, rtol=1e-12, atol=1e-15)
    xr.testing.assert_allclose(ds4, reference, rtol=1e-12, atol=1e-15)
    assert ds4.attrs["scan_hash"] == reference.attrs["scan_hash"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_jax_distributed(tmp_path, reference):
    """Two processes (coordinator on 127.0.0.1), each with two CPU devices: 2 hosts x 2 devices."""
    store, port = tmp_path / "dist.zarr", _free_port()
    env = _env(XLA_FLAGS="--xla_force_host_platform_device_count=2")
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "distributed", str(store), str(port), str(pid), "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for pid in (0, 1)
    ]
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=150))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "PROCESS 0 OF 2" in outs[0][0] and "PROCESS 1 OF 2" in outs[1][0]
    by_process = [_chunk_lines(out) for out, _ in outs]
    for pid, chunks in enumerate(by_process):  # disjoint assignment: chunk c -> process c % 2
        assert sorted(c[0] for c in chunks) == [c for c in range(N_CHUNKS) if c % 2 == pid]
        assert all(c[1] == pid for c in chunks)
        for _, _, shards, traces in chunks:  # sharded over this process's two local devices
            assert len({d for d, _ in shards}) == 2 and {n for _, n in shards} == {5} and traces == 1
    merged = open_store(store).load()
    assert merged.attrs["complete"] and merged.attrs == reference.attrs
    xr.testing.assert_allclose(merged, reference, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# TOML, plots, generic models, errors


CONTRACT_TOML = """\
model = "{model}"            # or "classical", or any model jaxtls registers
store = "results/scan.zarr" # where the results stream to; rerunning resumes
outputs = ["rate", "entropy_production"]
[fixed]
{fixed}
[grid]                      # cartesian product, in this order
mu_u = {{start = 0.5, stop = 1.5, num = {num}}}
{second} = [0.95, 1.0, 1.05]
"""


def _toml_fixed(d):
    return "\n".join(f"{k} = {v!r}" for k, v in d.items())


def test_toml_contract_form(tmp_path):
    fixed = {k: v for k, v in W.FIXED.items() if k != "mu_u"}
    path = tmp_path / "scan.toml"
    path.write_text(CONTRACT_TOML.format(model="classical", fixed=_toml_fixed(fixed), num=9, second="omega"))
    ds = scan_from_toml(path, progress=False)
    assert (tmp_path / "results" / "scan.zarr" / "zarr.json").is_file()  # relative to the TOML file
    assert ds["rate"].dims == ("mu_u", "omega") and dict(ds.sizes) == {"mu_u": 9, "omega": 3}
    np.testing.assert_allclose(ds["mu_u"], np.linspace(0.5, 1.5, 9))
    np.testing.assert_array_equal(ds["omega"], [0.95, 1.0, 1.05])
    r = jt.solve_classical(mu_u=ds["mu_u"].values[:, None], omega=ds["omega"].values, **fixed)
    np.testing.assert_allclose(ds["entropy_production"], r.entropy_production, rtol=1e-12, atol=1e-15)
    calls = []
    scan_from_toml(path, progress=False, on_chunk=calls.append)  # rerun: resumes, nothing left
    assert calls == []
    # log ranges and zipped axes in TOML
    path2 = tmp_path / "zip.toml"
    path2.write_text(
        'model = "classical"\noutputs = ["rate"]\nchunk_size = 4\n[fixed]\n'
        + _toml_fixed({**{k: v for k, v in fixed.items() if k not in ("T_u", "eps")}, "mu_u": 1.0})
        + "\n[grid]\nT_u = {start = 0.01, stop = 1.0, num = 3, log = true}\n"
        "[zip.line]\nomega = [0.9, 1.1]\neps = [0.01, 0.02]\n"
    )
    ds2 = scan_from_toml(path2, progress=False)
    assert ds2["rate"].dims == ("T_u", "line")
    np.testing.assert_allclose(ds2["T_u"], [0.01, 0.1, 1.0])
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "classical"\nstroe = "x.zarr"\n[grid]\nmu_u = [1.0]\n')
    with pytest.raises(ValueError, match="unknown key"):
        scan_from_toml(bad)


def test_toml_contract_form_cavity(tmp_path):
    fixed = dict(E_u=1.0, E_l=0.0, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02, mu_l=0.1,
                 T_u=0.02, T_l=0.02, T_b=0.05, n_max=6)  # fmt: skip
    path = tmp_path / "cavity.toml"
    path.write_text(CONTRACT_TOML.format(model="cavity", fixed=_toml_fixed(fixed), num=4, second="omega_cav"))
    ds = scan_from_toml(path, progress=False)
    assert ds["rate"].dims == ("mu_u", "omega_cav") and int(ds["n_max"]) == 6
    r = jt.solve_cavity(mu_u=ds["mu_u"].values[:, None], omega_cav=ds["omega_cav"].values, **fixed)
    np.testing.assert_allclose(ds["rate"], r.rate, rtol=1e-10, atol=1e-15)
    assert bool(ds["ok"].all())
    with pytest.raises(ValueError, match="n_max"):  # static: fixed only
        fixed_no_n = {k: v for k, v in fixed.items() if k != "n_max"}
        scan("cavity", {"n_max": [4, 8]}, {**fixed_no_n, "mu_u": 1.0, "omega_cav": 1.0}, progress=False)


TOML_IMPORT = """\
model = "{model}"
store = "{store}"
outputs = ["s"]
[fixed]
{fixed}
[grid]
x = [1.0, 2.0, 3.0]
"""


def test_toml_model_import_is_refused_unless_allowed(tmp_path, monkeypatch, capsys):
    """Issue 16 item 7: a scan file naming ``package.module:function`` runs nothing (no import,
    no call, no store) unless the caller opts in; registered names always work."""
    import subprocess as sp

    from jaxtls._models import registry
    from jaxtls._workflows.cli import main

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    calls = []
    monkeypatch.setattr(sp, "run", lambda *a, **k: calls.append((a, k)))
    mods, marker = tmp_path / "mods", tmp_path / "imported.txt"
    mods.mkdir()
    (mods / "jaxtls_test_evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n\ndef fn(**kw):\n    raise SystemExit('ran')\n"
    )
    (mods / "jaxtls_test_harmless.py").write_text("def toy(*, x, y=1.0):\n    return {'s': x * y}\n")
    monkeypatch.syspath_prepend(str(mods))
    bad = tmp_path / "bad.toml"
    for model, fixed in [("subprocess:run", 'args = "touch pwned"\nshell = true'), ("jaxtls_test_evil:fn", "y = 1.0")]:
        bad.write_text(TOML_IMPORT.format(model=model, store="bad.zarr", fixed=fixed))
        with pytest.raises(ScanDefinitionError, match=r"refused .*allow_import=True.*--allow-import"):
            scan_from_toml(bad, progress=False)
        with pytest.raises(ScanDefinitionError, match="not a registered model name"):
            jt.load_scan_config(bad)
        assert main(["scan", "--no-progress", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("jaxtls: error: model ") and "refused" in err and len(err.splitlines()) == 1
    assert calls == [] and not marker.exists() and "jaxtls_test_evil" not in sys.modules
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "mods"]  # no store, nothing run

    # opted in: a harmless importable function runs, from Python and from the command line
    good = tmp_path / "good.toml"
    good.write_text(TOML_IMPORT.format(model="jaxtls_test_harmless:toy", store="good.zarr", fixed="y = 2.0"))
    ds = scan_from_toml(good, progress=False, allow_import=True)
    np.testing.assert_array_equal(ds["s"], [2.0, 4.0, 6.0])
    assert ds.attrs["model"] == "jaxtls_test_harmless:toy"
    assert main(["scan", "--allow-import", "--no-progress", str(good)]) == 0  # finished: nothing recomputed
    assert "good.zarr" not in capsys.readouterr().err

    # a registered name needs no opt-in; a Python caller may still pass the string on purpose
    import jaxtls_test_harmless

    register_model("toml_toy", jaxtls_test_harmless.toy, parameters=("x", "y"))
    named = tmp_path / "named.toml"
    named.write_text(TOML_IMPORT.format(model="toml_toy", store="named.zarr", fixed="y = 3.0"))
    np.testing.assert_array_equal(scan_from_toml(named, progress=False)["s"], [3.0, 6.0, 9.0])
    np.testing.assert_array_equal(
        scan("jaxtls_test_harmless:toy", {"x": [1.0]}, outputs="s", progress=False)["s"], [1.0]
    )
    assert calls == []


def test_plot_store(tmp_path, reference):
    path = tmp_path / "p.zarr"
    _reference(path)
    for kwargs, name in [
        (dict(output="rate"), "curves.png"),  # 11 x 5: one curve per omega
        (dict(output="entropy_production", x="omega", y="mu_u"), "map.pdf"),
        (dict(output="particle_current.u", sel=["omega=1.0"]), "line.png"),
        (dict(output="ok", sel={"mu_u": 1.0}), "ok.png"),
    ]:
        out = plot_store(path, out_file=tmp_path / name, **kwargs)
        assert out.is_file() and out.stat().st_size > 1000
    assert plot_store(path, "rate") == tmp_path / "p-rate.png" and (tmp_path / "p-rate.png").is_file()
    with pytest.raises(ValueError, match="not in the store"):
        plot_store(path, "nope", tmp_path / "x.png")


def test_generic_callable_and_registered_model():
    def toy(*, x, y, scale=1.0, mode="sum"):
        s = scale * (x + y) if mode == "sum" else scale * x * y
        return {"s": s, "v": jnp.stack([x, y * jnp.ones_like(x)], axis=-1), "c": jnp.asarray(3.0)}

    ds = scan(toy, {"x": [1.0, 2.0, 3.0], "y": [10.0, 20.0]}, {"scale": 2.0}, outputs=["s", "v", "c"],
              progress=False)  # fmt: skip
    np.testing.assert_array_equal(ds["s"], 2.0 * (np.array([1, 2, 3])[:, None] + np.array([10, 20])))
    assert ds["v"].dims == ("x", "y", "v_dim_0") and ds["v"].shape == (3, 2, 2)
    np.testing.assert_array_equal(ds["c"], 3.0)
    assert "ok" not in ds  # no check declared for an unregistered callable
    register_model("toy_product", toy, parameters=("x", "y"))
    ds2 = scan("toy_product", {"x": [1.0, 2.0], "y": [3.0]}, {"mode": "product"}, outputs="s", progress=False)
    np.testing.assert_array_equal(ds2["s"], [[3.0], [6.0]])
    assert ds2.attrs["model"] == "toy_product"
    with pytest.raises(ValueError, match="cannot scan"):
        scan("toy_product", {"x": [1.0], "scale": [1.0, 2.0]}, {"y": 1.0}, outputs="s", progress=False)


def test_bad_input_is_refused_up_front():
    with pytest.raises(ValueError, match="not in the model result.*available"):
        scan("classical", {"mu_u": [1.0]}, {**W.FIXED, "omega": 1.0}, outputs=["rat"], progress=False)
    with pytest.raises(ValueError, match="missing parameter"):
        scan("classical", {"mu_u": [1.0]}, W.FIXED, progress=False)
    with pytest.raises(ValueError, match="no parameter"):
        scan("classical", {"mu_u": [1.0], "omega": [1.0], "bogus": [1.0]}, W.FIXED, progress=False)
    with pytest.raises(jt.ParameterError, match="T_l"):
        scan("classical", {"mu_u": [1.0], "omega": [1.0], "T_l": [0.1, -1.0]},
             {k: v for k, v in W.FIXED.items() if k != "T_l"}, progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="both on the grid and fixed"):
        scan("classical", {"mu_u": [1.0], "omega": [1.0], "E_u": [1.0]}, W.FIXED, progress=False)
    with pytest.raises(ValueError, match="different lengths"):
        scan(
            "classical",
            {"mu_u": [1.0]},
            W.FIXED,
            zip={"l": {"omega": [1.0, 2.0], "T_u": [0.1]}},
            progress=False,
        )
    with pytest.raises(ValueError, match="unknown model"):
        scan("nope", {"mu_u": [1.0]}, progress=False)
    with pytest.raises(ValueError, match="start, stop, num"):
        scan("classical", {"mu_u": {"start": 0.0, "num": 3}}, W.FIXED, progress=False)


def test_progress_bar_shows_rate_and_eta(capsys):
    scan("classical", W.GRID, W.FIXED, chunk_size=W.CHUNK_SIZE, progress=True)
    err = capsys.readouterr().err
    assert "pt/s" in err and "55" in err and "<" in err  # tqdm: points per second and ETA


# ---------------------------------------------------------------------------------------------
# Bad input: empty axes, non-writable store paths, damaged stores


def _files(path):
    """Every file of a store: relative path -> (bytes, modification time in ns)."""
    return {
        f.relative_to(path).as_posix(): (f.read_bytes(), f.stat().st_mtime_ns)
        for f in sorted(Path(path).rglob("*"))
        if f.is_file()
    }


def _stop(info):
    raise RuntimeError("stop here")


def _counting_model(calls):
    def toy(*, x, y=1.0):
        calls.append(1)  # runs when the model is traced (or called): any work at all
        return {"s": x * y}

    return toy


def test_empty_axes_are_refused(tmp_path):
    fixed = {k: v for k, v in W.FIXED.items() if k != "T_u"}
    store = tmp_path / "empty.zarr"
    for grid, zip_, match in [
        ({"mu_u": [], "omega": [1.0]}, None, r"grid entry 'mu_u' must be a non-empty"),
        ({"mu_u": [1.0], "omega": np.array([])}, None, r"grid entry 'omega' must be a non-empty"),
        ({"mu_u": {"start": 0.5, "stop": 1.5, "num": 0}, "omega": [1.0]}, None, r"'mu_u': num must be .* >= 1"),
        ({"mu_u": [1.0]}, {"line": {"omega": [], "T_u": []}}, r"zipped axis 'line': grid entry 'omega'"),
        ({"mu_u": [1.0]}, {"line": {}}, r"zipped axis 'line' is empty"),
        ({"mu_u": [1.0], "line": {"omega": [1.0], "T_u": []}}, None, r"zipped axis 'line': grid entry 'T_u'"),
        ({}, None, r"the grid is empty"),
    ]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            scan("classical", grid, fixed, zip=zip_, store=store, progress=False)
    assert not store.exists()  # refused before the store was created


def test_store_under_a_file_is_refused_before_any_work(tmp_path):
    calls = []
    toy = _counting_model(calls)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    for store in (blocker / "s.zarr", blocker / "deeper" / "s.zarr"):
        with pytest.raises(NotADirectoryError) as info:
            scan(toy, {"x": [1.0, 2.0]}, outputs="s", store=store, progress=False)
        msg = str(info.value)
        assert f"cannot create the scan store {str(store)!r}" in msg
        assert f"{str(blocker)!r} is a file, not a directory" in msg and "nothing was computed" in msg
    assert calls == [] and blocker.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no temporary left behind


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="running as root: directory permissions (chmod 0o500) do not stop root from writing",
)
def test_read_only_directory_is_refused_before_any_work(tmp_path):
    calls = []
    toy = _counting_model(calls)
    ro, partial = tmp_path / "ro", tmp_path / "partial.zarr"
    ro.mkdir()
    with pytest.raises(RuntimeError, match="stop here"):  # chunk 0 finished, chunks 1, 2 not
        scan(toy, {"x": [1.0, 2.0, 3.0]}, outputs="s", chunk_size=1, store=partial, progress=False,
             on_chunk=_stop)  # fmt: skip
    before = _files(partial)
    os.chmod(ro, 0o500)
    os.chmod(partial, 0o500)
    try:
        calls.clear()
        new = ro / "s.zarr"
        with pytest.raises(PermissionError, match=re.escape(f"cannot create the scan store {str(new)!r}")):
            scan(toy, {"x": [1.0, 2.0]}, outputs="s", store=new, progress=False)
        with pytest.raises(PermissionError, match=re.escape(f"cannot write into the scan store {str(partial)!r}")):
            scan(toy, {"x": [1.0, 2.0, 3.0]}, outputs="s", chunk_size=1, store=partial, progress=False)
        assert calls == [] and list(ro.iterdir()) == []
    finally:
        os.chmod(ro, 0o700)
        os.chmod(partial, 0o700)
    assert _files(partial) == before


def test_unwritable_existing_store_is_refused_before_any_work(tmp_path, monkeypatch):
    """Resuming into a store that cannot be written fails before any work (simulated: the test
    may run as root, whom permissions do not stop)."""
    calls = []
    toy = _counting_model(calls)
    store = tmp_path / "partial.zarr"
    with pytest.raises(RuntimeError, match="stop here"):  # chunk 0 finished, chunks 1, 2 not
        scan(toy, {"x": [1.0, 2.0, 3.0]}, outputs="s", chunk_size=1, store=store, progress=False, on_chunk=_stop)
    assert zarr.open_group(store, mode="r")["_scan/done"][:].tolist() == [1, 0, 0]
    before = _files(store)

    def refuse(directory):
        if Path(directory) == store / "s":
            raise PermissionError(13, "Permission denied")
        os.rmdir(tempfile.mkdtemp(dir=directory))

    monkeypatch.setattr(_store, "_probe_writable", refuse)
    calls.clear()
    with pytest.raises(PermissionError) as info:
        scan(toy, {"x": [1.0, 2.0, 3.0]}, outputs="s", chunk_size=1, store=store, progress=False)
    msg = str(info.value)
    assert f"cannot write into the scan store {str(store)!r}: {str(store / 's')!r} is not writable" in msg
    assert "Permission denied" in msg and "nothing was computed" in msg
    assert calls == [] and _files(store) == before


def test_corrupted_chunks_are_refused_then_recomputed_alone(tmp_path, reference_store, reference):
    store = tmp_path / "damaged.zarr"
    shutil.copytree(reference_store, store)
    intact = _files(store)
    (store / "rate/c/2/0").write_bytes(b"garbage, not a zstd frame")  # cannot be decoded
    shutil.copyfile(store / "entropy_production/c/0/0", store / "entropy_production/c/4/0")  # wrong values
    with open(store / "particle_current.u/c/5/0", "r+b") as f:  # truncated (last, partial chunk)
        f.truncate(5)
    (store / "_scan/done/c/1").write_bytes(b"\x07")  # a finished marker that cannot be read
    damaged = {1, 2, 4, 5}
    before = _files(store)

    with pytest.raises(CorruptChunkError) as info:
        _reference(store)
    msg = str(info.value)
    assert isinstance(info.value, ScanDefinitionError) and f"{str(store)!r} has 4 damaged finished chunk(s)" in msg
    assert "chunk 1 (mu_u[2:4], omega[0:5]): its finished marker (_scan/done) cannot be read" in msg
    assert re.search(r"chunk 2 \(mu_u\[4:6\], omega\[0:5\]\): output 'rate' cannot be read \(file rate/c/2/0: ", msg)
    assert "chunk 4 (mu_u[8:10], omega[0:5]): output 'entropy_production' does not match the checksum" in msg
    assert "chunk 5 (mu_u[10:11], omega[0:5]): output 'particle_current.u' cannot be read" in msg
    assert "chunk 0 " not in msg and "chunk 3 " not in msg
    assert "recompute_corrupted=True" in msg and "nothing was written" in msg
    assert _files(store) == before  # refused: nothing written, nothing lost

    computed = []
    with pytest.warns(UserWarning, match=r"recomputing 4 damaged chunk\(s\)"):
        ds = _reference(store, recompute_corrupted=True, on_chunk=computed.append)
    assert sorted(i.index for i in computed) == sorted(damaged)
    xr.testing.assert_identical(ds.load(), reference)
    after = _files(store)
    chunk_file = re.compile(r"^(?:.*/)?c/(\d+)(?:/0)?$")
    kept = [n for n in intact if chunk_file.match(n) and int(chunk_file.match(n).group(1)) not in damaged]
    assert len(kept) >= 10  # outputs, ok, done and checksums of chunks 0 and 3
    for name in kept:
        assert after[name] == intact[name], name  # same bytes, never rewritten (same mtime)
    again = []
    _reference(store, on_chunk=again.append)  # repaired: verified clean, nothing recomputed
    assert again == []


# ---------------------------------------------------------------------------------------------
# Issue 16: every value of a scan definition checked before any work, one-line errors


def _no_allocation(monkeypatch):
    """Fail the test if a grid coordinate or the in-memory outputs are allocated."""
    for name in ("linspace", "geomspace", "full"):
        real = getattr(np, name)

        def guard(*args, _real=real, _name=name, **kwargs):
            size = args[2] if _name in ("linspace", "geomspace") and len(args) > 2 else kwargs.get("num", 0)
            if _name == "full":
                size = math.prod(np.atleast_1d(args[0]))
            if size > 10**8:
                raise AssertionError(f"np.{_name} of {size} values: allocated before the size check")
            return _real(*args, **kwargs)

        monkeypatch.setattr(np, name, guard)


def test_grid_too_large_is_refused_naming_the_axis_before_any_allocation(tmp_path, monkeypatch):
    """``num = 1e12`` (TOML float or int) and a 1e6 x 1e6 grid: `ScanDefinitionError` naming the
    axis and the size (formerly a raw MemoryError, or a 1e12-point scan that started)."""
    fixed = {k: v for k, v in W.FIXED.items() if k != "mu_u"}
    _no_allocation(monkeypatch)
    calls = []
    toy = _counting_model(calls)
    for num in ("1e12", "1000000000000"):
        path = tmp_path / f"huge{len(num)}.toml"
        path.write_text(
            f'model = "classical"\nstore = "huge.zarr"\n[fixed]\n{_toml_fixed(fixed)}\n'
            f"[grid]\nmu_u = {{start = 0.0, stop = 1.0, num = {num}}}\nomega = [1.0]\n"
        )
        with pytest.raises(ScanDefinitionError, match=r"grid axis 'mu_u' with num = 1000000000000 values would need"):
            scan_from_toml(path, progress=False)
    big = {"start": 0.0, "stop": 1.0, "num": 10**6}
    for store in (None, tmp_path / "two.zarr"):
        with pytest.raises(ScanDefinitionError) as info:
            scan(toy, {"x": big, "y": big}, outputs="s", store=store, progress=False)
        msg = str(info.value)
        assert "a grid of 1000000000000 points (x: 1000000 x y: 1000000; largest axis 'x'" in msg
        assert ("of memory" if store is None else "of disk space") in msg and "TiB" in msg
    # an explicit chunk of 10^11 points cannot fit either (a lower bound: its parameters and outputs)
    with pytest.raises(ScanDefinitionError, match=r"a grid of 100000000000 points .*of memory"):
        scan(toy, {"x": {"start": 0.0, "stop": 1.0, "num": 10**5}, "y": big}, outputs="s", store=tmp_path / "c.zarr",
             chunk_size=10**11, progress=False)  # fmt: skip
    assert calls == [] and sorted(p.name for p in tmp_path.iterdir()) == ["huge13.toml", "huge4.toml"]


@pytest.mark.parametrize(
    "text, match",
    [
        ("model = \n[[[", r"invalid TOML \(Invalid value \(at line 1, column 9\)\)"),
        ("x = " + "[" * 20000 + "]" * 20000, r"invalid TOML \(nested too deeply to be read\)"),
        ('model = "classical"\n[grid]\nmu_u = ' + "[" * 5000 + "]" * 5000, r"nested too deeply"),
        (b"\xff\xfe\x00 not text", r"not a TOML file \(not UTF-8 text"),
        ("model = 3\n[grid]\nx = [1.0]", r"model must be a string"),
        ('model = "classical"\ngrid = 3', r"grid must be a table"),
        ('model = "classical"\nfixed = [1]\n[grid]\nmu_u = [1.0]', r"fixed must be a table"),
        ('model = "classical"\nzip = 1\n[grid]\nmu_u = [1.0]', r"zip must be a table"),
        ('model = "classical"\nstore = 3\n[grid]\nmu_u = [1.0]', r"store must be a path"),
        ('model = "classical"\noutputs = []\n[grid]\nmu_u = [1.0]', r"outputs must be a non-empty list"),
        ('model = "classical"\noutputs = [1]\n[grid]\nmu_u = [1.0]', r"outputs must be a list of result field names"),
        ('model = "classical"\noutputs = {a = 1}\n[grid]\nmu_u = [1.0]', r"outputs must be a list"),
        ('model = "classical"\nchunk_size = 1.5\n[grid]\nmu_u = [1.0]', r"chunk_size must be a positive integer"),
        ('model = "classical"\nchunk_size = "4"\n[grid]\nmu_u = [1.0]', r"chunk_size must be a positive integer"),
        ('model = "classical"\nchunk_size = 0\n[grid]\nmu_u = [1.0]', r"chunk_size must be a positive integer"),
        ('model = "classical"\nchunk_size = inf\n[grid]\nmu_u = [1.0]', r"chunk_size must be a positive integer"),
        ('model = "classical"\ndevices = "gpu"\n[grid]\nmu_u = [1.0]', r"devices must be a device count"),
        ('model = "classical"\ndevices = 0.5\n[grid]\nmu_u = [1.0]', r"devices must be a device count"),
        ('model = "classical"\ndistributed = 3\n[grid]\nmu_u = [1.0]', r"distributed must be true, false or a table"),
    ],
)
def test_bad_toml_file_gives_one_line_scan_definition_error(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(ScanDefinitionError, match=match) as info:
        scan_from_toml(path, progress=False)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


FIXED_NO_MU = {k: v for k, v in W.FIXED.items() if k != "mu_u"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(grid={"mu_u": {"start": "a", "stop": 1.0, "num": 3}}), r"grid entry 'mu_u': start must be a finite real"),
        (dict(grid={"mu_u": {"start": 0.0, "stop": float("nan"), "num": 3}}), r"'mu_u': stop must be a finite real"),
        (dict(grid={"mu_u": {"start": 0.0, "stop": 10**400, "num": 3}}), r"'mu_u': stop must be a finite real"),
        (dict(grid={"mu_u": {"start": 0.0, "stop": 1.0, "num": 2.5}}), r"'mu_u': num must be an integer >= 1, got 2.5"),
        (dict(grid={"mu_u": {"start": 0.0, "stop": 1.0, "num": True}}), r"'mu_u': num must be an integer"),
        (dict(grid={"mu_u": {"start": 1.0, "stop": 2.0, "num": 3, "log": "yes"}}), r"'mu_u': log must be true or"),
        (dict(grid={"mu_u": [0.5, float("inf")]}), r"grid entry 'mu_u' must hold finite numbers, got inf"),
        (dict(grid={"mu_u": [0.5, "a"]}), r"grid entry 'mu_u' must hold numbers"),
        (dict(grid={"mu_u": "0.5"}), r"grid entry 'mu_u' must be a non-empty 1-D list"),
        (dict(grid={"mu_u": None}), r"grid entry 'mu_u' must be a non-empty 1-D list"),
        (dict(grid={"mu_u": [[0.5], [1.0, 2.0]]}), r"grid entry 'mu_u': cannot convert"),
        (dict(grid=[("mu_u", [1.0])]), r"grid must be a mapping"),
        (dict(grid={1: [1.0]}), r"grid names must be non-empty strings"),
        (dict(zip=[1]), r"zip must be a mapping"),
        (dict(fixed=[1, 2]), r"fixed must be a mapping"),
        (dict(fixed={**FIXED_NO_MU, "E_u": float("nan")}), r"fixed parameter 'E_u' must be finite, got nan"),
        (dict(fixed={**FIXED_NO_MU, "E_u": "1.0"}), r"fixed parameter 'E_u' must be a number, got '1.0'"),
        (dict(fixed={**FIXED_NO_MU, "E_u": None}), r"fixed parameter 'E_u' must be a number, got None"),
        (dict(fixed={**FIXED_NO_MU, "E_u": True}), r"fixed parameter 'E_u' must be a number, got True"),
        (dict(fixed={**FIXED_NO_MU, "E_u": [1.0]}), r"fixed parameter 'E_u' must be a scalar number"),
        (dict(fixed={**FIXED_NO_MU, "E_u": 10**400}), r"fixed parameter 'E_u' must be finite"),
        (dict(fixed={**FIXED_NO_MU, "tol": float("inf")}), r"fixed parameter 'tol' must be finite"),
        (dict(outputs=[]), r"outputs must name at least one result field"),
        (dict(outputs=None), r"outputs must be a list of result field names"),
        (dict(outputs=[1]), r"outputs must be result field names"),
        (dict(outputs=["rate", "rate"]), r"outputs must be distinct"),
        (dict(outputs=["particle_current"]), r"'particle_current' is a dict of outputs; name its entries"),
        (dict(chunk_size=1.5), r"chunk_size must be a positive integer"),
        (dict(chunk_size="4"), r"chunk_size must be a positive integer"),
        (dict(chunk_size=True), r"chunk_size must be a positive integer"),
        (dict(devices=1.5), r"devices must be None, a count >= 1"),
        (dict(devices="cpu"), r"devices must be None, a count >= 1"),
        (dict(devices=[0]), r"non-empty list of JAX devices"),
        (dict(devices=[]), r"non-empty list of JAX devices"),
        (dict(store=3), r"store must be a path"),
        (dict(store=""), r"store must be a path"),
        (dict(progress="yes"), r"progress must be True or False"),
        (dict(overwrite=1), r"overwrite must be True or False"),
        (dict(check=None), r"check must be True or False"),
        (dict(verify="no"), r"verify must be True or False"),
        (dict(recompute_corrupted="no"), r"recompute_corrupted must be True or False or None"),
        (dict(on_chunk=3), r"on_chunk must be a callable"),
        (dict(distributed="yes"), r"distributed must be True, False, None or a dict"),
        (dict(model=None), r"model must be a registered name .* a ModelSpec or a callable"),
        (dict(model=3), r"model must be a registered name"),
    ],
)
def test_bad_scan_argument_is_refused_naming_it_before_any_work(tmp_path, kwargs, match):
    """Wrong types, non-numeric and non-finite values in grid, fixed, outputs, chunk_size,
    devices, store and the flags: a `ValueError` (`ScanDefinitionError` / `ParameterError`)
    naming the argument, nothing traced or written (formerly: TypeError, AttributeError, raw
    conversion errors, or accepted: ``log = "yes"``, NaN values of a model without rules)."""
    store = tmp_path / "s.zarr"
    args = dict(model="classical", grid={"mu_u": [0.5, 1.0], "omega": [1.0]}, fixed=FIXED_NO_MU, outputs=["rate"],
                store=store, progress=False)  # fmt: skip
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        scan(**args)
    assert not store.exists() and list(tmp_path.iterdir()) == []


def test_non_finite_grid_values_are_refused_for_a_model_without_rules():
    calls = []
    toy = _counting_model(calls)
    for grid in ({"x": [1.0, float("nan")]}, {"x": {"start": 0.0, "stop": float("inf"), "num": 2}}):
        with pytest.raises(ScanDefinitionError, match="grid entry 'x'"):
            scan(toy, grid, outputs="s", progress=False)
    with pytest.raises(ScanDefinitionError, match="fixed parameter 'y' must be finite"):
        scan(toy, {"x": [1.0]}, {"y": float("-inf")}, outputs="s", progress=False)
    assert calls == []
    # integral floats (TOML writes 1e3) are counts; the same scan as with integers
    ds = scan(toy, {"x": {"start": 0.0, "stop": 1.0, "num": 3.0}}, outputs="s", chunk_size=2.0, progress=False)
    np.testing.assert_array_equal(ds["x"], [0.0, 0.5, 1.0])
