"""The 200-point driven-chain computation on the dense full-space path and on the sector engine,
side by side in one run.

The computation is `examples/driven_chain.py`'s `solve_batch`: for each of ``--n`` random
three-level chains (interacting, driven beyond the RWA; seed ``--seed``) the self-consistent
periodic steady state of Appendix C (Newton on E~_a = Udot_a / Ndot_a, with first and second
derivatives of the Floquet state along the occupations) and the bare-occupation one, in one
compiled program (`jax.lax.map`, one point at a time on a CPU). Two methods, same truncation
(``n_harm = 9``):

- dense: `DenseFloquetReference`, the Floquet harmonics on the full Liouville space (64 complex
  unknowns per harmonic, ``d^2 x d^2`` superoperators built by Kronecker products): what
  `jaxtls.FloquetHarmonics` computed for every `FermionicSystem` before the sector engine;
- sector: `jaxtls.FloquetHarmonics`, on the particle-number sector the engine finds (20 complex
  unknowns per harmonic, blocks assembled from the sector's sparse element-space terms).

Each program is compiled and run once (timed separately: "first call"), then run ``--repeats``
more times, the two methods interleaved; the table gives the medians, the ratio dense / sector
and the largest difference between the two results (they must agree to rounding). Timings on a
shared CPU are noisy: compare the medians of one run.

Run: ``python benchmarks/bench_driven_chain.py [--n 200] [--repeats 3] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls as jt  # noqa: E402
from jaxtls._models.floquet_reference import DenseFloquetReference  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def load_example():
    path = os.path.join(HERE, os.pardir, "examples", "driven_chain.py")
    spec = importlib.util.spec_from_file_location("driven_chain", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["driven_chain"] = mod
    spec.loader.exec_module(mod)
    return mod


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="random chains (default 200)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method after the first call")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n < 1 or args.repeats < 1:
        parser.error("--n and --repeats must be >= 1")
    dc = load_example()
    params = dc.random_parameter_sets(args.n, args.seed)
    methods = {"dense": DenseFloquetReference, "sector": jt.FloquetHarmonics}

    def run(name):
        t0 = time.perf_counter()
        out = dc.solve_batch(params, method_type=methods[name])
        jax.block_until_ready(out)
        return time.perf_counter() - t0, out

    first, times, results = {}, {name: [] for name in methods}, {}
    for name in methods:
        first[name], results[name] = run(name)
    for _ in range(args.repeats):
        for name in methods:
            times[name].append(run(name)[0])
    med = {name: float(np.median(t)) for name, t in times.items()}
    sc_d, bare_d = results["dense"]
    sc_s, bare_s = results["sector"]
    diff = max(
        float(np.max(np.abs(np.asarray(getattr(a, f)) - np.asarray(getattr(b, f)))))
        for a, b in ((sc_d, sc_s), (bare_d, bare_s))
        for f in ("energy_current", "particle_current", "power", "entropy_production")
    )
    ok = all(bool(np.all(np.asarray(sc.converged))) for sc in (sc_d, sc_s))
    ok &= all(bool(np.all(np.asarray(b.diagnostics.ok))) for b in (bare_d, bare_s))
    print(f"driven three-level chain, {args.n} points (seed {args.seed}), n_harm = {dc.N_HARM}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}")  # fmt: skip
    print(f"{'method':>8} {'first call [s]':>15} {'run [s] (median)':>17} {'per point [ms]':>15}")
    for name in methods:
        print(f"{name:>8} {first[name]:>15.2f} {med[name]:>17.2f} {1e3 * med[name] / args.n:>15.2f}")
    ratio = med["dense"] / med["sector"]
    print(f"speed-up dense / sector: {ratio:.1f}x (run), {first['dense'] / first['sector']:.1f}x (first call)")
    print(f"max |difference| of flows, power, entropy production: {diff:.1e}; all converged and ok: {ok}")
    return 0 if ok and diff < 1e-10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
