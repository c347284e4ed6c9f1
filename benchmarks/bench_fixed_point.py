"""Robustness of the self-consistent fixed point (issue 16, item 9) on random interacting
three-level systems, static and driven: how many of ``--n`` systems fail to converge, and the
worst residual of the converged ones against independent dense references (a NumPy Lindbladian
for the static ones, the full-space Floquet reference for the driven ones; both checks are the
ones of tests/test_selfconsistent_edges.py, which runs 40 static systems in the suite).

The target is at most 1 % failures; the script exits with status 1 above it, or if a converged
answer is not a fixed point of the reference.

Run: ``python benchmarks/bench_fixed_point.py [--n 200] [--which static driven]``.
"""

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "tests"))

import test_selfconsistent_edges as edges  # noqa: E402  (the checks, written once)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--which", nargs="+", default=["static", "driven"], choices=["static", "driven"])
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    status = 0
    for which in args.which:
        check = edges._check_random if which == "static" else edges._check_driven
        seed = 1 if which == "static" else 3
        t = time.perf_counter()
        try:
            failures, worst = check(args.n, seed, max_failures=args.n)
            verified = True
        except AssertionError as err:  # a converged answer that is not a reference fixed point
            failures, worst, verified = float("nan"), float("nan"), False
            print(f"[{which}] verification failed: {err}")
        dt = time.perf_counter() - t
        ok = verified and failures <= 0.01 * args.n
        status |= not ok
        print(f"[{which}] {args.n} systems in {dt:.0f} s: {failures} failures "
              f"({100 * failures / args.n:.1f} %, target <= 1 %), worst verified residual {worst:.2g} "
              f"-> {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return status


if __name__ == "__main__":
    sys.exit(main())
