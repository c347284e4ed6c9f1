"""The block-tridiagonal elimination kernel: batch-last lanes, unrolled small-block elimination.

One kernel solves ``L x = 0`` with ``trace . x = 1`` for every real block-tridiagonal sector
Lindbladian in jaxtls (`jaxtls._engine.batched_solver.BatchedBlockSolver`, and
`BlockTridiagonalSolver`, which is the same kernel without batch chunks). The matrix is given
by a source of `jaxtls._engine.blocks`: stored blocks ``(K, 3, m, m, *lanes)`` or, in
production, the coefficients ``(terms, pad, c)`` from which each level's blocks are formed when
the elimination visits it. ``A_k`` couples level ``k-1`` into level ``k``, ``B_k`` is the
diagonal block, ``C_k`` couples level ``k+1`` into level ``k``. With `factors` the kernel also
keeps ``G_k^{-1}``, which the tangent solve and its adjoint (`jaxtls._engine.batched_tangent`)
use: one elimination for the steady state and every derivative.

Algorithm
---------
1. Downward block elimination (block Thomas) from the top level: with ``S_K = 0``,
   ``S_k = -(B_k + C_k S_{k+1})^{-1} A_k`` for ``k = K-1, ..., 1``, so that the solution obeys
   ``x_k = S_k x_{k-1}``.
2. The level-0 Schur complement ``G_0 = B_0 + C_0 S_1`` is singular (one-dimensional null
   space); its row ``ops.norm_row`` is replaced by ``ops.trace[0]`` and the right-hand side is
   the unit vector of that row, which fixes the scale of ``x_0``. Because ``A_0 = 0`` this runs
   as step ``k = 0`` of the same loop: at ``k = 0`` the step swaps that row of ``G`` for the
   trace row and puts the unit vector into right-hand-side column 0, so column 0 of the
   "factor" of level 0 is ``x_0`` (selects on the scalar level index; no separate code path).
3. Upward substitution ``x_k = S_k x_{k-1}`` *with rescaling at every level*: every level is
   divided by its max-abs entry and the logarithms of the scales are accumulated, because the
   unnormalised solution grows like ``1 / P(level 0)`` (astronomically, deep above a lasing
   threshold). The result is normalised to unit trace in log space.

Layout
------
The batch sits on the *last* axes ("lanes"): a level's blocks are ``(3, m, m, *lanes)``, the
augmented system ``(m, 2m, *lanes)``, the factors ``(m, m, *lanes)``, so every elementwise
operation is a contiguous, vectorisable loop over the batch, and the small-matrix algebra is a
fixed, trace-time unrolled sequence of such operations (Python loops over the tiny ``m`` only).
The loops over the ``K`` levels are `jax.lax.scan`s (downward and upward); batch elements are
never looped over in Python. Empty lanes are one point; under `jax.vmap` the mapped axis
becomes a lane axis, so a vmapped one-point solve works too (without batch chunks).

Small-block elimination and pivoting
------------------------------------
``S_k = -G_k^{-1} A_k`` is computed by Gaussian elimination of the augmented ``m x 2m`` system
``[G_k | -A_k]`` followed by back substitution. The elimination works on whole rows (arrays
``(width, *lanes)``), one pivot column after the other, with *partial pivoting per batch
point*: the pivot index ``p`` (first largest ``|G_ij|``, ``i >= j``) comes from an unrolled
compare/select sweep, and the pivot row and the row it displaces are picked with `jnp.where`
on ``p``, so every lane follows its own pivot order without gathers or data-dependent control
flow. Pivoting costs about 25-35 % of the run time; it is on by default as insurance for
general sectors (``BatchedBlockSolver(pivot=False)`` eliminates in the fixed order). For the
Jaynes-Cummings cavity the fixed order was accurate on all hard cases tried (large detuning,
strong coupling, lasing, rates spanning six decades), only slightly worse (e.g. 3e-14 instead
of 7e-15 relative error on a strongly coupled, detuned point; 1.3e-15 instead of 2e-16 with
very unequal rates); but the coherence pairs give blocks like
``[[-Gamma, Delta], [-Delta, -Gamma]]`` whose diagonal pivots are small at large ``Delta``.
The selects are piecewise smooth, so the kernel is differentiable almost everywhere
(`jax.grad` and `jax.jacfwd` run through it; gradients are meant to use implicit
differentiation anyway).

Fusion stages (CPU)
-------------------
XLA:CPU fuses elementwise producers into *every* consumer, duplicating them; for the deep,
highly shared DAG of an unrolled elimination this blows up (exponentially in the depth:
minutes of compile time and 2-50x slower code). The level step is therefore cut into stages --
``[G_k | -A_k]``, one stage per pivot column, one per back-substitution row -- whose outputs
are materialised. On CPU the cut is a `jax.lax.switch` between two identical copies of the
stage, with an index XLA cannot constant-fold (derived from the scan's level counter; always 0
at run time); `jax.lax.optimization_barrier` cannot be used because XLA:CPU removes it before
fusion. On other platforms (`jax.lax.platform_dependent`) the stages are plain code (not tested
on GPU).

Coefficients as the source, and derivatives
-------------------------------------------
``L(c) = sum_t c_t S_t`` is linear in the coefficients, so the kernel takes the coefficients
(``(T, *lanes)``) and forms each level's blocks when the elimination visits it
(`jaxtls._engine.blocks.level_from_coeffs`: one small dense product per level, in cache) instead
of reading a stored ``K 3 m^2 N`` array. With `factors` it also keeps ``G_k^{-1}`` (from the
augmented ``[G_k | -A_k | 1]``), the only stored factor; `particular_solve_lanes` then solves
``L y = b`` for a tangent right-hand side, and `adjoint_solve_lanes` is its exact transpose
(reverse mode), both with matrix-vector products only, forming ``A_k`` and ``C_k`` from the
coefficients again. On the 2-core test VM a fresh ``K 3 m^2 N`` array (36 MB at ``N = 10^3``,
``n_max = 40``) costs about 20 ms in page faults alone, more than the arithmetic of the whole
tangent solve.

Cost and memory
---------------
Per point and level about ``m^3`` multiply-adds for ``C_k S_{k+1}``, ``~m^3/3 + m^3`` for
the elimination with ``m`` right-hand sides and ``O(m^2)`` selects per pivot column; a few
dozen XLA kernels per level (whole rows per kernel, so the per-level overhead stays small for
small batches). The factors
``S_0..S_{K-1}`` of all levels are stored for the upward pass: ``K m^2`` doubles per point in
the chunk being solved, i.e. ``K * m * m * N_c * 8`` bytes with ``N_c = min(N, chunk_size)``
(``K = 42``, ``m = 6``: 12 MB for ``N_c = 1024`` and 121 MB for ``N_c = 10^4``; ``K = 1002``:
29 MB for ``N_c = 100`` and 296 MB for ``N_c = 1024``), besides the blocks themselves
(``3 K m^2 N`` doubles for a stored source; none from the coefficients) and the result. Batch
chunks (`BatchedBlockSolver.chunk_size`, default 1024) are solved one after another in a
`jax.lax.fori_loop`: this keeps each level's working set in cache (about 1.5x faster than one
10^4-point chunk on the 2-core test machine) and bounds the factor memory. With the factors for
derivatives (``init(..., tangents=True)``) the batch is solved in one piece and ``G^{-1}`` adds
another ``K m^2`` doubles per point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .blocks import lanes_of, level, slice_lanes, source_dtype
from .sector import SectorOperators

__all__ = ["solve_core", "solve_chunked", "solve_lanes"]


def _stage(fn, token, *args):
    """``fn(*args)`` with its outputs materialised on CPU (module docstring, "Fusion stages").

    `token` is an int32 scalar that is 0 at run time but not a compile-time constant.
    """

    def cpu(token, *args):
        return jax.lax.switch(token, (fn, fn), *args)

    def other(token, *args):
        del token
        return fn(*args)

    return jax.lax.platform_dependent(token, *args, cpu=cpu, default=other)


def _augmented(src, k, s_next, trace0, norm_row, inverse=False):
    """``[G_k | -A_k]`` of shape ``(m, 2m, *lanes)`` with ``G_k = B_k + C_k S_{k+1}``
    (``[G_k | -A_k | 1]``, ``(m, 3m, *lanes)``, with `inverse`).

    At level 0 row `norm_row` of ``G`` is the trace row and right-hand-side column 0 is
    ``e_{norm_row}`` (``A_0 = 0``).
    """
    blk = level(src, k)
    a, b, c = blk[0], blk[1], blk[2]
    m = a.shape[0]
    nd = a.ndim - 2
    g = b
    for l in range(m):
        g = g + c[:, l : l + 1] * s_next[l : l + 1]
    rows = jnp.arange(m).reshape((m, 1) + (1,) * nd)
    cols = jnp.arange(m).reshape((1, m) + (1,) * nd)
    first = k == 0
    g = jnp.where(first & (rows == norm_row), trace0.reshape((1, m) + (1,) * nd), g)
    rhs = jnp.where(first & (rows == norm_row) & (cols == 0), jnp.ones((), a.dtype), -a)
    if inverse:
        eye = jnp.broadcast_to((rows == cols).astype(a.dtype), a.shape)
        return jnp.concatenate([g, rhs, eye], axis=1)
    return jnp.concatenate([g, rhs], axis=1)


def _eliminate_column(t, pivot=True):
    """One pivot column of the active rows ``t`` (``(M, W, *lanes)``, pivot column 0).

    Returns the pivot row divided by the pivot, without its first entry (``(W-1, *lanes)``),
    and the remaining ``M-1`` rows after elimination, without the pivot column
    (``(M-1, W-1, *lanes)``; ``None`` if ``M = 1``). Without `pivot`, row 0 is the pivot row.
    """
    n_rows = t.shape[0]
    if not pivot:
        prow = t[0, 1:] / t[0, 0:1]
        if n_rows == 1:
            return prow, None
        return prow, t[1:, 1:] - t[1:, 0:1] * prow[None]
    # pivot index: first largest |t[i, 0]|
    best = jnp.abs(t[0, 0])
    p = jnp.zeros(best.shape, jnp.int32)
    for i in range(1, n_rows):
        v = jnp.abs(t[i, 0])
        better = v > best
        best = jnp.where(better, v, best)
        p = jnp.where(better, i, p)
    prow = t[0]
    for i in range(1, n_rows):
        prow = jnp.where((p == i)[None], t[i], prow)
    prow = prow[1:] / prow[0:1]
    if n_rows == 1:
        return prow, None
    # rows 1..M-1 after the swap: the old row 0 takes the place of the pivot row
    sel = jnp.stack([p == i for i in range(1, n_rows)])
    swapped = jnp.where(sel[:, None], t[0][None], t[1:])
    return prow, swapped[:, 1:] - swapped[:, 0:1] * prow[None]


def _back_row(u, x_below):
    """Solution row from the unit-upper row ``u`` (its entries right of the diagonal)."""
    n_below = len(x_below)
    acc = u[n_below:]
    for l, xl in enumerate(x_below):
        acc = acc - u[l : l + 1] * xl
    return acc


def _level_factor(token, src, k, s_next, trace0, norm_row, pivot, inverse=False):
    """``S_k = -(B_k + C_k S_{k+1})^{-1} A_k``, shape ``(m, m, *lanes)``; with `inverse`,
    ``[S_k | G_k^{-1}]`` of shape ``(m, 2m, *lanes)``.

    At ``k = 0`` column 0 of ``S_0`` is the trace-normalised ``x_0`` instead (and ``G_0^{-1}``
    is the inverse of ``G_0`` with row `norm_row` replaced by the trace row).
    """
    m = s_next.shape[0]
    t = _stage(
        lambda sr, k, s, tr: _augmented(sr, k, s, tr, norm_row, inverse),
        token, src, k, s_next, trace0,
    )  # fmt: skip
    urows = []
    for _ in range(m):
        prow, t = _stage(lambda t: _eliminate_column(t, pivot), token, t)
        urows.append(prow)  # columns j+1 .. 2m-1 of the unit-upper row j
    x = [None] * m
    x[m - 1] = urows[m - 1]
    for i in reversed(range(m - 1)):
        x[i] = _stage(_back_row, token, urows[i], x[i + 1 :])
    return jnp.stack(x)


def solve_core(src, ops: SectorOperators, pivot: bool = True, factors: bool = False):
    """Steady states ``(K, m, *lanes)`` of the source `src` (`jaxtls._engine.blocks`), in one
    piece.

    With `factors`, returns ``(x, Ginv)``: besides the solution, the inverses ``G_k^{-1}``
    (``(K, m, m, *lanes)``; see `jaxtls._engine.batched_tangent.particular_solve_lanes`).
    """
    k_lv, m, lanes = lanes_of(src)
    dtype = source_dtype(src)
    nd = len(lanes)
    trace = ops.trace.astype(dtype)
    r = ops.norm_row

    def down(s_next, k):
        token = (k < 0).astype(jnp.int32)  # 0 at run time, opaque to XLA's constant folding
        out = _level_factor(token, src, k, s_next, trace[0], r, pivot, factors)
        if factors:
            return out[:, :m], (out[:, :m], out[:, m:])
        return out, out

    s_top = jnp.zeros((m, m) + lanes, dtype)
    _, s_all = jax.lax.scan(down, s_top, jnp.arange(k_lv), reverse=True)  # (K, m, m, *lanes)
    if factors:
        s_all, g_inv = s_all

    def rescale(y, log_prev):
        scale = jnp.max(jnp.abs(y), axis=0)
        scale = jnp.where(scale > 0, scale, 1.0)
        return y / scale, log_prev + jnp.log(scale)

    y0, log0 = rescale(s_all[0, :, 0], jnp.zeros(lanes, dtype))  # x_0

    def up(carry, k):
        y_prev, log_prev = carry
        s_k = jax.lax.dynamic_index_in_dim(s_all, k, 0, keepdims=False)
        y = s_k[:, 0] * y_prev[0:1]
        for l in range(1, m):
            y = y + s_k[:, l] * y_prev[l : l + 1]
        y, log_k = rescale(y, log_prev)
        return (y, log_k), (y, log_k)

    _, (ys, logs) = jax.lax.scan(up, (y0, log0), jnp.arange(1, k_lv))
    ys = jnp.concatenate([y0[None], ys], axis=0)  # (K, m, *lanes)
    logs = jnp.concatenate([log0[None], logs], axis=0)  # (K, *lanes)
    traces = jnp.sum(trace.reshape((k_lv, m) + (1,) * nd) * ys, axis=1)
    w = jnp.exp(logs - jnp.max(logs, axis=0))
    x = ys * (w / jnp.sum(traces * w, axis=0))[:, None]
    if factors:
        return x, g_inv
    return x


def solve_chunked(src, ops: SectorOperators, chunk: int | None, pivot: bool = True):
    """`solve_core` on a source with one lane axis of ``n`` lanes, in consecutive chunks of
    `chunk` lanes (a `jax.lax.fori_loop`); in one piece when `chunk` is None, ``>= n``, or the
    source has no or several lane axes.

    The last chunk is shifted back to end at lane ``n`` (it overlaps the previous one), so the
    source needs no padding copy. Returns ``(K, m, *lanes)``.
    """
    k_lv, m, lanes = lanes_of(src)
    if chunk is None or len(lanes) != 1 or chunk >= lanes[0]:
        return solve_core(src, ops, pivot)
    n = lanes[0]

    def body(i, out):
        start = jnp.minimum(i * chunk, n - chunk).astype(jnp.int32)
        x = solve_core(slice_lanes(src, start, chunk), ops, pivot)  # (K, m, chunk)
        return jax.lax.dynamic_update_slice_in_dim(out, x, start, axis=2)

    out = jnp.zeros((k_lv, m, n), source_dtype(src))
    return jax.lax.fori_loop(0, -(-n // chunk), body, out)


def solve_lanes(
    blocks: Float[Array, "K 3 m m ..."], ops: SectorOperators, pivot: bool = True
) -> Float[Array, "K m ..."]:
    """Steady states for stored blocks laid out batch-last, in one piece (no chunks).

    `blocks` has shape ``(K, 3, m, m, *lanes)`` with any (possibly empty) lane shape; the
    result has shape ``(K, m, *lanes)``, unit trace in every lane. `pivot` (static): partial
    pivoting in the block elimination.
    """
    return solve_core(blocks, ops, pivot)
