"""Periodic steady states of driven fermionic systems and their period-averaged flows
(Model E, paper Appendix C, Eqs. C1-C3).

For a Lindbladian with period ``tau = 2 pi / omega``, ``L(t) = sum_k L_k e^{-i k omega t}``
(``L_k = -i[H_k, .]`` for ``k != 0``; the leads of Eq. 8 are in ``L_0``), the state approaches a
periodic steady state ``rho_ss(t + tau) = rho_ss(t)``. Two independent methods compute it:

- `FloquetHarmonics` (Floquet-Liouville harmonic expansion):
  ``rho(t) = sum_n rho_n e^{-i n omega t}``, ``|n| <= n_harm``. Inserting into
  ``d rho/dt = L(t) rho`` gives, for every ``n``,

      (L_0 + i n omega) rho_n + sum_{k != 0} L_k rho_{n-k} = 0,

  one linear system. One (redundant) equation of ``rho_0`` -- the ``(0, 0)`` element -- is
  replaced by the trace condition ``Tr rho_0 = 1`` (``Tr rho_n = 0`` for ``n != 0`` follows).
  The harmonics are grouped in chunks of ``K`` (the highest drive harmonic) so the matrix is
  block tridiagonal; it is solved by block LU elimination (a matrix continued fraction), cost
  ``O(n_harm d^6)``, factorised once and reused for every right-hand side (derivatives included,
  through `jax.lax.custom_linear_solve`). Convergence in ``n_harm`` is reported as
  ``harmonic_tail = max(|rho_{n_harm}|, |rho_{-n_harm}|)`` (Frobenius norms).
- `PeriodPropagator`: integrates the vectorised superoperator ODE ``dU/dt = L(t) U``,
  ``U(0) = 1`` over one period with diffrax and solves the fixed point of the period map,
  ``(U(tau) - 1) rho(0) = 0`` with ``Tr rho(0) = 1``. The period averages are accumulated along
  the way (``<g(t) U(t)>`` for the row functionals ``g`` of the flows). Works for any drive,
  including a callable one. Cost ``O(d^6)`` per time step.

Period-averaged flows (Appendix C), with ``<.>`` the average over one period:

- ``Udot_a^av = <Tr{H_S(t) L_a[rho_ss(t)]}> = sum_k Tr{H_k L_a[rho_{-k}]}`` (C1);
- ``Ndot_a^av = <Tr{n_a L_a[rho_ss(t)]}> = Tr{n_a L_a[rho_0]}`` (C2);
- ``P^av = <Tr{rho_ss dH_S/dt}> = sum_k (-i k omega) Tr{H_k rho_{-k}}`` (Eq. 6);
- entropy flow into reservoir ``a``: ``(-Udot_a + mu_a Ndot_a)/T_a`` (Eq. 2), summed to the
  entropy production; first law ``sum_a Udot_a^av + P^av = 0`` (its residual is reported);
- effective energies ``E~_a = Udot_a^av / Ndot_a^av`` (C3) (the plain ratio; see
  `jaxtls.effective_energies` for its continuation through ``Ndot_a = 0``).

Units: hbar = k_B = 1 (energies, rates, frequencies and temperatures in one unit).
"""

from __future__ import annotations

import abc

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.blocklu import (
    SINGULAR_PIVOT,
    block_apply,
    block_tridiagonal_solve,
    harmonic_blocks,
    inverse,
    min_eigenvalue,
)
from .._engine.checks import ParameterError, is_concrete
from .._engine.superoperator import hamiltonian_superop
from .._engine.thermo import entropy_production_rate
from .result import SteadyStateError
from .system import FermionicSystem, fock_operators

__all__ = [
    "AbstractPeriodicMethod",
    "FloquetHarmonics",
    "PeriodPropagator",
    "PeriodicSteadyState",
    "PeriodicDiagnostics",
    "periodic_steady_state",
    "resolve_method",
]

_HP = jax.lax.Precision.HIGHEST


# ------------------------------------------------------------------------------------------------
# Methods (strategy objects)
# ------------------------------------------------------------------------------------------------
class AbstractPeriodicMethod(eqx.Module):
    """How to compute a periodic steady state (`FloquetHarmonics` or `PeriodPropagator`)."""

    @abc.abstractmethod
    def solve(self, system: FermionicSystem, f: Array) -> PeriodicSteadyState: ...


class FloquetHarmonics(AbstractPeriodicMethod):
    """Floquet-Liouville harmonic expansion truncated at ``|n| <= n_harm`` (module docstring).

    **Arguments:**

    - `n_harm`: highest harmonic kept; default ``12 K`` for a drive with highest harmonic ``K``
      (0 for a static system). Must be ``>= K``. Check ``diagnostics.harmonic_tail``.
    """

    n_harm: int | None = eqx.field(static=True, default=None)

    def harmonics(self, system: FermionicSystem) -> int:
        kmax = system.max_harmonic
        if kmax == 0:
            return 0
        n = 12 * kmax if self.n_harm is None else self.n_harm
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < kmax:
            raise ParameterError(f"n_harm must be an integer >= {kmax} (the highest drive harmonic), got {n!r}")
        return int(n)

    def solve(self, system, f):
        return _floquet_steady_state(system, f, self.harmonics(system))


class PeriodPropagator(AbstractPeriodicMethod):
    """One-period propagator ``U(tau)`` from diffrax, then the fixed point of the period map.

    **Arguments:**

    - `solver`: a diffrax solver (default `diffrax.Dopri8()`; `diffrax.Kvaerno5()` for stiff
      problems).
    - `rtol`, `atol`: tolerances of the `diffrax.PIDController`.
    - `max_steps`: step budget for one period.
    - `adjoint`: diffrax adjoint; the default `diffrax.ForwardMode()` supports `jax.jvp` /
      `jax.jacfwd` (what the self-consistent Newton solver uses). Use
      `diffrax.RecursiveCheckpointAdjoint()` for reverse mode.
    """

    solver: diffrax.AbstractSolver = diffrax.Dopri8()
    rtol: float = 1e-11
    atol: float = 1e-12
    max_steps: int = eqx.field(static=True, default=16384)
    adjoint: diffrax.AbstractAdjoint = diffrax.ForwardMode()

    def solve(self, system, f):
        return _propagator_steady_state(system, f, self)


def resolve_method(method, system: FermionicSystem) -> AbstractPeriodicMethod:
    """``None`` / ``"auto"``: `FloquetHarmonics` unless the drive is a callable (then
    `PeriodPropagator`); ``"floquet"``, ``"propagator"``; or a method object."""
    if isinstance(method, AbstractPeriodicMethod):
        return method
    if method is None or method == "auto":
        if system.drive_fn is not None:
            return PeriodPropagator()
        return FloquetHarmonics()
    if method == "floquet":
        return FloquetHarmonics()
    if method == "propagator":
        return PeriodPropagator()
    raise ParameterError(
        f"method must be 'auto', 'floquet', 'propagator' or a FloquetHarmonics / PeriodPropagator "
        f"object, got {method!r}"
    )


# ------------------------------------------------------------------------------------------------
# Result
# ------------------------------------------------------------------------------------------------
class PeriodicDiagnostics(eqx.Module):
    """Checks of a periodic steady state (each of the batch shape).

    - `residual`: relative residual of the linear system (``max|A x - b| / (max|A| max|x|)``);
    - `trace_error`: ``|Tr rho - 1|`` (period average);
    - `min_eigenvalue`: smallest eigenvalue of ``rho(0)`` and of the period average;
    - `harmonic_tail`: Floquet: ``max(|rho_{n_harm}|, |rho_{-n_harm}|)``; propagator: 0;
    - `periodicity_error`: propagator: ``max|U(tau) rho(0) - rho(0)|``; Floquet: 0;
    - `min_pivot`: smallest Gauss-Jordan pivot relative to the largest entry of its matrix (the
      harmonic blocks for Floquet, the period-map system for the propagator); below
      ``1e-12`` the linear system is (numerically) singular: the steady state is not unique;
    - `ok`: all finite, residual, trace error, tail and periodicity error below ``tol``,
      ``min_eigenvalue >= -tol``, ``min_pivot > 1e-12`` and, for the propagator, the
      integration succeeded.
    """

    residual: Array
    trace_error: Array
    min_eigenvalue: Array
    harmonic_tail: Array
    periodicity_error: Array
    min_pivot: Array
    ok: Array


class PeriodicSteadyState(eqx.Module):
    """A periodic steady state and its period-averaged thermodynamics (Appendix C).

    Per-lead arrays are ordered like ``system.leads`` (names in `lead_names`); currents are
    *into* the system from the reservoir (Eq. 5); units hbar = k_B = 1.

    **Fields:**

    - `energy_current`: ``Udot_a^av`` (C1), ``(..., n_leads)``.
    - `particle_current`: ``Ndot_a^av`` (C2), ``(..., n_leads)``.
    - `power`: ``P^av`` absorbed from the drive (Eq. 6).
    - `entropy_flow`: ``(-Udot_a^av + mu_a Ndot_a^av) / T_a`` (Eq. 2), ``(..., n_leads)``.
    - `entropy_production`: their sum (k_B per unit time); ``>= 0`` with self-consistent
      occupations (Spohn, Appendix C).
    - `first_law_residual`: ``sum_a Udot_a^av + P^av`` (Eq. 1 averaged).
    - `effective_energy`: ``Udot_a^av / Ndot_a^av`` (C3), the plain ratio.
    - `occupation`: lead occupations ``f_a`` used.
    - `populations`: period-averaged ``<n_i>`` of every level, ``(..., M)``.
    - `rho0`: ``rho_ss(t = 0)`` (``d x d``); `rho_average`: the period average (Floquet; for the
      propagator ``None``); `rho_harmonics`: ``rho_n``, ``n = -n_harm..n_harm`` (Floquet only).
    - `omega`, `diagnostics` (`PeriodicDiagnostics`), `lead_names`, `method`.
    """

    energy_current: Array
    particle_current: Array
    power: Array
    entropy_flow: Array
    entropy_production: Array
    first_law_residual: Array
    effective_energy: Array
    occupation: Array
    populations: Array
    rho0: Array
    rho_average: Array | None
    rho_harmonics: Array | None
    omega: Array
    diagnostics: PeriodicDiagnostics
    lead_names: tuple = eqx.field(static=True, default=())
    method: str = eqx.field(static=True, default="")

    def rho(self, t) -> Array:
        """``rho_ss(t) = sum_n rho_n e^{-i n omega t}`` (Floquet results only)."""
        if self.rho_harmonics is None:
            raise ValueError("rho(t) needs the harmonics: use method=FloquetHarmonics(), or jaxtls.evolve")
        nh = self.rho_harmonics.shape[-3]
        n = jnp.arange(nh) - (nh - 1) // 2
        ph = jnp.exp(-1j * n * self.omega[..., None] * jnp.asarray(t)[..., None])
        return jnp.einsum("...n,...nij->...ij", ph, self.rho_harmonics)


def _lead_params(system):
    return system.lead_array("mu"), system.lead_array("T")


def _finish(system, f, u_dot, n_dot, power, pops, rho0, rho_av, rho_h, diag, method) -> PeriodicSteadyState:
    mu, temp = _lead_params(system)
    s = entropy_production_rate(u_dot, n_dot, mu, temp)
    return PeriodicSteadyState(
        energy_current=u_dot,
        particle_current=n_dot,
        power=power,
        entropy_flow=s,
        entropy_production=jnp.sum(s),
        first_law_residual=jnp.sum(u_dot) + power,
        effective_energy=u_dot / n_dot,
        occupation=f,
        populations=pops,
        rho0=rho0,
        rho_average=rho_av,
        rho_harmonics=rho_h,
        omega=system.omega,
        diagnostics=diag,
        lead_names=system.lead_names,
        method=method,
    )


def _floquet_matrix(lk, omega, n_harm: int, kmax: int, trace_row):
    """Blocks and right-hand side ``(C, S D)`` of the harmonic system with the trace condition
    replacing the ``(0, 0)`` equation of ``rho_0`` (module docstring)."""
    size = max(kmax, 1)
    dd = lk.shape[-1]
    blocks, valid = harmonic_blocks(lk, omega, n_harm, kmax)
    nchunks = blocks.shape[0]
    c0, j0 = n_harm // size, n_harm % size
    row = j0 * dd
    blocks = blocks.at[c0, :, row, :].set(0.0)
    blocks = blocks.at[c0, 1, row, j0 * dd : (j0 + 1) * dd].set(jnp.asarray(trace_row, lk.dtype))
    b = jnp.zeros((nchunks, size * dd), lk.dtype).at[c0, row].set(1.0)
    return blocks, b, valid


def _floquet_steady_state(system: FermionicSystem, f, n_harm: int) -> PeriodicSteadyState:
    ops = fock_operators(system.num_levels)
    d = ops["dim"]
    dd = d * d
    kmax = system.max_harmonic
    lk = system.liouvillian_harmonics(f)
    blocks, b, valid = _floquet_matrix(lk, system.omega, n_harm, kmax, ops["trace"])
    x, min_pivot = block_tridiagonal_solve(blocks, b)
    size = max(kmax, 1)
    nh = 2 * n_harm + 1
    rho_h = x.reshape(-1, size, dd)[np.asarray(valid)].reshape(nh, d, d)  # n = -N..N
    # diagnostics
    res = block_apply(blocks, x) - b
    scale = jnp.max(jnp.abs(blocks)) * jnp.max(jnp.abs(x))
    residual = jnp.max(jnp.abs(res)) / scale
    rho_av = rho_h[n_harm]
    rho0 = jnp.sum(rho_h, axis=0)
    trace_error = jnp.abs(jnp.trace(rho_av) - 1.0)
    min_eig = min_eigenvalue(rho_av, rho0)
    if n_harm > 0:
        tail = jnp.maximum(jnp.linalg.norm(rho_h[0]), jnp.linalg.norm(rho_h[-1]))
    else:
        tail = jnp.zeros((), jnp.float64)
    # flows (C1, C2, Eq. 6)
    hk = system.hamiltonian_harmonics()  # (2K+1, d, d), k = -K..K
    ks = np.arange(-kmax, kmax + 1)
    rho_mk = rho_h[n_harm - ks]  # rho_{-k}
    la = system.lead_superoperators(f)  # (nl, D, D)
    lrho = jnp.einsum("aij,kj->aki", la.astype(jnp.complex128), rho_mk.reshape(-1, dd), precision=_HP)
    hkt = jnp.swapaxes(hk, -1, -2).reshape(-1, dd)  # vec(H_k^T)
    u_dot = jnp.real(jnp.einsum("kj,akj->a", hkt, lrho, precision=_HP))
    nops = system.number_operators()
    nrow = jnp.einsum("aj,aji->ai", jnp.swapaxes(nops, -1, -2).reshape(-1, dd), la, precision=_HP)
    n_dot = jnp.real(jnp.einsum("ai,i->a", nrow, rho_av.reshape(-1), precision=_HP))
    power = jnp.real(
        jnp.sum(-1j * ks * system.omega * jnp.einsum("kj,kj->k", hkt, rho_mk.reshape(-1, dd), precision=_HP))
    )
    pops = jnp.real(jnp.einsum("iab,ba->i", jnp.asarray(ops["n"]), rho_av))
    diag = PeriodicDiagnostics(
        residual=residual,
        trace_error=trace_error,
        min_eigenvalue=min_eig,
        harmonic_tail=tail,
        periodicity_error=jnp.zeros((), jnp.float64),
        min_pivot=min_pivot,
        ok=jnp.asarray(True),
    )
    return _finish(system, f, u_dot, n_dot, power, pops, rho0, rho_av, rho_h, diag, "floquet")


# ------------------------------------------------------------------------------------------------
# One-period propagator
# ------------------------------------------------------------------------------------------------
def _propagator_steady_state(system: FermionicSystem, f, method: PeriodPropagator) -> PeriodicSteadyState:
    if not system.is_driven:
        raise ParameterError("the propagator method needs a periodic drive (omega > 0); use FloquetHarmonics")
    ops = fock_operators(system.num_levels)
    d = ops["dim"]
    dd = d * d
    m = system.num_levels
    nl = system.num_leads
    la = system.lead_superoperators(f).astype(jnp.complex128)
    lsum = jnp.sum(la, axis=0)
    tau = system.period
    nops = system.number_operators()
    nrow = jnp.einsum("aj,aji->ai", jnp.swapaxes(nops, -1, -2).reshape(-1, dd).astype(la.dtype), la)
    poprow = jnp.swapaxes(jnp.asarray(ops["n"]), -1, -2).reshape(m, dd).astype(la.dtype)
    static_rows = jnp.concatenate([nrow, poprow], axis=0)

    def rows(t):
        h = system.hamiltonian(t)
        hd = system.hamiltonian_derivative(t)
        g = jnp.einsum("j,aji->ai", h.T.reshape(-1), la, precision=_HP)
        return jnp.concatenate([g, hd.T.reshape(1, -1), static_rows], axis=0), h

    def vf(t, y, args):
        ur, ui = y[0], y[1]
        u = ur + 1j * ui
        r, h = rows(t)
        lt = hamiltonian_superop(h) + lsum
        du = jnp.matmul(lt, u, precision=_HP)
        da = jnp.matmul(r, u, precision=_HP) / tau
        return (jnp.real(du), jnp.imag(du), jnp.real(da), jnp.imag(da))

    nr = 2 * nl + 1 + m
    y0 = (
        jnp.eye(dd),
        jnp.zeros((dd, dd)),
        jnp.zeros((nr, dd)),
        jnp.zeros((nr, dd)),
    )
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vf),
        method.solver,
        t0=0.0,
        t1=tau,
        dt0=tau / 64,
        y0=y0,
        stepsize_controller=diffrax.PIDController(rtol=method.rtol, atol=method.atol),
        saveat=diffrax.SaveAt(t1=True),
        max_steps=method.max_steps,
        adjoint=method.adjoint,
        throw=False,
    )
    ur, ui, ar, ai = (y[-1] for y in sol.ys)
    prop = ur + 1j * ui
    acc = ar + 1j * ai
    a = prop - jnp.eye(dd)
    trace = jnp.asarray(ops["trace"], a.dtype)
    a = a.at[0].set(trace)
    rhs = jnp.zeros(dd, a.dtype).at[0].set(1.0)
    inv_a, min_pivot = inverse(a)
    v = inv_a @ rhs
    residual = jnp.max(jnp.abs(a @ v - rhs)) / (jnp.max(jnp.abs(a)) * jnp.max(jnp.abs(v)))
    per_err = jnp.max(jnp.abs(prop @ v - v))
    rho0 = v.reshape(d, d)
    vals = jnp.real(acc @ v)
    u_dot, power = vals[:nl], vals[nl]
    n_dot = vals[nl + 1 : 2 * nl + 1]
    pops = vals[2 * nl + 1 :]
    ok_int = sol.result == diffrax.RESULTS.successful
    diag = PeriodicDiagnostics(
        residual=residual,
        trace_error=jnp.abs(jnp.trace(rho0) - 1.0),
        min_eigenvalue=min_eigenvalue(rho0),
        harmonic_tail=jnp.zeros((), jnp.float64),
        periodicity_error=per_err,
        min_pivot=min_pivot,
        ok=ok_int,
    )
    return _finish(system, f, u_dot, n_dot, power, pops, rho0, None, None, diag, "propagator")


# ------------------------------------------------------------------------------------------------
# Public entry point
# ------------------------------------------------------------------------------------------------
def _finalise_diagnostics(state: PeriodicSteadyState, tol: float) -> PeriodicSteadyState:
    dg = state.diagnostics
    vals = (
        state.energy_current,
        state.particle_current,
        state.power,
        dg.residual,
        dg.min_eigenvalue,
    )
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in vals]))
    ok = (
        dg.ok
        & finite
        & (dg.residual < tol)
        & (dg.trace_error < tol)
        & (dg.min_eigenvalue >= -tol)
        & (dg.harmonic_tail < tol)
        & (dg.periodicity_error < tol)
        & (dg.min_pivot > SINGULAR_PIVOT)
    )
    return eqx.tree_at(lambda s: s.diagnostics.ok, state, ok)


@eqx.filter_jit
def _solve_jit(meth, system, occupations, tol):
    f = system.resolve_occupations(occupations)
    return _finalise_diagnostics(meth.solve(system, f), tol)


def describe_periodic_failures(diag: PeriodicDiagnostics, tol: float) -> str | None:
    """Host-side summary of failed points (None when all passed)."""
    ok = np.asarray(diag.ok)
    if ok.all():
        return None
    bad = np.flatnonzero(~ok.reshape(-1))

    def worst(x, fn=np.nanmax):
        a = np.asarray(x).reshape(-1)[bad]
        return fn(a) if np.isfinite(a).any() else float("nan")

    return (
        f"{bad.size} of {ok.size} periodic steady states failed the checks (tol={tol:g}): "
        f"max relative residual {worst(diag.residual):.3g}, max trace error {worst(diag.trace_error):.3g}, "
        f"min eigenvalue {worst(diag.min_eigenvalue, np.nanmin):.3g}, max harmonic tail "
        f"{worst(diag.harmonic_tail):.3g} (raise n_harm if large), max periodicity error "
        f"{worst(diag.periodicity_error):.3g} (tighten rtol/atol or raise max_steps if large), "
        f"min relative pivot {worst(diag.min_pivot, np.nanmin):.3g} (singular below {SINGULAR_PIVOT:g}); "
        f"first failing flat index {bad[0]}. A singular system (non-unique steady state) usually "
        "means a level is not damped by any lead; pass throw=False to get the flagged results."
    )


def periodic_steady_state(
    system: FermionicSystem,
    *,
    occupations=None,
    method=None,
    tol: float = 1e-8,
    throw: bool = True,
) -> PeriodicSteadyState:
    """Periodic steady state of a driven `FermionicSystem` and its period-averaged flows
    (Appendix C, Eqs. C1-C3; static systems give the ordinary steady state).

    **Arguments:**

    - `system`: the `FermionicSystem` (any batch: use `jax.vmap` over a function building it).
    - `occupations`: lead occupations ``f_a``: ``None`` / ``"bare"`` (Fermi functions at the
      bare level energies ``h_aa``, Eq. 9) or an array ``(n_leads,)``. For the self-consistent
      occupations use `jaxtls.self_consistent_steady_state`.
    - `method`: ``"auto"`` (default: `FloquetHarmonics` for Fourier drives and static systems,
      `PeriodPropagator` for callable drives), ``"floquet"``, ``"propagator"``, or a configured
      `FloquetHarmonics(n_harm=...)` / `PeriodPropagator(solver=..., rtol=..., atol=...)`.
    - `tol`: tolerance of the checks in ``diagnostics``.
    - `throw`: with concrete (non-traced) inputs, raise `jaxtls.SteadyStateError` if a check
      fails; under `jit`/`vmap` the failure is only flagged in ``diagnostics.ok``.

    **Returns:** a `PeriodicSteadyState` (flows in energy units per unit time, hbar = 1).
    """
    if not isinstance(system, FermionicSystem):
        raise ParameterError(f"system must be a jaxtls.FermionicSystem, got {type(system).__name__}")
    meth = resolve_method(method, system)
    if occupations is not None:
        system.resolve_occupations(occupations)  # validate up front (raises on bad input)
    state = _solve_jit(meth, system, occupations, tol)
    if throw and is_concrete(state.diagnostics.ok):
        msg = describe_periodic_failures(state.diagnostics, tol)
        if msg is not None:
            raise SteadyStateError(msg)
    return state
