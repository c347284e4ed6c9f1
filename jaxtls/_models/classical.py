"""Model A: a two-level transition driven by a classical field in the rotating-wave
approximation (paper Sec. III A and Appendix A).

``H_S(t) = E_u n_u + E_l n_l + eps c_u^+ c_l e^{-i omega t} + h.c.``, leads on u and l (Eq. 8).
In the frame rotating at ``omega`` (``U = exp(i omega t n_u)``) the generator is time
independent, ``H_R = (E_u - omega) n_u + E_l n_l + eps c_u^+ c_l + h.c.``; energy flows use
``H^R = E_u n_u + E_l n_l + eps c_u^+ c_l + h.c.`` (Appendix A) and the power is
``P_S = <dH_S/dt> = omega (Im eps <X> - Re eps <Y>)`` with ``X = c_u^+ c_l + h.c.``,
``Y = i (c_u^+ c_l - h.c.)``.

`solve_classical` solves the master equation numerically through the engine's generic entry
point (`jaxtls._engine.api.solve_sector`: sector reduction + steady-state solve);
`classical_closed_form` evaluates Eqs. (A8)-(A12), (14) and (15) and is what the tests compare
against.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .._engine.api import solve_sector
from .._engine.checks import (
    MAX_RATE_SPAN,
    ParameterError,
    broadcast_parameters,
    broadcast_shape,
    check_flag,
    check_occupations,
    check_parameters,
    check_solver,
    check_tolerance,
    invalid_points,
    is_concrete,
    rate_span,
)
from .._engine.diagnostics import FLAG_SOLVE, describe_failures, describe_flags, raise_if_flagged, with_flags
from .._engine.operators import dag, fermion_annihilators
from .._engine.sector import LindbladStructure, Sector
from .._engine.solvers import AbstractSteadySolver
from .._engine.thermo import (
    affinity_entropy_production,
    entropy_production_rate,
    fermi,
    fermi_hole,
    rate_error_bound,
)
from .result import SteadyStateError, TransitionResult, reshape_result

__all__ = ["solve_classical", "classical_closed_form", "classical_structure", "classical_master_equation"]

PARAMETERS = ("E_u", "E_l", "omega", "eps", "gamma_u", "gamma_l", "mu_u", "mu_l", "T_u", "T_l")
RULES = {
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

#: what ``solver=`` may be with ``occupations="self_consistent"`` (used by `optimistix.root_find`
#: / `optimistix.fixed_point` for the Appendix C fixed point)
ROOT_FINDERS = (
    optx.AbstractRootFinder,
    optx.AbstractLeastSquaresSolver,
    optx.AbstractMinimiser,
    optx.AbstractFixedPointSolver,
)


@functools.cache
def classical_structure() -> Sector:
    """Sector of the two-level system with leads on u and l (6 real unknowns, one level)."""
    cu, cl = fermion_annihilators(2)
    nu, nl = dag(cu) @ cu, dag(cl) @ cl
    hop = dag(cu) @ cl
    x = hop + dag(hop)
    y = 1j * (hop - dag(hop))
    structure = LindbladStructure(
        hamiltonian=(nu, nl, x, y),
        jumps=(dag(cu), cu, dag(cl), cl),
        observables=(nu, nl, x, y),
    )
    return Sector.build(structure, levels="single")


def effective_energies_rwa(E_u, E_l, omega, gamma_u, gamma_l):
    """Eq. (14): ``E~_u = E_u + gamma_u Delta/Gamma``, ``E~_l = E_l - gamma_l Delta/Gamma``,
    with ``Delta = omega - (E_u - E_l)`` and ``Gamma = gamma_u + gamma_l``; ``E~_u - E~_l = omega``."""
    delta = omega - (E_u - E_l)
    gam = gamma_u + gamma_l
    return E_u + gamma_u * delta / gam, E_l - gamma_l * delta / gam


def _occupations(p, occupations, holes=False):
    """``(f_u, f_l)`` of the prescription; with `holes` also ``(1 - f_u, 1 - f_l)``, each
    computed directly (`fermi_hole`: exact where ``f`` rounds to 1)."""
    if occupations == "bare":
        eu, el = p["E_u"], p["E_l"]
    else:
        eu, el = effective_energies_rwa(p["E_u"], p["E_l"], p["omega"], p["gamma_u"], p["gamma_l"])
    f = (fermi(eu, p["mu_u"], p["T_u"]), fermi(el, p["mu_l"], p["T_l"]))
    if not holes:
        return f
    return f + (fermi_hole(eu, p["mu_u"], p["T_u"]), fermi_hole(el, p["mu_l"], p["T_l"]))


@eqx.filter_jit
def _core(ops, p: dict, occupations: str, solver, tol: float, check: bool = False) -> TransitionResult:
    eps = p["eps"]
    re_eps, im_eps = jnp.real(eps), jnp.imag(eps)
    f_u, f_l, h_u, h_l = _occupations(p, occupations, holes=True)
    gu, gl = p["gamma_u"], p["gamma_l"]
    coeffs = jnp.stack(
        [p["E_u"] - p["omega"], p["E_l"], re_eps, im_eps, gu * f_u, gu * h_u, gl * f_l, gl * h_l],
        axis=-1,
    )
    ss = solve_sector(classical_structure(), ops, coeffs, solver, tol)
    ex = ss.expect  # (N, 4): n_u, n_l, X, Y
    fl = ss.flows  # (N, 4 obs, 4 jumps), rates included
    lead_u, lead_l = fl[:, :, 0] + fl[:, :, 1], fl[:, :, 2] + fl[:, :, 3]

    def energy(f):  # Tr{H^R L_a rho}
        return p["E_u"] * f[:, 0] + p["E_l"] * f[:, 1] + re_eps * f[:, 2] + im_eps * f[:, 3]

    n_u_dot = lead_u[:, 0] + lead_u[:, 1]
    n_l_dot = lead_l[:, 0] + lead_l[:, 1]
    u_u_dot, u_l_dot = energy(lead_u), energy(lead_l)
    rate = re_eps * ex[:, 3] - im_eps * ex[:, 2]  # i<[n_u, H]> (Heisenberg), = Ndot_u
    power = p["omega"] * (im_eps * ex[:, 2] - re_eps * ex[:, 3])
    s_u = entropy_production_rate(u_u_dot, n_u_dot, p["mu_u"], p["T_u"])
    s_l = entropy_production_rate(u_l_dot, n_l_dot, p["mu_l"], p["T_l"])
    e_u, e_l = effective_energies_rwa(p["E_u"], p["E_l"], p["omega"], gu, gl)
    diag = with_flags(
        ss.diagnostics,
        input_bad=invalid_points(p, RULES),
        condition_bad=rate_span(gu, gl) > MAX_RATE_SPAN,
    )
    r_err = rate_error_bound(jax.lax.stop_gradient(diag.residual), (gu, gl), gu + gl)
    sdot, sdot_tol = affinity_entropy_production(
        rate, ((1.0, p["mu_u"], e_u, p["E_u"], p["T_u"]), (-1.0, p["mu_l"], e_l, p["E_l"], p["T_l"])), r_err
    )
    res = TransitionResult(
        rate=rate,
        particle_current={"u": n_u_dot, "l": n_l_dot},
        energy_current={"u": u_u_dot, "l": u_l_dot},
        power=power,
        entropy_production=sdot,
        entropy_production_tolerance=sdot_tol,
        entropy_flow={"u": s_u, "l": s_l},
        effective_energy={"u": e_u, "l": e_l},
        occupation={"u": f_u, "l": f_l},
        populations={"u": ex[:, 0], "l": ex[:, 1]},
        coherence=0.5 * (ex[:, 2] + 1j * ex[:, 3]),
        first_law_residual=u_u_dot + u_l_dot + power,
        effective_energy_residual=jnp.maximum(jnp.abs(u_u_dot - e_u * n_u_dot), jnp.abs(u_l_dot - e_l * n_l_dot)),
        diagnostics=diag,
        occupations=occupations,
        model="classical",
    )
    if check:  # throw=True under a trace: every check as an equinox runtime error
        res = raise_if_flagged(res, diag, "solve_classical")
    return res


def solve_classical(
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
    occupations: str = "effective",
    solver=None,
    throw: bool = True,
    tol: float = 1e-8,
) -> TransitionResult:
    """Steady state of Model A (classical field, RWA) through the Lindblad engine.

    **Arguments** (hbar = k_B = 1, one energy unit throughout; floats or arrays that broadcast
    together -- the result has the broadcast shape):

    - `E_u`, `E_l`: level energies.
    - `omega`: field frequency; detuning ``Delta = omega - (E_u - E_l)``.
    - `eps`: field amplitude (coupling ``eps c_u^+ c_l e^{-i omega t} + h.c.``), real or complex.
    - `gamma_u`, `gamma_l`: lead rates (> 0).
    - `mu_u`, `mu_l`, `T_u`, `T_l`: lead chemical potentials and temperatures (T > 0).
    - `occupations`: ``"bare"`` (Eq. 9, bare energies in the Fermi functions), ``"effective"``
      (default, Eq. 14 energies, thermodynamically consistent) or ``"self_consistent"``
      (Appendix C fixed point; equal to ``"effective"`` in the RWA).
    - `solver`: a `jaxtls` steady-state solver (default: automatic); with
      ``occupations="self_consistent"`` an optimistix root finder for the fixed point
      (default Levenberg-Marquardt, rtol = atol = 1e-12).
    - `throw`: raise `SteadyStateError` if a steady state fails its checks (else only flag it
      in ``result.diagnostics.ok``).
    - `tol`: tolerance of those checks.

    **Returns:** a `TransitionResult` (rate, currents, power, entropy production, effective
    energies, occupations, populations, first-law residual, diagnostics).
    """
    values = dict(
        E_u=E_u, E_l=E_l, omega=omega, eps=eps, gamma_u=gamma_u, gamma_l=gamma_l,
        mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l,
    )  # fmt: skip
    check_occupations(occupations, ("bare", "effective", "self_consistent"))
    check_flag("throw", throw)
    check_tolerance("tol", tol)
    if occupations == "self_consistent":
        check_solver(
            "solver", solver, ROOT_FINDERS, what="an optimistix root finder, least-squares or fixed-point solver"
        )
    else:
        check_solver("solver", solver, AbstractSteadySolver)
    if occupations == "self_consistent":
        # Appendix C: the general driven-system machinery (Floquet harmonics + fixed point)
        from .selfconsistent import solve_classical_self_consistent

        return solve_classical_self_consistent(**values, solver=solver, throw=throw, tol=tol)
    check_parameters(values, RULES)
    flat, shape = broadcast_parameters(values, complex_names=("eps",))
    concrete = all(is_concrete(v) for v in values.values())
    res = _core(classical_structure().ops, flat, occupations, solver, tol, throw and not concrete)
    _maybe_throw(res, throw, tol, values)
    return reshape_result(res, shape)


def _maybe_throw(res, throw, tol, values):
    if not throw:
        return
    if all(is_concrete(v) for v in values.values()) and is_concrete(res.rate):
        flags = np.asarray(res.diagnostics.flags)
        if np.any(flags & FLAG_SOLVE):
            raise SteadyStateError(describe_failures(res.diagnostics, tol))
        msg = describe_flags(flags)
        if msg is not None:
            raise SteadyStateError(f"solve_classical: {msg}; pass throw=False to get flagged results")


def classical_closed_form(
    *, E_u, E_l, omega, eps, gamma_u, gamma_l, mu_u, mu_l, T_u, T_l, occupations="effective"
) -> dict:
    """Closed-form steady state of Model A: Eqs. (A8)-(A12), (11)-(15).

    Independent of the Lindblad engine (used to test it). Returns a dict with ``rate``,
    ``sigma_uu``, ``sigma_ll``, ``sigma_ul``, ``particle_current``, ``energy_current``,
    ``power``, ``entropy_production`` (Eq. 15), ``effective_energy`` and ``occupation``.
    Parameters as in `solve_classical`, checked the same way (`ParameterError` naming the
    first bad one); arrays broadcast together.
    """
    check_occupations(occupations, ("bare", "effective", "self_consistent"))
    values = dict(
        E_u=E_u, E_l=E_l, omega=omega, eps=eps, gamma_u=gamma_u, gamma_l=gamma_l,
        mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l,
    )  # fmt: skip
    check_parameters(values, RULES)
    broadcast_shape(values)
    p = {k: jnp.asarray(v, jnp.float64) for k, v in values.items() if k != "eps"}
    eps = jnp.asarray(eps)
    gu, gl = p["gamma_u"], p["gamma_l"]
    gam = gu + gl
    delta = p["omega"] - (p["E_u"] - p["E_l"])
    f_u, f_l = _occupations(p, "bare" if occupations == "bare" else "effective")
    alpha = jnp.abs(eps) ** 2 * gam / (gam**2 / 4 + delta**2)
    denom = gu * gl + alpha * gam
    # alpha / denom, also where |eps|^2 overflows (the strong-field limit 1/Gamma)
    big = jnp.isinf(alpha)
    w = jnp.where(big, 1.0 / gam, alpha / jnp.where(big, 1.0, denom))
    h = gu * gl / denom
    rate = gu * gl * w * (f_u - f_l)
    s_uu = w * (gu * f_u + gl * f_l) + h * f_u
    s_ll = w * (gu * f_u + gl * f_l) + h * f_l
    s_ul = -eps * (h * (f_u - f_l)) / (delta + 1j * gam / 2)
    e_u, e_l = effective_energies_rwa(p["E_u"], p["E_l"], p["omega"], gu, gl)
    ent = rate * ((e_l - p["mu_l"]) / p["T_l"] - (e_u - p["mu_u"]) / p["T_u"])
    return {
        "rate": rate,
        "sigma_uu": s_uu,
        "sigma_ll": s_ll,
        "sigma_ul": s_ul,
        "particle_current": {"u": rate, "l": -rate},
        "energy_current": {"u": e_u * rate, "l": -e_l * rate},
        "power": -p["omega"] * rate,
        "entropy_production": ent,
        "effective_energy": {"u": e_u, "l": e_l},
        "occupation": {"u": f_u, "l": f_l},
    }


def classical_master_equation(
    *, E_u, E_l, omega, eps, gamma_u, gamma_l, mu_u, mu_l, T_u, T_l, occupations: str = "effective"
) -> tuple:
    """Model A in the laboratory frame as an ``(H(t), jumps)`` pair for `jaxtls.evolve`.

    Scalar parameters as in `solve_classical` (hbar = k_B = 1). ``H(t) = E_u n_u + E_l n_l +
    eps c_u^+ c_l e^{-i omega t} + h.c.`` on the 4-dimensional Fock space ``|n_u n_l>``
    (Jordan-Wigner order u, l), a callable of ``t``; ``jumps`` are, in this order,
    ``gamma_u f_u D[c_u^+]``, ``gamma_u (1 - f_u) D[c_u]``, ``gamma_l f_l D[c_l^+]``,
    ``gamma_l (1 - f_l) D[c_l]`` (Eq. 8) with the occupations of `occupations` (``"bare"``,
    Eq. 9, or ``"effective"``, Eq. 14). The power of `jaxtls.evolve` is ``Tr{rho dH/dt}`` (Eq. 6).
    """
    values = dict(
        E_u=E_u, E_l=E_l, omega=omega, eps=eps, gamma_u=gamma_u, gamma_l=gamma_l,
        mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l,
    )  # fmt: skip
    check_occupations(occupations, ("bare", "effective"))
    check_parameters(values, RULES)
    p, shape = broadcast_parameters(values, complex_names=("eps",))
    if shape != ():
        raise ParameterError(f"classical_master_equation takes scalar parameters, got broadcast shape {shape}")
    p = {k: v[0] for k, v in p.items()}
    f_u, f_l, h_u, h_l = _occupations(p, occupations, holes=True)
    cu, cl = fermion_annihilators(2)
    nu, nl = dag(cu) @ cu, dag(cl) @ cl
    hop = dag(cu) @ cl
    h0 = p["E_u"] * nu + p["E_l"] * nl
    eps_c = jnp.asarray(p["eps"], jnp.complex128)
    omega_ = p["omega"]

    def hamiltonian(t):
        ph = jnp.exp(-1j * omega_ * t)
        drive = eps_c * ph * hop
        return (h0 + drive + dag(drive)).astype(jnp.complex128)

    gu, gl = p["gamma_u"], p["gamma_l"]
    jumps = ((gu * f_u, dag(cu)), (gu * h_u, cu), (gl * f_l, dag(cl)), (gl * h_l, cl))
    return hamiltonian, jumps
