"""Implicit differentiation of steady states, for any solver of the interface.

The steady state ``x(c)`` is defined by ``L(c) x = 0`` and ``w . x = 1`` (``w`` the trace row),
with ``L(c) = sum_t c_t S_t`` linear in the coefficients. Differentiating,

    L dx = -dL x,    w . dx = 0,     dL = sum_t dc_t S_t,

a linear system with the *same* matrix: one extra solve per tangent, never a differentiation
through the elimination. The right-hand side is consistent (``w^T dL = 0`` because every
``S_t`` preserves the trace), so the solver's `particular_solve` finds a solution ``y`` and the
normalisation is restored by ``dx = y - (w . y) x``.

`steady_state_and_residual` is a `jax.custom_jvp` whose rule uses only the interface of
`jaxtls._engine.solvers.AbstractSteadySolver` (`init` once, `solve`, `particular_solve`,
`transpose_solve`), so every solver, a user's included, is differentiable by it. The tangent
solve is a `jax.lax.custom_linear_solve` with the block mat-vec of `jaxtls._engine.blocks` as
its operator and the solver's `transpose_solve` as its transpose: forward mode
(`jax.jvp`, `jax.jacfwd`) runs `particular_solve`, reverse mode (`jax.grad`) `transpose_solve`
with the same factors (JAX never transposes a solver's loops itself, so no per-level copies are
stored). A gradient costs one factorisation plus one adjoint solve. The factors are treated as
constants: first derivatives are exact, higher derivatives (e.g. Hessians) of the steady state
are not supported and raise.

Fallback for failed eliminations (cold devices, zero rates)
-----------------------------------------------------------
The block elimination normalises with the trace row of level 0 and needs every Schur complement
``G_k`` (``k >= 1``) invertible. With exactly zero rates (in float64 ``f = 1`` or ``n_b = 0``
at low temperature) a state at a higher level can be absorbing (e.g. ``|1,1,0>`` of the cavity
when both leads fill and the bath cannot absorb): ``G_k`` is then singular although the steady
state is unique. Every lane whose solution is non-finite or whose relative residual exceeds
`FALLBACK_RESIDUAL` is solved again by the pivoted dense LU of the whole sector with the trace
row (`jaxtls._engine.solvers.DenseSolver`, non-singular exactly when the steady state is
unique), one failed lane at a time (a `jax.lax.while_loop` over the failed lanes' indices: a
dense sector of ``(K m)^2`` doubles for one point at a time), so it costs nothing when every
elimination succeeded -- also under `jax.vmap`, where a `lax.cond` would become a select and
run the dense solves for every lane. The tangent and adjoint solves
of those lanes use the same dense factorisation, so their derivatives stay exact and finite.
A truly non-unique steady state leaves the dense matrix singular: non-finite values, flagged
by the diagnostics.

Why `jax.lax.custom_linear_solve` and not `lineax.linear_solve`: ``L`` is singular (the steady
state spans its null space), so the rule needs a particular solution for *consistent*
right-hand sides followed by a projection, with a transpose that is exact only on consistent
vectors; lineax's solvers assume a non-singular operator (LU, QR, ...) or return least-squares
solutions, and its operators are one matrix per point, whereas the kernel's factors live
batch-last across the whole batch. `jaxtls.DenseSolver` does use `lineax.LU`, on the
non-singular matrix with the trace row.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp

from .blocks import apply, dl_apply, relative_residual
from .sector import SectorOperators
from .solvers import DenseSolver

__all__ = ["steady_state_and_residual", "FALLBACK_RESIDUAL"]

#: relative residual above which a lane's elimination counts as failed (module docstring)
FALLBACK_RESIDUAL = 1e-11

_HP = jax.lax.Precision.HIGHEST


@jax.custom_jvp
def _frozen(x):
    """Identity on the factors a derivative rule uses; differentiating it again raises.

    The rule below treats the factorisation of the forward solve as constant, which is exact
    for first derivatives but would silently drop terms of second derivatives."""
    return x


@_frozen.defjvp
def _frozen_jvp(primals, tangents):
    raise NotImplementedError(
        "second derivatives of steady states (e.g. jax.hessian, or jax.jacfwd of jax.grad, of a "
        "function of solve_cavity / solve_classical / steady_state results) are not supported: the "
        "implicit derivative rule uses the factors of the forward solve as constants. Use finite "
        "differences of jax.grad for curvature."
    )


def steady_state_and_residual(solver, ops: SectorOperators, coeffs):
    """Steady states ``x`` ``(K, m, *lanes)`` of ``L(coeffs)`` for coefficients ``(T, *lanes)``
    (batch-last), differentiable in `coeffs` (implicitly), and their relative residuals
    ``max|L x| / (max|L| max|x|)`` ``(*lanes)`` (not differentiated).

    `solver` is any `jaxtls._engine.solvers.AbstractSteadySolver`; its array fields, if any,
    are not differentiated."""
    dynamic, static = eqx.partition(solver, eqx.is_array)
    return _steady(static, dynamic, ops, coeffs)


def _per_lane(bad, fn, args, default):
    """``fn(*args_i)`` for the lanes ``i`` with ``bad[i]``, `default` (lane-last) elsewhere.

    `args` are arrays with the lanes last. A `jax.lax.while_loop` visits the failed lanes only
    (their indices first, from `jnp.nonzero` of static size), one at a time, so it costs nothing
    when no lane failed -- also under `jax.vmap`, where the loop runs as many times as the
    largest count of failed lanes of any batch member (a `lax.cond` would turn into a select
    there and run the dense solve for every lane)."""
    lanes = bad.shape
    flat_bad = bad.reshape(-1)
    n = flat_bad.shape[0]

    def lanes_flat(a):
        return a.reshape(a.shape[: a.ndim - len(lanes)] + (n,))

    flat_args = [lanes_flat(a) for a in args]
    idx = jnp.nonzero(flat_bad, size=n, fill_value=0)[0]
    count = jnp.sum(flat_bad)

    def body(carry):
        i, out = carry
        lane = idx[i]
        xs = [jax.lax.dynamic_index_in_dim(a, lane, axis=-1, keepdims=False) for a in flat_args]
        out = jax.lax.dynamic_update_index_in_dim(out, fn(*xs).astype(out.dtype), lane, axis=-1)
        return i + 1, out

    _, out = jax.lax.while_loop(lambda carry: carry[0] < count, body, (jnp.zeros((), count.dtype), lanes_flat(default)))
    return out.reshape(default.shape)


def _dense_solve(ops, c):
    solver = DenseSolver()
    return solver.solve(solver.init(ops, c))


def _dense_particular(ops, c, b):
    solver = DenseSolver()
    return solver.particular_solve(solver.init(ops, c), b)


def _dense_transpose(ops, c, g):
    solver = DenseSolver()
    return solver.transpose_solve(solver.init(ops, c), g)


def _guarded_solve(solver, ops, coeffs, tangents):
    """``(state, x, residual, bad)``: the solver's steady states with failed lanes (``bad``)
    solved again densely (module docstring, "Fallback")."""
    src = (ops.blocks, ops.pad, coeffs)
    state = solver.init(ops, coeffs, tangents=tangents)
    x = solver.solve(state)
    resid = relative_residual(src, x)
    if isinstance(solver, DenseSolver):
        return state, x, resid, jnp.zeros(resid.shape, bool)
    bad = ~(resid <= FALLBACK_RESIDUAL)  # NaN counts as failed

    xd = _per_lane(bad, lambda c: _dense_solve(ops, c), (coeffs,), x)
    resid = jnp.where(bad, relative_residual(src, xd), resid)
    return state, xd, resid, bad


def _guarded_linear(solver_fn, dense_fn, ops, coeffs, bad, rhs):
    """A tangent (or adjoint) solve of the solver, dense on the failed lanes; linear in `rhs`."""
    y = solver_fn(rhs)
    return _per_lane(bad, lambda c, r: dense_fn(ops, c, r), (coeffs, rhs), y)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _steady(static, dynamic, ops, coeffs):
    solver = eqx.combine(dynamic, static)
    _, x, resid, _ = _guarded_solve(solver, ops, coeffs, tangents=False)
    return x, resid


@_steady.defjvp
def _steady_jvp(static, primals, tangents):
    dynamic, ops, coeffs = primals
    dcoeffs = tangents[2]
    solver = eqx.combine(dynamic, static)
    c = _frozen(coeffs)
    src = (ops.blocks, ops.pad, c)
    state, x, resid, bad = _guarded_solve(solver, ops, c, tangents=True)
    b = dl_apply(ops.blocks, dcoeffs, x)  # -dL x, consistent
    # the operator is L itself (L y = b holds for the consistent b); only the two solves run
    y = jax.lax.custom_linear_solve(
        lambda v: apply(src, v),
        b,
        solve=lambda _, rhs: _guarded_linear(
            lambda r: solver.particular_solve(state, r), _dense_particular, ops, c, bad, rhs
        ),
        transpose_solve=lambda _, rhs: _guarded_linear(
            lambda r: solver.transpose_solve(state, r), _dense_transpose, ops, c, bad, rhs
        ),
    )
    wy = jnp.einsum("km,km...->...", ops.trace, y, precision=_HP)
    return (x, resid), (y - wy * x, jnp.zeros_like(resid))
