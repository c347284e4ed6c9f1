"""Scan machinery overhead: `jaxtls.scan` of the cavity model versus the bare batched solve.

A cavity scan (Model B, ``n_max = 20`` by default) on an ``n1 x n2`` grid over ``mu_u`` and
``omega_cav`` (``n1 * n2 ~ --points``, default 10^6 = 1000 x 1000), all other parameters fixed,
streamed to a Zarr store in a temporary directory, is timed end to end: the `scan` call from
argument checks to the returned dataset (model probing, store creation, one compilation, every
chunk computed, copied back, written and marked finished, the dataset opened).

Side by side in the same run, the **bare batched solve** of the same points: the same model call
(`solve_cavity` with the same outputs and the same trust flag ``ok``) jitted directly, on the same
chunks (the block layout the scan chose, the last block padded the same way, the same device
sharding), every chunk dispatched asynchronously and the results copied to host NumPy arrays at the
end: no store, no bookkeeping, no progress bar. Each repetition builds a fresh ``jax.jit`` so that
both sides pay one tracing and compilation. Scan and bare runs alternate (``--repeats`` each) and the
medians are compared: ``overhead = scan time / bare time - 1`` (issue 7 asks for <= 10%).

Timings on a shared CPU are noisy (other processes compete for the cores): compare medians from
the same run, and rerun when the spread is large.

Run: ``python benchmarks/bench_scan.py [--points 1000000] [--n-max 20] [--repeats 3]
[--chunk-size N] [--no-progress] [--keep DIR]``; ``--points 100000`` for a quick check.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls as jt  # noqa: E402

FIXED = dict(E_u=1.0, E_l=0.0, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02, mu_l=0.1,
             T_u=0.02, T_l=0.02, T_b=0.05)  # fmt: skip
OUTPUTS = ["rate", "entropy_production"]
FOCK_TOL = 1e-8  # solve_cavity's default: the scan's ok flag is diagnostics.ok & fock_tail <= fock_tol


def grid_axes(points: int) -> tuple[np.ndarray, np.ndarray]:
    n1 = max(1, math.isqrt(points))
    n2 = max(1, -(-points // n1))
    return np.linspace(0.5, 1.5, n1), np.linspace(0.95, 1.05, n2)


def run_scan(mu, wc, n_max, store, chunk_size, progress):
    t0 = time.perf_counter()
    ds = jt.scan("cavity", {"mu_u": mu, "omega_cav": wc}, {**FIXED, "n_max": n_max}, outputs=OUTPUTS,
                 chunk_size=chunk_size, store=store, progress=progress)  # fmt: skip
    seconds = time.perf_counter() - t0
    return seconds, ds


def run_bare(mu, wc, n_max, block, devices):
    """The same model call on the same (padded) chunks, jitted directly; results to host."""
    import jax.numpy as jnp

    t0 = time.perf_counter()
    fixed = {**FIXED, "n_max": n_max}

    def solve(mu_u, omega_cav):
        r = jt.solve_cavity(mu_u=mu_u, omega_cav=omega_cav, **fixed)
        ok = jnp.asarray(r.diagnostics.ok, bool) & (r.fock_tail <= FOCK_TOL)
        return r.rate, r.entropy_production, ok

    ndev = len(devices)
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    fn = jax.jit(solve, in_shardings=sharding, out_shardings=sharding)  # fresh: traced and compiled once here
    (n1, n2), (b1, b2) = (len(mu), len(wc)), block
    padded = -(-(b1 * b2) // ndev) * ndev
    pending = []
    for i in range(0, n1, b1):
        for j in range(0, n2, b2):
            m, w = np.meshgrid(mu[i : i + b1], wc[j : j + b2], indexing="ij")
            n = m.size
            m, w = (np.pad(a.ravel(), (0, padded - n), mode="edge") for a in (m, w))
            out = fn(jax.device_put(m, sharding), jax.device_put(w, sharding))  # asynchronous
            pending.append((n, out))
    host = [[np.asarray(v)[:n] for v in out] for n, out in pending]
    seconds = time.perf_counter() - t0
    return seconds, host


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10**6, help="grid points (n1 x n2 ~ points); default 10^6")
    ap.add_argument("--n-max", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="scan and bare runs each (alternating); medians")
    ap.add_argument("--chunk-size", type=int, default=None, help="scan chunk_size (default: automatic)")
    ap.add_argument("--no-progress", action="store_true", help="scan without the tqdm bar")
    ap.add_argument("--keep", type=Path, default=None, help="write the stores here instead of a temp dir")
    args = ap.parse_args()
    if args.points < 1 or args.repeats < 1:
        ap.error("--points and --repeats must be >= 1")

    mu, wc = grid_axes(args.points)
    total = mu.size * wc.size
    devices = jax.local_devices()
    root = args.keep or Path(tempfile.mkdtemp(prefix="jaxtls-bench-scan-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"# cavity scan, n_max = {args.n_max}, grid {mu.size} x {wc.size} = {total} points (mu_u x omega_cav), "
        f"outputs {OUTPUTS} + ok, {len(devices)} {jax.default_backend()} device(s), store under {root}",
        flush=True,
    )
    t_start = time.perf_counter()
    scan_t, bare_t, block, n_chunks, ref = [], [], None, None, None
    try:
        for k in range(args.repeats):
            store = root / f"scan-{k}.zarr"
            if store.exists():
                shutil.rmtree(store)
            s, ds = run_scan(mu, wc, args.n_max, store, args.chunk_size, not args.no_progress)
            scan_t.append(s)
            if block is None:
                block, n_chunks = tuple(ds.attrs["chunk_shape"]), int(ds.attrs["n_chunks"])
                ref = ds.load()
            b, host = run_bare(mu, wc, args.n_max, block, devices)
            bare_t.append(b)
            print(f"# repetition {k + 1}: scan {s:.2f} s, bare {b:.2f} s, ratio {s / b - 1:+.1%}", flush=True)
            if k == 0:  # the two paths computed the same numbers
                rate = np.concatenate([h[0] for h in host])
                n1, b1 = mu.size, block[0]
                got = np.concatenate([rate[i : i + b1 * wc.size] for i in range(0, rate.size, b1 * wc.size)])
                diff = float(np.max(np.abs(got.reshape(n1, wc.size) - ref["rate"].values)))
                print(f"# max |rate(scan) - rate(bare)| = {diff:.2e}, failed points: {int((~ref['ok']).sum())}")
            if args.keep is None:
                shutil.rmtree(store, ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    ts, tb = statistics.median(scan_t), statistics.median(bare_t)
    proc = platform.processor() or platform.machine()
    print()
    print(f"| machine | {proc}, {os.cpu_count()} CPUs (shared), jax {jax.__version__}, {jax.default_backend()} |")
    print("|---|---|")
    print(f"| points | {total} ({mu.size} x {wc.size}), n_max = {args.n_max} |")
    print(f"| chunks | {n_chunks} of shape {block} |")
    print(f"| repeats | {args.repeats} (medians) |")
    print(f"| scan | {ts:.2f} s, {total / ts:,.0f} points/s |")
    print(f"| bare batched solve | {tb:.2f} s, {total / tb:,.0f} points/s |")
    print(f"| overhead (scan / bare - 1) | {ts / tb - 1:+.1%} (issue 7: <= 10%) |")
    print(f"| spread scan / bare | {min(scan_t):.2f}-{max(scan_t):.2f} s / {min(bare_t):.2f}-{max(bare_t):.2f} s |")
    print(f"\n# wall time {time.perf_counter() - t_start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
