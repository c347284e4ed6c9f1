"""A driven three-level chain with self-consistent effective energies (Model E, Appendix C).

Three fermionic levels E_1 > E_2 > E_3 (modes 0, 1, 2) form a chain:

    H_S(t) = sum_i E_i n_i + t_12 (c_1^+ c_2 + h.c.) + 2 eps cos(omega t) (c_2^+ c_3 + h.c.)
             + U (n_1 n_2 + n_2 n_3),

i.e. a static tunnel coupling between levels 1 and 2 and a periodic drive (beyond the RWA:
both e^{-i omega t} and e^{+i omega t} components) on the hopping between levels 2 and 3,
with a nearest-neighbour Coulomb repulsion U. Two leads attach to the end levels, "1" on
level 1 and "3" on level 3 (Eq. 8), with chemical potentials mu_1, mu_3, temperatures T_1, T_3
and rates gamma_1, gamma_3. The drive frequency omega sits near E_2 - E_3, so the chain works
as a photon-assisted pump / photodetector: a particle that enters at level 3 absorbs
(about) one quantum omega and tunnels on to level 1.

Period-averaged flows (C1, C2) come from the Floquet-Liouville harmonic expansion
(`jaxtls.FloquetHarmonics`, which runs on the particle-number sector that holds the state: the
Hamiltonian conserves N and every lead jump changes N by one on both sides of rho, so the
periodic state has 20 of the 64 density-matrix elements per harmonic), the lead occupations are
self-consistent,
f_a = fermi(E~_a, mu_a, T_a) with E~_a = Udot_a^av / Ndot_a^av (C3)
(`jaxtls.self_consistent_steady_state`), and the period-averaged entropy production
sum_a (-Udot_a + mu_a Ndot_a)/T_a is >= 0 (Spohn). With the bare level energies E_1, E_3 in the
Fermi functions (Eq. 9) it is not: the bare description can pump particles against a bias
that the absorbed energy per particle cannot pay for.

Units: hbar = k_B = 1, one energy unit throughout (e.g. meV).

Run ``python examples/driven_chain.py [--quick] [--n N] [--seed S] [--solver newton|lm]``:
solves the representative point `DEFAULT` and N random parameter sets (default 200, 16 with
``--quick``) in one compiled program, prints E~_a, the flows, the first-law residual and the
entropy production of the point and a summary of the random sets (self-consistent and bare),
and exits with status 1 if a fixed point failed to converge, a steady state failed its checks
or a self-consistent entropy production is negative. About 40 s on two CPU cores (most of it
compilation), 30 s with ``--quick``. `random_parameter_sets(n, seed)` and `solve_batch(params)`
are what `tests/test_driven_chain.py` uses.
"""

from __future__ import annotations

import argparse
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

import jaxtls as jt

#: harmonics kept in the Floquet expansion (|n| <= N_HARM); the harmonic tail is checked
#: (largest tail in `BOX`, 200 chains of seed 0: 7e-9 at N_HARM = 8, 3e-10 at 9)
N_HARM = 9

#: points per `jax.vmap` chunk of `solve_batch` by default: on a CPU one point at a time
#: (`jax.lax.map`; measured on two cores, 200 chains: as fast to run as any vmap chunk size and
#: about 10 s quicker to compile, since the per-point work is sequential loops -- Gauss-Jordan
#: pivots, Newton steps -- and a vmapped root finder iterates until its slowest point has
#: converged); on an accelerator the whole batch in one `jax.vmap`.
BATCH_SIZE = "auto"

#: parameter names of one chain (each a scalar, or an array over a batch)
NAMES = ("E_1", "E_2", "E_3", "t_12", "eps", "omega", "U", "mu_1", "mu_3", "T_1", "T_3", "gamma_1", "gamma_3")

#: a representative point: a photodetector-like pump, omega resonant with E_2 - E_3
DEFAULT = dict(
    E_1=1.0, E_2=0.8, E_3=0.0, t_12=0.08, eps=0.05, omega=0.8, U=0.3,
    mu_1=0.9, mu_3=0.2, T_1=0.05, T_3=0.05, gamma_1=0.05, gamma_3=0.05,
)  # fmt: skip

#: sampling box of `random_parameter_sets` (uniform), chosen so that E_1 > E_2 > E_3 always
BOX = dict(
    E_1=(0.9, 1.2), E_2=(0.55, 0.85), E_3=(-0.15, 0.15), t_12=(0.02, 0.15), eps=(0.01, 0.12),
    omega=(0.5, 1.3), U=(0.0, 0.5), mu_1=(-0.3, 1.5), mu_3=(-0.3, 1.5), T_1=(0.03, 0.4),
    T_3=(0.03, 0.4), gamma_1=(0.02, 0.2), gamma_3=(0.02, 0.2),
)  # fmt: skip


def chain_system(p) -> jt.FermionicSystem:
    """The driven chain of the module docstring for the scalar parameters ``p`` (a dict of
    `NAMES`); works on traced values (inside `jax.vmap`)."""
    p = {k: jnp.asarray(p[k], jnp.float64) for k in NAMES}
    h = jnp.diag(jnp.stack([p["E_1"], p["E_2"], p["E_3"]])).astype(jnp.complex128)
    h = h.at[0, 1].set(p["t_12"]).at[1, 0].set(p["t_12"])
    # H_1 e^{-i omega t} + H_1^+ e^{i omega t} = 2 eps cos(omega t) (c_2^+ c_3 + h.c.)
    drive = jnp.zeros((3, 3), jnp.complex128).at[1, 2].set(p["eps"]).at[2, 1].set(p["eps"])
    u = jnp.zeros((3, 3), jnp.float64).at[0, 1].set(p["U"]).at[1, 0].set(p["U"])
    u = u.at[1, 2].set(p["U"]).at[2, 1].set(p["U"])
    leads = [
        jt.Lead(0, p["mu_1"], p["T_1"], p["gamma_1"], name="1"),
        jt.Lead(2, p["mu_3"], p["T_3"], p["gamma_3"], name="3"),
    ]
    return jt.FermionicSystem(h, leads, interaction=u, drive={1: drive}, omega=p["omega"])


def random_parameter_sets(n: int, seed: int = 0) -> dict:
    """``n`` random chains, uniform in `BOX` (E_1 > E_2 > E_3 by construction): a dict of
    ``(n,)`` arrays keyed by `NAMES`."""
    rng = np.random.default_rng(seed)
    return {k: jnp.asarray(rng.uniform(lo, hi, n)) for k, (lo, hi) in BOX.items()}


def fixed_point_solver(name: str = "newton"):
    """The root finder of the self-consistent fixed point: ``"newton"`` (`optimistix.Newton`,
    rtol = atol = 1e-12) or ``"lm"`` (the jaxtls default, Levenberg-Marquardt). Newton converges
    from the bare energies in 3-7 steps everywhere in `BOX` (seed 0, 200 chains); Levenberg-
    Marquardt is the more robust choice for steeper maps (strong interactions, low temperatures)
    but here takes about twice the steps (median 9 against 4) and, with its longer compile,
    about three times as long for those 200 chains."""
    if name == "newton":
        return optx.Newton(rtol=1e-12, atol=1e-12)
    if name == "lm":
        return None
    raise ValueError(f"solver must be 'newton' or 'lm', got {name!r}")


def _solve_one(p, method, solver_name):
    system = chain_system(p)
    sc = jt.self_consistent_steady_state(system, method=method, solver=fixed_point_solver(solver_name), throw=False)
    bare = jt.periodic_steady_state(system, method=method, throw=False)
    return sc, bare


@functools.cache
def _batch_program(method, solver_name: str, batch_size: int | None):
    one = functools.partial(_solve_one, method=method, solver_name=solver_name)
    if batch_size is None:
        return jax.jit(jax.vmap(one))
    if batch_size == 1:
        return jax.jit(lambda p: jax.lax.map(one, p))
    return jax.jit(lambda p: jax.lax.map(one, p, batch_size=batch_size))


def solve_batch(
    params: dict,
    n_harm: int = N_HARM,
    solver: str = "newton",
    batch_size: int | str | None = BATCH_SIZE,
    method_type=None,
):
    """Solve a batch of chains in one compiled program (no Python loop over points).

    **Arguments:**

    - `params`: a dict of equal-length 1-D arrays keyed by `NAMES`.
    - `n_harm`: the Floquet truncation (`N_HARM`; check ``diagnostics.harmonic_tail``).
    - `solver`: ``"newton"`` or ``"lm"`` (`fixed_point_solver`).
    - `batch_size`: points solved together by `jax.vmap` inside a `jax.lax.map` over chunks
      (1: one point at a time); ``None``: one `jax.vmap` over the whole batch; ``"auto"``: 1 on
      a CPU, ``None`` on an accelerator (see `BATCH_SIZE`). Every choice is one compiled program.
    - `method_type`: the periodic steady-state method, called with `n_harm` (default
      `jaxtls.FloquetHarmonics`; `benchmarks/bench_driven_chain.py` passes the dense reference).

    **Returns:** ``(sc, bare)``: the `jaxtls.SelfConsistentSteadyState` (self-consistent
    occupations) and the `jaxtls.PeriodicSteadyState` with bare occupations (Eq. 9), each with
    a leading batch axis. Failures are flagged (``sc.converged``, ``diagnostics.ok``), not raised.
    """
    missing = [k for k in NAMES if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing}")
    params = {k: jnp.asarray(params[k], jnp.float64) for k in NAMES}
    shapes = {v.shape for v in params.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(f"params must be equal-length 1-D arrays, got shapes {sorted(shapes)}")
    fixed_point_solver(solver)  # validate the name
    if batch_size == "auto":
        batch_size = 1 if jax.default_backend() == "cpu" else None
    elif batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, None or 'auto', got {batch_size!r}")
    method = (jt.FloquetHarmonics if method_type is None else method_type)(int(n_harm))
    return _batch_program(method, solver, batch_size)(params)


def solve_point(p: dict | None = None, n_harm: int = N_HARM, solver: str = "newton"):
    """One chain (default `DEFAULT`), raising if the fixed point or the steady state fails."""
    p = dict(DEFAULT) if p is None else p
    system = chain_system(p)
    method = jt.FloquetHarmonics(n_harm)
    sc = jt.self_consistent_steady_state(system, method=method, solver=fixed_point_solver(solver))
    bare = jt.periodic_steady_state(system, method=method)
    return sc, bare


def take(tree, i):
    """Point ``i`` of a batched result."""
    return jax.tree.map(lambda x: x[i], tree)


def report_point(sc, bare, p) -> str:
    lines = ["driven three-level chain (leads '1' on level 1, '3' on level 3):"]
    lines.append("  " + ", ".join(f"{k}={v:g}" for k, v in p.items()))
    for k, name in enumerate(sc.lead_names):
        bare_e = p["E_1"] if name == "1" else p["E_3"]
        lines.append(
            f"  lead {name}: E~ = {float(sc.effective_energy[k]):.6f} (bare {bare_e:g}), "
            f"f = {float(sc.occupation[k]):.6f}, Ndot = {float(sc.particle_current[k]):.4e}, "
            f"Udot = {float(sc.energy_current[k]):.4e}"
        )
    e = np.asarray(sc.effective_energy)
    lines.append(f"  E~_1 - E~_3 = {e[0] - e[1]:.6f} (omega = {p['omega']:g}: energy per transferred particle)")
    lines.append(f"  power from the drive P = {float(sc.power):.4e}")
    lines.append(f"  first-law residual sum_a Udot_a + P = {float(sc.first_law_residual):.2e}")
    lines.append(f"  entropy production (self-consistent) = {float(sc.entropy_production):.4e}")
    lines.append(f"  entropy production (bare, Eq. 9)     = {float(bare.entropy_production):.4e}")
    lines.append(f"  harmonic tail = {float(sc.steady_state.diagnostics.harmonic_tail):.2e}")
    return "\n".join(lines)


def report_batch(sc, bare) -> str:
    s = np.asarray(sc.entropy_production)
    sb = np.asarray(bare.entropy_production)
    return "\n".join(
        [
            f"{s.size} random chains: converged {int(np.sum(np.asarray(sc.converged)))}, "
            f"steady-state checks ok {int(np.sum(np.asarray(sc.steady_state.diagnostics.ok)))}",
            f"  self-consistent entropy production: min {s.min():.3e}, median {np.median(s):.3e}",
            f"  bare entropy production: min {sb.min():.3e}, negative at {int(np.sum(sb < 0))} points",
            f"  max |first-law residual| = {float(jnp.max(jnp.abs(sc.first_law_residual))):.2e}",
            f"  max harmonic tail = {float(jnp.max(sc.steady_state.diagnostics.harmonic_tail)):.2e}",
        ]
    )


def main(n: int = 200, seed: int = 0, solver: str = "newton", n_harm: int = N_HARM) -> bool:
    """Solve `DEFAULT` and ``n`` random chains in one compiled program and print the reports.
    **Returns:** whether every point converged, passed its checks and has a non-negative
    self-consistent entropy production (to rounding)."""
    t0 = time.perf_counter()
    rnd = random_parameter_sets(n, seed)
    params = {k: jnp.concatenate([jnp.asarray([DEFAULT[k]], jnp.float64), rnd[k]]) for k in NAMES}
    sc, bare = solve_batch(params, n_harm=n_harm, solver=solver)
    jax.block_until_ready(sc.effective_energy)
    elapsed = time.perf_counter() - t0
    print(report_point(take(sc, 0), take(bare, 0), DEFAULT))
    rest = functools.partial(jax.tree.map, lambda x: x[1:])
    print(report_batch(rest(sc), rest(bare)))
    print(f"  ({n + 1} chains in {elapsed:.1f} s including compilation)")
    ok = bool(np.all(np.asarray(sc.converged)) and np.all(np.asarray(sc.steady_state.diagnostics.ok)))
    ok &= bool(np.all(np.asarray(sc.entropy_production) >= -1e-12 * _entropy_scale(sc, params)))
    print("all checks passed" if ok else "SOME CHECKS FAILED (see above)")
    return ok


def _entropy_scale(sc, params):
    """Size of the terms summed in the entropy production, ``sum_a (|Udot_a| + |mu_a Ndot_a|)/T_a``
    (per point): the scale of its rounding error."""
    mu = np.stack([np.asarray(params["mu_1"]), np.asarray(params["mu_3"])], axis=-1)
    temp = np.stack([np.asarray(params["T_1"]), np.asarray(params["T_3"])], axis=-1)
    u, nd = np.asarray(sc.energy_current), np.asarray(sc.particle_current)
    return np.sum((np.abs(u) + np.abs(mu * nd)) / temp, axis=-1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of random parameter sets (default 200)")
    parser.add_argument("--quick", action="store_true", help="only 16 random parameter sets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--solver", choices=("newton", "lm"), default="newton", help="fixed-point root finder")
    parser.add_argument("--n-harm", type=int, default=N_HARM, help="Floquet harmonics kept (|n| <= N)")
    args = parser.parse_args()
    ok = main(16 if args.quick else args.n, args.seed, args.solver, args.n_harm)
    raise SystemExit(0 if ok else 1)
