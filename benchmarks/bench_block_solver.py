"""Block-tridiagonal steady-state solvers side by side: `BlockTridiagonalSolver` (vmapped
per-point block Thomas with LAPACK-style ``jnp.linalg.solve`` on the ``m x m`` blocks) versus
`BatchedBlockSolver` (batch-last lanes, unrolled pivoted elimination, batch chunks).

Jaynes-Cummings cavity sector (``K = n_max + 2`` levels of ``m = 6`` real unknowns), random
coefficient sets near resonance. For every ``(n_max, batch)`` both solvers' ``solve_batch`` are
jit-compiled and run once (compile + warm-up), then timed `--repeats` times on the same blocks
(assembled beforehand, not timed); the table gives the median in microseconds per point, the
speed-up and the max relative difference between the two results. Combinations whose old-solver
run would exceed ``--budget`` seconds (estimated from a smaller batch) are skipped.

Default grid: ``n_max`` in 10, 20, 40, 80 with batches 1, 100, 10^4, plus ``n_max = 1000`` at
batch 100. Timings on a shared CPU are noisy: compare medians from the same run.

Run: ``python benchmarks/bench_block_solver.py [--n-max 10 20 40 80] [--batch 1 100 10000]
[--large 1000:100] [--repeats 5] [--chunk-size 1024] [--no-pivot]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls  # noqa: E402,F401  (float64)
from jaxtls._engine.batched_solver import BatchedBlockSolver  # noqa: E402
from jaxtls._engine.blocks import assemble  # noqa: E402
from jaxtls._engine.operators import boson_annihilator, dag, fermion_annihilators, identity, tensor  # noqa: E402
from jaxtls._engine.sector import LindbladStructure, Sector  # noqa: E402
from jaxtls._engine.solvers import BlockTridiagonalSolver  # noqa: E402


def cavity_sector(nmax):
    cu, cl = fermion_annihilators(2, sparse=True)
    a = boson_annihilator(nmax, sparse=True)
    i4, ib = identity(4, sparse=True), identity(nmax + 1, sparse=True)
    cu_, cl_, a_ = tensor(cu, ib, sparse=True), tensor(cl, ib, sparse=True), tensor(i4, a, sparse=True)
    o = dag(cu_) @ cl_ @ a_
    h = [dag(cu_) @ cu_, dag(cl_) @ cl_, dag(a_) @ a_, o + dag(o), 1j * (o - dag(o))]
    j = [dag(cu_), cu_, dag(cl_), cl_, a_, dag(a_)]
    q = np.real((dag(cu_) @ cu_ + dag(a_) @ a_).diagonal())
    return Sector.build(LindbladStructure(tuple(h), tuple(j), observables=(h[0],), charge=q))


def random_coeffs(n, seed=0):
    """``[E_u, E_l, w_c, Re g, Im g, gu fu, gu (1-fu), gl fl, gl (1-fl), gb (nb+1), gb nb]``."""
    rng = np.random.default_rng(seed)
    gu, gl, gb = (10 ** rng.uniform(-2, -1, n) for _ in range(3))
    fu, fl, nb = rng.uniform(0.1, 0.9, n), rng.uniform(0.1, 0.9, n), rng.uniform(0, 0.5, n)
    wc = 1 + rng.uniform(-3, 3, n) * (gu + gl + gb)
    g = 10 ** rng.uniform(-1.5, 0, n) * (gu + gl + gb) * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    return np.stack(
        [np.ones(n), np.zeros(n), wc, g.real, g.imag, gu * fu, gu * (1 - fu), gl * fl, gl * (1 - fl),
         gb * (nb + 1), gb * nb], axis=1,
    )  # fmt: skip


def timed(fn, blocks, ops, repeats):
    """(compile + first run seconds, median seconds over `repeats`, result)."""
    t0 = time.perf_counter()
    x = jax.block_until_ready(fn(blocks, ops))
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(blocks, ops))
        ts.append(time.perf_counter() - t0)
    return first, float(np.median(ts)), x


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-max", type=int, nargs="+", default=[10, 20, 40, 80])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 100, 10_000])
    ap.add_argument("--large", nargs="*", default=["1000:100"], help="extra n_max:batch pairs")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=1024, help="BatchedBlockSolver chunk_size (0: none)")
    ap.add_argument("--no-pivot", action="store_true", help="BatchedBlockSolver(pivot=False)")
    ap.add_argument("--budget", type=float, default=15.0, help="max estimated seconds per timed run")
    args = ap.parse_args()

    combos = [(n, b) for n in args.n_max for b in args.batch]
    combos += [tuple(int(v) for v in s.split(":")) for s in args.large]
    old = jax.jit(BlockTridiagonalSolver().solve_batch)
    new = jax.jit(BatchedBlockSolver(chunk_size=args.chunk_size or None, pivot=not args.no_pivot).solve_batch)
    build = jax.jit(jax.vmap(assemble, (None, 0)))

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
        f"backend {jax.default_backend()}, repeats {args.repeats}, chunk_size {args.chunk_size or None}, "
        f"pivot {not args.no_pivot}"
    )
    print(
        f"{'n_max':>6} {'K':>5} {'batch':>6} | {'old us/pt':>10} {'new us/pt':>10} {'speed-up':>8} | "
        f"{'max rel diff':>12} | {'compile old/new s':>17}"
    )
    per_point_old: dict[int, float] = {}
    t_start = time.perf_counter()
    for nmax, batch in combos:
        sector = cavity_sector(nmax)
        est = per_point_old.get(nmax, 0.0) * batch
        if est > args.budget:
            print(f"{nmax:>6} {sector.num_levels:>5} {batch:>6} | skipped (estimated {est:.0f} s per run)")
            continue
        blocks = jax.block_until_ready(build(sector.ops, jnp.asarray(random_coeffs(batch))))
        c_old, t_old, x_old = timed(old, blocks, sector.ops, args.repeats)
        c_new, t_new, x_new = timed(new, blocks, sector.ops, args.repeats)
        per_point_old[nmax] = max(per_point_old.get(nmax, 0.0), t_old / batch)
        x_old, x_new = np.asarray(x_old), np.asarray(x_new)
        diff = np.max(np.max(np.abs(x_new - x_old), axis=(1, 2)) / np.max(np.abs(x_old), axis=(1, 2)))
        print(
            f"{nmax:>6} {sector.num_levels:>5} {batch:>6} | {t_old / batch * 1e6:>10.2f} "
            f"{t_new / batch * 1e6:>10.2f} {t_old / t_new:>8.2f} | {diff:>12.2e} | "
            f"{c_old:>8.2f}/{c_new:<8.2f}",
            flush=True,
        )
        del blocks, x_old, x_new
    print(f"# total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
