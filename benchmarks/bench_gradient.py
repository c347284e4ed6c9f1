"""Cost of a gradient of R versus the forward solve, cavity model, side by side.

A batch of N = 10^3 random points at n_max = 40 (same points for every variant). Timed, each
jit-compiled and run once before timing, median of `--repeats` runs:

- ``forward``: ``solve_cavity(...).rate`` for the batch (the reference);
- ``grad(sum R)``: ``jax.grad`` of ``sum_n R_n`` with respect to all 12 parameters given as
  (N,) arrays -- points are independent, so this is every point's own gradient (reverse mode:
  forward solve + one adjoint solve);
- ``vmap(grad R)``: ``jax.vmap(jax.grad(R))`` over the points (the same maths per point);
- ``jacfwd``: forward mode, one tangent per parameter (12 back-substitutions with the factors
  of the tangent rule), as `jaxtls.sensitivities` does it.

Timing is interleaved: each of `--repeats` rounds runs every variant once, so slow phases of a
noisy machine hit all variants alike. Prints the median milliseconds per batch, the ratio of
medians to the forward solve and the median of the per-round ratios (grad / forward of the same
round). Checks that the variants agree (1e-12 of the largest gradient) and that the reverse-mode
gradient costs at most 3x the forward solve (the issue's target); exits with status 1 if either
check fails.

Run: ``python benchmarks/bench_gradient.py [--n 1000] [--n-max 40] [--repeats 9]``.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxtls as jt

NAMES = ("E_u", "E_l", "omega_cav", "g", "gamma_u", "gamma_l", "gamma_b", "mu_u", "mu_l", "T_u", "T_l", "T_b")


def random_points(n, seed=0):
    rng = np.random.default_rng(seed)
    gu, gl, gb = (10 ** rng.uniform(-2, -1, n) for _ in range(3))
    gam = gu + gl + gb
    return dict(
        E_u=np.ones(n), E_l=np.zeros(n), omega_cav=1 + rng.uniform(-3, 3, n) * gam,
        g=10 ** rng.uniform(-1.5, 0.0, n) * gam, gamma_u=gu, gamma_l=gl, gamma_b=gb,
        mu_u=rng.uniform(0.5, 1.5, n), mu_l=rng.uniform(-0.5, 0.5, n), T_u=np.full(n, 0.05),
        T_l=np.full(n, 0.05), T_b=np.full(n, 0.1),
    )  # fmt: skip


def interleaved_times(fns, arg, repeats):
    """Seconds per call of each of `fns` (a dict), over `repeats` rounds that run every
    function once (each compiled and warmed up first)."""
    for fn in fns.values():
        jax.block_until_ready(fn(arg))
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(arg))
            times[k].append(time.perf_counter() - t0)
    return {k: np.asarray(v) for k, v in times.items()}


def main(n=1000, n_max=40, repeats=9):
    p = {k: jnp.asarray(v) for k, v in random_points(n).items()}

    def rate(q):
        return jt.solve_cavity(**q, n_max=n_max, throw=False).rate

    forward = jax.jit(rate)
    grad_sum = jax.jit(jax.grad(lambda q: jnp.sum(rate(q))))
    grad_vmap = jax.jit(jax.vmap(jax.grad(rate)))

    def shifted(shift, q):
        return rate({k: q[k] + shift[i] for i, k in enumerate(NAMES)})

    jac_fwd = jax.jit(lambda q: jax.jacfwd(shifted)(jnp.zeros(len(NAMES)), q))

    print(f"# gradient of R vs forward solve, cavity model, N = {n} points, n_max = {n_max}")
    print(f"# {platform.processor() or platform.machine()}, jax {jax.__version__}, device {jax.devices()[0]}")
    print(f"# {repeats} interleaved rounds")
    names = {
        "forward": "forward solve (R)",
        "grad_sum": "reverse: grad(sum R), all 12 params",
        "grad_vmap": "reverse: vmap(grad R), all 12 params",
        "jacfwd": "forward: jacfwd, 12 tangents",
    }
    times = interleaved_times(dict(forward=forward, grad_sum=grad_sum, grad_vmap=grad_vmap, jacfwd=jac_fwd), p, repeats)
    t_fwd = float(np.median(times["forward"]))
    print(f"{'variant':40s} {'ms / batch':>12s} {'ratio':>8s} {'median of round ratios':>24s}")
    for key, label in names.items():
        t = float(np.median(times[key]))
        per_round = float(np.median(times[key] / times["forward"]))
        print(f"{label:40s} {1e3 * t:12.2f} {t / t_fwd:8.2f} {per_round:24.2f}")
    # the variants agree
    gs, gv, jf = grad_sum(p), grad_vmap(p), jac_fwd(p)
    err = max(float(jnp.max(jnp.abs(gs[k] - gv[k]))) for k in NAMES)
    err_f = max(float(jnp.max(jnp.abs(gs[k] - jf[:, i]))) for i, k in enumerate(NAMES))
    scale = max(float(jnp.max(jnp.abs(gs[k]))) for k in NAMES)
    print(f"# max |grad(sum) - vmap(grad)| = {err:.2e}, max |grad - jacfwd| = {err_f:.2e} (max |grad| {scale:.2e})")
    ratio = float(np.median(times["grad_sum"])) / t_fwd
    ratio_rounds = float(np.median(times["grad_sum"] / times["forward"]))
    agree = max(err, err_f) <= 1e-12 * scale
    fast = max(ratio, ratio_rounds) <= 3.0
    print(
        f"# gradient / forward (reverse mode, grad of sum): {ratio:.2f} (ratio of medians), "
        f"{ratio_rounds:.2f} (median of round ratios); target <= 3: {'PASS' if fast else 'FAIL'}"
    )
    print(f"# variants agree to 1e-12 of max |grad|: {'PASS' if agree else 'FAIL'}")
    return dict(times=times, ratio=ratio, ratio_rounds=ratio_rounds, ok=bool(fast and agree))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="batch size")
    parser.add_argument("--n-max", type=int, default=40, help="photon cutoff")
    parser.add_argument("--repeats", type=int, default=9, help="interleaved timed rounds (median)")
    args = parser.parse_args()
    raise SystemExit(0 if main(args.n, args.n_max, args.repeats)["ok"] else 1)
