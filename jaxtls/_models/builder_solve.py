"""``jt.steady_state(system, occupations=...)`` for a user-built `jaxtls.System` (registered on the
engine's `functools.singledispatch` entry point).

Occupations (CONTRACT "Your own model"): ``"bare"`` uses each reservoir's ``energy=`` if given,
else the on-site energy of a lead's level (Eq. 9), the frequency of a bath's mode, or ``E_j -
E_i`` for a bath on ``c_i^+ c_j``; a dict ``{name: f or n}`` gives the occupations directly.
Rates: a lead ``(gamma f, gamma (1 - f))`` on ``(c^+, c)`` (Eq. 8), a bath ``(gamma (n + 1),
gamma n)`` on ``(s, s^+)`` (Eq. 17).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._engine.api import steady_state
from .._engine.checks import ParameterError, check_parameters, check_tolerance, is_concrete
from .._engine.diagnostics import SteadyStateError
from .._engine.thermo import bose, bose_plus_one, fermi, fermi_hole
from .builder_result import BuilderResult, audit
from .builder_system import System

__all__ = ["solve_system"]


def _occupation(r, occupations):
    """``(occupation, rate of j_up, rate of j_down)`` of reservoir `r`."""
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
        if occupations == "self_consistent":
            raise ParameterError("occupations='self_consistent' for a jaxtls.System is not available yet; use 'bare'")
        if occupations != "bare":
            raise ParameterError(
                f"occupations must be 'bare' or a dict {{reservoir name: f or n}}, got {occupations!r}"
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
    occ, rates = {}, []
    for r in system.reservoirs:
        occ[r.name], up, down = _occupation(r, occupations)
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
    res = audit(system, state, coeffs, occ, "bare" if isinstance(occupations, str) else "given", float(fock_tol))
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
