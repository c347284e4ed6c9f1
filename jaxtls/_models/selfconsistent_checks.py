"""Stopping test and messages of the self-consistent fixed point (paper Appendix C), relative to
the scale of the flows (`jaxtls._models.selfconsistent`). Units: hbar = k_B = 1."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .effective import regularised_effective_energies

__all__ = ["energy_scale", "fixed_point_checks", "not_converged_message", "unresolved_message"]


def energy_scale(system, energies):
    """``|E~_a| + |mu_a| + T_a`` per lead (energy units)."""
    return jnp.abs(energies) + jnp.abs(system.lead_array("mu")) + system.lead_array("T")


def fixed_point_checks(system, method, scale, energies, state, tol):
    """Stopping test of the fixed point relative to the scale of the flows.

    ``r_a = E~_a(f(E~)) - E~_a`` (energy units) at the returned energies is compared with
    ``1e-2 tol (|E~_a| + |mu_a| + T_a) + delta_a``, where ``delta_a`` bounds the rounding
    error of ``E~_a = Udot_a / Ndot_a`` itself: ``Ndot_a`` is a difference of gross flows of
    size ``gamma_a`` (``gamma_a (f_a - <n_a>)`` for a local lead), so its absolute rounding
    error is about ``eps gamma_a`` and ``E~_a`` is known to
    ``delta_a = eps gamma_a / |Ndot_a| (|E~_a| + |mu_a| + T_a)`` only (through ``Ndot_a' =
    dNdot_a/df_a`` where the zero-current continuation takes over, `jaxtls._models.effective`) (an estimate of the worst
    case: on 300 random RWA points with ``|Ndot|/gamma`` down to 1e-19 the error against Eq. 14
    is at most 0.96 ``delta_a``, typically 0.3). A root finder that stopped on its step budget on
    that rounding noise has converged; a result whose ``delta_a`` exceeds
    ``1e-2 sqrt(tol) (|E~_a| + |mu_a| + T_a)`` (``1e-6`` relative for ``tol = 1e-8``: particle
    currents below about ``2e-10`` of the gross rate) is flagged as unresolved
    (``diagnostics.ok = False``; `throw` raises `SelfConsistencyError`).

    **Returns:** ``(max_a |r_a|, delta, converged, resolved)``.
    """
    f = system.occupations_from_energies(energies)
    mapped, inv_n = regularised_effective_energies(system, method, f, scale, with_inverse_current=True)
    r = mapped - energies
    e_scale = energy_scale(system, energies)
    gamma = system.lead_array("gamma")
    eps = jnp.finfo(jnp.float64).eps
    delta = jnp.where(jnp.isfinite(inv_n), eps * gamma * inv_n, jnp.inf) * e_scale
    finite = jnp.all(jnp.isfinite(energies)) & jnp.all(jnp.isfinite(r))
    converged = finite & jnp.all(jnp.abs(r) <= 1e-2 * tol * e_scale + delta)
    resolved = jnp.all(delta <= 1e-2 * jnp.sqrt(tol) * e_scale)
    return jnp.max(jnp.abs(r)), delta, converged, resolved


def not_converged_message(converged, fp_res, steps) -> str:
    conv = np.asarray(converged).reshape(-1)
    bad = np.flatnonzero(~conv)
    res = np.asarray(fp_res).reshape(-1)[bad]
    worst = np.nanmax(res) if np.isfinite(res).any() else float("nan")
    return (
        f"the self-consistent fixed point E~_a = Udot_a/Ndot_a with f_a = fermi(E~_a, mu_a, T_a) "
        f"(Appendix C) did not converge for {bad.size} of {conv.size} points (first flat index "
        f"{bad[0]}; remaining max_a |E~_a(f(E~)) - E~_a| up to {worst:.3g} "
        f"after {int(np.max(np.asarray(steps)))} steps). Try a better `initial` guess (e.g. the "
        "effective energies of a nearby point), more `max_steps`, or another optimistix root "
        "finder via `solver=`; pass throw=False to get the flagged result."
    )


def unresolved_message(resolved, ee_tol) -> str | None:
    """Message for points whose ``E~_a`` cannot be resolved to the tolerance, or None."""
    bad = np.flatnonzero(~np.asarray(resolved).reshape(-1))
    if bad.size == 0:
        return None
    t = np.asarray(ee_tol)
    worst = float(np.max(t.reshape(-1, t.shape[-1])[bad]))
    return (
        f"the effective energies E~_a = Udot_a/Ndot_a of {bad.size} points (first flat index {bad[0]}) "
        f"cannot be resolved to the tolerance: the particle current is so small against the gross rate "
        f"gamma_a that the rounding of Ndot_a alone leaves E~_a uncertain by up to {worst:.3g}; "
        "pass throw=False to get the flagged result (diagnostics.ok = False)"
    )
