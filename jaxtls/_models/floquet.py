"""Periodic steady states of driven fermionic systems and their period-averaged flows
(Model E, paper Appendix C, Eqs. C1-C3), on the sector engine.

A `FermionicSystem` compiles to a `LindbladStructure` with drive harmonics
(`jaxtls._models.system_structure`); the state lives in its sector (for number-conserving
systems with local leads: equal particle numbers on both sides of ``rho``, 20 of the 64 elements
of three levels). Three methods (strategy objects):

- `FloquetHarmonics` (Floquet-Liouville harmonic expansion): ``rho(t) = sum_n rho_n
  e^{-i n omega t}``, ``|n| <= n_harm``; ``(L_0 + i n omega) rho_n + sum_{k != 0} L_k rho_{n-k}
  = 0`` with one redundant population equation of ``rho_0`` replaced by ``Tr rho_0 = 1``, block
  tridiagonal in the harmonic index (chunks of ``K``, the highest drive harmonic) with
  sector-sized complex blocks, solved by block LU (`jaxtls._engine.harmonic`); derivatives of
  every order reuse the factorisation. Convergence in ``n_harm`` is reported as
  ``harmonic_tail = max(|rho_{n_harm}|, |rho_{-n_harm}|)`` (Frobenius norms).
- `PeriodPropagator`: integrates ``dU/dt = L(t) U`` over one period with diffrax on the sector
  (``E x E`` sector mat-vecs) and solves the fixed point of the period map,
  ``(U(tau) - 1) rho(0) = 0`` with ``Tr rho(0) = 1``; period averages accumulate along the way.
  Works for any drive, including a callable one.
- `StaticSector`: a static system's steady state on the real block-tridiagonal sector with the
  batched steady-state engine (`jaxtls._engine.steady.solve_batch`); first derivatives
  (implicit) only, so the self-consistent solver uses `FloquetHarmonics` (``n_harm = 0``) instead.

The result, its diagnostics and the period averages are described in
`jaxtls._models.periodic_result`. Units: hbar = k_B = 1.
"""

from __future__ import annotations

from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._engine.batched_solver import BatchedBlockSolver
from .._engine.blocklu import min_relative_pivot
from .._engine.checks import ParameterError, check_flag, check_tolerance, is_concrete
from .._engine.harmonic import PeriodicAverages, floquet_harmonics, period_propagator, periodic_averages
from .._engine.solvers import DenseSolver
from .._engine.steady import dissipated, expectations, solve_batch
from .periodic_result import (
    AbstractPeriodicMethod,
    PeriodicDiagnostics,
    PeriodicSteadyState,
    describe_periodic_failures,
    finalise_diagnostics,
    finish,
    harmonics_kept,
)
from .result import SteadyStateError
from .system import FermionicSystem
from .system_structure import coefficients_at, compile_system, system_coefficients

__all__ = [
    "AbstractPeriodicMethod",
    "FloquetHarmonics",
    "PeriodPropagator",
    "StaticSector",
    "PeriodicSteadyState",
    "PeriodicDiagnostics",
    "periodic_steady_state",
    "resolve_method",
    "lead_flows",
]


def lead_flows(system, c, avg: PeriodicAverages):
    """``(Udot_a, Ndot_a, <n_i>)`` of every lead / level from the period averages per jump
    (lead ``a`` owns jumps ``2a`` (``c^+``) and ``2a + 1`` (``c``); see
    `jaxtls._models.system_structure`)."""
    nh = avg.flow.shape[0]
    rates = jnp.asarray(c)[nh:].reshape(-1, 2)
    levels = np.array([lead.level for lead in system.leads])
    u_dot = jnp.sum(rates * avg.energy.reshape(-1, 2), axis=-1)
    idx = np.arange(levels.size)
    n_flow = jnp.stack([avg.flow[levels, 2 * idx], avg.flow[levels, 2 * idx + 1]], axis=-1)
    return u_dot, jnp.sum(rates * n_flow, axis=-1), avg.expect[: system.num_levels]


class FloquetHarmonics(AbstractPeriodicMethod):
    """Floquet-Liouville harmonic expansion truncated at ``|n| <= n_harm`` on the sector (module
    docstring).

    **Arguments:**

    - `n_harm`: highest harmonic kept; default ``12 K`` for a drive with highest harmonic ``K``
      (0 for a static system). Must be ``>= K``. Check ``diagnostics.harmonic_tail``.
    """

    n_harm: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        n = self.n_harm
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
            raise ParameterError(f"n_harm must be None or an integer >= 0, got {n!r}")

    def harmonics(self, system: FermionicSystem) -> int:
        return harmonics_kept(system, self.n_harm)

    def solve(self, system, f):
        n = self.harmonics(system)
        hops = compile_system(system).harmonic
        c, d = system_coefficients(system, f)
        z, residual, min_pivot = floquet_harmonics(hops, c, d, system.omega, n)
        avg = periodic_averages(hops, c, d, system.omega, z)
        u_dot, n_dot, pops = lead_flows(system, c, avg)
        rho_h = hops.to_matrix(z)
        z_av, z0 = z[n], jnp.sum(z, axis=0)
        tail = jnp.maximum(jnp.linalg.norm(z[0]), jnp.linalg.norm(z[-1])) if n > 0 else jnp.zeros((), jnp.float64)
        diag = PeriodicDiagnostics(
            residual=residual,
            trace_error=jnp.abs(jnp.sum(hops.trace * z_av) - 1.0),
            min_eigenvalue=hops.min_eigenvalue(jnp.stack([z_av, z0])),
            harmonic_tail=tail,
            periodicity_error=jnp.zeros((), jnp.float64),
            integration_error=jnp.zeros((), jnp.float64),
            min_pivot=min_pivot,
            ok=jnp.asarray(True),
        )
        return finish(system, f, u_dot, n_dot, avg.power, pops, hops.to_matrix(z0), rho_h[n], rho_h, diag, "floquet")


class PeriodPropagator(AbstractPeriodicMethod):
    """One-period propagator ``U(tau)`` on the sector from diffrax, then the fixed point of the
    period map (module docstring).

    **Arguments:**

    - `solver`: a diffrax solver (default `diffrax.Dopri8()`; `diffrax.Kvaerno5()` for stiff
      problems).
    - `rtol`, `atol`: tolerances of the `diffrax.PIDController`.
    - `max_steps`: step budget for one period.
    - `adjoint`: diffrax adjoint; the default `diffrax.ForwardMode()` supports `jax.jvp` /
      `jax.jacfwd` (what the self-consistent Newton solver uses). Use
      `diffrax.RecursiveCheckpointAdjoint()` for reverse mode.
    - `error_estimate`: integrate the period a second time with a 10x looser controller and
      report the difference of the two results as ``diagnostics.integration_error``, part of
      ``diagnostics.ok`` (default True; the periodicity error alone cannot see integration
      error, which the fixed point amplifies by ``~1/(gamma tau)`` for slowly relaxing
      systems). The second run takes about 0.75 of the steps of the first (about 1.75x the run
      time in all); not differentiated. False switches it off (``integration_error = 0``: the
      integration error is then not checked).
    """

    solver: diffrax.AbstractSolver = diffrax.Dopri8()
    rtol: float = 1e-11
    atol: float = 1e-12
    max_steps: int = eqx.field(static=True, default=16384)
    adjoint: diffrax.AbstractAdjoint = diffrax.ForwardMode()
    error_estimate: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        for name in ("rtol", "atol"):
            v = getattr(self, name)
            if is_concrete(v) and not (np.ndim(v) == 0 and np.isreal(v) and np.isfinite(v) and v > 0):
                raise ParameterError(f"{name} must be a finite number > 0, got {v!r}")
        m = self.max_steps
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ParameterError(f"max_steps must be an integer >= 1, got {m!r}")
        if not isinstance(self.solver, diffrax.AbstractSolver):
            raise ParameterError(f"solver must be a diffrax solver, got {type(self.solver).__name__}")
        if not isinstance(self.error_estimate, (bool, np.bool_)):
            raise ParameterError(f"error_estimate must be True or False, got {self.error_estimate!r}")

    def solve(self, system, f):
        if not system.is_driven:
            raise ParameterError("the propagator method needs a periodic drive (omega > 0); use FloquetHarmonics")
        hops = compile_system(system).harmonic
        at = coefficients_at(system, f)
        z, avg, residual, per_err, min_pivot, success, int_err = period_propagator(
            hops,
            at,
            system.period,
            self.solver,
            self.rtol,
            self.atol,
            self.max_steps,
            self.adjoint,
            bool(self.error_estimate),
        )
        u_dot, n_dot, pops = lead_flows(system, at(jnp.zeros(()))[0], avg)
        diag = PeriodicDiagnostics(
            residual=residual,
            trace_error=jnp.abs(jnp.sum(hops.trace * z) - 1.0),
            min_eigenvalue=hops.min_eigenvalue(z),
            harmonic_tail=jnp.zeros((), jnp.float64),
            periodicity_error=per_err,
            integration_error=int_err,
            min_pivot=min_pivot,
            ok=success,
        )
        return finish(system, f, u_dot, n_dot, avg.power, pops, hops.to_matrix(z), None, None, diag, "propagator")


class StaticSector(AbstractPeriodicMethod):
    """Steady state of a static system on the real block-tridiagonal sector with the batched
    steady-state engine (module docstring). First derivatives only (implicit differentiation).

    **Arguments:**

    - `solver`: a steady-state solver of the engine (default: `jaxtls.BatchedBlockSolver` for
      sectors of at least 4 levels of at most 12 unknowns, `jaxtls.DenseSolver` otherwise).
    """

    solver: object = None
    any_order_derivatives: ClassVar[bool] = False

    def solve(self, system, f):
        if system.is_driven:
            raise ParameterError("StaticSector needs a static system (no drive); use FloquetHarmonics")
        comp = compile_system(system)
        sector, hops = comp.sector, comp.harmonic
        solver = self.solver
        if solver is None:
            small = sector.num_levels >= 4 and sector.block_size <= 12
            solver = BatchedBlockSolver() if small else DenseSolver()
        c, _ = system_coefficients(system, f)
        x, dg = solve_batch(sector.ops, c[None], solver, float("inf"), None)
        # uniqueness: the smallest pivot of the block LU of L with the trace row (the engine's
        # residual and eigenvalue checks cannot see a second steady state)
        ops = sector.ops
        blk = jnp.tensordot(c, ops.blocks, axes=1, precision=jax.lax.Precision.HIGHEST).at[:, 1].add(ops.pad)
        r = ops.norm_row
        blk = blk.at[0, :, r, :].set(0.0).at[0, 1, r, :].set(ops.trace[0])
        fl = dissipated(sector.ops, x)[0]
        nh = hops.num_ham
        avg = PeriodicAverages(expect=expectations(sector.ops, x)[0], flow=fl, energy=c[:nh] @ fl[:nh], power=0.0)
        u_dot, n_dot, pops = lead_flows(system, c, avg)
        z = hops.from_real(x[0])
        rho = hops.to_matrix(z)
        diag = PeriodicDiagnostics(
            residual=dg.residual[0],
            trace_error=dg.trace_error[0],
            min_eigenvalue=dg.min_eigenvalue[0],
            harmonic_tail=jnp.zeros((), jnp.float64),
            periodicity_error=jnp.zeros((), jnp.float64),
            integration_error=jnp.zeros((), jnp.float64),
            min_pivot=min_relative_pivot(blk),
            ok=dg.ok[0],
        )
        power = jnp.zeros((), jnp.float64)
        return finish(system, f, u_dot, n_dot, power, pops, rho, rho, rho[None], diag, "static")


def resolve_method(method, system: FermionicSystem, *, any_order: bool = False) -> AbstractPeriodicMethod:
    """``None`` / ``"auto"``: `FloquetHarmonics` for a Fourier drive, `PeriodPropagator` for a
    callable drive, `StaticSector` for a static system (`FloquetHarmonics` with `any_order`:
    derivatives of every order are needed); ``"floquet"``, ``"propagator"``, ``"static"``; or a
    method object."""
    if isinstance(method, AbstractPeriodicMethod):
        meth = method
    elif method is None or method == "auto":
        if system.drive_fn is not None:
            meth = PeriodPropagator()
        elif system.is_driven or any_order:
            meth = FloquetHarmonics()
        else:
            meth = StaticSector()
    elif method in ("floquet", "propagator", "static"):
        meth = {"floquet": FloquetHarmonics, "propagator": PeriodPropagator, "static": StaticSector}[method]()
    else:
        raise ParameterError(
            f"method must be 'auto', 'floquet', 'propagator', 'static' or a FloquetHarmonics / "
            f"PeriodPropagator / StaticSector object, got {method!r}"
        )
    if any_order and not meth.any_order_derivatives:
        raise ParameterError(
            f"method {type(meth).__name__} has first derivatives only; the self-consistent effective "
            "energies need derivatives of higher order: use FloquetHarmonics (n_harm = 0 for a static system)"
        )
    return meth


def _check_tol(tol) -> float:
    """`tol` as a Python float: a concrete real finite number > 0 (`ParameterError` otherwise)."""
    if not is_concrete(tol):
        raise ParameterError(f"tol must be a finite real number > 0 (e.g. 1e-8), got a traced value {tol!r}")
    return float(check_tolerance("tol", tol))


@eqx.filter_jit
def _solve_jit(meth, system, occupations, tol):
    f = system.resolve_occupations(occupations)
    return finalise_diagnostics(meth.solve(system, f), tol)


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
    - `method`: ``"auto"`` (default: `FloquetHarmonics` for Fourier drives, `PeriodPropagator`
      for callable drives, `StaticSector` for static systems), ``"floquet"``, ``"propagator"``,
      ``"static"``, or a configured `FloquetHarmonics(n_harm=...)` /
      `PeriodPropagator(solver=..., rtol=..., atol=...)` / `StaticSector(solver=...)`.
    - `tol`: tolerance of the checks in ``diagnostics``, a finite number > 0 (default 1e-8;
      for the propagator it bounds ``diagnostics.integration_error`` too).
    - `throw`: True or False; with concrete (non-traced) inputs, raise
      `jaxtls.SteadyStateError` if a check fails; under `jit`/`vmap` the failure is only
      flagged in ``diagnostics.ok``.

    **Returns:** a `PeriodicSteadyState` (flows in energy units per unit time, hbar = 1).
    """
    if not isinstance(system, FermionicSystem):
        raise ParameterError(f"system must be a jaxtls.FermionicSystem, got {type(system).__name__}")
    tol = _check_tol(tol)
    throw = check_flag("throw", throw)
    meth = resolve_method(method, system)
    compile_system(system)  # structure errors (e.g. too many levels) before tracing
    if occupations is not None:
        system.resolve_occupations(occupations)  # validate up front (raises on bad input)
    state = _solve_jit(meth, system, occupations, tol)
    if throw and is_concrete(state.diagnostics.ok):
        msg = describe_periodic_failures(state.diagnostics, tol)
        if msg is not None:
            raise SteadyStateError(msg)
    elif throw:  # under jax.jit / vmap / grad: the same checks at run time
        state = eqx.error_if(
            state,
            ~jnp.all(state.diagnostics.ok),
            "periodic steady state failed its checks (residual, trace, positivity, harmonic tail, "
            "periodicity or integration error above tol); call with throw=False to inspect diagnostics",
        )
    return state
