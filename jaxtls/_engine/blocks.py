"""Block-tridiagonal linear algebra of sector Lindbladians: the primitives every solver shares.

A sector Lindbladian (`jaxtls._engine.sector`) is block tridiagonal over ``K`` levels of ``m``
real unknowns: level ``k`` of ``L x`` is ``A_k x_{k-1} + B_k x_k + C_k x_{k+1}`` (``A_0 = 0``,
``C_{K-1} = 0``). Everything here is laid out *batch-last*: a batch of points sits on trailing
"lane" axes ``*lanes`` (possibly none: one point), so every operation is an elementwise loop
over contiguous lanes (see `jaxtls._engine.batched_kernel` for why).

A matrix is given by a *source*, one of

- stored blocks ``(K, 3, m, m, *lanes)``: ``[k, 0] = A_k``, ``[k, 1] = B_k``, ``[k, 2] = C_k``;
- a coefficient source ``(terms, pad, c)``: ``L(c) = sum_t c_t S_t`` plus the padding identity,
  with ``terms`` the ``(T, K, 3, m, m)`` blocks of the ``S_t`` (`SectorOperators.blocks`),
  ``pad`` ``(K, m, m)`` (or ``None``: no padding, e.g. for a derivative ``dL``) and ``c``
  ``(T, *lanes)``. Each level's blocks are formed when it is visited (`level`), so the
  ``K 3 m^2`` blocks per point are never stored.

`apply` (``L x``, level by level) is the one block mat-vec; `relative_residual` the one residual.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .sector import SectorOperators

__all__ = [
    "assemble",
    "level_from_coeffs",
    "level",
    "lanes_of",
    "slice_lanes",
    "source_dtype",
    "mv",
    "mtv",
    "apply",
    "relative_residual",
    "dl_apply",
    "dense_from_blocks",
]

_HI = jax.lax.Precision.HIGHEST


def assemble(ops: SectorOperators, coeffs: Float[Array, " T"]) -> Float[Array, "K 3 m m"]:
    """Blocks of ``L(c) = sum_t c_t S_t`` plus the padding identity, one point."""
    # only the structurally non-zero entries are formed (about a third for the cavity), then gathered
    vals = jnp.matmul(coeffs, ops.nz_basis, precision=_HI)
    vals = jnp.concatenate([vals, jnp.zeros(vals.shape[:-1] + (1,), vals.dtype)], axis=-1)
    blocks = jnp.take(vals, ops.nz_gather, axis=-1).reshape(ops.blocks.shape[1:])
    return blocks.at[:, 1].add(ops.pad)


def level_from_coeffs(terms, pad, c, k, which: int | None = None):
    """Blocks of level ``k`` of ``L(c) = sum_t c_t S_t`` (plus padding unless `pad` is None).

    `terms` ``(T, K, 3, m, m)``, `pad` ``(K, m, m)`` or None, `c` ``(T, *lanes)``, `k` a
    (traced) level index. Returns ``(3, m, m, *lanes)``, or the single block ``(m, m, *lanes)``
    ``A_k`` / ``B_k`` / ``C_k`` for ``which = 0 / 1 / 2``.
    """
    t_k = jax.lax.dynamic_index_in_dim(terms, k, 1, keepdims=False)  # (T, 3, m, m)
    if which is not None:
        t_k = t_k[:, which]
    blk = jnp.tensordot(t_k, c, axes=((0,), (0,)), precision=_HI)
    if pad is None or which not in (None, 1):
        return blk
    p_k = jax.lax.dynamic_index_in_dim(pad, k, 0, keepdims=False)
    p_k = p_k.reshape(p_k.shape + (1,) * (c.ndim - 1))
    return blk + p_k if which == 1 else blk.at[1].add(p_k)


def level(src, k, which: int | None = None):
    """Blocks ``(3, m, m, *lanes)`` of level ``k`` of a source (module docstring), or one block
    ``(m, m, *lanes)`` for ``which = 0 / 1 / 2`` (``A_k`` / ``B_k`` / ``C_k``)."""
    if isinstance(src, tuple):
        return level_from_coeffs(*src, k, which)
    blk = jax.lax.dynamic_index_in_dim(src, k, 0, keepdims=False)
    return blk if which is None else blk[which]


def lanes_of(src) -> tuple:
    """``(K, m, lanes)`` of a source."""
    if isinstance(src, tuple):
        terms, _, c = src
        return terms.shape[1], terms.shape[3], c.shape[1:]
    return src.shape[0], src.shape[2], src.shape[4:]


def slice_lanes(src, start, count: int):
    """The `count` lanes from (traced) `start` of a source with one lane axis."""
    if isinstance(src, tuple):
        terms, pad, c = src
        return terms, pad, jax.lax.dynamic_slice_in_dim(c, start, count, axis=1)
    return jax.lax.dynamic_slice_in_dim(src, start, count, axis=4)


def source_dtype(src):
    """Dtype of the matrix a source describes."""
    return src[2].dtype if isinstance(src, tuple) else src.dtype


def mv(a, v):
    """``a v`` for ``a`` ``(m, m, *lanes)`` and ``v`` ``(m, *lanes)`` (elementwise over lanes;
    faster than tiny batched dots on CPU)."""
    return jnp.sum(a * v[None], axis=1)


def mtv(a, v):
    """``a^T v`` for ``a`` ``(m, m, *lanes)`` and ``v`` ``(m, *lanes)``."""
    return jnp.sum(a * v[:, None], axis=0)


def _shifted(x):
    """``x_{k-1}``, ``x_k``, ``x_{k+1}`` (zero beyond the ends), each ``(K, m, *lanes)``."""
    zero = jnp.zeros_like(x[:1])
    return jnp.concatenate([zero, x[:-1]], axis=0), x, jnp.concatenate([x[1:], zero], axis=0)


def _scan_levels(src, x, out):
    """Scan over the levels of the source `src` applied to `x` ``(K, m, *lanes)``:
    ``out(y_k, blocks_k)`` of every level, with ``y_k = (L x)_k``."""
    x_prev, x_cur, x_next = _shifted(x)

    def step(_, inp):
        k, xm, x0, xp = inp
        blk = level(src, k)
        return None, out(mv(blk[0], xm) + mv(blk[1], x0) + mv(blk[2], xp), blk)

    return jax.lax.scan(step, None, (jnp.arange(x.shape[0]), x_prev, x_cur, x_next))[1]


def apply(src, x: Float[Array, "K m ..."]) -> Float[Array, "K m ..."]:
    """``L x`` for the block-tridiagonal matrix of the source `src` (levels formed one at a time)."""
    return _scan_levels(src, x, lambda y, blk: y)


def relative_residual(src, x: Float[Array, "K m ..."]) -> Float[Array, " ..."]:
    """``max|L x| / (max|L| max|x|)`` per lane (padding included in ``L``)."""
    y_max, l_max = _scan_levels(
        src, x, lambda y, blk: (jnp.max(jnp.abs(y), axis=0), jnp.max(jnp.abs(blk), axis=(0, 1, 2)))
    )
    return jnp.max(y_max, axis=0) / (jnp.max(l_max, axis=0) * jnp.max(jnp.abs(x), axis=(0, 1)))


def dl_apply(terms, dc, x):
    """``-dL x`` with ``dL = sum_t dc_t S_t`` (no padding), batch-last; linear in `dc`.

    The same product as ``-apply((terms, None, dc), x)``, contracted in the other order: a scan
    over the levels forms ``u_t = (S_t x)_k`` (``(T, m, *lanes)``, independent of `dc`) and
    contracts it with `dc`, so that many tangents (`jax.jacfwd`) share it instead of each
    forming its own ``dL`` blocks. It is rematerialised (`jax.checkpoint`) rather than stored
    when reverse mode transposes this map: otherwise every level's ``u`` (``T K m`` doubles per
    point) would be kept. `terms` ``(T, K, 3, m, m)``, `dc` ``(T, *lanes)``, `x` ``(K, m, *lanes)``.
    """
    x_prev, x_cur, x_next = _shifted(x)

    @jax.checkpoint
    def terms_times_x(t_k, xm, x0, xp):  # (S_t x)_k for every term t: (T, m, *lanes)
        xs = jnp.stack([xm, x0, xp])  # (3, m, *lanes)
        return jnp.tensordot(t_k, xs, axes=((1, 3), (0, 1)), precision=_HI)

    def step(_, inp):
        u = terms_times_x(*inp)
        return None, -jnp.sum(u * dc[:, None], axis=0)

    _, b = jax.lax.scan(step, None, (jnp.moveaxis(terms, 1, 0), x_prev, x_cur, x_next))
    return b


def dense_from_blocks(blocks: Float[Array, "K 3 m m"]) -> Float[Array, "n n"]:
    """The ``(K m) x (K m)`` dense matrix of one point's blocks (reference solvers)."""
    k, _, m, _ = blocks.shape
    mat = jnp.zeros((k, m, k, m), blocks.dtype)
    idx = jnp.arange(k)
    mat = mat.at[idx, :, idx, :].set(blocks[:, 1])
    mat = mat.at[idx[1:], :, idx[:-1], :].set(blocks[1:, 0])
    mat = mat.at[idx[:-1], :, idx[1:], :].set(blocks[:-1, 2])
    return mat.reshape(k * m, k * m)
