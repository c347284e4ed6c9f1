"""Stopping test, messages and the default solver strategy of the self-consistent fixed point
(paper Appendix C), relative to the scale of the flows (`jaxtls._models.selfconsistent`).
Units: hbar = k_B = 1."""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from .effective import blended_effective_energies, regularised_effective_energies

__all__ = [
    "RestartedNewton",
    "energy_scale",
    "fixed_point_checks",
    "heat_balance_residual",
    "newton_line_search",
    "not_converged_message",
    "ratio_residual",
    "restart_energies",
    "unresolved_message",
]


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
    (``diagnostics.ok = False``; `throw` raises `SelfConsistencyError`). ``delta_a`` also holds
    ``|E~_a(s) - E~_a(s/2)|``, the effect of the zero-current blend (`jaxtls._models.effective`).

    **Returns:** ``(max_a |r_a|, delta, converged, resolved)``.
    """
    f = system.occupations_from_energies(energies)
    blend = blended_effective_energies(system, method, f, scale)
    inv_n = blend.inverse_current
    r = blend.value - energies
    e_scale = energy_scale(system, energies)
    gamma = system.lead_array("gamma")
    eps = jnp.finfo(jnp.float64).eps
    delta = jnp.where(jnp.isfinite(inv_n), eps * gamma * inv_n, jnp.inf) * e_scale
    delta = delta + jnp.abs(blend.blend_change)
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


# ------------------------------------------------------------------------------------------------
# Default strategy: Newton with a line search on a pole-free residual, restarts, polish
# ------------------------------------------------------------------------------------------------
def newton_line_search(rtol: float, atol: float):
    """Newton's method with a backtracking (Armijo) line search on ``|r|^2 / 2``:
    `optimistix.GaussNewton` (a Newton step for a square system) with
    `optimistix.BacktrackingArmijo` as its search."""
    return eqx.tree_at(lambda s: s.search, optx.GaussNewton(rtol=rtol, atol=atol), optx.BacktrackingArmijo())


def heat_balance_residual(energies, args):
    """``q_a = (Udot_a - E_a Ndot_a) / g_a`` (energy units), ``g_a`` the gross particle flow of
    lead ``a`` (`jaxtls._models.effective`): zero exactly where ``E_a = Udot_a / Ndot_a`` and
    smooth everywhere (no pole where ``Ndot_a = 0``), but also zero on the 0/0 set where every
    current vanishes (e.g. all ``f_a`` equal: the product state ``exp(-lambda N)`` is stationary)."""
    system, method, _ = args
    f = system.occupations_from_energies(energies)
    st = method.solve(system, f)
    levels = np.array([lead.level for lead in system.leads])
    n = st.populations[levels]
    g = system.lead_array("gamma") * (f * (1 - n) + (1 - f) * n)
    return (st.energy_current - energies * st.particle_current) / g


def ratio_residual(energies, args):
    """``r_a = E~_a(f(E~)) - E~_a`` with the blended ``E~_a`` (`jaxtls._models.effective`)."""
    system, method, scale = args
    f = system.occupations_from_energies(energies)
    return regularised_effective_energies(system, method, f, scale) - energies


def restart_energies(system, y0) -> Array:
    """Starting points ``(K, n_leads)``: `y0`, then the energies whose occupations lie on the grid
    ``{0.1, 0.5, 0.9}^n`` (``n <= 3`` leads; ``{0.2, 0.8}^n`` for ``n <= 6``; none beyond),
    minus its points of equal occupations (on the 0/0 set). The restarts run only where the
    earlier ones failed. (The finer grid ``{0.1, 0.3, ..., 0.9}^3`` rescued none of the failures
    seen, at five times the cost where no start converges.)"""
    n = system.num_leads
    if n <= 3:
        grid = list(itertools.product((0.1, 0.5, 0.9), repeat=n))
    elif n <= 6:
        grid = list(itertools.product((0.2, 0.8), repeat=n))
    else:
        grid = []
    grid = [p for p in grid if len(set(p)) > 1]
    out = [jnp.asarray(y0, jnp.float64)[None]]
    if grid:
        fs = jnp.asarray(grid, jnp.float64)
        mu, temp = system.lead_array("mu"), system.lead_array("T")
        out.append(mu + temp * jnp.log((1 - fs) / fs))
    return jnp.concatenate(out)


class RestartedNewton(eqx.Module):
    """The default fixed-point strategy of `jaxtls.self_consistent_steady_state`.

    From each starting point of `restart_energies` in turn (the given/bare energies first):
    `newton_line_search` on the pole-free `heat_balance_residual` (`heat_steps` steps), then on
    the fixed-point residual `ratio_residual` itself (`polish_steps`, with the zero-current blend
    narrowed to `search_zero_current_scale`: 4 of 200 random systems failed with the default
    ``1e-8``, 1 with ``1e-12``), until the stopping test of `fixed_point_checks` (relative to the
    flows' scale, at the caller's blend width) is met; the best point found is returned.
    A `jax.lax.while_loop` over the starts: a point that converges from the first start costs
    one trial (under `jax.vmap`, the batch runs until its slowest point is done).
    """

    rtol: float = 1e-12
    atol: float = 1e-13
    heat_steps: int = eqx.field(static=True, default=48)
    polish_steps: int = eqx.field(static=True, default=16)
    search_zero_current_scale: float = eqx.field(static=True, default=1e-12)

    def solve(self, system, method, scale, y0, tol, max_steps):
        system, y0 = jax.lax.stop_gradient((system, y0))
        args = (system, method, scale)
        search_args = (system, method, min(scale, self.search_zero_current_scale))
        starts = restart_energies(system, y0)

        def trial(start):
            s1 = optx.root_find(
                heat_balance_residual, newton_line_search(1e-10, 1e-12), start, args=args,
                max_steps=max(1, min(self.heat_steps, max_steps)), throw=False,
            )  # fmt: skip
            y, n = s1.value, s1.stats["num_steps"]
            if self.polish_steps > 0:
                s2 = optx.root_find(
                    ratio_residual, newton_line_search(self.rtol, self.atol), y, args=search_args,
                    max_steps=max(1, min(self.polish_steps, max_steps)), throw=False,
                )  # fmt: skip
                y, n = s2.value, n + s2.stats["num_steps"]
            _, delta, conv, _ = fixed_point_checks(system, method, scale, y, None, tol)
            r = ratio_residual(y, args)
            merit = jnp.max(jnp.abs(r) / (energy_scale(system, y) * 1e-2 * tol + delta))
            merit = jnp.where(jnp.isfinite(merit), merit, jnp.inf)
            return y, merit, conv, n

        def cond(c):
            k, _, _, done, _ = c
            return (k < starts.shape[0]) & ~done

        def body(c):
            k, best, best_merit, _, steps = c
            y, merit, conv, n = trial(starts[k])
            better = merit < best_merit
            return (
                k + 1,
                jnp.where(better, y, best),
                jnp.where(better, merit, best_merit),
                conv,
                steps + n,
            )

        init = (jnp.asarray(0), starts[0], jnp.asarray(jnp.inf), jnp.asarray(False), jnp.asarray(0))
        _, best, _, _, steps = jax.lax.while_loop(cond, body, init)
        return best, steps
