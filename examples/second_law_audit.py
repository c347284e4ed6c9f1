"""Second-law audit of the cavity model (Model B): adversarial search for negative entropy production.

The second law (Eq. 3 / 22) says Sdot = sum_a Sdot_a >= 0. For the cavity model it is proven
only in a Hartree-Fock-like approximation; whether the exact steady state with *effective*
occupations (Eq. 21) ever violates it is open (PHYSICS.md, Model B). This example attacks it
with gradient descent on a scale-free measure from many random starts at once.

Measure. In any steady state Udot_u = E~_u R, Udot_l = -E~_l R, Udot_b = -E~_ph R (Eq. 21), so
Sdot = R (x_b + x_l - x_u) with the affinities x_u = (E~_u - mu_u)/T_u, x_l = (E~_l - mu_l)/T_l,
x_b = E~_ph/T_b. We minimise

    sigma = Sdot / (|R| (|x_u| + |x_l| + |x_b|)),

with Sdot and R taken from the solver's flows (not from the identity). sigma is dimensionless,
invariant under rescaling all energies or all rates, and lies in [-1, 1]: sigma < 0 is a
violation, -1 the strongest possible one (R flowing against every affinity).

Domain (energies in units of E_u - E_l = 1, E_l = 0; "log" = log-uniform):
omega_cav in [0.5, 1.5]; g, gamma_u, gamma_l, gamma_b in [1e-3, 0.3] (log);
mu_u, mu_l in [-1, 2]; T_u, T_l, T_b in [0.02, 1] (log). Each parameter is a scaled sigmoid of an
unconstrained variable, so the search stays in the box.

Credibility. A point counts only if its steady state passes the solver checks, the Fock cutoff is
converged (P(n = n_max) <= 1e-8; a smooth penalty on log10 P(n_max) keeps the search away from
truncated states) and |R| >= 1e-10 min(g, gamma_u, gamma_l, gamma_b) (below that the sign of R is
rounding noise; the objective is gated smoothly to zero there). The best points are re-solved at
twice the cutoff.

Search. One jit-compiled optax (Adam) step updates all starts of a batch at once: the loss is the
sum of the per-start objectives (independent, so its gradient is every start's own gradient) and
Adam is elementwise. Gradients come from implicit differentiation of the steady state.

Run ``python examples/second_law_audit.py [--out-dir DIR] [--quick | --full]``; ``--full`` runs
10^4 starts per occupation prescription.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import time

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import jaxtls as jt  # noqa: E402

FIXED = {"E_u": 1.0, "E_l": 0.0}
DOMAIN = {  # name: (lo, hi, log-scaled)
    "omega_cav": (0.5, 1.5, False),
    "g": (1e-3, 0.3, True),
    "gamma_u": (1e-3, 0.3, True),
    "gamma_l": (1e-3, 0.3, True),
    "gamma_b": (1e-3, 0.3, True),
    "mu_u": (-1.0, 2.0, False),
    "mu_l": (-1.0, 2.0, False),
    "T_u": (0.02, 1.0, True),
    "T_l": (0.02, 1.0, True),
    "T_b": (0.02, 1.0, True),
}
NAMES = tuple(DOMAIN)
FOCK_TOL = 1e-8
DSIGMA_MAX = 1e-6  # a point is credible if the rounding uncertainty of sigma is below this
SIGMA_TOL = 1e-6  # a credible violation needs sigma < -SIGMA_TOL


def to_params(u):
    """Unconstrained ``u[..., 10]`` -> physical parameter dict (inside `DOMAIN`)."""
    x = jax.nn.sigmoid(u)
    p = dict(FIXED)
    for i, (name, (lo, hi, log)) in enumerate(DOMAIN.items()):
        if log:
            p[name] = jnp.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * x[..., i])
        else:
            p[name] = lo + (hi - lo) * x[..., i]
    return p


def measure(res, p):
    """``sigma`` from the flows, its rounding uncertainty ``dsigma`` (the result's
    ``entropy_production_tolerance`` or the measured rounding of the flows, whichever is larger,
    over the norm) and ``sigma_id`` from the identity ``Sdot = R (x_b + x_l - x_u)`` (module
    docstring)."""
    e = res.effective_energy
    x_u = (e["u"] - p["mu_u"]) / p["T_u"]
    x_l = (e["l"] - p["mu_l"]) / p["T_l"]
    x_b = e["ph"] / p["T_b"]
    rate = res.rate
    norm = jnp.abs(rate) * (jnp.abs(x_u) + jnp.abs(x_l) + jnp.abs(x_b))
    sigma = res.entropy_production / norm
    sigma_id = jnp.sign(rate) * (x_b + x_l - x_u) / (jnp.abs(x_u) + jnp.abs(x_l) + jnp.abs(x_b))
    # rounding in the flows, measured: the three particle currents must all equal +-R, the
    # energy currents E~_a N_a and sum to zero (exact identities, Eq. 21 and the first law)
    n = res.particle_current
    dn = jnp.maximum(jnp.maximum(jnp.abs(n["u"] - rate), jnp.abs(n["l"] + rate)), jnp.abs(n["b"] + rate))
    de = res.effective_energy_residual + jnp.abs(res.first_law_residual)
    noise = (de + (1.0 + jnp.abs(p["mu_u"]) + jnp.abs(p["mu_l"])) * dn) * (1 / p["T_u"] + 1 / p["T_l"] + 1 / p["T_b"])
    # the result's own rounding bound on Sdot (entropy_production_tolerance) or the measured
    # noise of the flows, whichever is larger
    bound = jnp.maximum(noise, res.entropy_production_tolerance)
    dsigma = jax.lax.stop_gradient(bound / norm)
    return sigma, dsigma, sigma_id


def solve(u, occupations, n_max):
    p = to_params(u)
    res = jt.solve_cavity(**p, n_max=n_max, occupations=occupations, throw=False)
    return res, p


def objective(u, occupations, n_max):
    """Per-start objective: gated sigma plus a penalty on the Fock tail; also raw diagnostics."""
    res, p = solve(u, occupations, n_max)
    sigma, dsigma, _ = measure(res, p)
    gate = jax.nn.sigmoid(2.0 * (math.log10(DSIGMA_MAX) - jnp.log10(dsigma + 1e-300)))
    tail = jnp.maximum(res.fock_tail, 1e-300)
    penalty = jax.nn.softplus(3.0 * (jnp.log10(tail) + 8.5)) / 3.0
    obj = jnp.where(jnp.isfinite(sigma), sigma, 0.0) * gate + penalty
    credible = res.diagnostics.ok & (res.fock_tail <= FOCK_TOL) & (dsigma <= DSIGMA_MAX) & jnp.isfinite(sigma)
    return obj, (sigma, credible)


_objective_jit = jax.jit(objective, static_argnums=(1, 2))


def make_step(optimizer, occupations, n_max):
    """One jit-compiled optax step for a whole batch of starts ``u`` of shape (S, 10)."""

    def total(u):
        obj, aux = objective(u, occupations, n_max)
        return jnp.sum(obj), aux

    @jax.jit
    def step(u, state, best_sigma, best_u):
        (_, (sigma, credible)), g = jax.value_and_grad(total, has_aux=True)(u)
        improve = credible & (sigma < best_sigma)
        best_sigma = jnp.where(improve, sigma, best_sigma)
        best_u = jnp.where(improve[:, None], u, best_u)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, state = optimizer.update(g, state, u)
        return optax.apply_updates(u, updates), state, best_sigma, best_u, sigma, credible

    return step


@functools.lru_cache(maxsize=8)
def make_search(occupations, n_max, steps, lr):
    """Adam with a cosine-decayed learning rate and its compiled batch step (cached: compile once)."""
    optimizer = optax.adam(optax.cosine_decay_schedule(lr, steps, alpha=0.05))
    return optimizer, make_step(optimizer, occupations, n_max)


def search(occupations, starts, steps, n_max=24, seed=0, chunk=2500, lr=0.1, progress=True):
    """Batched Adam from `starts` uniform random points of `DOMAIN`.

    Returns a dict with per-start best credible ``sigma`` and its ``u``, the final ``sigma`` and
    credibility of every start, the per-step minimum over the batch (``history``) and timings.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.01, 0.99, size=(starts, len(NAMES)))  # uniform (log-uniform) in the box
    u_all = np.log(x / (1 - x))
    optimizer, step = make_search(occupations, n_max, steps, lr)
    best_sigma, best_u, final_sigma, final_ok = [], [], [], []
    history = np.full((steps,), np.inf)
    trace = np.full((steps, starts), np.nan)  # credible sigma of every start at every step
    first_violation_step = None
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps * math.ceil(starts / chunk), desc=f"audit {occupations}", leave=False)
    for c in range(0, starts, chunk):
        u = jnp.asarray(u_all[c : c + chunk])
        state = optimizer.init(u)
        bs = jnp.full(u.shape[0], jnp.inf)
        bu = u
        for i in range(steps):
            u, state, bs, bu, sigma, cred = step(u, state, bs, bu)
            sig = np.where(np.asarray(cred), np.asarray(sigma), np.nan)
            trace[i, c : c + chunk] = sig
            m = float(np.nanmin(sig)) if np.isfinite(sig).any() else np.inf
            history[i] = min(history[i], m)
            if first_violation_step is None and m < -SIGMA_TOL:
                first_violation_step = (c // chunk, i)
            if bar is not None:
                bar.update(1)
                if i % 10 == 0:
                    bar.set_postfix(min_sigma=f"{np.min(history[: i + 1]):.3g}")
        # the final iterate as well
        _, (sigma, cred) = _objective_jit(u, occupations, n_max)
        improve = cred & (sigma < bs)
        bs = jnp.where(improve, sigma, bs)
        bu = jnp.where(improve[:, None], u, bu)
        best_sigma.append(np.asarray(bs))
        best_u.append(np.asarray(bu))
        final_sigma.append(np.asarray(sigma))
        final_ok.append(np.asarray(cred))
    if bar is not None:
        bar.close()
    return dict(
        occupations=occupations,
        starts=starts,
        steps=steps,
        n_max=n_max,
        best_sigma=np.concatenate(best_sigma),
        best_u=np.concatenate(best_u),
        final_sigma=np.concatenate(final_sigma),
        final_credible=np.concatenate(final_ok),
        history=history,
        trace=trace,
        first_violation_step=first_violation_step,
        seconds=time.perf_counter() - t0,
    )


def recheck(out, k=10, factor=2):
    """Re-solve the `k` lowest credible points at ``factor * n_max`` (concrete, checks on)."""
    order = np.argsort(out["best_sigma"])
    order = order[np.isfinite(out["best_sigma"][order])][:k]
    if order.size == 0:
        return None
    u = jnp.asarray(out["best_u"][order])
    rows = {}
    for n in (out["n_max"], factor * out["n_max"]):
        res, p = solve(u, out["occupations"], n)
        sigma, dsigma, sigma_id = measure(res, p)
        rows[n] = dict(sigma=np.asarray(sigma), tail=np.asarray(res.fock_tail), dsigma=np.asarray(dsigma),
                       sigma_id=np.asarray(sigma_id),
                       ok=np.asarray(res.diagnostics.ok), sdot=np.asarray(res.entropy_production),
                       rate=np.asarray(res.rate))  # fmt: skip
    params = {k_: np.asarray(v) for k_, v in to_params(u).items()}
    return dict(index=order, params=params, rows=rows)


def report(out, check) -> dict:
    bs = out["best_sigma"]
    cred = np.isfinite(bs)
    viol = cred & (bs < -SIGMA_TOL)
    n_lo, n_hi = sorted(check["rows"]) if check else (None, None)
    info = dict(
        occupations=out["occupations"],
        starts=out["starts"],
        steps=out["steps"],
        seconds=out["seconds"],
        credible_starts=int(cred.sum()),
        violating_starts=int(viol.sum()),
        lowest_sigma=float(np.min(bs[cred])) if cred.any() else float("nan"),
        first_violation_step=out["first_violation_step"],
    )
    if check:
        lo, hi = check["rows"][n_lo], check["rows"][n_hi]
        info.update(
            best_params={k: float(np.ravel(v)[0]) for k, v in check["params"].items()},
            best_sigma_recheck=float(hi["sigma"][0]),
            best_tail_recheck=float(hi["tail"][0]),
            recheck_max_change=float(np.max(np.abs(hi["sigma"] - lo["sigma"]))),
            recheck_n_max=n_hi,
            best_rate=float(hi["rate"][0]),
            best_sdot=float(hi["sdot"][0]),
            best_dsigma=float(hi["dsigma"][0]),
            best_sigma_identity=float(hi["sigma_id"][0]),
            # a violation is confirmed when it survives the doubled cutoff with a resolved sigma
            confirmed_violations=int(
                np.sum(
                    (hi["sigma"] < -SIGMA_TOL)
                    & (lo["sigma"] < -SIGMA_TOL)
                    & hi["ok"]
                    & (hi["dsigma"] <= DSIGMA_MAX)
                    & (hi["tail"] <= FOCK_TOL)
                    & (np.abs(hi["sigma"] - lo["sigma"]) <= 0.1 * np.abs(hi["sigma"]))
                )
            ),
            rechecked=int(hi["sigma"].size),
        )
    return info


def print_report(info):
    occ = info["occupations"]
    print(f"[{occ}] {info['starts']} starts x {info['steps']} Adam steps in {info['seconds']:.1f} s; "
          f"credible end points {info['credible_starts']}; violating starts (sigma < -{SIGMA_TOL:g}): "
          f"{info['violating_starts']}")  # fmt: skip
    print(f"[{occ}] lowest credible sigma = {info['lowest_sigma']:.6g}", end="")
    if info["first_violation_step"] is not None:
        print(
            f" (first violation at step {info['first_violation_step'][1]} of batch {info['first_violation_step'][0]})"
        )
    else:
        print()
    if "best_params" in info:
        bp = ", ".join(f"{k}={v:.10g}" for k, v in info["best_params"].items())
        print(f"[{occ}] at {bp}")
        print(f"[{occ}] re-check at n_max={info['recheck_n_max']}: sigma = {info['best_sigma_recheck']:.6g}, "
              f"R = {info['best_rate']:.3e}, Sdot = {info['best_sdot']:.3e}, P(n_max) = {info['best_tail_recheck']:.2e}; "
              f"max |change of sigma| over the best {info['rechecked']} = {info['recheck_max_change']:.2e}")  # fmt: skip
        print(f"[{occ}] rounding uncertainty of sigma {info['best_dsigma']:.1e}; sigma from the identity "
              f"sign(R)(x_b + x_l - x_u)/sum|x| = {info['best_sigma_identity']:.6g}; confirmed violations "
              f"among the best {info['rechecked']}: {info['confirmed_violations']}")  # fmt: skip


def main(out_dir: str = ".", quick: bool = False, full: bool = False) -> list[str]:
    """Run the audit for bare and effective occupations; print and plot. Returns the PNG paths."""
    os.makedirs(out_dir, exist_ok=True)
    if full:
        starts, steps = 10_000, 100
    elif quick:
        starts, steps = 64, 30
    else:
        starts, steps = 1000, 60
    results = {}
    for occ in ("bare", "effective"):
        out = search(occ, starts, steps, chunk=min(starts, 2500))
        check = recheck(out)
        info = report(out, check)
        print_report(info)
        results[occ] = (out, info)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
    ax = axes[0]
    for occ, c in (("bare", "C3"), ("effective", "C0")):
        out, _ = results[occ]
        k = np.arange(out["steps"])
        with np.errstate(all="ignore"):
            q10, q50 = np.nanquantile(out["trace"], [0.1, 0.5], axis=1)
        ax.plot(k, out["history"], c, lw=1.8, label=f"{occ}: lowest")
        ax.plot(k, q10, c, ls="--", lw=1.0, label=f"{occ}: 10% quantile")
        ax.plot(k, q50, c, ls=":", lw=1.0, label=f"{occ}: median")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xlabel("Adam step (all starts updated together)")
    ax.set_ylabel(r"credible $\sigma=\dot S/(|R|\sum_a|x_a|)$ (dimensionless)")
    ax.set_title(f"adversarial search, {starts} random starts per prescription", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax = axes[1]
    bins = np.linspace(-1, 1, 81)
    for occ, c in (("bare", "C3"), ("effective", "C0")):
        out, _ = results[occ]
        bs = out["best_sigma"][np.isfinite(out["best_sigma"])]
        ax.hist(bs, bins=bins, color=c, alpha=0.6, label=f"{occ} occupations")
    ax.axvline(0, color="k", lw=0.6)
    ax.set_yscale("log")
    ax.set_xlabel(r"best $\sigma$ reached per start (dimensionless; $<0$ violates the second law)")
    ax.set_ylabel("number of starts")
    ax.set_title("end points of the search", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "second_law_audit.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="64 starts x 30 steps (seconds)")
    mode.add_argument("--full", action="store_true", help="10^4 starts x 100 steps per prescription")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick, full=args.full):
        print(path)
