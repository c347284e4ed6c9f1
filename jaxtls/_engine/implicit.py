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

__all__ = ["steady_state_and_residual"]

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


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _steady(static, dynamic, ops, coeffs):
    solver = eqx.combine(dynamic, static)
    x = solver.solve(solver.init(ops, coeffs, tangents=False))
    return x, relative_residual((ops.blocks, ops.pad, coeffs), x)


@_steady.defjvp
def _steady_jvp(static, primals, tangents):
    dynamic, ops, coeffs = primals
    dcoeffs = tangents[2]
    solver = eqx.combine(dynamic, static)
    c = _frozen(coeffs)
    src = (ops.blocks, ops.pad, c)
    state = solver.init(ops, c)
    x = solver.solve(state)
    resid = relative_residual(src, x)
    b = dl_apply(ops.blocks, dcoeffs, x)  # -dL x, consistent
    # the operator is L itself (L y = b holds for the consistent b); only the two solves run
    y = jax.lax.custom_linear_solve(
        lambda v: apply(src, v),
        b,
        solve=lambda _, rhs: solver.particular_solve(state, rhs),
        transpose_solve=lambda _, rhs: solver.transpose_solve(state, rhs),
    )
    wy = jnp.einsum("km,km...->...", ops.trace, y, precision=_HP)
    return (x, resid), (y - wy * x, jnp.zeros_like(resid))
