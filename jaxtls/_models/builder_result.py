"""`BuilderResult`: the steady state of a user-built `jaxtls.System` and its thermodynamic audit
for every reservoir (paper Eqs. 1, 2, 5; Appendix C for a drive).

For reservoir ``r`` with jumps ``j in r`` at rates ``r_j`` (hbar = k_B = 1, flows per unit time,
all *into* the system from ``r``):

- energy current ``Udot_r = sum_{j in r} r_j Tr{H D[s_j] rho}`` (period averaged with ``H(t)``
  for a drive, Eq. C1);
- particle current: a lead's ``Ndot_r = sum_{j in r} r_j Tr{n D[s_j] rho}`` (Eq. 5); a bath's
  quanta ``gamma n <s s^+> - gamma (n + 1) <s^+ s>``;
- heat current ``Qdot_r = Udot_r - mu_r Ndot_r`` (``mu = 0`` for a bath), entropy flow
  ``-Qdot_r / T_r`` (Eq. 2), effective energy ``Udot_r / Ndot_r``;
- ``entropy_production = sum_r (-Udot_r + mu_r Ndot_r) / T_r`` (Eq. 2, the sum of the entropy
  flows), first-law residual ``sum_r Udot_r + P`` (Eq. 1, ``P`` the power absorbed from the drive).

``entropy_production_tolerance`` bounds the error of the entropy production from rounding and the
linear solve: ``8 eps sum_r (|Udot_r| + |mu_r Ndot_r|) / T_r`` (the cancellation in the sum)
``+ max(eps, residual) sum_r sum_{j in r} (|r_j Tr{H D[s_j] rho}| + |mu_r| |r_j Tr{N D[s_j] rho}|)
/ T_r`` (the solve residual times the gross flows the net ones are differences of).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from .._engine.api import _density_layout
from .._engine.diagnostics import Diagnostics
from .._engine.periodic_api import PeriodicState, harmonic_operators
from .._engine.result_base import AbstractResult
from .._engine.thermo import EPS, entropy_production_rate
from .builder_space import operator

__all__ = ["BuilderResult", "audit", "energy_flows", "reservoir_flows"]


class BuilderResult(AbstractResult):
    """Steady state (or period averages, with a drive) of a `jaxtls.System` (module docstring).

    Every array has the broadcast batch shape of the model's coefficients. Per-reservoir dicts are
    keyed by the reservoirs' names: `particle_current`, `energy_current`, `heat_current`,
    `entropy_flow`, `effective_energy` (``Udot_r / Ndot_r``; NaN where ``|Ndot_r|`` is below
    1e3 eps of the reservoir's in- plus out-flow, e.g. in equilibrium: 0/0, no effective energy
    is defined there), `occupation` (the ``f`` or ``n``
    used). `populations` and `fock_tail` (probability of a mode's top Fock state) are keyed by
    level / mode names. `power` (0 without a drive), `first_law_residual`,
    `entropy_production`, `entropy_production_tolerance`, `diagnostics` (the engine's, with
    ``ok`` also requiring finite flows and ``fock_tail <= fock_tol``), and `state` (the engine's
    `jaxtls.SteadyState` or `jaxtls.PeriodicState`). `expect(O)` for any constant operator and
    `density_matrix(index)` in the full space.
    """

    particle_current: dict
    energy_current: dict
    heat_current: dict
    entropy_flow: dict
    effective_energy: dict
    occupation: dict
    populations: dict
    fock_tail: dict
    power: Float[Array, "*batch"]
    first_law_residual: Float[Array, "*batch"]
    entropy_production: Float[Array, "*batch"]
    entropy_production_tolerance: Float[Array, "*batch"]
    diagnostics: Diagnostics
    state: AbstractResult
    occupations: str = eqx.field(static=True)

    @property
    def ok(self) -> Bool[Array, "*batch"]:
        return self.diagnostics.ok

    def density_matrix(self, index=()):
        """Full ``d x d`` density matrix of one point (the period average with a drive)."""
        return self.state.density_matrix(index)

    def expect(self, op):
        """``Tr{O rho}`` (period averaged with a drive) for a constant operator ``O`` of the
        space, batched; real for a Hermitian ``O``, complex otherwise."""
        sector = self.state.sector
        o = operator(op, sector.dim, "the operator of expect")
        hermitian = abs(o - o.conj().T).max() <= 1e-12 * max(1.0, abs(o).max()) if o.nnz else True
        if isinstance(self.state, PeriodicState):
            hops = harmonic_operators(sector)
            z = self.state.harmonics[..., self.state.n_harm, :]
            flat = z.reshape(-1, z.shape[-1])
            rho = jax.vmap(hops.to_matrix)(flat)
            val = jnp.einsum("nij,ji->n", rho, jnp.asarray(o.toarray())).reshape(z.shape[:-1])
        else:
            pos, slot, coef = _density_layout(sector)
            d = sector.dim
            ot = o.T.tocsr()
            vals = np.asarray(ot[pos // d, pos % d]).reshape(-1) * coef
            x = self.state.state
            w = np.zeros(int(np.prod(x.shape[-2:])), complex)
            np.add.at(w, slot, vals)
            val = x.reshape(x.shape[:-2] + (-1,)).astype(jnp.complex128) @ jnp.asarray(w)
        return jnp.real(val) if hermitian else val


def reservoir_flows(system, ex, fl, coeffs, ef):
    """Per reservoir ``(Ndot_r, Udot_r, nf1, nf2)`` (net particle and energy currents, and the
    particle flows of its two jumps) from expectations ``ex``, flows ``fl``, coefficients and
    per-jump energy flows ``ef`` (module docstring)."""
    rates = coeffs[..., system.num_ham :]
    out = []
    for r in system.reservoirs:
        j1, j2 = r.jumps
        if r.kind == "lead":
            nf1, nf2 = fl[..., r.number, j1], fl[..., r.number, j2]
        else:  # quanta the bath puts in: gamma n <s s^+> - gamma (n + 1) <s^+ s>
            nf1, nf2 = -rates[..., j1] * ex[..., r.number], rates[..., j2] * ex[..., r.raised]
        out.append((nf1 + nf2, ef[..., j1] + ef[..., j2], nf1, nf2))
    return out


def energy_flows(system, fl, coeffs):
    """``r_j Tr{H D[s_j] rho}`` per jump of a static state, ``(*batch, n_J)``."""
    n_h = system.num_ham
    return jnp.einsum("...k,...kj->...j", coeffs[..., :n_h], fl[..., :n_h, :])


def audit(system, state, coeffs, occ: dict, occupations: str, fock_tol: float, extra_ok=True) -> BuilderResult:
    """The `BuilderResult` of an engine result `state` of ``system.structure`` at coefficients
    ``coeffs`` ``(*batch, T)`` (module docstring for the formulas); `extra_ok` is and-ed into
    ``ok`` (e.g. the convergence of a fixed point)."""
    ex, fl = state.expect, state.flows
    if isinstance(state, PeriodicState):
        ef, power = state.energy_flows, state.power
    else:
        ef, power = energy_flows(system, fl, coeffs), jnp.zeros(ex.shape[:-1])
    cur, ene, heat, sflow, eff = {}, {}, {}, {}, {}
    cancel = jnp.zeros(ex.shape[:-1])
    gross = jnp.zeros(ex.shape[:-1])
    for r, (n_dot, u_dot, nf1, nf2) in zip(system.reservoirs, reservoir_flows(system, ex, fl, coeffs, ef), strict=True):
        j1, j2 = r.jumps
        mu = jnp.asarray(r.mu, jnp.float64)
        cur[r.name], ene[r.name] = n_dot, u_dot
        heat[r.name] = u_dot - mu * n_dot
        sflow[r.name] = entropy_production_rate(u_dot, n_dot, mu, r.T)
        # Udot/Ndot is 0/0 where Ndot is below the rounding of the two flows it is the
        # difference of: NaN there (documented; no effective energy is defined)
        resolved = jnp.abs(n_dot) > 1e3 * EPS * (jnp.abs(nf1) + jnp.abs(nf2))
        eff[r.name] = jnp.where(resolved, u_dot / jnp.where(resolved, n_dot, 1.0), jnp.nan)
        cancel = cancel + (jnp.abs(u_dot) + jnp.abs(mu * n_dot)) / r.T
        gross = (
            gross + (jnp.abs(ef[..., j1]) + jnp.abs(ef[..., j2]) + jnp.abs(mu) * (jnp.abs(nf1) + jnp.abs(nf2))) / r.T
        )
    sigma = sum(sflow.values())
    diag = state.diagnostics
    sigma_tol = 8 * EPS * cancel + jnp.maximum(EPS, jax.lax.stop_gradient(diag.residual)) * gross
    pops = {name: ex[..., i] for name, i in system.pop_index.items()}
    tails = {name: ex[..., i] for name, i in system.tail_index.items()}
    good = diag.ok & jnp.isfinite(sigma) & extra_ok
    for t in tails.values():
        good = good & (t <= fock_tol)
    diag = Diagnostics(diag.residual, diag.trace_error, diag.min_eigenvalue, good, diag.flags)
    return BuilderResult(
        particle_current=cur,
        energy_current=ene,
        heat_current=heat,
        entropy_flow=sflow,
        effective_energy=eff,
        occupation=occ,
        populations=pops,
        fock_tail=tails,
        power=power,
        first_law_residual=sum(ene.values()) + power,
        entropy_production=sigma,
        entropy_production_tolerance=sigma_tol,
        diagnostics=diag,
        state=state,
        occupations=occupations,
    )
