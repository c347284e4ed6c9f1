"""Result pytrees returned by the model solvers."""

from __future__ import annotations

import equinox as eqx
import jax
from jaxtyping import Array

from .._engine.diagnostics import Diagnostics, SteadyStateError
from .._engine.result_base import AbstractResult, to_plain

__all__ = ["TransitionResult", "SteadyStateError", "to_plain"]


class TransitionResult(AbstractResult):
    """Steady state of a light-matter transition and its thermodynamic audit.

    Every array field has the broadcast shape of the parameters. Units: hbar = k_B = 1 (one
    energy unit for energies, rates and temperatures); currents are per unit time, *into* the
    system from the named reservoir (Eq. 5).

    **Fields:**

    - `rate`: net transition rate R from u to l (A8 / R = 2 Im Y, Sec. III B).
    - `particle_current`: ``{"u", "l"}`` Ndot_a (Eq. 5); the cavity adds ``"b"`` (photons from
      the bath).
    - `energy_current`: ``{"u", "l"}`` Udot_a; the cavity adds ``"b"``.
    - `power`: P_S absorbed from the classical field (Eq. 6); 0 for the cavity model.
    - `entropy_production`: ``sum_a Sdot_a`` (Eq. 2), k_B per unit time, computed without the
      cancelling sum as ``R A`` with the affinity ``A = sum_a nu_a (mu_a - E~_a) / T_a`` (Eqs.
      15, 22: exact in the steady state because ``Ndot_a = nu_a R`` and ``Udot_a = E~_a Ndot_a``,
      Eqs. 11-13, 21, whatever the occupations).
    - `entropy_production_tolerance`: a bound on the rounding error of `entropy_production`
      (from the sizes of the terms of ``A``, the residual of the solve and the spread of the
      rates; `jaxtls._engine.thermo.affinity_entropy_production`). A negative
      `entropy_production` within it is round-off, not a violation of the second law: ``ok``
      and the second-law audits test ``entropy_production >= -entropy_production_tolerance``.
    - `entropy_flow`: per reservoir ``Sdot_a = (-Udot_a + mu_a Ndot_a)/T_a``.
    - `effective_energy`: ``{"u", "l"}`` (Eq. 14 / 21), the cavity adds ``"ph"``.
    - `occupation`: ``{"u", "l"}`` the lead occupations f_a used; the cavity adds ``"b"`` (n_b).
    - `populations`: ``{"u", "l"}`` (sigma_uu, sigma_ll); the cavity adds ``"ph"`` (<a^+ a>).
    - `coherence`: sigma_ul = <c_l^+ c_u> (rotating frame for the classical model).
    - `first_law_residual`: ``sum_a Udot_a + P`` (Eq. 1), zero in an exact steady state.
    - `effective_energy_residual`: ``max_a |Udot_a - E~_a Ndot_a|`` (Eqs. 11-13 / 21).
    - `diagnostics`: linear-solve checks (`jaxtls.Diagnostics`).
    - `fock_tail`: cavity only, population of the highest Fock state ``P(n = n_max)``.
    - `occupations`, `model`: which prescription and model produced this result.
    - `n_max`: cavity only, the photon cutoff used (useful with ``n_max="auto"``).
    """

    rate: Array
    particle_current: dict
    energy_current: dict
    power: Array
    entropy_production: Array
    entropy_flow: dict
    effective_energy: dict
    occupation: dict
    populations: dict
    coherence: Array
    first_law_residual: Array
    effective_energy_residual: Array
    diagnostics: Diagnostics
    fock_tail: Array | None = None
    entropy_production_tolerance: Array | None = None
    occupations: str = eqx.field(static=True, default="effective")
    model: str = eqx.field(static=True, default="")
    n_max: int | None = eqx.field(static=True, default=None)

    @property
    def ok(self):
        """``diagnostics.ok``: every check of the point passed (solve, inputs, Fock cutoff,
        accuracy guard)."""
        return self.diagnostics.ok


def reshape_result(res: TransitionResult, shape: tuple) -> TransitionResult:
    """Reshape every array leaf from ``(N, ...)`` to ``shape + (...)`` (one compiled call on
    concrete results instead of one dispatch per leaf; plain reshapes under a trace)."""
    leaves = jax.tree_util.tree_leaves(res)
    if leaves and not all(isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer) for a in leaves):
        return _reshape(res, shape)
    return _reshape_jit(res, shape)


def _reshape(res, shape):
    return jax.tree_util.tree_map(lambda a: a.reshape(shape + a.shape[1:]), res)


_reshape_jit = jax.jit(_reshape, static_argnums=1)
