"""The steady-state solver interface and its two reference implementations.

Every solver shares one interface (`AbstractSteadySolver.solve(blocks, ops) -> x`), with the
block-tridiagonal matrix given as ``blocks`` of shape ``(K, 3, m, m)`` (see
`jaxtls._engine.blocks`) and the result ``x`` of shape ``(K, m)`` (real unknowns, trace one):

- `DenseSolver`: assembles the ``(K m) x (K m)`` matrix, replaces the first population row by
  the trace condition and calls an LU solve. Cost ``O((K m)^3)``; the reference path.
- `BlockTridiagonalSolver`: block elimination from the top level down (block Thomas),
  ``x_k = S_k x_{k-1}`` with ``S_k = -(B_k + C_k S_{k+1})^{-1} A_k``; the singular
  ``m x m`` system of level 0 gets its scale from the trace row of level 0, then the levels
  are substituted upwards *with rescaling at every level* (the unnormalised solution grows
  like ``1 / P(level 0)`` deep above a lasing threshold), and the result is normalised in
  log space. Cost ``O(K m^3)``, memory ``K m^2`` per point.

The batched production kernel (`jaxtls._engine.batched_solver.BatchedBlockSolver`) and the
automatic choice (`AutoSolver`) live in `jaxtls._engine.batched_solver`.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .blocks import dense_from_blocks
from .sector import SectorOperators

__all__ = ["AbstractSteadySolver", "DenseSolver", "BlockTridiagonalSolver"]


class AbstractSteadySolver(eqx.Module):
    """Solves ``L x = 0`` with ``trace . x = 1`` for one point (vmap for batches)."""

    @abc.abstractmethod
    def solve(self, blocks: Float[Array, "K 3 m m"], ops: SectorOperators) -> Float[Array, "K m"]: ...

    def solve_batch(self, blocks: Float[Array, "N K 3 m m"], ops: SectorOperators) -> Float[Array, "N K m"]:
        """Batched solve; the default vmaps `solve`."""
        return jax.vmap(self.solve, in_axes=(0, None))(blocks, ops)


class DenseSolver(AbstractSteadySolver):
    """Dense LU solve of the whole sector (reference; ``O((K m)^3)``)."""

    def solve(self, blocks, ops):
        k, _, m, _ = blocks.shape
        mat = dense_from_blocks(blocks)
        r = ops.norm_row
        mat = mat.at[r].set(ops.trace.reshape(-1))
        rhs = jnp.zeros(k * m, blocks.dtype).at[r].set(1.0)
        x = jnp.linalg.solve(mat, rhs)
        return x.reshape(k, m)


class BlockTridiagonalSolver(AbstractSteadySolver):
    """Block Thomas elimination with per-level rescaling (module docstring)."""

    def solve(self, blocks, ops):
        a, b, c = blocks[:, 0], blocks[:, 1], blocks[:, 2]
        k = blocks.shape[0]

        def down(s_next, inp):
            a_k, b_k, c_k = inp
            g = b_k + c_k @ s_next
            s_k = -jnp.linalg.solve(g, a_k)
            return s_k, s_k

        s_top = -jnp.linalg.solve(b[-1], a[-1])
        s_last, s_mid = jax.lax.scan(down, s_top, (a[1:-1], b[1:-1], c[1:-1]), reverse=True)
        # s_mid[i] is S_{i+1} for i = 0..k-3; the full list S_1..S_{K-1}
        s_all = jnp.concatenate([s_mid, s_top[None]], axis=0) if k > 2 else s_top[None]
        s1 = s_all[0]
        g0 = b[0] + c[0] @ s1
        r = ops.norm_row
        g0 = g0.at[r].set(ops.trace[0])
        rhs = jnp.zeros(g0.shape[0], g0.dtype).at[r].set(1.0)
        x0 = jnp.linalg.solve(g0, rhs)
        del s_last

        def up(carry, s_k):
            x_prev, log_prev = carry
            y = s_k @ x_prev
            scale = jnp.max(jnp.abs(y))
            scale = jnp.where(scale > 0, scale, 1.0)
            y = y / scale
            logk = log_prev + jnp.log(scale)
            return (y, logk), (y, logk)

        n0 = jnp.max(jnp.abs(x0))
        y0 = x0 / n0
        _, (ys, logs) = jax.lax.scan(up, (y0, jnp.log(n0)), s_all)
        ys = jnp.concatenate([y0[None], ys], axis=0)
        logs = jnp.concatenate([jnp.log(n0)[None], logs])
        traces = jnp.sum(ops.trace * ys, axis=1)
        lmax = jnp.max(logs)
        total = jnp.sum(traces * jnp.exp(logs - lmax))
        return ys * (jnp.exp(logs - lmax) / total)[:, None]
