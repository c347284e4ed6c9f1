"""Health checks of computed steady states: `Diagnostics` and its host-side summary."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from .blocks import relative_residual
from .sector import SectorOperators

__all__ = [
    "Diagnostics",
    "SteadyStateError",
    "check_lanes",
    "diagnostics",
    "describe_failures",
    "FLAG_SOLVE",
    "FLAG_INPUT",
    "FLAG_FOCK",
    "FLAG_CONDITION",
    "with_flags",
    "describe_flags",
    "raise_if_flagged",
]

#: bits of `Diagnostics.flags`: the linear-solve checks failed; an input is invalid (non-finite,
#: a rate or temperature <= 0: only possible for traced inputs, concrete ones raise up front);
#: the Fock cutoff is too small (``P(n_max) > fock_tol``); the rates span more than
#: `jaxtls._engine.checks.MAX_RATE_SPAN` (float64 cannot resolve the point: accuracy guard)
FLAG_SOLVE, FLAG_INPUT, FLAG_FOCK, FLAG_CONDITION = 1, 2, 4, 8
_FLAG_TEXT = {
    FLAG_SOLVE: "the steady state failed its checks (residual, trace or positivity above tol; a "
    "singular Liouvillian means a non-unique steady state)",
    FLAG_INPUT: "an input is invalid (non-finite, or a rate or temperature <= 0, or a non-positive photon energy)",
    FLAG_FOCK: "the Fock cutoff is too small (P(n_max) > fock_tol): raise n_max",
    FLAG_CONDITION: "the rates span more than 1e8 (max/min of the lead, bath and coupling rates): "
    "float64 cannot resolve this point, its results are not trusted",
}


class SteadyStateError(RuntimeError):
    """A steady state failed its checks (singular or non-unique Liouvillian, large residual,
    negative eigenvalue, truncated Fock space). The message says which and how to fix it."""


class Diagnostics(eqx.Module):
    """Checks of a computed steady state (each of the batch shape).

    - `residual`: ``max|L x| / (max|L| max|x|)``, relative residual of the linear system;
    - `trace_error`: ``|Tr rho - 1|``;
    - `min_eigenvalue`: smallest eigenvalue of ``rho`` (Hermitian by construction: the
      unknowns are real and imaginary parts);
    - `ok`: all finite, residual and trace error below `tol`, ``min_eigenvalue >= -tol`` and,
      for the model solvers, none of `flags` set.
    - `flags` (model solvers; None otherwise): int32 bit set of the failed checks, `FLAG_SOLVE`,
      `FLAG_INPUT`, `FLAG_FOCK`, `FLAG_CONDITION` (`describe_flags` names them).
    """

    residual: Float[Array, ...]
    trace_error: Float[Array, ...]
    min_eigenvalue: Float[Array, ...]
    ok: Bool[Array, ...]
    flags: Array | None = None


def check_lanes(ops: SectorOperators, residual, x, tol: float = 1e-8) -> Diagnostics:
    """`Diagnostics` of steady states ``x`` ``(K, m, *lanes)`` (batch-last) from their relative
    residuals ``(*lanes)``. The trace and eigenvalue checks are formed along the lanes
    (contiguous, vectorised); each field has the lane shape."""
    lanes = x.shape[2:]
    x_bl = x.reshape(x.shape[:2] + (-1,))  # (K, m, N)
    n = x_bl.shape[-1]
    trace_error = jnp.abs(jnp.einsum("km,kmn->n", ops.trace, x_bl, precision=jax.lax.Precision.HIGHEST) - 1.0)
    flat = jnp.concatenate([x_bl.reshape(-1, n), jnp.zeros((1, n), x_bl.dtype)])
    re = flat[ops.group_index[..., 0]] * ops.group_coef[..., 0, None]  # (G, g, g, N)
    im = flat[ops.group_index[..., 1]] * ops.group_coef[..., 1, None]
    g = re.shape[1]
    if g == 1:
        min_eig = jnp.min(re[:, 0, 0], axis=0)
    elif g == 2:  # closed form for 2 x 2 Hermitian blocks (no LAPACK call per block)
        a, d = re[:, 0, 0], re[:, 1, 1]
        b2 = re[:, 0, 1] ** 2 + im[:, 0, 1] ** 2
        min_eig = jnp.min(0.5 * (a + d) - jnp.sqrt(0.25 * (a - d) ** 2 + b2), axis=0)
    else:
        groups = jnp.moveaxis(jax.lax.complex(re, im), -1, 0)
        min_eig = jnp.min(jnp.linalg.eigvalsh(groups), axis=(1, 2))
    finite = jnp.all(jnp.isfinite(x_bl), axis=(0, 1))
    residual = residual.reshape(-1)
    ok = finite & (residual < tol) & (trace_error < tol) & (min_eig >= -tol)
    return jax.tree_util.tree_map(lambda a: a.reshape(lanes), Diagnostics(residual, trace_error, min_eig, ok))


def diagnostics(ops: SectorOperators, blocks, x, tol: float = 1e-8) -> Diagnostics:
    """`Diagnostics` of one point: blocks ``(K, 3, m, m)``, solution ``(K, m)``."""
    return check_lanes(ops, relative_residual(blocks, x), x, tol)


def describe_failures(diag: Diagnostics, tol: float) -> str | None:
    """Host-side summary of failed points, or None when all passed."""
    ok = np.asarray(diag.ok)
    if ok.all():
        return None
    bad = np.flatnonzero(~ok.reshape(-1))
    res = np.asarray(diag.residual).reshape(-1)[bad]
    tr = np.asarray(diag.trace_error).reshape(-1)[bad]
    ev = np.asarray(diag.min_eigenvalue).reshape(-1)[bad]
    return (
        f"{bad.size} of {ok.size} steady states failed the checks (tol={tol:g}): "
        f"max relative residual {np.nanmax(res) if np.isfinite(res).any() else float('nan'):.3g}, "
        f"max trace error {np.nanmax(tr) if np.isfinite(tr).any() else float('nan'):.3g}, "
        f"min eigenvalue {np.nanmin(ev) if np.isfinite(ev).any() else float('nan'):.3g}; "
        f"first failing flat index {bad[0]}. A singular Liouvillian (non-unique steady state) "
        "usually means a rate is zero; pass throw=False to get the flagged results."
    )


def with_flags(diag: Diagnostics, *, input_bad=None, fock_bad=None, condition_bad=None) -> Diagnostics:
    """`diag` with `flags` set from its own ``ok`` and the given per-point conditions, and
    ``ok`` true only where no flag is set (every check, jit or not)."""
    flags = jnp.where(diag.ok, 0, FLAG_SOLVE).astype(jnp.int32)
    for code, cond in ((FLAG_INPUT, input_bad), (FLAG_FOCK, fock_bad), (FLAG_CONDITION, condition_bad)):
        if cond is not None:
            flags = flags | jnp.where(cond, code, 0).astype(jnp.int32)
    return Diagnostics(diag.residual, diag.trace_error, diag.min_eigenvalue, flags == 0, flags)


def describe_flags(flags) -> str | None:
    """Host-side text of the flags set at any point (None when no point is flagged)."""
    f = np.asarray(flags).reshape(-1)
    parts = []
    for code, text in _FLAG_TEXT.items():
        hit = np.flatnonzero(f & code)
        if hit.size:
            parts.append(f"{text} at {hit.size} of {f.size} points (first flat index {hit[0]})")
    return "; ".join(parts) if parts else None


def raise_if_flagged(tree, diag: Diagnostics, where: str):
    """`tree` guarded by one `equinox.error_if` per kind of flag (the `throw=True` of a traced
    call): attached to every leaf, so no use of the result escapes it."""
    if diag.flags is None:
        return eqx.error_if(tree, ~diag.ok, f"{where}: {_FLAG_TEXT[FLAG_SOLVE]}; pass throw=False to get it flagged")
    # the first failed check (in this order: the cause before its consequences) gives the message
    order = (FLAG_INPUT, FLAG_CONDITION, FLAG_FOCK, FLAG_SOLVE)
    first = jnp.select([(diag.flags & code) != 0 for code in order], list(range(len(order))), 0)
    msgs = tuple(f"{where}: {_FLAG_TEXT[code]}; pass throw=False to get it flagged" for code in order)
    return eqx.branched_error_if(tree, diag.flags != 0, first, msgs)
