"""Tangent and adjoint solves of the batched kernel, batch-last, from the coefficients.

The implicit derivatives of steady states (`jaxtls._engine.implicit`) solve ``L y = b`` with
the factors ``G_k^{-1}`` kept by the forward elimination (`jaxtls._engine.batched_kernel`),
forming ``A_k`` and ``C_k`` from the coefficients level by level (no ``K 3 m^2 N`` array).
`adjoint_solve_lanes` is the exact transpose of `particular_solve_lanes`. Also here: the
level-by-level mat-vec ``L x`` and residual from the coefficients, and ``-dL x``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .batched_kernel import level_from_coeffs

__all__ = [
    "apply_batch_last",
    "particular_solve_lanes",
    "adjoint_solve_lanes",
    "dl_apply_lanes",
    "residual_from_coeffs",
    "apply_from_coeffs",
]

_HI = jax.lax.Precision.HIGHEST


def apply_batch_last(
    blocks: Float[Array, "K 3 m m *lanes"], x: Float[Array, "K m *lanes"]
) -> Float[Array, "K m *lanes"]:
    """``L x`` for block-tridiagonal blocks and vectors laid out batch-last."""
    y = jnp.sum(blocks[:, 1] * x[:, None], axis=2)
    y = y.at[1:].add(jnp.sum(blocks[1:, 0] * x[:-1, None], axis=2))
    return y.at[:-1].add(jnp.sum(blocks[:-1, 2] * x[1:, None], axis=2))


def _mv(a, v):
    """``a v`` for ``a`` ``(m, m, *lanes)`` and ``v`` ``(m, *lanes)``."""
    return jnp.sum(a * v[None], axis=1)


def _mtv(a, v):
    """``a^T v`` for ``a`` ``(m, m, *lanes)`` and ``v`` ``(m, *lanes)``."""
    return jnp.sum(a * v[:, None], axis=0)


def particular_solve_lanes(g_inv, src, b, norm_row: int):
    """A solution ``y`` of ``L y = b`` with ``trace_0 . y_0 = 0``, batch-last, from the factors.

    `b` ``(K, m, *lanes)`` must be consistent (``trace . b = 0``; row `norm_row` of level 0 is
    redundant and ignored). `g_inv` ``(K, m, m, *lanes)`` are the inverses ``G_k^{-1}`` from
    `BatchedBlockSolver.solve_coeffs_with_factors` (level 0: ``G_0`` with row `norm_row`
    replaced by the trace row) and `src` the coefficient source ``(terms, pad, c)`` of ``L``
    (`level_from_coeffs`): ``A_k`` and ``C_k`` are formed from the coefficients per level, so
    only ``G^{-1}`` is stored.

    With ``y_k = S_k y_{k-1} + t_k`` (``S_k = -G_k^{-1} A_k``): ``t_k = G_k^{-1} (b_k - C_k
    t_{k+1})`` from the top, ``y_0 = G_0^{-1} P (b_0 - C_0 t_1)`` (``P`` zeroes row
    `norm_row`), then upwards. Linear in `b`; `adjoint_solve_lanes` is its exact transpose.
    """
    terms, _, c = src
    k_lv = g_inv.shape[0]

    def down(t_next, k):
        gi = jax.lax.dynamic_index_in_dim(g_inv, k, 0, keepdims=False)
        b_k = jax.lax.dynamic_index_in_dim(b, k, 0, keepdims=False)
        t_k = _mv(gi, b_k - _mv(level_from_coeffs(terms, None, c, k, 2), t_next))
        return t_k, t_k

    t1, t_all = jax.lax.scan(down, jnp.zeros_like(b[0]), jnp.arange(1, k_lv), reverse=True)
    r0 = b[0] - _mv(level_from_coeffs(terms, None, c, 0, 2), t1)
    y0 = _mv(g_inv[0], r0.at[norm_row].set(0.0))

    def up(y_prev, inp):
        k, t_k = inp
        gi = jax.lax.dynamic_index_in_dim(g_inv, k, 0, keepdims=False)
        y = t_k - _mv(gi, _mv(level_from_coeffs(terms, None, c, k, 0), y_prev))
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
    terms, _, c = src
    k_lv = g_inv.shape[0]

    def down(a_next, k):  # a_k from a_{k+1}, k = K-2 .. 0
        gi = jax.lax.dynamic_index_in_dim(g_inv, k + 1, 0, keepdims=False)
        a_k = jax.lax.dynamic_index_in_dim(ybar, k, 0, keepdims=False)
        a_k = a_k - _mtv(level_from_coeffs(terms, None, c, k + 1, 0), _mtv(gi, a_next))
        return a_k, a_k

    _, a_low = jax.lax.scan(down, ybar[-1], jnp.arange(k_lv - 1), reverse=True)
    a_all = jnp.concatenate([a_low, ybar[-1:]], axis=0)
    u0 = _mtv(g_inv[0], a_all[0]).at[norm_row].set(0.0)

    def up(u_prev, k):
        gi = jax.lax.dynamic_index_in_dim(g_inv, k, 0, keepdims=False)
        a_k = jax.lax.dynamic_index_in_dim(a_all, k, 0, keepdims=False)
        u = _mtv(gi, a_k - _mtv(level_from_coeffs(terms, None, c, k - 1, 2), u_prev))
        return u, u

    _, us = jax.lax.scan(up, u0, jnp.arange(1, k_lv))
    return jnp.concatenate([u0[None], us], axis=0)


def _shifted(x):
    """``x_{k-1}``, ``x_k``, ``x_{k+1}`` (zero beyond the ends), each ``(K, m, *lanes)``."""
    zero = jnp.zeros_like(x[:1])
    return jnp.concatenate([zero, x[:-1]], axis=0), x, jnp.concatenate([x[1:], zero], axis=0)


def dl_apply_lanes(terms, dc, x):
    """``-dL x`` with ``dL = sum_t dc_t S_t`` (no padding), batch-last; linear in `dc`.

    `terms` ``(T, K, 3, m, m)``, `dc` ``(T, *lanes)``, `x` ``(K, m, *lanes)``. A scan over the
    levels: ``u_t = (S_t x)_k`` (``(T, m, *lanes)``, independent of `dc`) is formed per level
    and contracted with `dc`, so many tangents (`jax.jacfwd`) share it. It is rematerialised
    (`jax.checkpoint`) rather than stored when reverse mode transposes this map: otherwise every
    level's ``u`` (``T K m`` doubles per point) would be kept.
    """
    x_prev, x_cur, x_next = _shifted(x)

    @jax.checkpoint
    def terms_times_x(t_k, xm, x0, xp):  # (S_t x)_k for every term t: (T, m, *lanes)
        xs = jnp.stack([xm, x0, xp])  # (3, m, *lanes)
        return jnp.tensordot(t_k, xs, axes=((1, 3), (0, 1)), precision=_HI)

    def level(_, inp):
        u = terms_times_x(*inp)
        return None, -jnp.sum(u * dc[:, None], axis=0)

    _, b = jax.lax.scan(level, None, (jnp.moveaxis(terms, 1, 0), x_prev, x_cur, x_next))
    return b


def _scan_levels_from_coeffs(src, x, out):
    """Scan over the levels of ``L`` (from the coefficient source `src`) applied to `x`
    ``(K, m, *lanes)``: ``out(y_k, blocks_k)`` of every level, with ``y_k = (L x)_k``."""
    terms, pad, c = src
    x_prev, x_cur, x_next = _shifted(x)

    def level(_, inp):
        k, xm, x0, xp = inp
        blk = level_from_coeffs(terms, pad, c, k)
        return None, out(_mv(blk[0], xm) + _mv(blk[1], x0) + _mv(blk[2], xp), blk)

    return jax.lax.scan(level, None, (jnp.arange(x.shape[0]), x_prev, x_cur, x_next))[1]


def residual_from_coeffs(src, x):
    """``max|L x| / (max|L| max|x|)`` per lane, with ``L`` from the coefficient source `src`
    (`level_from_coeffs`, padding included) and `x` ``(K, m, *lanes)``; the levels are
    formed one at a time (the same quantity as `jaxtls._engine.steady.relative_residual`)."""
    y_max, l_max = _scan_levels_from_coeffs(
        src, x, lambda y, blk: (jnp.max(jnp.abs(y), axis=0), jnp.max(jnp.abs(blk), axis=(0, 1, 2)))
    )
    return jnp.max(y_max, axis=0) / (jnp.max(l_max, axis=0) * jnp.max(jnp.abs(x), axis=(0, 1)))


def apply_from_coeffs(src, x):
    """``L x`` with ``L`` from the coefficient source `src`, batch-last (levels formed one at a
    time)."""
    return _scan_levels_from_coeffs(src, x, lambda y, blk: y)
