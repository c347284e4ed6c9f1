"""Self-consistent effective energies of driven fermionic systems (paper Appendix C).

The occupation of lead ``a`` is evaluated at the effective energy of the particles it exchanges
(Eq. 16), ``f_a = fermi(E~_a, mu_a, T_a)``, with ``E~_a = Udot_a^av / Ndot_a^av`` (C3) from the
periodic steady state that these very occupations produce. The fixed point is found in the
energies ``E~`` as the root of

    r(E~) = E~(f = fermi(E~, mu, T)) - E~,

found by `RestartedNewton` (`jaxtls._models.selfconsistent_checks`): Newton with a backtracking
line search (optimistix) on the pole-free heat balance ``(Udot_a - E_a Ndot_a) / g_a``, then on
``r`` itself, from the bare energies and, where that fails, from a grid of restarts, until the
stopping test relative to the flows' scale is met (on 200 random interacting three-level systems
1 failure, against 40 % for Levenberg-Marquardt from the bare energies). It is then
differentiated implicitly (`optimistix.ImplicitAdjoint`: the implicit function theorem at the
solution, never through the iterations). At the fixed point the period-averaged entropy
production is non-negative (Spohn's inequality, Appendix C).

The effective energies and their continuation through ``Ndot_a = 0`` are in
`jaxtls._models.effective`.

Units: hbar = k_B = 1.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from .._engine.checks import ParameterError, broadcast_parameters, check_parameters, is_concrete
from .._engine.diagnostics import Diagnostics, describe_failures
from .._engine.result_base import AbstractResult
from .effective import (
    DEFAULT_ZERO_CURRENT_SCALE,
    check_zero_current_scale,
    effective_energies,
    regularised_effective_energies,
)
from .floquet import FloquetHarmonics, PeriodicSteadyState, resolve_method
from .periodic_result import describe_periodic_failures, finalise_diagnostics
from .result import SteadyStateError, TransitionResult, reshape_result
from .selfconsistent_checks import (
    RestartedNewton,
    energy_scale,
    fixed_point_checks,
    newton_line_search,
    not_converged_message,
    unresolved_message,
)
from .system import FermionicSystem, Lead, fock_operators

__all__ = [
    "RestartedNewton",
    "SelfConsistencyError",
    "SelfConsistentSteadyState",
    "effective_energies",
    "self_consistent_steady_state",
    "solve_classical_self_consistent",
]


class SelfConsistencyError(RuntimeError):
    """The self-consistent fixed point (Appendix C) did not converge."""


# ------------------------------------------------------------------------------------------------
# Fixed point
# ------------------------------------------------------------------------------------------------
def _fixed_point_map(energies, args):
    system, method, scale = args
    f = system.occupations_from_energies(energies)
    return regularised_effective_energies(system, method, f, scale)


def _residual(energies, args):
    return _fixed_point_map(energies, args) - energies


class SelfConsistentSteadyState(AbstractResult):
    """Periodic steady state at the self-consistent occupations (Appendix C).

    **Fields:**

    - `steady_state`: the `jaxtls.PeriodicSteadyState` at the fixed point (flows, state,
      diagnostics); its fields are also reachable directly (``energy_current``,
      ``particle_current``, ``power``, ``entropy_flow``, ``entropy_production``,
      ``first_law_residual``, ``occupation``, ``populations``).
    - `effective_energy`: the self-consistent ``E~_a`` (C3), ``(..., n_leads)``.
    - `effective_energy_residual`: ``max_a |Udot_a - E~_a Ndot_a|`` (zero at an exact fixed
      point; see the module docstring for the case ``Udot_a != 0 = Ndot_a``).
    - `num_steps`: root-finder steps; `converged`: whether the fixed-point residual
      ``|E~_a(f(E~)) - E~_a|`` is below ``1e-2 tol (|E~_a| + |mu_a| + T_a)`` plus the rounding
      bound `effective_energy_tolerance` (a stopping test relative to the flows' scale, whatever
      the root finder reported).
    - `fixed_point_residual`: ``max_a |E~_a(f(E~)) - E~_a|`` (energy units).
    - `effective_energy_tolerance`: ``(..., n_leads)`` bound on the rounding error of ``E~_a``,
      ``eps gamma_a / |Ndot_a| (|E~_a| + |mu_a| + T_a)`` (``|Ndot_a|`` blended with ``|Ndot_a'|``
      near zero current); where it exceeds
      ``1e-2 sqrt(tol) (|E~_a| + |mu_a| + T_a)`` the result is flagged (``diagnostics.ok = False``).
    """

    steady_state: PeriodicSteadyState
    effective_energy: Array
    effective_energy_residual: Array
    num_steps: Array
    converged: Array
    fixed_point_residual: Array
    effective_energy_tolerance: Array

    @property
    def ok(self):
        """Every check passed: the steady state's and the fixed point's (``converged``, resolved
        energies), ``steady_state.diagnostics.ok``."""
        return self.steady_state.diagnostics.ok

    @property
    def diagnostics(self):
        return self.steady_state.diagnostics

    @property
    def energy_current(self):
        return self.steady_state.energy_current

    @property
    def particle_current(self):
        return self.steady_state.particle_current

    @property
    def power(self):
        return self.steady_state.power

    @property
    def entropy_flow(self):
        return self.steady_state.entropy_flow

    @property
    def entropy_production(self):
        return self.steady_state.entropy_production

    @property
    def first_law_residual(self):
        return self.steady_state.first_law_residual

    @property
    def occupation(self):
        return self.steady_state.occupation

    @property
    def populations(self):
        return self.steady_state.populations

    @property
    def lead_names(self):
        return self.steady_state.lead_names


def _default_solver(rtol: float, atol: float):
    # Levenberg-Marquardt (trust region): the RWA two-level path (`solve_classical_self_consistent`),
    # where the map is smooth and LM from the bare energies converges.
    return optx.LevenbergMarquardt(rtol=rtol, atol=atol)


def _self_consistent_core(system, method, solver, initial, max_steps, scale, tol):
    y0 = system.bare_energies() if initial is None else jnp.asarray(initial, jnp.float64)
    args = (system, method, scale)
    if isinstance(solver, RestartedNewton):
        # search without gradients, then one implicit root_find at the point found: gradients
        # from the implicit function theorem there (never through the restarts)
        found, search_steps = solver.solve(system, method, scale, y0, tol, max_steps)
        sol = optx.root_find(
            _residual,
            newton_line_search(solver.rtol, solver.atol),
            jax.lax.stop_gradient(found),
            args=args,
            max_steps=max(1, min(max_steps, 16)),
            adjoint=optx.ImplicitAdjoint(),
            throw=False,
        )
        # keep the search's point where the final Newton steps made it worse (rounding noise)
        res_found = jnp.max(jnp.abs(_residual(jax.lax.stop_gradient(found), args)))
        res_sol = jnp.max(jnp.abs(_residual(jax.lax.stop_gradient(sol.value), args)))
        use_sol = res_sol <= res_found
        energies = jnp.where(use_sol, sol.value, found + (sol.value - jax.lax.stop_gradient(sol.value)))
        num_steps = search_steps + sol.stats["num_steps"]
    else:
        if isinstance(solver, optx.AbstractFixedPointSolver):
            sol = optx.fixed_point(
                _fixed_point_map, solver, y0, args=args, max_steps=max_steps,
                adjoint=optx.ImplicitAdjoint(), throw=False,
            )  # fmt: skip
        else:
            sol = optx.root_find(
                _residual, solver, y0, args=args, max_steps=max_steps,
                adjoint=optx.ImplicitAdjoint(), throw=False,
            )  # fmt: skip
        energies = sol.value
        num_steps = sol.stats["num_steps"]
    f = system.occupations_from_energies(energies)
    state = finalise_diagnostics(method.solve(system, f), tol)
    ee_res = jnp.max(jnp.abs(state.energy_current - energies * state.particle_current))
    fp_res, ee_tol, converged, resolved = fixed_point_checks(system, method, scale, energies, state, tol)
    ok = state.diagnostics.ok & converged & resolved
    state = eqx.tree_at(lambda s: s.diagnostics.ok, state, ok)
    return SelfConsistentSteadyState(
        steady_state=state,
        effective_energy=energies,
        effective_energy_residual=ee_res,
        num_steps=num_steps,
        converged=converged,
        fixed_point_residual=fp_res,
        effective_energy_tolerance=ee_tol,
    )


_self_consistent_jit = eqx.filter_jit(_self_consistent_core)


def self_consistent_steady_state(
    system: FermionicSystem,
    *,
    method=None,
    solver=None,
    initial=None,
    max_steps: int = 64,
    zero_current_scale: float = DEFAULT_ZERO_CURRENT_SCALE,
    rtol: float = 1e-12,
    atol: float = 1e-12,
    tol: float = 1e-8,
    throw: bool = True,
) -> SelfConsistentSteadyState:
    """Periodic steady state with self-consistent lead occupations
    ``f_a = fermi(E~_a, mu_a, T_a)``, ``E~_a = Udot_a^av / Ndot_a^av`` (Appendix C, Eqs. C1-C3, 16).

    **Arguments:**

    - `system`: a `FermionicSystem` (vmap over a function that builds it for batches).
    - `method`: periodic steady-state method (``"auto"``, ``"floquet"``, ``"propagator"`` or a
      `FloquetHarmonics` / `PeriodPropagator` object).
    - `solver`: default `RestartedNewton(rtol, atol)` (module docstring: Newton with a line
      search on the pole-free heat balance, then on ``E~(f(E~)) - E~``, with restarts; the
      restarts run only where the first start fails); or an optimistix root finder or
      least-squares solver for ``E~(f(E~)) - E~ = 0`` (e.g. `optimistix.LevenbergMarquardt`,
      the default before), or a fixed-point solver such as
      `optimistix.FixedPointIteration` for ``E~ = E~(f(E~))`` (cheaper per step, no Jacobian;
      converges when the map is contracting).
    - `initial`: initial energies ``(n_leads,)`` (default: bare level energies ``h_aa``).
    - `max_steps`: iteration budget of the root finder (with `RestartedNewton`: at most
      ``min(48, max_steps)`` heat-balance and ``min(16, max_steps)`` polishing steps per start).
    - `zero_current_scale`: blend width ``s`` for the continuation through ``Ndot_a = 0``,
      relative to each lead's gross particle flow (default ``1e-8``; `jaxtls.effective_energies`).
    - `rtol`, `atol`: tolerances of the default solver (energy units).
    - `tol`: tolerance of the steady-state checks (``steady_state.diagnostics``).
    - `throw`: raise `SelfConsistencyError` if the fixed point did not converge and
      `jaxtls.SteadyStateError` if the steady state fails its checks (concrete inputs); under
      `jit`/`vmap` a non-converged fixed point raises at run time via `equinox.error_if`.

    **Returns:** a `SelfConsistentSteadyState`. Gradients with respect to any system parameter
    (`jax.grad`, `jax.jacfwd`) use the implicit function theorem at the fixed point.
    """
    if not isinstance(system, FermionicSystem):
        raise ParameterError(f"system must be a jaxtls.FermionicSystem, got {type(system).__name__}")
    meth = resolve_method(method, system, any_order=True)
    solver = RestartedNewton(rtol=rtol, atol=atol) if solver is None else solver
    if initial is not None and jnp.shape(initial) != (system.num_leads,):
        raise ParameterError(f"initial must have shape ({system.num_leads},), got {jnp.shape(initial)}")
    scale = check_zero_current_scale(zero_current_scale)
    out = _self_consistent_jit(system, meth, solver, initial, max_steps, scale, tol)
    if throw:
        if is_concrete(out.converged):
            if not np.all(np.asarray(out.converged)):
                raise SelfConsistencyError(
                    not_converged_message(out.converged, out.fixed_point_residual, out.num_steps)
                )
            resolved = np.all(
                np.asarray(out.effective_energy_tolerance)
                <= 1e-2 * np.sqrt(tol) * np.asarray(energy_scale(system, out.effective_energy)),
                axis=-1,
            )
            msg = unresolved_message(resolved, out.effective_energy_tolerance)
            if msg is not None:
                raise SelfConsistencyError(msg)
            msg = describe_periodic_failures(out.steady_state.diagnostics, tol)
            if msg is not None:
                raise SteadyStateError(msg)
        else:
            out = eqx.tree_at(
                lambda s: s.effective_energy,
                out,
                eqx.error_if(
                    out.effective_energy,
                    ~out.converged,
                    "jaxtls: the self-consistent fixed point (Appendix C) did not converge; pass "
                    "throw=False to inspect `converged` and `effective_energy_residual`",
                ),
            )
    return out


# ------------------------------------------------------------------------------------------------
# Model A (RWA two-level system) through the general machinery
# ------------------------------------------------------------------------------------------------
_RWA_RULES = {
    "E_u": "real",
    "E_l": "real",
    "omega": "real",
    "eps": "complex",
    "gamma_u": "positive",
    "gamma_l": "positive",
    "mu_u": "real",
    "mu_l": "real",
    "T_u": "positive",
    "T_l": "positive",
}


def rwa_system(*, E_u, E_l, omega, eps, gamma_u, gamma_l, mu_u, mu_l, T_u, T_l) -> FermionicSystem:
    """Model A as a static `FermionicSystem` in the frame rotating with the field: ``H' = (E_u -
    omega) n_u + E_l n_l + eps c_u^+ c_l + h.c.`` with the u lead's chemical potential shifted
    to ``mu_u - omega`` (the rotating frame shifts every energy exchanged with level u by
    ``omega``), leads ``"u"`` on level 0 and ``"l"`` on level 1 (Eq. 8). Exact in the RWA, and
    static, so that ``omega = 0`` (two tunnel-coupled levels) needs no special case. Lab-frame
    quantities follow: ``E~_u = E~'_u + omega``, ``Udot_u = Udot'_u + omega Ndot_u``,
    ``P = -omega Ndot_u``; occupations, particle currents, populations, entropy flows and the
    coherence ``<c_l^+ c_u>`` are the same in both frames."""
    e = jnp.asarray(eps, jnp.complex128)
    h = jnp.stack(
        [
            jnp.stack([jnp.asarray(E_u - omega, jnp.complex128), e]),
            jnp.stack([jnp.conj(e), jnp.asarray(E_l, jnp.complex128)]),
        ]
    )
    return FermionicSystem(h, [Lead(0, mu_u - omega, T_u, gamma_u, name="u"), Lead(1, mu_l, T_l, gamma_l, name="l")])


def _rwa_point(p, solver, max_steps, tol):
    system = rwa_system(**p)  # static in the rotating frame (primes below)
    sc = _self_consistent_core(
        system, FloquetHarmonics(n_harm=0), solver, None, max_steps, DEFAULT_ZERO_CURRENT_SCALE, tol
    )
    st = sc.steady_state
    ops = fock_operators(2)
    cl_dag_cu = ops["hop"][1, 0]  # c_l^+ c_u
    coherence = jnp.trace(jnp.asarray(cl_dag_cu) @ st.rho_average)  # rotating-frame coherence
    w = jnp.asarray(p["omega"], jnp.float64)
    n_u = st.particle_current[0]
    e = sc.effective_energy + jnp.stack([w, jnp.zeros_like(w)])  # E~_u = E~'_u + omega
    u_u = st.energy_current[0] + w * n_u  # Udot_u = Udot'_u + omega Ndot_u
    s = st.entropy_flow
    dg = st.diagnostics
    return (
        TransitionResult(
            rate=n_u,
            particle_current={"u": n_u, "l": st.particle_current[1]},
            energy_current={"u": u_u, "l": st.energy_current[1]},
            power=st.power - w * n_u,  # P = -omega Ndot_u (the static P' is 0)
            entropy_production=st.entropy_production,
            entropy_flow={"u": s[0], "l": s[1]},
            effective_energy={"u": e[0], "l": e[1]},
            occupation={"u": st.occupation[0], "l": st.occupation[1]},
            populations={"u": st.populations[0], "l": st.populations[1]},
            coherence=coherence,
            first_law_residual=st.first_law_residual,  # frame-independent (the omega N_u terms cancel)
            effective_energy_residual=sc.effective_energy_residual,
            diagnostics=Diagnostics(
                residual=dg.residual,
                trace_error=dg.trace_error,
                min_eigenvalue=dg.min_eigenvalue,
                ok=dg.ok,
            ),
            occupations="self_consistent",
            model="classical",
        ),
        sc.converged,
        sc.fixed_point_residual,
        sc.num_steps,
        sc.effective_energy_tolerance,
        jnp.all(sc.effective_energy_tolerance <= 1e-2 * jnp.sqrt(tol) * energy_scale(system, e)),
    )


@eqx.filter_jit
def _rwa_batch(flat, solver, max_steps, tol):
    return jax.vmap(lambda p: _rwa_point(p, solver, max_steps, tol))(flat)


def solve_classical_self_consistent(
    *,
    E_u,
    E_l,
    omega,
    eps,
    gamma_u,
    gamma_l,
    mu_u,
    mu_l,
    T_u,
    T_l,
    solver=None,
    throw: bool = True,
    tol: float = 1e-8,
    max_steps: int = 64,
) -> TransitionResult:
    """Model A (classical field, RWA) with self-consistent occupations (Appendix C), solved by the
    general machinery: the static master equation in the frame rotating with the field
    (`rwa_system`; omega = 0 is tunnelling between the levels) and the fixed point
    ``f_a = fermi(E~_a, mu_a, T_a)``, ``E~_a = Udot_a^av / Ndot_a^av``.

    In the RWA the fixed point reproduces Eq. (14), ``E~_u = E_u + gamma_u Delta / Gamma``,
    ``E~_l = E_l - gamma_l Delta / Gamma``, and all flows equal ``occupations="effective"``.

    **Arguments** (hbar = k_B = 1; floats or arrays broadcasting together, result of the
    broadcast shape): `E_u`, `E_l` level energies; `omega` field frequency (0: tunnelling); `eps` field
    amplitude (real or complex); `gamma_u`, `gamma_l` lead rates (> 0); `mu_u`, `mu_l`, `T_u`,
    `T_l` lead chemical potentials and temperatures (T > 0); `solver` an optimistix root finder
    (default Levenberg-Marquardt, rtol = atol = 1e-12); `throw` raise on non-convergence or failed checks;
    `tol` tolerance of the checks; `max_steps` root-finder budget.

    **Returns:** a `jaxtls.TransitionResult` with ``occupations="self_consistent"``;
    ``populations`` and ``coherence`` are the period-averaged populations and the rotating-frame
    coherence ``<c_l^+ c_u>`` (the ``e^{-i omega t}`` harmonic in the lab frame).
    """
    values = dict(
        E_u=E_u, E_l=E_l, omega=omega, eps=eps, gamma_u=gamma_u, gamma_l=gamma_l,
        mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l,
    )  # fmt: skip
    check_parameters(values, _RWA_RULES)
    flat, shape = broadcast_parameters(values, complex_names=("eps",))
    solver = _default_solver(1e-12, 1e-12) if solver is None else solver
    res, converged, fp_res, steps, ee_tol, resolved = _rwa_batch(flat, solver, max_steps, tol)
    if throw and is_concrete(converged):
        if not np.all(np.asarray(converged)):
            raise SelfConsistencyError(not_converged_message(converged, fp_res, steps))
        msg = unresolved_message(resolved, ee_tol)
        if msg is not None:
            raise SelfConsistencyError(msg)

        msg = describe_failures(res.diagnostics, tol)
        if msg is not None:
            raise SteadyStateError(msg)
    return reshape_result(res, shape)
