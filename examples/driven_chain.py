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
(`jaxtls.FloquetHarmonics`), the lead occupations are self-consistent,
f_a = fermi(E~_a, mu_a, T_a) with E~_a = Udot_a^av / Ndot_a^av (C3)
(`jaxtls.self_consistent_steady_state`), and the period-averaged entropy production
sum_a (-Udot_a + mu_a Ndot_a)/T_a is >= 0 (Spohn). With the bare level energies E_1, E_3 in the
Fermi functions (Eq. 9) it is not: the bare description can pump particles against a bias
that the absorbed energy per particle cannot pay for.

Units: hbar = k_B = 1, one energy unit throughout (e.g. meV).

Run ``python examples/driven_chain.py [--n N]``: solves one point and prints E~_a, the flows,
the first-law residual and the entropy production, then solves N random parameter sets in one
vmapped call and summarises them. `random_parameter_sets(n, seed)` and `solve_batch(params)`
are what the tests use.
"""

from __future__ import annotations

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxtls as jt
from jaxtls._floquet import block_tridiagonal_solve, harmonic_blocks

_HP = jax.lax.Precision.HIGHEST

#: harmonics kept in the Floquet expansion (|n| <= N_HARM); the harmonic tail is checked
N_HARM = 8

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


def hermitian_eigenvalues(a, sweeps: int = 8):
    """Eigenvalues of a small Hermitian matrix by cyclic complex Jacobi rotations, in plain JAX
    operations (no LAPACK call: batched CPU LAPACK kernels can deadlock when two run
    concurrently under `jax.vmap`, see `jaxtls._floquet`). Unordered; error ~1e-15 ``|a|``."""
    d = a.shape[-1]
    pairs = [(p, q) for p in range(d) for q in range(p + 1, d)]
    eye = jnp.eye(d, dtype=jnp.complex128)

    def sweep(_, a):
        for p, q in pairs:
            apq = a[p, q]
            mag = jnp.abs(apq)
            nz = mag > 1e-300
            safe = jnp.where(nz, mag, 1.0)
            phase = jnp.where(nz, apq / safe, 1.0)  # rotate a_pq to |a_pq| first
            theta = (jnp.real(a[q, q]) - jnp.real(a[p, p])) / (2 * safe)
            sgn = jnp.where(theta >= 0, 1.0, -1.0)
            t = jnp.where(nz, sgn / (jnp.abs(theta) + jnp.sqrt(theta**2 + 1)), 0.0)
            c = 1 / jnp.sqrt(1 + t**2)
            s = t * c
            u = eye.at[p, p].set(c).at[p, q].set(s).at[q, p].set(-s * jnp.conj(phase)).at[q, q].set(c * jnp.conj(phase))
            a = jnp.matmul(jnp.matmul(u.conj().T, a, precision=_HP), u, precision=_HP)
        return a

    a = jax.lax.fori_loop(0, sweeps, sweep, jnp.asarray(a, jnp.complex128))
    return jnp.real(jnp.diagonal(a))


class NumberSectorFloquet(jt.AbstractPeriodicMethod):
    """`jaxtls.FloquetHarmonics` restricted to the particle-number-diagonal sector.

    The chain Hamiltonian conserves the particle number ``N`` (hopping, drive and Coulomb
    terms all commute with it) and every lead jump changes ``N`` by one on *both* sides of
    ``rho``, so the Liouvillian conserves ``N_bra - N_ket``. The trace lives in the sector
    ``N_bra = N_ket``, so the (unique) periodic steady state has no coherences between
    different particle numbers: per harmonic only ``sum_N C(M, N)^2`` unknowns (20 for M = 3)
    instead of ``4^M`` (64). This method solves the same truncated harmonic system as
    `jaxtls.FloquetHarmonics` (with the block-tridiagonal solver of jaxtls, differentiable, so
    `jaxtls.self_consistent_steady_state` can use it) on that sector, about (64/20)^3 ~ 30
    times cheaper, and returns a `jaxtls.PeriodicSteadyState` with the full-space ``rho_n``.
    The diagnostics ``residual`` is that of the *full-space* harmonic equations
    ``(L_0 + i n omega) rho_n + sum_{k != 0} L_k rho_{n-k} = 0`` (which also checks that the
    sector is closed). `tests/test_driven_chain.py` checks it against `jaxtls.FloquetHarmonics`.

    Use it only for number-conserving systems (it does not check that the drive conserves
    ``N``; the full-space residual would expose a violation).
    """

    n_harm: int = eqx.field(static=True, default=N_HARM)

    def solve(self, system, f):
        d, m = system.dim, system.num_levels
        dd = d * d
        number = np.array([bin(i).count("1") for i in range(d)])
        idx = np.array([i * d + j for i in range(d) for j in range(d) if number[i] == number[j]])
        size_d = idx.size
        kmax = system.max_harmonic
        n_harm = int(self.n_harm)
        nh = 2 * n_harm + 1
        lk_full = system.liouvillian_harmonics(f)  # (2K+1, d^2, d^2), k = -K..K
        lk = lk_full[:, idx][:, :, idx]
        blocks, valid = harmonic_blocks(lk, system.omega, n_harm, kmax)
        size = max(kmax, 1)
        c0, j0 = n_harm // size, n_harm % size
        row = j0 * size_d  # the (0, 0) element of rho_0 (idx[0] = 0) -> trace condition
        trace_row = jnp.asarray(np.eye(d).reshape(-1)[idx], lk.dtype)
        blocks = blocks.at[c0, :, row, :].set(0.0)
        blocks = blocks.at[c0, 1, row, j0 * size_d : (j0 + 1) * size_d].set(trace_row)
        b = jnp.zeros((blocks.shape[0], size * size_d), lk.dtype).at[c0, row].set(1.0)
        x, min_pivot = block_tridiagonal_solve(blocks, b)
        xs = x.reshape(-1, size, size_d)[np.asarray(valid)].reshape(nh, size_d)
        vec = jnp.zeros((nh, dd), lk.dtype).at[:, idx].set(xs)
        rho_h = vec.reshape(nh, d, d)  # n = -N..N
        rho_av = rho_h[n_harm]
        rho0 = jnp.sum(rho_h, axis=0)
        ks = np.arange(-kmax, kmax + 1)
        # full-space residual of the truncated harmonic equations (trace row replaced)
        vpad = jnp.concatenate([jnp.zeros((kmax, dd), vec.dtype), vec, jnp.zeros((kmax, dd), vec.dtype)])
        ns = np.arange(-n_harm, n_harm + 1)
        res = 1j * system.omega * ns[:, None] * vec
        for i, k in enumerate(ks):
            res = res + jnp.einsum("ij,nj->ni", lk_full[i], vpad[kmax - k : kmax - k + nh], precision=_HP)
        res = res.at[n_harm, 0].set(jnp.trace(rho_av) - 1.0)
        scale = (jnp.max(jnp.abs(lk_full)) + n_harm * system.omega) * jnp.max(jnp.abs(vec))
        residual = jax.lax.stop_gradient(jnp.max(jnp.abs(res)) / scale)
        herm = [jax.lax.stop_gradient(0.5 * (r + r.conj().T)) for r in (rho_av, rho0)]
        min_eig = jnp.minimum(*(jnp.min(hermitian_eigenvalues(r)) for r in herm))
        tail = jnp.maximum(jnp.linalg.norm(rho_h[0]), jnp.linalg.norm(rho_h[-1]))
        # period-averaged flows (C1, C2) and power (Eq. 6), as in jaxtls.FloquetHarmonics
        hk = system.hamiltonian_harmonics()
        hkt = jnp.swapaxes(hk, -1, -2).reshape(-1, dd)  # vec(H_k^T): Tr{H_k X} = vec(H_k^T) . vec(X)
        rho_mk = vec[n_harm - ks]  # rho_{-k}
        la = system.lead_superoperators(f).astype(lk.dtype)
        lrho = jnp.einsum("aij,kj->aki", la, rho_mk, precision=_HP)
        u_dot = jnp.real(jnp.einsum("kj,akj->a", hkt, lrho, precision=_HP))
        nops = system.number_operators()
        nrow = jnp.einsum("aj,aji->ai", jnp.swapaxes(nops, -1, -2).reshape(-1, dd), la, precision=_HP)
        n_dot = jnp.real(nrow @ vec[n_harm])
        power = jnp.real(jnp.sum(-1j * ks * system.omega * jnp.einsum("kj,kj->k", hkt, rho_mk, precision=_HP)))
        cs = jt.fermion_annihilators(m)
        nall = jnp.asarray(np.stack([c.T @ c for c in cs]))
        pops = jnp.real(jnp.einsum("iab,ba->i", nall, rho_av))
        mu, temp = system.lead_array("mu"), system.lead_array("T")
        s = (-u_dot + mu * n_dot) / temp
        diag = jt.PeriodicDiagnostics(
            residual=residual,
            trace_error=jnp.abs(jnp.trace(rho_av) - 1.0),
            min_eigenvalue=min_eig,
            harmonic_tail=tail,
            periodicity_error=jnp.zeros((), jnp.float64),
            min_pivot=min_pivot,
            ok=jnp.asarray(True),
        )
        return jt.PeriodicSteadyState(
            energy_current=u_dot,
            particle_current=n_dot,
            power=power,
            entropy_flow=s,
            entropy_production=jnp.sum(s),
            first_law_residual=jnp.sum(u_dot) + power,
            effective_energy=u_dot / n_dot,
            occupation=f,
            populations=pops,
            rho0=rho0,
            rho_average=rho_av,
            rho_harmonics=rho_h,
            omega=system.omega,
            diagnostics=diag,
            lead_names=system.lead_names,
            method="number_sector_floquet",
        )


def _solve_one(p, n_harm):
    system = chain_system(p)
    method = NumberSectorFloquet(n_harm)
    sc = jt.self_consistent_steady_state(system, method=method, throw=False)
    bare = jt.periodic_steady_state(system, method=method, throw=False)
    return sc, bare


_solve_batch_jit = jax.jit(jax.vmap(_solve_one, in_axes=(0, None)), static_argnums=1)


def solve_batch(params: dict, n_harm: int = N_HARM):
    """Solve a batch of chains in one `jax.vmap` (one compiled program, no Python loop).

    **Arguments:** `params`, a dict of equal-length 1-D arrays keyed by `NAMES`; `n_harm`, the
    Floquet truncation.

    **Returns:** ``(sc, bare)``: the `jaxtls.SelfConsistentSteadyState` (self-consistent
    occupations) and the `jaxtls.PeriodicSteadyState` with bare occupations (Eq. 9), each with
    a leading batch axis. Failures are flagged (``sc.converged``, ``diagnostics.ok``), not raised.
    """
    params = {k: jnp.asarray(params[k], jnp.float64) for k in NAMES}
    return _solve_batch_jit(params, int(n_harm))


def solve_point(p: dict | None = None, n_harm: int = N_HARM):
    """One chain (default `DEFAULT`), raising if the fixed point or the steady state fails."""
    p = dict(DEFAULT) if p is None else p
    system = chain_system(p)
    method = NumberSectorFloquet(n_harm)
    sc = jt.self_consistent_steady_state(system, method=method)
    bare = jt.periodic_steady_state(system, method=method)
    return sc, bare


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


def main(n: int = 200, seed: int = 0) -> None:
    sc, bare = solve_point()
    print(report_point(sc, bare, DEFAULT))
    t0 = time.perf_counter()
    scb, bareb = solve_batch(random_parameter_sets(n, seed))
    jax.block_until_ready(scb.effective_energy)
    print(report_batch(scb, bareb))
    print(f"  ({time.perf_counter() - t0:.1f} s including compilation)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of random parameter sets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.n, args.seed)
