"""The block-tridiagonal kernel side by side with the dense LU, through the solver interface.

Jaynes-Cummings cavity sector (``K = n_max + 2`` levels of ``m = 6`` real unknowns), random
coefficient sets near resonance. Three ways to the same steady states, each jit-compiled and run
once (compile + warm-up), then timed `--repeats` times:

- ``coeffs``: `BatchedBlockSolver` from the coefficients (``init(ops, c, tangents=False)`` then
  ``solve``: each level's blocks formed when the elimination visits it, batch chunks), the
  production path of `jaxtls.solve_cavity`;
- ``stored``: the same kernel on stored batch-last blocks (`solve_lanes`; the blocks are
  assembled beforehand, not timed);
- ``dense``: `DenseSolver` (lineax LU of the ``K m x K m`` sector matrix), the reference.

The table gives the median in microseconds per point and the max relative difference of the
kernel to the dense solve. Dense runs whose estimated time (from a smaller batch) exceeds
``--budget`` seconds are skipped (the difference is then taken against ``stored``). Timings on a
shared CPU are noisy: compare medians from the same run.

Default grid: ``n_max`` in 10, 20, 40, 80 with batches 1, 100, 10^4, plus ``n_max = 1000`` at
batch 100.

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
from jaxtls._engine.batched_kernel import solve_lanes  # noqa: E402
from jaxtls._engine.batched_solver import BatchedBlockSolver  # noqa: E402
from jaxtls._engine.blocks import assemble  # noqa: E402
from jaxtls._engine.operators import boson_annihilator, dag, fermion_annihilators, identity, tensor  # noqa: E402
from jaxtls._engine.sector import LindbladStructure, Sector  # noqa: E402
from jaxtls._engine.solvers import DenseSolver  # noqa: E402


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


def timed(fn, arg, ops, repeats):
    """(compile + first run seconds, median seconds over `repeats`, result)."""
    t0 = time.perf_counter()
    x = jax.block_until_ready(fn(arg, ops))
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(arg, ops))
        ts.append(time.perf_counter() - t0)
    return first, float(np.median(ts)), np.asarray(x)


def interface(solver):
    """Steady states ``(K, m, N)`` of coefficients ``(T, N)`` through the solver interface."""
    return jax.jit(lambda c, ops: solver.solve(solver.init(ops, c, tangents=False)))


def rel_diff(x, ref):
    return float(np.max(np.max(np.abs(x - ref), axis=(0, 1)) / np.max(np.abs(ref), axis=(0, 1))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-max", type=int, nargs="+", default=[10, 20, 40, 80])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 100, 10_000])
    ap.add_argument("--large", nargs="*", default=["1000:100"], help="extra n_max:batch pairs")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk-size", type=int, default=1024, help="BatchedBlockSolver chunk_size (0: none)")
    ap.add_argument("--no-pivot", action="store_true", help="BatchedBlockSolver(pivot=False)")
    ap.add_argument("--budget", type=float, default=15.0, help="max estimated seconds per dense run")
    args = ap.parse_args()

    combos = [(n, b) for n in args.n_max for b in args.batch]
    combos += [tuple(int(v) for v in s.split(":")) for s in args.large]
    pivot = not args.no_pivot
    coeffs = interface(BatchedBlockSolver(chunk_size=args.chunk_size or None, pivot=pivot))
    stored = jax.jit(lambda blocks, ops: solve_lanes(blocks, ops, pivot))
    dense = interface(DenseSolver())
    build = jax.jit(lambda ops, c: jnp.moveaxis(jax.vmap(assemble, (None, 1))(ops, c), 0, -1))

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
        f"backend {jax.default_backend()}, repeats {args.repeats}, chunk_size {args.chunk_size or None}, "
        f"pivot {pivot}"
    )
    print(
        f"{'n_max':>6} {'K':>5} {'batch':>6} | {'coeffs us/pt':>12} {'stored us/pt':>12} {'dense us/pt':>11} | "
        f"{'max rel diff':>12} | {'compile coeffs/dense s':>22}"
    )
    per_point_dense: dict[int, float] = {}
    t_start = time.perf_counter()
    for nmax, batch in combos:
        sector = cavity_sector(nmax)
        c = jnp.asarray(random_coeffs(batch).T)
        c_new, t_new, x_new = timed(coeffs, c, sector.ops, args.repeats)
        blocks = jax.block_until_ready(build(sector.ops, c))
        _, t_st, x_st = timed(stored, blocks, sector.ops, args.repeats)
        del blocks
        est = per_point_dense.get(nmax, 0.0) * batch
        if est > args.budget or (sector.num_levels * sector.block_size) ** 3 * batch > 5e11:
            t_dn, c_dn, ref, against = float("nan"), float("nan"), x_st, "stored"
        else:
            c_dn, t_dn, ref = timed(dense, c, sector.ops, args.repeats)
            per_point_dense[nmax] = max(per_point_dense.get(nmax, 0.0), t_dn / batch)
            against = "dense"
        print(
            f"{nmax:>6} {sector.num_levels:>5} {batch:>6} | {t_new / batch * 1e6:>12.2f} "
            f"{t_st / batch * 1e6:>12.2f} {t_dn / batch * 1e6:>11.2f} | {rel_diff(x_new, ref):>8.2e} {against:<6}| "
            f"{c_new:>8.2f}/{c_dn:<8.2f}",
            flush=True,
        )
    print(f"# total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
