"""Implicit differentiation of steady states.

The steady state ``x(c)`` is defined by ``L(c) x = 0`` and ``w . x = 1`` (``w`` the trace row),
with ``L(c) = sum_t c_t S_t`` linear in the coefficients. Differentiating,

    L dx = -dL x,    w . dx = 0,     dL = sum_t dc_t S_t,

a linear system with the *same* matrix: one extra solve per tangent, never a differentiation
through the elimination. The right-hand side is consistent (``w^T dL = 0`` because every
``S_t`` preserves the trace), so a particular solution ``y`` of ``L y = b`` is found by block
elimination with the redundant row of level 0 replaced by ``trace_0 . y_0 = 0``, and the
normalisation is restored by ``dx = y - (w . y) x``.

`steady_state_and_residual` is a `jax.custom_jvp`: forward mode uses the rule directly,
reverse mode (`jax.grad`) transposes its linear tangent part. With the batched kernel the
tangent solve is a `jax.lax.custom_linear_solve` whose transpose is a hand-written adjoint
solve with the same stored factors (`jaxtls._engine.batched_tangent.adjoint_solve_lanes`), so a
gradient costs one forward elimination (which also keeps ``G_k^{-1}``) plus one adjoint solve
of matrix-vector products. The factors are treated as constants: first derivatives are exact,
higher derivatives (e.g. Hessians) of the steady state are not supported.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .batched_kernel import materialise
from .batched_solver import AutoSolver, BatchedBlockSolver
from .batched_tangent import (
    adjoint_solve_lanes,
    apply_from_coeffs,
    dl_apply_lanes,
    particular_solve_lanes,
    residual_from_coeffs,
)
from .blocks import apply, assemble, dense_from_blocks, relative_residual
from .sector import SectorOperators

__all__ = ["steady_state_batch", "steady_state_and_residual", "assemble_batch", "particular_solve"]

_HP = jax.lax.Precision.HIGHEST


def _factor(blocks):
    """Schur factors from the top: ``S_k`` (k = 1..K-1) and ``G_k`` (k = 0..K-1, level 0 unmodified)."""
    a, b, c = blocks[:, 0], blocks[:, 1], blocks[:, 2]

    def down(s_next, inp):
        a_k, b_k, c_k = inp
        g = b_k + jnp.matmul(c_k, s_next, precision=_HP)
        s_k = -jnp.linalg.solve(g, a_k)
        return s_k, (s_k, g)

    g_top = b[-1]
    s_top = -jnp.linalg.solve(g_top, a[-1])
    _, (s_mid, g_mid) = jax.lax.scan(down, s_top, (a[1:-1], b[1:-1], c[1:-1]), reverse=True)
    s_all = jnp.concatenate([s_mid, s_top[None]], axis=0)  # S_1 .. S_{K-1}
    g0 = b[0] + jnp.matmul(c[0], s_all[0], precision=_HP)
    g_all = jnp.concatenate([g0[None], g_mid, g_top[None]], axis=0)  # G_0 .. G_{K-1}
    return s_all, g_all


def particular_solve(blocks, rhs, ops: SectorOperators):
    """A solution ``y`` of ``L y = rhs`` (rhs consistent) with ``trace_0 . y_0 = 0``; one point.

    Requires at least two levels (use a dense solve for one).
    """
    c = blocks[:, 2]
    s_all, g_all = _factor(blocks)

    def down(t_next, inp):
        g_k, c_k, r_k = inp
        t_k = jnp.linalg.solve(g_k, r_k - jnp.matmul(c_k, t_next, precision=_HP))
        return t_k, t_k

    t_top = jnp.linalg.solve(g_all[-1], rhs[-1])
    t1, t_mid = jax.lax.scan(down, t_top, (g_all[1:-1], c[1:-1], rhs[1:-1]), reverse=True)
    t_all = jnp.concatenate([t_mid, t_top[None]], axis=0)  # t_1 .. t_{K-1}
    r = ops.norm_row
    g0 = g_all[0].at[r].set(ops.trace[0])
    r0 = (rhs[0] - jnp.matmul(c[0], t_all[0], precision=_HP)).at[r].set(0.0)
    y0 = jnp.linalg.solve(g0, r0)

    def up(y_prev, inp):
        s_k, t_k = inp
        y = jnp.matmul(s_k, y_prev, precision=_HP) + t_k
        return y, y

    _, ys = jax.lax.scan(up, y0, (s_all, t_all))
    del t1
    return jnp.concatenate([y0[None], ys], axis=0)


def _dense_particular(blocks, rhs, ops):

    k, _, m, _ = blocks.shape
    mat = dense_from_blocks(blocks)
    r = ops.norm_row
    mat = mat.at[r].set(ops.trace.reshape(-1))
    b = rhs.reshape(-1).at[r].set(0.0)
    return jnp.linalg.solve(mat, b).reshape(k, m)


def assemble_batch(ops: SectorOperators, coeffs):
    """Blocks ``(N, K, 3, m, m)`` of a batch, materialised once (shared by solve and checks)."""

    return materialise(jax.vmap(assemble, in_axes=(None, 0))(ops, coeffs))


@jax.custom_jvp
def _frozen(x):
    """Identity on the factors a derivative rule uses; differentiating it again raises.

    The rules below treat the factors of the forward elimination as constants, which is exact
    for first derivatives but would silently drop terms of second derivatives."""
    return x


@_frozen.defjvp
def _frozen_jvp(primals, tangents):
    raise NotImplementedError(
        "second derivatives of steady states (e.g. jax.hessian, or jax.jacfwd of jax.grad, of a "
        "function of solve_cavity / solve_classical results) are not supported: the implicit "
        "derivative rule uses the factors of the forward elimination as constants. Use finite "
        "differences of jax.grad for curvature."
    )


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def steady_state_and_residual(solver, ops: SectorOperators, coeffs):
    """Steady states ``x`` (N, K, m) of ``L(coeffs[n])``, differentiable in `coeffs` (implicit),
    and their relative residuals ``max|L x| / (max|L| max|x|)`` (N,) (not differentiated)."""
    kernel = _batched_kernel(solver, ops.blocks.shape[1])
    if kernel is not None:
        # batch-last from the coefficients: each level's blocks are formed when the elimination
        # (and then the residual check) visits it; the K 3 m^2 N blocks are never stored
        c = coeffs.T
        x_bl = kernel.solve_coeffs(ops, c)
        return jnp.moveaxis(x_bl, -1, 0), residual_from_coeffs((ops.blocks, ops.pad, c), x_bl)
    blocks = assemble_batch(ops, coeffs)
    x = solver.solve_batch(blocks, ops)
    return x, jax.vmap(relative_residual)(blocks, x)


def steady_state_batch(solver, ops: SectorOperators, coeffs):
    """Steady states ``x`` (N, K, m) of ``L(coeffs[n])``, differentiable in `coeffs` (implicit)."""
    return steady_state_and_residual(solver, ops, coeffs)[0]


def _batched_kernel(solver, num_levels: int):
    """The `BatchedBlockSolver` that `solver` runs on `num_levels` levels, or None."""

    if isinstance(solver, AutoSolver):
        solver = solver.choose(num_levels)
    return solver if isinstance(solver, BatchedBlockSolver) else None


@steady_state_and_residual.defjvp
def _steady_state_jvp(solver, primals, tangents):
    ops, coeffs = primals
    _, dcoeffs = tangents
    kernel = _batched_kernel(solver, ops.blocks.shape[1])
    if kernel is not None:
        return _batched_jvp(kernel, ops, coeffs, dcoeffs)
    dblocks = jnp.tensordot(dcoeffs, ops.blocks, axes=1, precision=_HP)  # no padding term
    x, resid = _frozen(steady_state_and_residual(solver, ops, coeffs))
    blocks = _frozen(assemble_batch(ops, coeffs))
    rhs = -jax.vmap(apply)(dblocks, x)
    single = blocks.shape[1] < 2
    part = _dense_particular if single else particular_solve
    y = jax.vmap(part, in_axes=(0, 0, None))(blocks, rhs, ops)
    wy = jnp.einsum("km,nkm->n", ops.trace, y, precision=_HP)
    return (x, resid), (y - wy[:, None, None] * x, jnp.zeros_like(resid))


def _batched_jvp(kernel, ops: SectorOperators, coeffs, dcoeffs):
    """Tangent rule of the batched kernel, all batch-last and without the ``K 3 m^2 N`` blocks.

    The forward elimination runs from the coefficients and also returns ``G_k^{-1}`` (the
    only stored factor, ``K m^2`` per point). The tangent ``y`` of ``L y = -dL x`` is a
    `jax.lax.custom_linear_solve`: forward mode runs `particular_solve_lanes`, reverse mode
    its exact transpose `adjoint_solve_lanes` (the adjoint solve with the same factors; JAX
    never transposes the elimination loops itself, so no per-level copies are stored).
    """

    c = _frozen(coeffs.T)
    src = (ops.blocks, ops.pad, c)
    x_bl, g_inv = kernel.solve_coeffs_with_factors(ops, c)
    resid = residual_from_coeffs(src, x_bl)
    b = dl_apply_lanes(ops.blocks, dcoeffs.T, x_bl)  # -dL x, consistent
    r = ops.norm_row
    # matvec is L itself (L y = b holds for the consistent b); only the two solves run
    y = jax.lax.custom_linear_solve(
        lambda v: apply_from_coeffs(src, v),
        b,
        solve=lambda _, rhs: particular_solve_lanes(g_inv, src, rhs, r),
        transpose_solve=lambda _, rhs: adjoint_solve_lanes(g_inv, src, rhs, r),
    )
    wy = jnp.einsum("km,km...->...", ops.trace, y, precision=_HP)
    dx = jnp.moveaxis(y - wy * x_bl, -1, 0)
    return (jnp.moveaxis(x_bl, -1, 0), resid), (dx, jnp.zeros_like(resid))
