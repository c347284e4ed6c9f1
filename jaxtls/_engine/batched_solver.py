"""`BatchedBlockSolver`, the production steady-state solver, `BlockTridiagonalSolver` and
`AutoSolver`.

Both block solvers run the one elimination kernel of `jaxtls._engine.batched_kernel` (its
algorithm, layout, pivoting, fusion stages and memory are described there) on the coefficient
source of `jaxtls._engine.blocks`; their `particular_solve` / `transpose_solve` are the tangent
and adjoint solves of `jaxtls._engine.batched_tangent` with the kernel's factors. lineax is
not used here: it has no block-tridiagonal solver (`lineax.Tridiagonal` is scalar), and its
operators are one matrix per point, while this kernel eliminates a whole batch at once on
contiguous lanes and never stores the matrix.
"""

from __future__ import annotations

import numbers
from typing import Any

import equinox as eqx
from jaxtyping import Array, Float, PyTree

from .batched_kernel import solve_chunked, solve_core
from .batched_tangent import adjoint_solve_lanes, particular_solve_lanes
from .sector import SectorOperators
from .solvers import AbstractSteadySolver, DenseSolver

__all__ = ["BatchedBlockSolver", "BlockTridiagonalSolver", "AutoSolver"]


class _BlockState(eqx.Module):
    ops: SectorOperators
    coeffs: Float[Array, "T ..."]
    x: Float[Array, "K m ..."] | None  # None: not yet solved (tangents=False)
    g_inv: Float[Array, "K m m ..."] | None

    @property
    def source(self):
        return (self.ops.blocks, self.ops.pad, self.coeffs)


class BatchedBlockSolver(AbstractSteadySolver):
    """Block Thomas elimination on batch-last lanes with an unrolled, pivoted block kernel
    (`jaxtls._engine.batched_kernel`), from the coefficients. Cost ``O(K m^3)`` per point.

    `init` runs the elimination once and keeps the solution and the factors ``G_k^{-1}``
    (``K m^2`` doubles per point), in one piece; with ``tangents=False`` it only records the
    coefficients and `solve` eliminates without keeping factors, in chunks.

    **Arguments:**

    - `chunk_size` (static, default 1024): without tangents, a batch with one lane axis is
      solved in consecutive chunks of this many points (a `jax.lax.fori_loop`), which keeps
      the per-level working set in cache and bounds the memory of the factors of the upward
      pass to ``K m^2 chunk_size`` doubles. ``None``: the whole batch at once.
    - `pivot` (static, default True): partial pivoting per point in the ``m x m``
      eliminations; ``False`` uses the fixed order (about 25 % faster; accurate on the cavity
      sector's hard cases, see `jaxtls._engine.batched_kernel`).
    """

    chunk_size: int | None = eqx.field(default=1024, static=True)
    pivot: bool = eqx.field(default=True, static=True)

    def __check_init__(self):
        cs = self.chunk_size
        if cs is not None and (isinstance(cs, bool) or not isinstance(cs, numbers.Integral) or cs < 1):
            raise ValueError(f"chunk_size must be None or an integer >= 1, got {cs!r}")

    def init(self, ops: SectorOperators, coeffs: Float[Array, "T ..."], *, tangents: bool = True) -> PyTree[Any]:
        if not tangents:
            return _BlockState(ops, coeffs, None, None)
        x, g_inv = solve_core((ops.blocks, ops.pad, coeffs), ops, self.pivot, factors=True)
        return _BlockState(ops, coeffs, x, g_inv)

    def solve(self, state: _BlockState) -> Float[Array, "K m ..."]:
        if state.x is not None:
            return state.x
        return solve_chunked(state.source, state.ops, self.chunk_size, self.pivot)

    def particular_solve(self, state: _BlockState, b):
        return particular_solve_lanes(self._factors(state), state.source, b, state.ops.norm_row)

    def transpose_solve(self, state: _BlockState, g):
        return adjoint_solve_lanes(self._factors(state), state.source, g, state.ops.norm_row)

    @staticmethod
    def _factors(state: _BlockState):
        if state.g_inv is None:
            raise ValueError("this state was made with init(..., tangents=False); it has no factors")
        return state.g_inv


class BlockTridiagonalSolver(BatchedBlockSolver):
    """The block-tridiagonal kernel of `BatchedBlockSolver` without batch chunks
    (``chunk_size=None``): block Thomas elimination with per-level rescaling, ``O(K m^3)`` per
    point. Kept under its name; the same results as `BatchedBlockSolver`."""

    chunk_size: int | None = eqx.field(default=None, static=True)


class _AutoState(eqx.Module):
    solver: AbstractSteadySolver
    inner: PyTree[Any]


class AutoSolver(AbstractSteadySolver):
    """`BatchedBlockSolver` for `min_levels` (default 4) or more levels, `DenseSolver` otherwise."""

    min_levels: int = eqx.field(default=4, static=True)

    def choose(self, num_levels: int) -> AbstractSteadySolver:
        if num_levels >= self.min_levels:
            return BatchedBlockSolver()
        return DenseSolver()

    def init(self, ops, coeffs, *, tangents=True):
        solver = self.choose(ops.blocks.shape[1])
        return _AutoState(solver, solver.init(ops, coeffs, tangents=tangents))

    def solve(self, state):
        return state.solver.solve(state.inner)

    def particular_solve(self, state, b):
        return state.solver.particular_solve(state.inner, b)

    def transpose_solve(self, state, g):
        return state.solver.transpose_solve(state.inner, g)
