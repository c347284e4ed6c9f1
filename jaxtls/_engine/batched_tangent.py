"""Tangent solve and its adjoint with the factors of the elimination kernel, batch-last.

The implicit derivatives of steady states (`jaxtls._engine.implicit`) solve ``L y = b`` for
consistent right-hand sides with the factors ``G_k^{-1}`` kept by the forward elimination
(`jaxtls._engine.batched_kernel.solve_core` with ``factors=True``), forming ``A_k`` and
``C_k`` from the source level by level (no ``K 3 m^2 N`` array with a coefficient source).
`adjoint_solve_lanes` is the exact transpose of `particular_solve_lanes`; together with the
elimination they are `BatchedBlockSolver`'s `particular_solve` and `transpose_solve`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .blocks import level, mtv, mv

__all__ = ["particular_solve_lanes", "adjoint_solve_lanes"]


def particular_solve_lanes(g_inv, src, b, norm_row: int):
    """A solution ``y`` of ``L y = b`` with ``trace_0 . y_0 = 0``, batch-last, from the factors.

    `b` ``(K, m, *lanes)`` must be consistent (``trace . b = 0``; row `norm_row` of level 0 is
    redundant and ignored). `g_inv` ``(K, m, m, *lanes)`` are the inverses ``G_k^{-1}`` from
    the elimination (level 0: ``G_0`` with row `norm_row` replaced by the trace row) and `src`
    the source of ``L`` (`jaxtls._engine.blocks`): ``A_k`` and ``C_k`` are formed per level, so
    only ``G^{-1}`` is stored.

    With ``y_k = S_k y_{k-1} + t_k`` (``S_k = -G_k^{-1} A_k``): ``t_k = G_k^{-1} (b_k - C_k
    t_{k+1})`` from the top, ``y_0 = G_0^{-1} P (b_0 - C_0 t_1)`` (``P`` zeroes row
    `norm_row`), then upwards. Linear in `b`; `adjoint_solve_lanes` is its exact transpose.
    """
    k_lv = g_inv.shape[0]

    def down(t_next, k):
        gi = jax.lax.dynamic_index_in_dim(g_inv, k, 0, keepdims=False)
        b_k = jax.lax.dynamic_index_in_dim(b, k, 0, keepdims=False)
        t_k = mv(gi, b_k - mv(level(src, k, 2), t_next))
        return t_k, t_k

    t1, t_all = jax.lax.scan(down, jnp.zeros_like(b[0]), jnp.arange(1, k_lv), reverse=True)
    r0 = b[0] - mv(level(src, 0, 2), t1)
    y0 = mv(g_inv[0], r0.at[norm_row].set(0.0))

    def up(y_prev, inp):
        k, t_k = inp
        gi = jax.lax.dynamic_index_in_dim(g_inv, k, 0, keepdims=False)
        y = t_k - mv(gi, mv(level(src, k, 0), y_prev))
        return y, y

    _, ys = jax.lax.scan(up, y0, (jnp.arange(1, k_lv), t_all))
    return jnp.concatenate([y0[None], ys], axis=0)


def adjoint_solve_lanes(g_inv, src, ybar, norm_row: int):
    """The transpose of `particular_solve_lanes` (same arguments) applied to `ybar`.

    With ``a_{K-1} = ybar_{K-1}``, ``a_k = ybar_k + S_{k+1}^T a_{k+1}`` from the top,
    ``u_0 = P G_0^{-T} a_0`` and ``u_k = G_k^{-T} (a_k - C_{k-1}^T u_{k-1})`` upwards; returns
    ``u`` ``(K, m, *lanes)``. Reverse-mode derivatives use it as the adjoint solve: the same
    stored ``G^{-1}``, two passes of matrix-vector products.
    """
    k_lv = g_inv.shape[0]

    def down(a_next, k):  # a_k from a_{k+1}, k = K-2 .. 0
        gi = jax.lax.dynamic_index_in_dim(g_inv, k + 1, 0, keepdims=False)
        a_k = jax.lax.dynamic_index_in_dim(ybar, k, 0, keepdims=False)
        a_k = a_k - mtv(level(src, k + 1, 0), mtv(gi, a_next))
        return a_k, a_k

    _, a_low = jax.lax.scan(down, ybar[-1], jnp.arange(k_lv - 1), reverse=True)
    a_all = jnp.concatenate([a_low, ybar[-1:]], axis=0)
    u0 = mtv(g_inv[0], a_all[0]).at[norm_row].set(0.0)

    def up(u_prev, k):
        gi = jax.lax.dynamic_index_in_dim(g_inv, k, 0, keepdims=False)
        a_k = jax.lax.dynamic_index_in_dim(a_all, k, 0, keepdims=False)
        u = mtv(gi, a_k - mtv(level(src, k - 1, 2), u_prev))
        return u, u

    _, us = jax.lax.scan(up, u0, jnp.arange(1, k_lv))
    return jnp.concatenate([u0[None], us], axis=0)
