"""The steady-state solver interface and the dense reference solver.

A solver finds the steady state ``x`` of a sector Lindbladian ``L(c) = sum_t c_t S_t``
(`jaxtls._engine.sector`): ``L x = 0`` with ``trace . x = 1``, ``x`` the real unknowns
``(K, m)`` of the sector. In the manner of lineax (``init`` / ``compute`` / ``transpose``), it
factorises once and then solves any number of right-hand sides with the factors:

- ``init(ops, coeffs) -> state``: factorise ``L(c)`` for coefficients ``coeffs``
  ``(T, *lanes)``;
- ``solve(state) -> x`` ``(K, m, *lanes)``: the steady states;
- ``particular_solve(state, b) -> y``: *a* solution of ``L y = b`` for a consistent ``b``
  (``trace . b = 0``, e.g. ``b = -dL x`` because every ``S_t`` preserves the trace), linear in
  ``b``. Which solution (they differ by multiples of ``x``) does not matter: the derivative
  rule projects with ``y - (trace . y) x``;
- ``transpose_solve(state, g)``: the transpose of the linear map ``b -> particular_solve(state,
  b)``, exact on consistent right-hand sides (reverse mode). The default asks JAX to transpose
  `particular_solve` (`jax.linear_transpose`); solvers with a cheaper adjoint override it.

Batches sit on the trailing "lane" axes (batch-last, as in `jaxtls._engine.blocks`); no lanes
is one point. The implicit derivative rule (`jaxtls._engine.implicit`) uses this interface and
nothing else, so every solver -- `DenseSolver`, the block-tridiagonal kernel
(`jaxtls.BatchedBlockSolver`, `jaxtls.BlockTridiagonalSolver`), `jaxtls.AutoSolver` or a
user's subclass -- is differentiable (forward and reverse mode) by the same rule.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Float, PyTree

from .blocks import assemble, dense_from_blocks
from .sector import SectorOperators

__all__ = ["AbstractSteadySolver", "DenseSolver"]


class AbstractSteadySolver(eqx.Module):
    """Interface of the steady-state solvers (module docstring).

    Subclasses implement `init`, `solve` and `particular_solve` (and may override
    `transpose_solve`); see `DenseSolver` for a complete example in a few lines.
    """

    @abc.abstractmethod
    def init(self, ops: SectorOperators, coeffs: Float[Array, "T ..."], *, tangents: bool = True) -> PyTree[Any]:
        """Factorise ``L(coeffs)`` on the sector `ops`; returns the solver's state.

        `tangents=False` promises that only `solve` will be called on the state, so a solver
        may skip what only `particular_solve` / `transpose_solve` need."""

    @abc.abstractmethod
    def solve(self, state: PyTree[Any]) -> Float[Array, "K m ..."]:
        """The steady states ``x``: ``L x = 0``, ``trace . x = 1`` in every lane."""

    @abc.abstractmethod
    def particular_solve(self, state: PyTree[Any], b: Float[Array, "K m ..."]) -> Float[Array, "K m ..."]:
        """A solution ``y`` of ``L y = b`` for a consistent ``b`` (``trace . b = 0``), linear in `b`."""

    def transpose_solve(self, state: PyTree[Any], g: Float[Array, "K m ..."]) -> Float[Array, "K m ..."]:
        """The transpose of ``b -> particular_solve(state, b)`` applied to `g`."""
        (out,) = jax.linear_transpose(functools.partial(self.particular_solve, state), g)(g)
        return out


class _DenseState(eqx.Module):
    lu: PyTree[Any]  # lineax LU state of every point, points first
    shape: tuple = eqx.field(static=True)  # (K, m)
    lanes: tuple = eqx.field(static=True)
    norm_row: int = eqx.field(static=True)


def _trace_row_matrix(ops: SectorOperators, c: Float[Array, " T"]) -> Float[Array, "n n"]:
    """The dense ``L(c)`` with row `norm_row` replaced by the trace row (non-singular exactly
    when the steady state is unique)."""
    mat = dense_from_blocks(assemble(ops, c))
    return mat.at[ops.norm_row].set(ops.trace.reshape(-1))


class DenseSolver(AbstractSteadySolver):
    """Dense LU of the whole sector (`lineax.LU` on a `lineax.MatrixLinearOperator`); the
    reference path, cost ``O((K m)^3)`` per point.

    The matrix is ``L`` with the redundant row `norm_row` (a population equation of level 0)
    replaced by the trace row ``M``: ``x = M^{-1} e_r``, a particular solution of ``L y = b`` is
    ``M^{-1} P b`` (``P`` zeroes row ``r``) and its transpose is ``P M^{-T} g`` (lineax's
    transposed LU solve with the same factors).
    """

    def init(self, ops, coeffs, *, tangents=True):
        del tangents
        lanes = tuple(coeffs.shape[1:])
        c = jnp.moveaxis(coeffs.reshape(coeffs.shape[0], -1), -1, 0)  # (N, T)

        def factor(ci):
            return lx.LU().init(lx.MatrixLinearOperator(_trace_row_matrix(ops, ci)), {})

        k, _, m, _ = ops.blocks.shape[1:]
        return _DenseState(jax.vmap(factor)(c), (k, m), lanes, ops.norm_row)

    def _map(self, state: _DenseState, b, transpose: bool):
        """``M^{-1} b`` (``M^{-T} b`` with `transpose`) for ``b`` ``(K, m, *lanes)``."""

        def one(lu, v):
            if transpose:
                lu, _ = lx.LU().transpose(lu, {})
            return lx.LU().compute(lu, v, {})[0]

        n = state.shape[0] * state.shape[1]
        flat = jnp.moveaxis(b.reshape((n, -1)), -1, 0)  # (N, n)
        out = jax.vmap(one)(state.lu, flat)
        return jnp.moveaxis(out, 0, -1).reshape(state.shape + state.lanes)

    def solve(self, state):
        n = state.shape[0] * state.shape[1]
        e_r = jnp.zeros((n,) + state.lanes).at[state.norm_row].set(1.0)
        return self._map(state, e_r.reshape(state.shape + state.lanes), False)

    def particular_solve(self, state, b):
        k, m = state.shape
        pb = b.reshape((k * m,) + state.lanes).at[state.norm_row].set(0.0)
        return self._map(state, pb.reshape(b.shape), False)

    def transpose_solve(self, state, g):
        k, m = state.shape
        out = self._map(state, g, True).reshape((k * m,) + state.lanes)
        return out.at[state.norm_row].set(0.0).reshape(g.shape)
