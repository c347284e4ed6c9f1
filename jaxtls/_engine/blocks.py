"""Block-tridiagonal primitives of sector Lindbladians (one point, batch-first layout).

A sector Lindbladian is given as ``blocks`` of shape ``(K, 3, m, m)``: ``blocks[k, 0] = A_k``
couples level ``k-1`` into level ``k``, ``blocks[k, 1] = B_k`` is the diagonal block and
``blocks[k, 2] = C_k`` couples level ``k+1`` into ``k`` (see `jaxtls._engine.sector`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .sector import SectorOperators

__all__ = ["assemble", "apply", "dense_from_blocks", "relative_residual"]


def assemble(ops: SectorOperators, coeffs: Float[Array, " T"]) -> Float[Array, "K 3 m m"]:
    """Blocks of ``L(c) = sum_t c_t S_t`` plus the padding identity."""
    # only the structurally non-zero entries are formed (about a third for the cavity), then gathered
    vals = jnp.matmul(coeffs, ops.nz_basis, precision=jax.lax.Precision.HIGHEST)
    vals = jnp.concatenate([vals, jnp.zeros(vals.shape[:-1] + (1,), vals.dtype)], axis=-1)
    blocks = jnp.take(vals, ops.nz_gather, axis=-1).reshape(ops.blocks.shape[1:])
    return blocks.at[:, 1].add(ops.pad)


def apply(blocks: Float[Array, "K 3 m m"], x: Float[Array, "K m"]) -> Float[Array, "K m"]:
    """Matrix-vector product ``L x`` with the block-tridiagonal matrix."""
    # elementwise products and sums (fused by XLA; faster than tiny batched dots on CPU)
    y = jnp.sum(blocks[:, 1] * x[:, None, :], axis=-1)
    y = y.at[1:].add(jnp.sum(blocks[1:, 0] * x[:-1, None, :], axis=-1))
    y = y.at[:-1].add(jnp.sum(blocks[:-1, 2] * x[1:, None, :], axis=-1))
    return y


def dense_from_blocks(blocks):
    k, _, m, _ = blocks.shape
    n = k * m
    mat = jnp.zeros((k, m, k, m), blocks.dtype)
    idx = jnp.arange(k)
    mat = mat.at[idx, :, idx, :].set(blocks[:, 1])
    mat = mat.at[idx[1:], :, idx[:-1], :].set(blocks[1:, 0])
    mat = mat.at[idx[:-1], :, idx[1:], :].set(blocks[:-1, 2])
    return mat.reshape(n, n)


def relative_residual(blocks: Float[Array, "K 3 m m"], x: Float[Array, "K m"]) -> Float[Array, ""]:
    """``max|L x| / (max|L| max|x|)`` of one point."""
    return jnp.max(jnp.abs(apply(blocks, x))) / (jnp.max(jnp.abs(blocks)) * jnp.max(jnp.abs(x)))
