"""Periodic steady states of driven fermionic systems: the result, its diagnostics and the method
interface (Model E, paper Appendix C).

Period-averaged flows, with ``<.>`` the average over one period ``tau = 2 pi / omega``:

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
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.blocklu import SINGULAR_PIVOT
from .._engine.checks import ParameterError
from .._engine.result_base import AbstractResult
from .._engine.thermo import entropy_production_rate

__all__ = [
    "AbstractPeriodicMethod",
    "PeriodicDiagnostics",
    "PeriodicSteadyState",
    "finish",
    "finalise_diagnostics",
    "describe_periodic_failures",
    "harmonics_kept",
]


class AbstractPeriodicMethod(eqx.Module):
    """How to compute a periodic steady state (`jaxtls.FloquetHarmonics`,
    `jaxtls.PeriodPropagator`, `jaxtls.StaticSector`, or the dense reference)."""

    #: whether derivatives of every order are exact (the self-consistent solver needs them)
    any_order_derivatives: ClassVar[bool] = True

    @abc.abstractmethod
    def solve(self, system, f: Array) -> PeriodicSteadyState:
        """The periodic steady state of `system` (a `jaxtls.FermionicSystem`) at lead occupations ``f``."""


def harmonics_kept(system, n_harm) -> int:
    """The Floquet truncation: `n_harm` (an integer ``>= K``), default ``12 K`` for a drive with
    highest harmonic ``K``; 0 for a static system."""
    kmax = system.max_harmonic
    if kmax == 0:
        return 0
    n = 12 * kmax if n_harm is None else n_harm
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < kmax:
        raise ParameterError(f"n_harm must be an integer >= {kmax} (the highest drive harmonic), got {n!r}")
    return int(n)


class PeriodicDiagnostics(eqx.Module):
    """Checks of a periodic steady state (each of the batch shape).

    - `residual`: relative residual of the linear system (``max|A x - b| / (max|A| max|x|)``);
    - `trace_error`: ``|Tr rho - 1|`` (period average);
    - `min_eigenvalue`: smallest eigenvalue of ``rho(0)`` and of the period average;
    - `harmonic_tail`: Floquet: ``max(|rho_{n_harm}|, |rho_{-n_harm}|)``; otherwise 0;
    - `periodicity_error`: propagator: ``max|U(tau) rho(0) - rho(0)|``; otherwise 0. It measures
      the fixed point of the *computed* ``U(tau)`` only and cannot see integration error;
    - `integration_error`: propagator: estimated integration error of ``rho(0)`` and of the
      period averages (per unit rate, absolute): their largest difference to a second
      integration with a 10x looser controller (`jaxtls._engine.harmonic.period_propagator`);
      ``inf`` if that integration failed; 0 for the other methods and with
      ``PeriodPropagator(error_estimate=False)``;
    - `min_pivot`: smallest Gauss-Jordan pivot relative to the largest entry of its matrix (the
      harmonic blocks for Floquet, the period-map system for the propagator, the real sector
      blocks with the trace row for the static engine); below ``1e-12`` the linear
      system is (numerically) singular: the steady state is not unique;
    - `ok`: all finite, residual, trace error, tail and periodicity error below ``tol``,
      ``min_eigenvalue >= -tol``, ``min_pivot > 1e-12`` and, for the propagator, the
      integration succeeded and its `integration_error` is below ``tol``.
    """

    residual: Array
    trace_error: Array
    min_eigenvalue: Array
    harmonic_tail: Array
    periodicity_error: Array
    integration_error: Array
    min_pivot: Array
    ok: Array


class PeriodicSteadyState(AbstractResult):
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
    - `rho0`: ``rho_ss(t = 0)`` (``d x d``); `rho_average`: the period average (``None`` for the
      propagator); `rho_harmonics`: ``rho_n``, ``n = -n_harm..n_harm`` (Floquet and static only).
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

    @property
    def ok(self):
        """``diagnostics.ok``: every check of the point passed."""
        return self.diagnostics.ok

    def rho(self, t) -> Array:
        """``rho_ss(t) = sum_n rho_n e^{-i n omega t}`` (Floquet results only)."""
        if self.rho_harmonics is None:
            raise ValueError("rho(t) needs the harmonics: use method=FloquetHarmonics(), or jaxtls.evolve")
        nh = self.rho_harmonics.shape[-3]
        n = jnp.arange(nh) - (nh - 1) // 2
        ph = jnp.exp(-1j * n * self.omega[..., None] * jnp.asarray(t)[..., None])
        return jnp.einsum("...n,...nij->...ij", ph, self.rho_harmonics)


def finish(system, f, u_dot, n_dot, power, pops, rho0, rho_av, rho_h, diag, method) -> PeriodicSteadyState:
    """Assemble a `PeriodicSteadyState` from the flows (entropy flows, first law, C3)."""
    mu, temp = system.lead_array("mu"), system.lead_array("T")
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


def finalise_diagnostics(state: PeriodicSteadyState, tol: float) -> PeriodicSteadyState:
    """Set ``diagnostics.ok`` from all checks at tolerance `tol`."""
    dg = state.diagnostics
    vals = (state.energy_current, state.particle_current, state.power, dg.residual, dg.min_eigenvalue)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in vals]))
    ok = (
        dg.ok
        & finite
        & (dg.residual < tol)
        & (dg.trace_error < tol)
        & (dg.min_eigenvalue >= -tol)
        & (dg.harmonic_tail < tol)
        & (dg.periodicity_error < tol)
        & (dg.integration_error < tol)
        & (dg.min_pivot > SINGULAR_PIVOT)
    )
    return eqx.tree_at(lambda s: s.diagnostics.ok, state, ok)


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
        f"{worst(diag.periodicity_error):.3g} (tighten rtol/atol or raise max_steps if large), max "
        f"integration error {worst(diag.integration_error):.3g} (propagator: tighten rtol/atol if large), "
        f"min relative pivot {worst(diag.min_pivot, np.nanmin):.3g} (singular below {SINGULAR_PIVOT:g}); "
        f"first failing flat index {bad[0]}. A singular system (non-unique steady state) usually "
        "means a level is not damped by any lead; pass throw=False to get the flagged results."
    )
