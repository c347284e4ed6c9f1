"""`BatchedBlockSolver`, the production steady-state solver, and `AutoSolver`.

The algorithm, layout, pivoting, fusion stages and memory of the batched block elimination are
described in `jaxtls._engine.batched_kernel`; its tangent and adjoint solves are in
`jaxtls._engine.batched_tangent`.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .batched_kernel import _View, chunked, solve_core
from .sector import SectorOperators
from .solvers import AbstractSteadySolver, DenseSolver

__all__ = ["BatchedBlockSolver", "AutoSolver"]


class BatchedBlockSolver(AbstractSteadySolver):
    """Block Thomas elimination on batch-last lanes with an unrolled, pivoted block kernel.

    The same results as `BlockTridiagonalSolver` (see the `jaxtls._batched_solver` module
    docstring for the algorithm, layout, pivoting, fusion stages and memory).

    **Arguments:**

    - `chunk_size` (static, default 1024): `solve_batch` and `solve_batch_last` solve a larger
      batch in consecutive chunks of this many points (a `jax.lax.fori_loop`), which keeps the
      per-level working set in cache and bounds the memory of the stored factors to
      ``K m^2 chunk_size`` doubles. ``None``: the whole batch at once.
    - `pivot` (static, default True): partial pivoting per point in the ``m x m`` eliminations;
      ``False`` uses the fixed order (about 25 % faster; accurate on the cavity sector's hard
      cases, see the module docstring).
    """

    chunk_size: int | None = eqx.field(default=1024, static=True)
    pivot: bool = eqx.field(default=True, static=True)

    def solve(self, blocks: Float[Array, "K 3 m m"], ops: SectorOperators) -> Float[Array, "K m"]:
        """One point; `jax.vmap` it for batches (or, faster, use `solve_batch`)."""
        return solve_core(blocks, ops, _View(False, None), pivot=self.pivot)

    def solve_batch(self, blocks: Float[Array, "N K 3 m m"], ops: SectorOperators) -> Float[Array, "N K m"]:
        """A batch in the batch-first layout (levels are moved batch-last inside the loop)."""
        n = blocks.shape[0]
        cs = self.chunk_size
        if cs is None or cs >= n:
            x = solve_core(blocks, ops, _View(True, None), pivot=self.pivot)
        else:
            x = chunked(blocks, ops, True, n, cs, self.pivot)
        return jnp.moveaxis(x, -1, 0)

    def solve_coeffs_with_factors(self, ops: SectorOperators, c: Float[Array, "T N"]):
        """Steady states of ``L(c_n) = sum_t c_tn S_t`` from the coefficients ``c`` (``(T, N)``,
        batch-last; each level's blocks are formed when the elimination visits it, so the
        ``K 3 m^2 N`` blocks are never stored), in one piece, plus the factors for
        `particular_solve_lanes`: ``x`` ``(K, m, N)`` and ``G^{-1}`` ``(K, m, m, N)``."""
        src = (ops.blocks, ops.pad, c)
        return solve_core(src, ops, _View(False, None, coeffs=True), pivot=self.pivot, factors=True)

    def solve_coeffs(self, ops: SectorOperators, c: Float[Array, "T N"]) -> Float[Array, "K m N"]:
        """Steady states from the coefficients ``c`` (``(T, N)``, batch-last), in chunks of
        `chunk_size` points; result ``(K, m, N)`` (see `solve_coeffs_with_factors`)."""
        src = (ops.blocks, ops.pad, c)
        n = c.shape[-1]
        cs = self.chunk_size
        if cs is None or cs >= n or c.ndim != 2:
            return solve_core(src, ops, _View(False, None, coeffs=True), pivot=self.pivot)
        return chunked(src, ops, None, n, cs, self.pivot)

    def solve_batch_last(self, blocks: Float[Array, "K 3 m m N"], ops: SectorOperators) -> Float[Array, "K m N"]:
        """A batch in the batch-last layout (see `assemble_batch_last`); result ``(K, m, N)``."""
        n = blocks.shape[-1]
        cs = self.chunk_size
        if cs is None or cs >= n or blocks.ndim != 5:
            return solve_core(blocks, ops, _View(False, None), pivot=self.pivot)
        return chunked(blocks, ops, False, n, cs, self.pivot)


class AutoSolver(AbstractSteadySolver):
    """`BatchedBlockSolver` for 4 or more levels, `DenseSolver` otherwise."""

    min_levels: int = 4

    def choose(self, num_levels: int) -> AbstractSteadySolver:
        if num_levels >= self.min_levels:
            return BatchedBlockSolver()
        return DenseSolver()

    def solve(self, blocks, ops):
        return self.choose(blocks.shape[0]).solve(blocks, ops)

    def solve_batch(self, blocks, ops):
        return self.choose(blocks.shape[1]).solve_batch(blocks, ops)
