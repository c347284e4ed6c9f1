"""``jt.steady_state(system, occupations=...)`` for a user-built `jaxtls.System` (registered on the
engine's `functools.singledispatch` entry point).

Occupations (CONTRACT "Your own model"): ``"bare"`` uses each reservoir's ``energy=`` if given,
else the on-site energy of a lead's level (Eq. 9), the frequency of a bath's mode, or ``E_j -
E_i`` for a bath on ``c_i^+ c_j``; a dict ``{name: f or n}`` gives the occupations directly;
``"self_consistent"`` solves ``E~_r = Udot_r / Ndot_r`` for every lead and bath at once
(Appendix C, extended to bosonic baths) as the root of the pole-free ``(Udot_r - E_r Ndot_r) /
gamma_r = 0``, point by point (`jax.vmap`) with `optimistix.Newton` from the bare energies, and
implicit gradients (`optimistix.ImplicitAdjoint`: no differentiation through the iterations).
Rates: a lead ``(gamma f, gamma (1 - f))`` on ``(c^+, c)`` (Eq. 8), a bath ``(gamma (n + 1),
gamma n)`` on ``(s, s^+)`` (Eq. 17).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .._engine.api import sector_of, solve_sector, steady_state
from .._engine.checks import ParameterError, check_parameters, check_tolerance, is_concrete
from .._engine.diagnostics import SteadyStateError
from .._engine.thermo import bose, bose_plus_one, fermi, fermi_hole
from .builder_result import BuilderResult, audit, energy_flows, reservoir_flows
from .builder_system import System

__all__ = ["solve_system"]


def _from_energy(kind, e, mu, T, gamma):
    """``(occupation, rate of j_up, rate of j_down)`` at energy `e` (Eqs. 8, 17)."""
    if kind == "lead":
        f = fermi(e, mu, T)
        return f, gamma * f, gamma * fermi_hole(e, mu, T)
    return bose(e, T), gamma * bose_plus_one(e, T), gamma * bose(e, T)


def _fixed_point(system, solver, tol: float):
    """Self-consistent energies ``{name: E~_r}`` (batch shape), converged flags and the largest
    scaled residual (module docstring)."""
    res = system.reservoirs
    for r in res:
        if r.energy is None:
            raise ParameterError(
                f"occupations='self_consistent' starts from the bare energies: reservoir {r.name!r} has none; "
                "pass energy= to its Lead/Bath"
            )
    arrays = list(system.ham_coefs)
    for k in ("mu", "T", "gamma", "energy"):
        arrays += [jnp.asarray(getattr(r, k), jnp.float64) for r in res]
    parts = jnp.broadcast_arrays(*arrays)
    shape, n_h, n_r = parts[0].shape, system.num_ham, len(res)
    flat = [p.reshape(-1) for p in parts]
    h = jnp.stack(flat[:n_h], axis=-1)
    mu, temp, gam, e0 = (jnp.stack(flat[n_h + k * n_r : n_h + (k + 1) * n_r], axis=-1) for k in range(4))
    layout = _Layout(n_h, tuple(_Res(r.kind, r.jumps, r.number, r.raised) for r in res))
    sector = sector_of(system.structure)
    e, ok, f = _fixed_point_core(layout, sector, sector.ops, h, mu, temp, gam, e0, solver, tol)
    return {r.name: e[:, i].reshape(shape) for i, r in enumerate(res)}, ok.reshape(shape), f.reshape(shape)


@dataclasses.dataclass(frozen=True)
class _Res:
    kind: str
    jumps: tuple
    number: int
    raised: int


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The static part of a System that `reservoir_flows` reads (hashable: a `jit` cache key)."""

    num_ham: int
    reservoirs: tuple


@eqx.filter_jit
def _fixed_point_core(layout, sector, ops, h, mu, temp, gam, e0, solver, tol):
    def residual(e, args):
        h_, mu_, t_, g_ = args
        rates = []
        for i, r in enumerate(layout.reservoirs):
            rates += list(_from_energy(r.kind, e[i], mu_[i], t_[i], g_[i])[1:])
        c = jnp.concatenate([h_, jnp.stack(rates)])[None]
        ss = solve_sector(sector, ops, c, solver, tol)
        flows = reservoir_flows(layout, ss.expect, ss.flows, c, energy_flows(layout, ss.flows, c))
        return jnp.stack([(u[0] - e[i] * n[0]) / g_[i] for i, (n, u, _, _) in enumerate(flows)])

    def one(h_, mu_, t_, g_, e0_):
        args = (h_, mu_, t_, g_)
        newton = optx.Newton(rtol=1e-13, atol=1e-15)
        sol = optx.root_find(residual, newton, e0_, args, max_steps=64, adjoint=optx.ImplicitAdjoint(), throw=False)
        f = jnp.max(jnp.abs(residual(sol.value, args)))
        return sol.value, (sol.result == optx.RESULTS.successful) & jnp.isfinite(f), f

    return jax.vmap(one)(h, mu, temp, gam, e0)


def _occupation(r, occupations, energy=None):
    """``(occupation, rate of j_up, rate of j_down)`` of reservoir `r`."""
    if energy is not None:
        return _from_energy(r.kind, energy, r.mu, r.T, r.gamma)
    if isinstance(occupations, dict):
        v = occupations[r.name]
        if is_concrete(v):
            rule = "nonneg" if r.kind == "bath" else "real"
            check_parameters({f"occupations[{r.name!r}]": v}, {f"occupations[{r.name!r}]": rule})
            if r.kind == "lead" and not np.all((np.asarray(v) >= 0) & (np.asarray(v) <= 1)):
                raise ParameterError(f"occupations[{r.name!r}] (a Fermi occupation) must be in [0, 1], got {v!r}")
        v = jnp.asarray(v, jnp.float64)
        return (v, r.gamma * v, r.gamma * (1 - v)) if r.kind == "lead" else (v, r.gamma * (v + 1), r.gamma * v)
    e = r.energy
    if e is None:
        what = "its level's number operator" if r.kind == "lead" else "a^+ a (or the on-site energies)"
        raise ParameterError(
            f"reservoir {r.name!r} has no bare energy: the hamiltonian has no term (c, {what}); pass energy= "
            "to its Lead/Bath or an occupations dict"
        )
    if r.kind == "lead":
        return fermi(e, r.mu, r.T), r.gamma * fermi(e, r.mu, r.T), r.gamma * fermi_hole(e, r.mu, r.T)
    if is_concrete(e) and np.any(np.asarray(e) <= 0):
        raise ParameterError(
            f"the energy of bath {r.name!r} must be > 0 for its Bose occupation (got min {np.min(np.asarray(e)):g})"
        )
    return bose(e, r.T), r.gamma * bose_plus_one(e, r.T), r.gamma * bose(e, r.T)


def solve_system(system: System, occupations="bare", *, n_harm=None, solver=None, tol=1e-8, throw=True,
                 fock_tol=1e-8) -> BuilderResult:  # fmt: skip
    """Steady state of `system` and its audit (`BuilderResult`); see `jaxtls.steady_state`."""
    if isinstance(occupations, str):
        if occupations not in ("bare", "self_consistent"):
            raise ParameterError(
                "occupations must be 'bare', 'self_consistent' or a dict {reservoir name: f or n}, "
                f"got {occupations!r}"
            )
    elif isinstance(occupations, dict):
        missing = [n for n in system.reservoir_names if n not in occupations]
        extra = [n for n in occupations if n not in system.reservoir_names]
        if missing or extra:
            raise ParameterError(
                f"occupations dict must have exactly the reservoirs {list(system.reservoir_names)}: missing "
                f"{missing}, unknown {extra}"
            )
    else:
        raise ParameterError(f"occupations must be 'bare' or a dict, got {type(occupations).__name__}")
    check_tolerance("fock_tol", fock_tol)
    energies, fp_ok = {}, True
    if isinstance(occupations, str) and occupations == "self_consistent":
        if system.structure.drive:
            raise ParameterError("occupations='self_consistent' is not available yet for a System with drive=")
        check_tolerance("tol", tol)
        energies, fp_ok, _ = _fixed_point(system, solver, float(tol))
    occ, rates = {}, []
    for r in system.reservoirs:
        occ[r.name], up, down = _occupation(r, occupations, energies.get(r.name))
        rates += [up, down]
    parts = jnp.broadcast_arrays(*system.ham_coefs, *rates)
    coeffs = jnp.stack(parts, axis=-1)
    kw = dict(solver=solver, tol=tol, throw=throw)
    if system.structure.drive:
        d = jnp.stack(jnp.broadcast_arrays(*system.drive_coefs), axis=-1)
        kw.pop("solver")
        if solver is not None:
            raise ParameterError("solver applies to static systems; a driven one is solved by Floquet harmonics")
        state = steady_state(system.structure, coeffs, drive=d, omega=system.omega, n_harm=n_harm, **kw)
        coeffs = jnp.broadcast_to(coeffs, state.ok.shape + coeffs.shape[-1:])
    else:
        if n_harm is not None:
            raise ParameterError("n_harm needs a System with drive=")
        state = steady_state(system.structure, coeffs, **kw)
    label = occupations if isinstance(occupations, str) else "given"
    res = audit(system, state, coeffs, occ, label, float(fock_tol), fp_ok)
    if throw:
        if is_concrete(res.entropy_production):
            if not np.all(np.asarray(res.ok)):
                tails = ", ".join(f"{k}: max {float(jnp.max(v)):.2e}" for k, v in res.fock_tail.items())
                raise SteadyStateError(
                    f"jt.steady_state(System): {res.failures()} (Fock tails {tails or 'none'}; raise a mode's "
                    f"n_max if above fock_tol={fock_tol:g}); pass throw=False for the flagged results"
                )
        else:
            res = eqx.error_if(
                res, ~res.ok, "jt.steady_state(System): a point failed its checks (solve or Fock cutoff)"
            )
    return res


@steady_state.register(System)
def _steady_state_system(system, coefficients=None, *, occupations="bare", drive=None, omega=None, n_harm=None,
                         solver=None, tol=1e-8, throw=True, fock_tol=1e-8):  # fmt: skip
    if coefficients is not None or drive is not None or omega is not None:
        raise ParameterError(
            "a jaxtls.System carries its coefficients, drive and omega: call jt.steady_state(system, occupations=...)"
        )
    return solve_system(system, occupations, n_harm=n_harm, solver=solver, tol=tol, throw=throw, fock_tol=fock_tol)
