"""Batch-last block-tridiagonal steady-state solver with unrolled small-block elimination.

`BatchedBlockSolver` solves the same problem as `jaxtls._steady.BlockTridiagonalSolver` --
``L x = 0`` with ``trace . x = 1`` for a real block-tridiagonal sector Lindbladian given as
``blocks`` of shape ``(K, 3, m, m)`` (``blocks[k, 0] = A_k`` couples level ``k-1`` into level
``k``, ``blocks[k, 1] = B_k`` is the diagonal block, ``blocks[k, 2] = C_k`` couples level
``k+1`` into level ``k``) -- with the same algorithm but a layout and a kernel made for large
batches of small blocks.

Algorithm (identical to `BlockTridiagonalSolver`)
-------------------------------------------------
1. Downward block elimination (block Thomas) from the top level: with ``S_K = 0``,
   ``S_k = -(B_k + C_k S_{k+1})^{-1} A_k`` for ``k = K-1, ..., 1``, so that the solution obeys
   ``x_k = S_k x_{k-1}``.
2. The level-0 Schur complement ``G_0 = B_0 + C_0 S_1`` is singular (one-dimensional null
   space); its row ``ops.norm_row`` is replaced by ``ops.trace[0]`` and the right-hand side is
   the unit vector of that row, which fixes the scale of ``x_0``.
3. Upward substitution ``x_k = S_k x_{k-1}`` *with rescaling at every level*: every level is
   divided by its max-abs entry and the logarithms of the scales are accumulated, because the
   unnormalised solution grows like ``1 / P(level 0)`` (astronomically deep above a lasing
   threshold). The result is normalised to unit trace in log space.

Layout
------
Internally every array carries the batch on its *last* axes ("lanes"): the blocks are
``(K, 3, m, m, *lanes)``. One ``m x m`` matrix entry of all batch points is then one
contiguous array of shape ``lanes``, and the whole level update is a fixed, trace-time
unrolled sequence of elementwise operations on such arrays, which XLA fuses into a few
vectorised loops over the batch. `solve_batch` transposes ``(N, K, 3, m, m)`` to
``(K, 3, m, m, N)`` once at entry and the result ``(K, m, N)`` back to ``(N, K, m)`` at exit;
callers that can assemble the blocks batch-last directly (`assemble_batch_last`) can call
`solve_lanes` and skip the entry transpose. `solve` (one point) runs the same kernel with
scalar lanes (``lanes = ()``); under `jax.vmap` those scalars become batch-last vectors, so
``jax.vmap(solver.solve, (0, None))`` compiles to essentially the same program as
`solve_batch`. The loop over the ``K`` levels is a `jax.lax.scan` (no Python loop over
levels or batch elements); only the tiny ``m`` is unrolled in Python at trace time.

Small-block elimination and pivoting
------------------------------------
``S_k = -G_k^{-1} A_k`` is computed by Gaussian elimination of the augmented ``m x 2m``
system ``[G_k | -A_k]`` followed by back substitution, written out entry by entry. It uses
*partial pivoting* per batch point: for column ``j`` the candidate rows ``j..m-1`` are
compared pairwise and conditionally swapped with `jnp.where` (a compare-and-swap sweep that
leaves the largest ``|G_ij|`` in row ``j``), so every lane follows its own pivot order without
gathers or data-dependent control flow. Pivoting is needed: a coherence pair of the sector
(``Re/Im rho_ij``) contributes a block ``[[-Gamma, Delta], [-Delta, -Gamma]]``; at large
detuning ``Delta >> Gamma`` a fixed diagonal pivot order has growth ``(Delta/Gamma)^2`` and
loses that many digits. The selects are piecewise-linear, so the kernel stays differentiable
almost everywhere (gradients are meant to go through implicit differentiation anyway).

Cost and memory
---------------
Per point and level about ``m^3`` multiply-adds for ``C_k S_{k+1}``, ``~m^3/3 + m^3``
for the elimination with ``m`` right-hand sides, and ``O(m^2)`` selects per pivot column,
all vectorised over the batch. The factors ``S_1..S_{K-1}`` of all levels are kept for the
upward pass: ``K m^2 N`` doubles, i.e. ``K * m * m * N * 8`` bytes (121 MB for ``K = 42``,
``m = 6``, ``N = 10^4``; 29 MB for ``K = 1002``, ``N = 100``), on top of the blocks
themselves (``3 K m^2 N`` doubles, plus the same again for the entry transpose). Split very
large batches into chunks (e.g. with `jax.lax.map`) if this is too much; `solve_batch` does so
when ``chunk_size`` is set.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._sector import SectorOperators
from ._steady import AbstractSteadySolver

__all__ = ["BatchedBlockSolver", "assemble_batch_last", "solve_lanes"]

_HI = jax.lax.Precision.HIGHEST


def assemble_batch_last(ops: SectorOperators, coeffs: Float[Array, "N T"]) -> Float[Array, "K 3 m m N"]:
    """Blocks of ``L(c_n) = sum_t c_nt S_t`` (plus padding) for a batch, batch axis last.

    Same values as ``jax.vmap(jaxtls._steady.assemble, (None, 0))(ops, coeffs)`` moved to
    ``(K, 3, m, m, N)``, without the transpose.
    """
    blocks = jnp.tensordot(ops.blocks, coeffs, axes=((0,), (1,)), precision=_HI)
    return blocks.at[:, 1].add(ops.pad[..., None])


# --------------------------------------------------------------------------------------------
# unrolled kernels on nested Python lists of lane arrays


def _unstack2(a):
    """``(m, n, *lanes)`` array -> nested list ``[m][n]`` of lane arrays."""
    return [[a[i, j] for j in range(a.shape[1])] for i in range(a.shape[0])]


def _stack2(rows):
    return jnp.stack([jnp.stack(r) for r in rows])


def _matmul(a, b):
    """Entry-wise unrolled ``a @ b`` for nested lists."""
    n_in = len(b)
    out = []
    for i in range(len(a)):
        row = []
        for j in range(len(b[0])):
            acc = a[i][0] * b[0][j]
            for l in range(1, n_in):
                acc = acc + a[i][l] * b[l][j]
            row.append(acc)
        out.append(row)
    return out


def _barrier(tree):
    """Materialise intermediate values: stops XLA from re-computing the unrolled elimination
    DAG inside every consumer fusion (which makes compile and run time explode)."""
    return jax.lax.optimization_barrier(tree)


def _gauss_solve(g, r):
    """Solve ``g X = r`` by Gaussian elimination with partial pivoting, lane by lane.

    `g` is a nested list ``[m][m]`` and `r` a nested list ``[m][q]`` of lane arrays (all of
    one shape). Returns ``X`` as a nested list ``[m][q]``.
    """
    m = len(g)
    rows = [list(g[i]) + list(r[i]) for i in range(m)]  # augmented rows
    for j in range(m):
        # compare-and-swap sweep: the largest |entry| of column j ends up in row j
        for i in range(j + 1, m):
            swap = jnp.abs(rows[i][j]) > jnp.abs(rows[j][j])
            rj, ri = rows[j], rows[i]
            rows[j] = [ri[c] if c < j else jnp.where(swap, ri[c], rj[c]) for c in range(len(rj))]
            rows[i] = [ri[c] if c < j else jnp.where(swap, rj[c], ri[c]) for c in range(len(rj))]
        inv = 1.0 / rows[j][j]
        rows[j][j] = inv  # keep the reciprocal pivot for the back substitution
        for i in range(j + 1, m):
            f = rows[i][j] * inv
            rows[i] = [
                rows[i][c] if c <= j else rows[i][c] - f * rows[j][c] for c in range(len(rows[i]))
            ]
        rows = _barrier(rows)
    q = len(r[0])
    x = [None] * m
    for i in reversed(range(m)):
        xi = []
        for c in range(q):
            acc = rows[i][m + c]
            for l in range(i + 1, m):
                acc = acc - rows[i][l] * x[l][c]
            xi.append(acc * rows[i][i])
        x[i] = _barrier(xi)
    return x


# --------------------------------------------------------------------------------------------


def solve_lanes(blocks: Float[Array, "K 3 m m *lanes"], ops: SectorOperators) -> Float[Array, "K m *lanes"]:
    """Steady states for blocks laid out batch-last (see module docstring).

    `blocks` has shape ``(K, 3, m, m, *lanes)`` with any (possibly empty) lane shape; the
    result has shape ``(K, m, *lanes)`` and unit trace for every lane.
    """
    k_lv, _, m, _ = blocks.shape[:4]
    lanes = blocks.shape[4:]
    dtype = blocks.dtype
    r = ops.norm_row

    def down(s_next, blk):
        a_k, b_k, c_k = _unstack2(blk[0]), _unstack2(blk[1]), _unstack2(blk[2])
        cs = _matmul(c_k, _unstack2(s_next))
        g = _barrier([[b_k[i][j] + cs[i][j] for j in range(m)] for i in range(m)])
        neg_a = [[-a_k[i][j] for j in range(m)] for i in range(m)]
        s_k = _stack2(_gauss_solve(g, neg_a))
        return s_k, s_k

    zero = jnp.zeros((m, m) + lanes, dtype)
    if k_lv > 1:
        s1, s_all = jax.lax.scan(down, zero, blocks[1:], reverse=True)
    else:
        s1, s_all = zero, jnp.zeros((0, m, m) + lanes, dtype)

    # level 0: Schur complement with the trace row
    b0, c0 = _unstack2(blocks[0, 1]), _unstack2(blocks[0, 2])
    cs = _matmul(c0, _unstack2(s1))
    tr0 = jnp.broadcast_to(
        ops.trace[0].astype(dtype).reshape((m,) + (1,) * len(lanes)), (m,) + lanes
    )
    g0 = [[b0[i][j] + cs[i][j] for j in range(m)] for i in range(m)]
    g0[r] = [tr0[j] for j in range(m)]
    one = jnp.ones(lanes, dtype)
    zl = jnp.zeros(lanes, dtype)
    rhs = [[one if i == r else zl] for i in range(m)]
    x0 = jnp.stack([xi[0] for xi in _gauss_solve(g0, rhs)])

    def rescale(y, log_prev):
        scale = jnp.max(jnp.abs(y), axis=0)
        scale = jnp.where(scale > 0, scale, 1.0)
        return y / scale, log_prev + jnp.log(scale)

    y0, log0 = rescale(x0, jnp.zeros(lanes, dtype))

    def up(carry, s_k):
        y_prev, log_prev = carry
        sk = _unstack2(s_k)
        y = [sum(sk[i][l] * y_prev[l] for l in range(1, m)) + sk[i][0] * y_prev[0] for i in range(m)]
        y, logk = rescale(jnp.stack(y), log_prev)
        return (y, logk), (y, logk)

    if k_lv > 1:
        _, (ys, logs) = jax.lax.scan(up, (y0, log0), s_all)
        ys = jnp.concatenate([y0[None], ys], axis=0)
        logs = jnp.concatenate([log0[None], logs], axis=0)
    else:
        ys, logs = y0[None], log0[None]
    tr = ops.trace.astype(dtype).reshape((k_lv, m) + (1,) * len(lanes))
    traces = jnp.sum(tr * ys, axis=1)  # (K, *lanes)
    lmax = jnp.max(logs, axis=0)
    w = jnp.exp(logs - lmax)
    total = jnp.sum(traces * w, axis=0)
    return ys * (w / total)[:, None]


class BatchedBlockSolver(AbstractSteadySolver):
    """Block Thomas elimination, batch-last layout, unrolled pivoted small-block kernel.

    Same results as `BlockTridiagonalSolver` (module docstring for algorithm, layout,
    pivoting and memory). `chunk_size` (static): if set and smaller than the batch,
    `solve_batch` processes the batch in chunks of that many points with `jax.lax.map`
    (bounds the ``K m^2 N`` memory of the stored factors); the batch is padded to a multiple
    of it.
    """

    chunk_size: int | None = eqx.field(default=None, static=True)

    def solve(self, blocks: Float[Array, "K 3 m m"], ops: SectorOperators) -> Float[Array, "K m"]:
        return solve_lanes(blocks, ops)

    def solve_batch(
        self, blocks: Float[Array, "N K 3 m m"], ops: SectorOperators
    ) -> Float[Array, "N K m"]:
        n = blocks.shape[0]
        bl = jnp.moveaxis(blocks, 0, -1)  # (K, 3, m, m, N)
        cs = self.chunk_size
        if cs is None or cs >= n:
            x = solve_lanes(bl, ops)
            return jnp.moveaxis(x, -1, 0)
        n_chunks = -(-n // cs)
        pad = n_chunks * cs - n
        if pad:
            # pad with copies of the last point (a well-posed system)
            bl = jnp.concatenate([bl, jnp.repeat(bl[..., -1:], pad, axis=-1)], axis=-1)
        bl = bl.reshape(bl.shape[:-1] + (n_chunks, cs))
        bl = jnp.moveaxis(bl, -2, 0)  # (n_chunks, K, 3, m, m, cs)
        x = jax.lax.map(lambda b: solve_lanes(b, ops), bl)  # (n_chunks, K, m, cs)
        x = jnp.moveaxis(x, 0, -2).reshape(x.shape[1:3] + (n_chunks * cs,))
        return jnp.moveaxis(x[..., :n], -1, 0)
