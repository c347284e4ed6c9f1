"""Smallest eigenvalues of density matrices (a positivity check of computed states).

- `min_eigenvalue`: of full ``d x d`` matrices, one batched LAPACK ``eigvalsh`` call (used by
  the dense reference paths).
- `hermitian_eigenvalues`: of a small Hermitian matrix by cyclic complex Jacobi rotations in
  plain JAX operations. jaxlib 0.10.x runs batched CPU LAPACK kernels through a thread-pool
  ``ParallelBatchMap`` that can deadlock when two of them execute concurrently (observed under
  `jax.vmap` on a two-core machine), so the sector methods, which run inside `jax.vmap` /
  `jax.lax.map` and root finders, use this on the (small) positivity groups of a sector
  (`jaxtls._engine.sector.Sector.groups`), whose eigenvalues are those of the state. Measured
  alternatives: closed forms beyond 2 x 2 (Cardano) lose half the digits at degenerate
  eigenvalues (1e-8); NumPy's ``eigvalsh`` through `jax.pure_callback` compiles in no time but
  stalled one 50-point run of `examples/driven_chain.py` for ten minutes on the two-core
  machine. The Jacobi sweep costs about 1.5 s of XLA compilation per use (3 x 3 blocks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["min_eigenvalue", "hermitian_eigenvalues", "min_group_eigenvalue"]

_HP = jax.lax.Precision.HIGHEST

#: groups up to this size use the Jacobi sweep; larger ones one LAPACK call
JACOBI_MAX = 8


def min_eigenvalue(*rhos):
    """Smallest eigenvalue of the Hermitian parts of ``rhos`` (one batched LAPACK call, so that
    no two LAPACK kernels run concurrently; NaN input is sanitised, then reported as NaN)."""
    herm = jnp.stack([0.5 * (r + r.conj().T) for r in rhos])
    finite = jnp.all(jnp.isfinite(herm))
    ev = jnp.min(jnp.linalg.eigvalsh(jnp.where(finite, herm, 0.0)))
    return jnp.where(finite, ev, jnp.nan)


def hermitian_eigenvalues(a, sweeps: int = 8):
    """Eigenvalues (unordered) of a small Hermitian matrix ``a`` (``(g, g)``) by cyclic complex
    Jacobi rotations; error about ``1e-15 |a|`` after the default 8 sweeps for ``g <= 8``."""
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

    if d == 1:
        return jnp.real(a[..., 0, :])
    a = jax.lax.fori_loop(0, sweeps, sweep, jnp.asarray(a, jnp.complex128))
    return jnp.real(jnp.diagonal(a))


def min_group_eigenvalue(blocks):
    """Smallest eigenvalue of a stack of Hermitian blocks ``(..., g, g)`` (their Hermitian parts);
    NaN if any entry is not finite. Not differentiated."""
    blocks = jax.lax.stop_gradient(blocks)
    herm = 0.5 * (blocks + jnp.conj(jnp.swapaxes(blocks, -1, -2)))
    finite = jnp.all(jnp.isfinite(herm))
    herm = jnp.where(finite, herm, 0.0)
    g = herm.shape[-1]
    flat = herm.reshape((-1, g, g))
    if g == 1:
        ev = jnp.min(jnp.real(flat))
    elif g == 2:
        a, d, b = jnp.real(flat[:, 0, 0]), jnp.real(flat[:, 1, 1]), flat[:, 0, 1]
        ev = jnp.min(0.5 * (a + d) - jnp.sqrt(0.25 * (a - d) ** 2 + jnp.abs(b) ** 2))
    elif g <= JACOBI_MAX:
        ev = jnp.min(jax.vmap(hermitian_eigenvalues)(flat))
    else:
        ev = jnp.min(jnp.linalg.eigvalsh(flat))
    return jnp.where(finite, ev, jnp.nan)
