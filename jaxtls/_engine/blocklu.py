"""Complex block-tridiagonal LU: factorise once, solve many right-hand sides, differentiable.

Used where the unknowns are complex (Floquet-Liouville harmonics, harmonic correlation
matrices). Also here: the block-tridiagonal form of a harmonic (Floquet) system
``(L_0 + i n omega) x_n + sum_{k != 0} L_k x_{n-k}`` (`harmonic_blocks`), with harmonics grouped
in chunks of the highest drive harmonic so that the matrix is block tridiagonal, and its
steady-state form with one redundant equation of ``x_0`` replaced by the trace condition
(`floquet_system`, `floquet_solve`), for any space the ``L_k`` act on (the sector's elements in
`jaxtls._engine.harmonic`, the full Liouville space in the dense reference).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "SINGULAR_PIVOT",
    "block_apply",
    "inverse",
    "block_tridiagonal_solve",
    "harmonic_blocks",
    "floquet_system",
    "floquet_solve",
    "min_relative_pivot",
]

_HP = jax.lax.Precision.HIGHEST


#: relative pivot below which a linear system is reported as singular (non-unique steady state)
SINGULAR_PIVOT = 1e-12


# ------------------------------------------------------------------------------------------------
# Block-tridiagonal LU (factorise once, solve many right-hand sides, differentiable)
# ------------------------------------------------------------------------------------------------
def block_apply(blocks, x):
    """``A x`` for the block-tridiagonal ``A`` given as ``blocks (C, 3, m, m)`` (sub, diag, sup)."""
    y = jnp.einsum("cij,cj->ci", blocks[:, 1], x, precision=_HP)
    y = y.at[1:].add(jnp.einsum("cij,cj->ci", blocks[1:, 0], x[:-1], precision=_HP))
    y = y.at[:-1].add(jnp.einsum("cij,cj->ci", blocks[:-1, 2], x[1:], precision=_HP))
    return y


def inverse(a):
    """Inverse of a square matrix by Gauss-Jordan elimination with partial pivoting, in plain
    JAX operations (no LAPACK custom call), and the smallest pivot relative to ``max|a|``
    (a singularity indicator: ~1e-16 for an exactly singular matrix).

    jaxlib 0.10.x runs batched CPU LAPACK kernels through a thread-pool ``ParallelBatchMap``
    that can deadlock when two of them execute concurrently (observed here under `jax.vmap`
    on a two-core machine), so the periodic solvers avoid LAPACK in their vmapped hot path.
    """
    m = a.shape[-1]
    aug = jnp.concatenate([a, jnp.eye(m, dtype=a.dtype)], axis=-1)
    rows = jnp.arange(m)
    scale = jnp.max(jnp.abs(a))

    def body(k, carry):
        aug, pmin = carry
        col = jnp.where(rows >= k, jnp.abs(aug[:, k]), -1.0)
        p = jnp.argmax(col)
        rk, rp = aug[k], aug[p]
        aug = aug.at[p].set(rk).at[k].set(rp)
        piv = aug[k, k]
        row = aug[k] / piv
        factor = aug[:, k].at[k].set(0.0)
        aug = aug - factor[:, None] * row[None, :]
        return aug.at[k].set(row), jnp.minimum(pmin, jnp.abs(piv))

    aug, pmin = jax.lax.fori_loop(0, m, body, (aug, jnp.asarray(jnp.inf, scale.dtype)))
    return aug[:, m:], pmin / scale


def _block_factor(blocks):
    """Block LU ``A = L U``: ``U`` has diagonal blocks ``S_c = B_c - A_c S_{c-1}^{-1} C_{c-1}``
    (stored as explicit inverses) and super-diagonal ``C_c``; ``L`` has ``A_c S_{c-1}^{-1}``."""
    sub, diag, sup = blocks[:, 0], blocks[:, 1], blocks[:, 2]
    first, p0 = inverse(diag[0])

    def step(prev_inv, inp):
        a_c, b_c, c_prev = inp
        s = b_c - jnp.matmul(a_c, jnp.matmul(prev_inv, c_prev, precision=_HP), precision=_HP)
        inv, piv = inverse(s)
        return inv, (inv, piv)

    _, (rest, pivs) = jax.lax.scan(step, first, (sub[1:], diag[1:], sup[:-1]))
    return jnp.concatenate([first[None], rest], axis=0), jnp.minimum(p0, jnp.min(pivs, initial=jnp.inf))


def min_relative_pivot(blocks):
    """Smallest Gauss-Jordan pivot of the block LU of ``blocks`` ``(C, 3, m, m)``, relative to its
    block's largest entry (about ``1e-16`` or less when the matrix is singular); not
    differentiated."""
    return _block_factor(jax.lax.stop_gradient(blocks))[1]


def _block_lu_solve(blocks, inv, b):
    sub, sup = blocks[:, 0], blocks[:, 2]
    y0 = jnp.matmul(inv[0], b[0], precision=_HP)

    def fwd(y_prev, inp):
        a_c, b_c, inv_c = inp
        y_c = jnp.matmul(inv_c, b_c - jnp.matmul(a_c, y_prev, precision=_HP), precision=_HP)
        return y_c, y_c

    _, ys = jax.lax.scan(fwd, y0, (sub[1:], b[1:], inv[1:]))
    ys = jnp.concatenate([y0[None], ys], axis=0)

    def bwd(x_next, inp):
        y_c, c_c, inv_c = inp
        x_c = y_c - jnp.matmul(inv_c, jnp.matmul(c_c, x_next, precision=_HP), precision=_HP)
        return x_c, x_c

    _, xs = jax.lax.scan(bwd, ys[-1], (ys[:-1], sup[:-1], inv[:-1]), reverse=True)
    return jnp.concatenate([xs, ys[-1][None]], axis=0)


def _block_lu_solve_transpose(blocks, inv, g):
    """Solve ``A^T y = g`` with the factors of ``A`` (``A^T = U^T L^T``)."""
    sub, sup = blocks[:, 0], blocks[:, 2]
    invt = jnp.swapaxes(inv, -1, -2)
    w0 = jnp.matmul(invt[0], g[0], precision=_HP)

    def fwd(w_prev, inp):
        g_c, c_prev, inv_c = inp
        w_c = jnp.matmul(inv_c, g_c - jnp.matmul(c_prev.T, w_prev, precision=_HP), precision=_HP)
        return w_c, w_c

    _, ws = jax.lax.scan(fwd, w0, (g[1:], sup[:-1], invt[1:]))
    ws = jnp.concatenate([w0[None], ws], axis=0)

    def bwd(y_next, inp):
        w_c, a_next, inv_c = inp
        y_c = w_c - jnp.matmul(inv_c, jnp.matmul(a_next.T, y_next, precision=_HP), precision=_HP)
        return y_c, y_c

    _, ys = jax.lax.scan(bwd, ws[-1], (ws[:-1], sub[1:], invt[:-1]), reverse=True)
    return jnp.concatenate([ys, ws[-1][None]], axis=0)


def block_tridiagonal_solve(blocks, b):
    """Solve ``A x = b`` for a block-tridiagonal ``A`` (``blocks (C, 3, m, m)``: sub-diagonal,
    diagonal, super-diagonal blocks of block row ``c``; ``b (C, m)``).

    Block LU without pivoting between blocks (a matrix continued fraction), Gauss-Jordan with
    partial pivoting inside each block. Wrapped in `jax.lax.custom_linear_solve`: forward- and
    reverse-mode derivatives solve with the *same* factorisation (never differentiating
    through it).

    **Returns:** ``(x, min_pivot)``, ``min_pivot`` the smallest Gauss-Jordan pivot relative to
    its block's largest entry (about ``1e-16`` or less when ``A`` is singular).
    """
    frozen = jax.lax.stop_gradient(blocks)
    inv, min_pivot = _block_factor(frozen)
    x = jax.lax.custom_linear_solve(
        lambda x: block_apply(blocks, x),
        b,
        solve=lambda _, rhs: _block_lu_solve(frozen, inv, rhs),
        transpose_solve=lambda _, rhs: _block_lu_solve_transpose(frozen, inv, rhs),
    )
    return x, min_pivot


# ------------------------------------------------------------------------------------------------
# Floquet harmonics
# ------------------------------------------------------------------------------------------------
def _chunk_table(n_harm: int, size: int):
    """Static index table: for chunk ``c``, relative chunk ``r`` (0: c-1, 1: c, 2: c+1) and
    positions ``j, j'``, the harmonic difference ``k = n - n'`` as an index into ``k = -K..K``
    (``2K+1`` means "no coupling"); plus the harmonic of every (chunk, position), -inf padded."""
    nh = 2 * n_harm + 1
    nchunks = -(-nh // size)
    harm = np.full((nchunks, size), np.iinfo(np.int64).min, dtype=np.int64)
    for c in range(nchunks):
        for j in range(size):
            idx = c * size + j
            if idx < nh:
                harm[c, j] = idx - n_harm
    kmax = size
    table = np.full((nchunks, 3, size, size), 2 * kmax + 1, dtype=np.int64)
    valid = harm != np.iinfo(np.int64).min
    for c in range(nchunks):
        for r, cp in enumerate((c - 1, c, c + 1)):
            if not 0 <= cp < nchunks:
                continue
            for j in range(size):
                for jp in range(size):
                    if valid[c, j] and valid[cp, jp]:
                        k = harm[c, j] - harm[cp, jp]
                        if abs(k) <= kmax:
                            table[c, r, j, jp] = k + kmax
    return table, harm, valid


def harmonic_blocks(lk, omega, n_harm: int, kmax: int):
    """Block-tridiagonal form of the harmonic system ``(L_0 + i n omega) x_n + sum_{k != 0}
    L_k x_{n-k}`` for ``|n| <= n_harm``, with ``lk`` the components ``k = -K..K``
    (``(2K+1, D, D)``). Harmonics are grouped ``S = max(K, 1)`` per chunk; padding unknowns get
    the identity. **Returns:** ``blocks (C, 3, S D, S D)`` and the ``(C, S)`` validity mask."""
    size = max(kmax, 1)
    dd = lk.shape[-1]
    table, harm, valid = _chunk_table(n_harm, size)
    lpad = jnp.zeros((2 * size + 2, dd, dd), lk.dtype)
    lpad = lpad.at[size - kmax : size + kmax + 1].set(lk)
    blocks = lpad[table]  # (C, 3, S, S, D, D)
    nchunks = table.shape[0]
    n_of = np.where(valid, harm, 0).astype(np.float64)
    shift = 1j * omega * jnp.asarray(n_of)  # (C, S)
    eye = jnp.eye(dd, dtype=lk.dtype)
    diag_add = shift[:, :, None, None] * eye + jnp.asarray(~valid)[:, :, None, None] * eye
    idx = np.arange(size)
    blocks = blocks.at[:, 1, idx, idx].add(diag_add)
    blocks = blocks.transpose(0, 1, 2, 4, 3, 5).reshape(nchunks, 3, size * dd, size * dd)
    return blocks, valid


def floquet_system(lk, omega, n_harm: int, kmax: int, trace_row, norm_index: int = 0):
    """Blocks, right-hand side ``(C, S D)`` and validity mask of the harmonic system
    ``(L_0 + i n omega) x_n + sum_{k != 0} L_k x_{n-k} = 0`` (``|n| <= n_harm``) with the
    equation of component `norm_index` of ``x_0`` (a population: redundant, since every ``L_k``
    preserves the trace) replaced by ``trace_row . x_0 = 1``."""
    size = max(kmax, 1)
    dd = lk.shape[-1]
    blocks, valid = harmonic_blocks(lk, omega, n_harm, kmax)
    nchunks = blocks.shape[0]
    c0, j0 = n_harm // size, n_harm % size
    row = j0 * dd + norm_index
    blocks = blocks.at[c0, :, row, :].set(0.0)
    blocks = blocks.at[c0, 1, row, j0 * dd : (j0 + 1) * dd].set(jnp.asarray(trace_row, lk.dtype))
    b = jnp.zeros((nchunks, size * dd), lk.dtype).at[c0, row].set(1.0)
    return blocks, b, valid


def floquet_solve(lk, omega, n_harm: int, kmax: int, trace_row, norm_index: int = 0):
    """Periodic steady state of the harmonic system (`floquet_system`), differentiable to any
    order (`block_tridiagonal_solve`).

    **Returns:** ``(x, residual, min_pivot)``: the harmonics ``x_n`` ``(2 n_harm + 1, D)``
    (``n = -n_harm..n_harm``), the relative residual ``max|A x - b| / (max|A| max|x|)`` and
    the smallest relative pivot of the factorisation."""
    blocks, b, valid = floquet_system(lk, omega, n_harm, kmax, trace_row, norm_index)
    x, min_pivot = block_tridiagonal_solve(blocks, b)
    res = block_apply(blocks, x) - b
    residual = jnp.max(jnp.abs(res)) / (jnp.max(jnp.abs(blocks)) * jnp.max(jnp.abs(x)))
    size = max(kmax, 1)
    dd = lk.shape[-1]
    xs = x.reshape(-1, size, dd)[np.asarray(valid)].reshape(2 * n_harm + 1, dd)
    return xs, residual, min_pivot
