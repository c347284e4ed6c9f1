"""Non-interacting (quadratic) systems through the single-particle correlation matrix.

For ``H_S(t) = sum_ij h_ij(t) c_i^+ c_j`` and local leads (Eq. 8) the Lindblad equation closes
on the correlation matrix ``C_ij = <c_j^+ c_i>`` (``M x M``, Hermitian):

    dC/dt = -i [h(t), C] - {Gamma/2, C} + Gamma F,

with ``Gamma = sum_a gamma_a P_a``, ``Gamma F = sum_a gamma_a f_a P_a`` and ``P_a`` the
projector on the level of lead ``a`` (``Gamma = diag(gamma)``, ``F = diag(f)`` when every
level has one lead). It follows from ``d<O>/dt = <i[H, O] + sum_a L_a^+(O)>`` with
``O = c_j^+ c_i``: ``i[H, c_j^+ c_i] -> -i[h, C]``,
``D^+[c_a](c_j^+ c_i) = -(delta_aj + delta_ai)/2 c_j^+ c_i`` and
``D^+[c_a^+](c_j^+ c_i) = delta_ai delta_aj - (delta_aj + delta_ai)/2 c_j^+ c_i``
(`tests/test_periodic.py` checks it against the Fock-space Liouvillian). The steady state needs
``M^2`` unknowns instead of ``4^M``, so hundreds of levels are possible.

- Static: the Lyapunov (Sylvester) equation ``A C + C A^+ = -Gamma F`` with
  ``A = -i h - Gamma/2``.
- Periodic (``h(t) = sum_k h_k e^{-i k omega t}``): ``C(t) = sum_n C_n e^{-i n omega t}``,

      (A + i n omega) C_n + C_n A^+ - i sum_{k != 0} [h_k, C_{n-k}] = -Gamma F delta_{n0},

  ``|n| <= n_harm``. Solved either directly (vectorised, block-tridiagonal LU as for the Fock
  space, `solver="direct"`), or matrix-free with GMRES (`solver="gmres"`) preconditioned by the
  exact inverse of the diagonal part ``X -> (A + i n omega) X + X A^+``, applied in the
  eigenbasis of ``A`` (``A = V diag(lambda) V^{-1}``:
  ``X = V [(V^{-1} Q V^{-+}) / (lambda_i + lambda_j^* + i n omega)] V^+``). The preconditioner
  is held constant under differentiation (`jax.lax.stop_gradient`) and the solve is wrapped in
  `jax.lax.custom_linear_solve`, so derivatives (and transposes, with the transposed
  preconditioner) are those of the exact linear system. In the static case it is the exact inverse
  and GMRES converges in one or two iterations.

Period-averaged flows (Appendix C; ``l`` the level of lead ``a``):
``Ndot_a = gamma_a (f_a - (C_0)_ll)``,
``Udot_a = gamma_a f_a (h_0)_ll - gamma_a/2 sum_k [(C_{-k} h_k)_ll + (h_k C_{-k})_ll]``,
``P = sum_k (-i k omega) Tr{h_k C_{-k}}``.

Units: hbar = k_B = 1.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.blocklu import SINGULAR_PIVOT, block_tridiagonal_solve, harmonic_blocks
from .._engine.checks import ParameterError, is_concrete
from .._engine.result_base import AbstractResult
from .._engine.superoperator import hamiltonian_superop
from .._engine.thermo import entropy_production_rate
from .result import SteadyStateError
from .system import FermionicSystem

__all__ = ["CorrelationSteadyState", "correlation_steady_state", "correlation_rhs"]

_HP = jax.lax.Precision.HIGHEST


class CorrelationSteadyState(AbstractResult):
    """Periodic steady state of a quadratic system in the correlation-matrix picture.

    **Fields** (per-lead arrays ordered like ``system.leads``; currents into the system):

    - `correlation`: period-averaged ``C_ij = <c_j^+ c_i>`` (``M x M``);
    - `correlation_harmonics`: ``C_n``, ``n = -n_harm..n_harm`` (``2 n_harm + 1, M, M``);
    - `energy_current`, `particle_current`, `power`, `entropy_flow`, `entropy_production`,
      `first_law_residual`, `effective_energy` (plain ratio, C3), `occupation`, `populations`
      (``(C_0)_ii``): as in `jaxtls.PeriodicSteadyState`;
    - `residual`: relative residual of the linear system; `harmonic_tail`:
      ``max(|C_{n_harm}|, |C_{-n_harm}|)``; `ok`: finite, residual and tail below ``tol``.
    """

    correlation: Array
    correlation_harmonics: Array
    energy_current: Array
    particle_current: Array
    power: Array
    entropy_flow: Array
    entropy_production: Array
    first_law_residual: Array
    effective_energy: Array
    occupation: Array
    populations: Array
    residual: Array
    harmonic_tail: Array
    ok: Array
    lead_names: tuple = eqx.field(static=True, default=())


def _lead_matrices(system: FermionicSystem, f):
    m = system.num_levels
    idx = np.array([lead.level for lead in system.leads])
    g = system.lead_array("gamma")
    gamma = jnp.zeros(m, jnp.float64).at[idx].add(g)
    source = jnp.zeros(m, jnp.float64).at[idx].add(g * f)
    return gamma, source, idx


def correlation_rhs(system: FermionicSystem, t, c, f) -> Array:
    """Right-hand side ``-i[h(t), C] - {Gamma/2, C} + Gamma F`` of the equation of motion of
    ``C_ij = <c_j^+ c_i>`` (module docstring), for occupations ``f`` (``(n_leads,)``)."""
    gamma, source, _ = _lead_matrices(system, jnp.asarray(f))
    h = system.single_particle_hamiltonian(t)
    return (
        -1j * (h @ c - c @ h)
        - 0.5 * (gamma[:, None] * c + c * gamma[None, :])
        + jnp.diag(source).astype(jnp.complex128)
    )


def _operator_terms(system, f, n_harm):
    hk = system.single_particle_harmonics()  # (2K+1, M, M)
    kmax = system.max_harmonic
    gamma, source, idx = _lead_matrices(system, f)
    a = -1j * hk[kmax] - 0.5 * jnp.diag(gamma).astype(jnp.complex128)
    return hk, kmax, a, gamma, source, idx


def _apply(x, a, hk, kmax, omega, ns):
    """``T(X)_n = (A + i n omega) X_n + X_n A^+ - i sum_{k != 0} [h_k, X_{n-k}]``."""
    out = (
        jnp.matmul(a, x, precision=_HP) + jnp.matmul(x, a.conj().T, precision=_HP) + 1j * omega * ns[:, None, None] * x
    )
    nh = x.shape[0]
    for k in range(-kmax, kmax + 1):
        if k == 0:
            continue
        # contribution to X_n from X_{n-k}: shift by k
        shifted = jnp.zeros_like(x)
        if k > 0:
            shifted = shifted.at[k:].set(x[: nh - k])
        else:
            shifted = shifted.at[: nh + k].set(x[-k:])
        h = hk[kmax + k]
        out = out - 1j * (jnp.matmul(h, shifted, precision=_HP) - jnp.matmul(shifted, h, precision=_HP))
    return out


def _solve_direct(hk, kmax, a, omega, rhs, n_harm):
    m = a.shape[0]
    eye = jnp.eye(m, dtype=a.dtype)
    lk = jax.vmap(hamiltonian_superop)(hk)  # -i[h_k, .] in vec(M^2) space
    l0 = jnp.kron(a, eye) + jnp.kron(eye, a.conj())  # X -> A X + X A^+  (row-major)
    lk = lk.at[kmax].set(l0)
    blocks, valid = harmonic_blocks(lk, omega, n_harm, kmax)
    size = max(kmax, 1)
    nchunks = blocks.shape[0]
    b = jnp.zeros((nchunks * size, m * m), a.dtype)
    mask = np.asarray(valid).reshape(-1)
    b = b.at[np.flatnonzero(mask)].set(rhs.reshape(-1, m * m)).reshape(nchunks, size * m * m)
    x, min_pivot = block_tridiagonal_solve(blocks, b)
    return x.reshape(-1, m * m)[mask].reshape(-1, m, m), min_pivot > SINGULAR_PIVOT


def _solve_gmres(hk, kmax, a, omega, rhs, ns, rtol, atol, max_steps, restart):
    """Preconditioned GMRES inside `jax.lax.custom_linear_solve` (derivatives and transposes
    solve the same linear system; the eigenbasis preconditioner is a constant)."""
    a_c = jax.lax.stop_gradient(a)
    lam, v = jnp.linalg.eig(a_c)
    vinv = jnp.linalg.inv(v)
    w = jax.lax.stop_gradient(omega)
    denom = lam[None, :, None] + jnp.conj(lam)[None, None, :] + 1j * w * ns[:, None, None]
    vh, vinvh = v.conj().T, vinv.conj().T
    vt, vinvt = v.T, vinv.T
    vc, vinvc = v.conj(), vinv.conj()

    def mm(x, y):
        return jnp.matmul(x, y, precision=_HP)

    def precond(y):  # inverse of X -> (A + i n w) X + X A^+
        return mm(mm(v, mm(mm(vinv, y), vinvh) / denom), vh)

    def precond_t(y):  # inverse of the transpose, Y -> (A^T + i n w) Y + Y A^*
        return mm(mm(vinvt, mm(mm(vt, y), vc) / denom), vinvc)

    def matvec(x):
        return _apply(x, a, hk, kmax, omega, ns)

    maxiter = None if max_steps is None else max(1, max_steps // restart)

    def solve(mv, b):
        x, _ = jax.scipy.sparse.linalg.gmres(
            mv, b, x0=precond(b), tol=rtol, atol=atol, restart=restart, maxiter=maxiter, M=precond
        )
        return x

    def transpose_solve(vm, b):
        x, _ = jax.scipy.sparse.linalg.gmres(
            vm, b, x0=precond_t(b), tol=rtol, atol=atol, restart=restart, maxiter=maxiter, M=precond_t
        )
        return x

    x = jax.lax.custom_linear_solve(matvec, rhs, solve, transpose_solve)
    return x, jnp.asarray(True)


@eqx.filter_jit
def _core(system, occupations, n_harm, solver, rtol, atol, max_steps, restart, tol):
    f = system.resolve_occupations(occupations)
    hk, kmax, a, gamma, source, idx = _operator_terms(system, f, n_harm)
    m = system.num_levels
    nh = 2 * n_harm + 1
    ns = jnp.arange(-n_harm, n_harm + 1).astype(jnp.float64)
    omega = system.omega if kmax > 0 else jnp.zeros((), jnp.float64)
    rhs = jnp.zeros((nh, m, m), jnp.complex128).at[n_harm].set(-jnp.diag(source).astype(jnp.complex128))
    if solver == "direct":
        c, ok_solve = _solve_direct(hk, kmax, a, omega, rhs, n_harm)
    else:
        c, ok_solve = _solve_gmres(hk, kmax, a, omega, rhs, ns, rtol, atol, max_steps, restart)
    res = _apply(c, a, hk, kmax, omega, ns) - rhs
    scale = jnp.maximum(jnp.max(jnp.abs(rhs)), 1e-300)
    residual = jnp.max(jnp.abs(res)) / scale
    c0 = c[n_harm]
    tail = jnp.maximum(jnp.linalg.norm(c[0]), jnp.linalg.norm(c[-1])) if n_harm > 0 else jnp.zeros(())
    # flows
    g = system.lead_array("gamma")
    ks = np.arange(-kmax, kmax + 1)
    c_mk = c[n_harm - ks]  # C_{-k}, (2K+1, M, M)
    ch = jnp.matmul(c_mk, hk, precision=_HP)  # C_{-k} h_k
    hc = jnp.matmul(hk, c_mk, precision=_HP)
    diag_sum = jnp.sum(ch + hc, axis=0)  # sum_k (C h + h C)
    u_dot = jnp.real(g * f * jnp.real(hk[kmax][idx, idx]) - 0.5 * g * diag_sum[idx, idx])
    n_dot = g * (f - jnp.real(c0[idx, idx]))
    power = jnp.real(jnp.sum(-1j * ks * omega * jnp.trace(hc, axis1=-2, axis2=-1)))
    mu, temp = system.lead_array("mu"), system.lead_array("T")
    s = entropy_production_rate(u_dot, n_dot, mu, temp)
    finite = jnp.all(jnp.isfinite(c)) & jnp.all(jnp.isfinite(u_dot))
    ok = ok_solve & finite & (residual < tol) & (tail < tol)
    return CorrelationSteadyState(
        correlation=c0,
        correlation_harmonics=c,
        energy_current=u_dot,
        particle_current=n_dot,
        power=power,
        entropy_flow=s,
        entropy_production=jnp.sum(s),
        first_law_residual=jnp.sum(u_dot) + power,
        effective_energy=u_dot / n_dot,
        occupation=f,
        populations=jnp.real(jnp.diagonal(c0)),
        residual=residual,
        harmonic_tail=tail,
        ok=ok,
        lead_names=system.lead_names,
    )


def correlation_steady_state(
    system: FermionicSystem,
    *,
    occupations=None,
    n_harm: int | None = None,
    solver: str = "auto",
    rtol: float = 1e-12,
    atol: float = 0.0,
    max_steps: int | None = 2000,
    restart: int = 40,
    tol: float = 1e-8,
    throw: bool = True,
) -> CorrelationSteadyState:
    """(Periodic) steady state of a quadratic `FermionicSystem` through the correlation matrix
    ``C_ij = <c_j^+ c_i>`` (module docstring) and its period-averaged flows (C1, C2, Eq. 6).

    **Arguments:**

    - `system`: a quadratic `FermionicSystem` (no interactions, single-particle drive).
    - `occupations`: ``None`` / ``"bare"`` or an array ``(n_leads,)`` of lead occupations.
    - `n_harm`: highest harmonic of ``C(t)`` (default 0 for a static system, ``12 K`` otherwise).
    - `solver`: ``"direct"`` (block LU of the vectorised ``(2 n_harm + 1) M^2`` system),
      ``"gmres"`` (matrix-free, preconditioned; for large ``M``) or ``"auto"`` (direct when
      ``M^2 max(K, 1) <= 1024``).
    - `rtol`, `atol`, `max_steps`, `restart`: GMRES settings (stop when the preconditioned
      residual is below ``max(rtol |b|, atol)``; ``max_steps`` counts Krylov vectors).
    - `tol`: tolerance of the checks (``residual``, ``harmonic_tail``).
    - `throw`: with concrete inputs, raise `jaxtls.SteadyStateError` if a check fails.

    **Returns:** a `CorrelationSteadyState`. Cost: ``O(n_harm M^3)`` per GMRES iteration,
    ``O(M^3)`` for a static system.
    """
    if not isinstance(system, FermionicSystem):
        raise ParameterError(f"system must be a jaxtls.FermionicSystem, got {type(system).__name__}")
    if not system.is_quadratic:
        raise ParameterError(
            "correlation_steady_state needs a quadratic system (no interaction, no many-body terms); "
            "use jaxtls.periodic_steady_state"
        )
    kmax = system.max_harmonic
    if n_harm is None:
        n_harm = 12 * kmax
    if isinstance(n_harm, bool) or not isinstance(n_harm, (int, np.integer)) or n_harm < kmax:
        raise ParameterError(f"n_harm must be an integer >= {kmax} (the highest drive harmonic), got {n_harm!r}")
    if solver not in ("auto", "direct", "gmres"):
        raise ParameterError(f"solver must be 'auto', 'direct' or 'gmres', got {solver!r}")
    if solver == "auto":
        solver = "direct" if system.num_levels**2 * max(kmax, 1) <= 1024 else "gmres"
    if occupations is not None:
        system.resolve_occupations(occupations)  # validate up front (raises on bad input)
    out = _core(system, occupations, int(n_harm), solver, rtol, atol, max_steps, restart, tol)
    if throw and is_concrete(out.ok) and not np.all(np.asarray(out.ok)):
        raise SteadyStateError(
            f"correlation-matrix steady state failed its checks (tol={tol:g}): relative residual "
            f"{float(np.max(np.asarray(out.residual))):.3g}, harmonic tail "
            f"{float(np.max(np.asarray(out.harmonic_tail))):.3g} (raise n_harm if large). A level "
            "without a lead that is not coupled to one makes the steady state non-unique; pass "
            "throw=False to get the flagged result."
        )
    return out
