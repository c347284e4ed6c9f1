"""Model B: a two-level transition coupled to a quantized cavity mode (Jaynes-Cummings,
paper Sec. III B and Appendix B).

``H = E_u n_u + E_l n_l + omega_cav a^+ a + g c_u^+ c_l a + g^* c_l^+ c_u a^+`` with local leads
on u and l (Eq. 8) and a thermal bath on the cavity mode (Eq. 17). The photon mode is truncated
at ``n_max`` quanta. ``R = 2 Im Y``, ``Y = g^* Tr{c_l^+ c_u a^+ rho}``.

The steady state is computed by the engine's generic entry point
(`jaxtls._engine.api.solve_sector`) on the sector of equal ``(Q = n_u + a^+ a, N_S)`` on both
sides of ``rho`` (found automatically from the operator structure; about ``6 (n_max + 1)`` real
unknowns, block tridiagonal in ``Q``), with the block-tridiagonal solver.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._engine.api import solve_sector
from .._engine.checks import (
    MAX_RATE_SPAN,
    ParameterError,
    broadcast_parameters,
    check_flag,
    check_occupations,
    check_parameters,
    check_solver,
    check_tolerance,
    invalid_points,
    is_concrete,
    rate_span,
)
from .._engine.diagnostics import FLAG_FOCK, FLAG_SOLVE, describe_failures, describe_flags, raise_if_flagged, with_flags
from .._engine.operators import boson_annihilator, dag, fermion_annihilators, identity, tensor
from .._engine.sector import LindbladStructure, Sector
from .._engine.solvers import AbstractSteadySolver
from .._engine.thermo import (
    affinity_entropy_production,
    bose,
    bose_plus_one,
    entropy_production_rate,
    fermi,
    fermi_hole,
    rate_error_bound,
)
from .result import SteadyStateError, TransitionResult, reshape_result
from .spec import format_bytes, host_available_bytes

__all__ = [
    "solve_cavity",
    "cavity_structure",
    "effective_energies_cavity",
    "cavity_coefficients",
    "cavity_master_equation",
]

PARAMETERS = (
    "E_u", "E_l", "omega_cav", "g", "gamma_u", "gamma_l", "gamma_b",
    "mu_u", "mu_l", "T_u", "T_l", "T_b",
)  # fmt: skip
RULES = {
    "E_u": "real",
    "E_l": "real",
    "omega_cav": "real",
    "g": "complex",
    "gamma_u": "positive",
    "gamma_l": "positive",
    "gamma_b": "positive",
    "mu_u": "real",
    "mu_l": "real",
    "T_u": "positive",
    "T_l": "positive",
    "T_b": "positive",
}
MAX_AUTO_N = 4096
# Memory of a cavity solve per Fock level kept, measured (peak RSS of one point at n_max = 2000
# and 8000, about 41 KiB per level, mostly the construction of the sector; 48 KiB with margin).
BYTES_PER_FOCK_LEVEL = 48 * 1024


def check_n_max(n, available: int | None = None):
    """``n_max``: an integer >= 1 (or ``"auto"``) whose estimated memory, ``(n_max + 1)`` Fock
    levels at `BYTES_PER_FOCK_LEVEL`, fits in `available` bytes (default: what the host has
    now). `ParameterError` naming n_max, the estimate and the largest allowed value."""
    if isinstance(n, str) and n == "auto":
        return n
    if isinstance(n, bool | np.bool_) or not isinstance(n, int | np.integer) or n < 1:
        raise ParameterError(f"n_max must be an integer >= 1 or 'auto', got {n!r}")
    have = host_available_bytes() if available is None else int(available)
    need = (int(n) + 1) * BYTES_PER_FOCK_LEVEL
    if need > have:
        raise ParameterError(
            f"n_max = {n} would need about {format_bytes(need)} of memory ({format_bytes(BYTES_PER_FOCK_LEVEL)} "
            f"per Fock level), more than the {format_bytes(have)} available: n_max must be an integer between 1 "
            f"and {have // BYTES_PER_FOCK_LEVEL - 1} here (or 'auto')"
        )
    return n


@functools.lru_cache(maxsize=16)
def cavity_structure(n_max: int) -> Sector:
    """Sector of the Jaynes-Cummings model with leads and bath at photon cutoff `n_max`.

    Hamiltonian terms ``(n_u, n_l, a^+ a, X, Y)`` with ``X = O + O^+``, ``Y = i (O - O^+)``,
    ``O = c_u^+ c_l a``; jumps ``(c_u^+, c_u, c_l^+, c_l, a, a^+)``; observables the five
    Hamiltonian terms. The charge ``Q = n_u + a^+ a`` orders the levels.
    """
    if isinstance(n_max, bool) or not isinstance(n_max, (int, np.integer)) or n_max < 1:
        raise ParameterError(f"n_max must be an integer >= 1 (or 'auto'), got {n_max!r}")
    cu, cl = fermion_annihilators(2, sparse=True)
    a = boson_annihilator(int(n_max), sparse=True)
    i4, ib = identity(4, sparse=True), identity(int(n_max) + 1, sparse=True)
    cu, cl, a = tensor(cu, ib, sparse=True), tensor(cl, ib, sparse=True), tensor(i4, a, sparse=True)
    hop = dag(cu) @ cl @ a
    ham = (dag(cu) @ cu, dag(cl) @ cl, dag(a) @ a, hop + dag(hop), 1j * (hop - dag(hop)))
    jumps = (dag(cu), cu, dag(cl), cl, a, dag(a))
    charge = np.real((dag(cu) @ cu + dag(a) @ a).diagonal())
    structure = LindbladStructure(hamiltonian=ham, jumps=jumps, observables=ham, charge=charge)
    return Sector.build(structure)


def effective_energies_cavity(E_u, E_l, omega_cav, gamma_u, gamma_l, gamma_b):
    """Eq. (21): ``E~_u = E_u + gamma_u D/G``, ``E~_l = E_l - gamma_l D/G``,
    ``E~_ph = omega_cav - gamma_b D/G`` with ``D = omega_cav - (E_u - E_l)`` and
    ``G = gamma_u + gamma_l + gamma_b``; ``E~_u = E~_l + E~_ph``."""
    delta = omega_cav - (E_u - E_l)
    gam = gamma_u + gamma_l + gamma_b
    return (
        E_u + gamma_u * delta / gam,
        E_l - gamma_l * delta / gam,
        omega_cav - gamma_b * delta / gam,
    )


def _energies(p, occupations):
    eff = effective_energies_cavity(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    used = (p["E_u"], p["E_l"], p["omega_cav"]) if occupations == "bare" else eff
    return eff, used


def cavity_coefficients(p: dict, occupations: str):
    """Coefficient vectors ``c`` (N, 11) of `cavity_structure` and the occupations used."""
    _, (e_u, e_l, e_ph) = _energies(p, occupations)
    f_u = fermi(e_u, p["mu_u"], p["T_u"])
    f_l = fermi(e_l, p["mu_l"], p["T_l"])
    n_b = bose(e_ph, p["T_b"])
    h_u = fermi_hole(e_u, p["mu_u"], p["T_u"])  # 1 - f_u, exact where f_u rounds to 1
    h_l = fermi_hole(e_l, p["mu_l"], p["T_l"])
    n_b1 = bose_plus_one(e_ph, p["T_b"])  # n_b + 1
    g = p["g"]
    gu, gl, gb = p["gamma_u"], p["gamma_l"], p["gamma_b"]
    coeffs = jnp.stack(
        [
            p["E_u"], p["E_l"], p["omega_cav"], jnp.real(g), jnp.imag(g),
            gu * f_u, gu * h_u, gl * f_l, gl * h_l, gb * n_b1, gb * n_b,
        ],
        axis=-1,
    )  # fmt: skip
    return coeffs, (f_u, f_l, n_b)


@eqx.filter_jit
def _core(ops, p: dict, occupations: str, solver, tol: float, n_max: int, fock_tol: float = 1e-8, check=False):
    coeffs, (f_u, f_l, n_b) = cavity_coefficients(p, occupations)
    ss = solve_sector(cavity_structure(n_max), ops, coeffs, solver, tol)
    x = ss.state
    ex = ss.expect  # (N, 5): n_u, n_l, a^+a, X, Y
    fl = ss.flows  # (N, 5 obs, 6 jumps), rates included
    lead_u, lead_l, bath = fl[:, :, 0] + fl[:, :, 1], fl[:, :, 2] + fl[:, :, 3], fl[:, :, 4] + fl[:, :, 5]
    g = p["g"]
    re_g, im_g = jnp.real(g), jnp.imag(g)

    def energy(f):  # Tr{H L_a rho}
        return p["E_u"] * f[:, 0] + p["E_l"] * f[:, 1] + p["omega_cav"] * f[:, 2] + re_g * f[:, 3] + im_g * f[:, 4]

    n_u_dot = lead_u[:, 0] + lead_u[:, 1]
    n_l_dot = lead_l[:, 0] + lead_l[:, 1]
    n_b_dot = bath[:, 2]
    u_u, u_l, u_b = energy(lead_u), energy(lead_l), energy(bath)
    rate = re_g * ex[:, 4] - im_g * ex[:, 3]  # 2 Im{g^* <c_l^+ c_u a^+>}
    zero = jnp.zeros_like(rate)
    s_u = entropy_production_rate(u_u, n_u_dot, p["mu_u"], p["T_u"])
    s_l = entropy_production_rate(u_l, n_l_dot, p["mu_l"], p["T_l"])
    s_b = entropy_production_rate(u_b, n_b_dot, zero, p["T_b"])
    (e_u, e_l, e_ph), _ = _energies(p, occupations)
    # photon-number distribution from the populations
    flat = jnp.concatenate([x.reshape(x.shape[0], -1), jnp.zeros((x.shape[0], 1), x.dtype)], axis=1)
    pops = flat[:, ops.diag_index].reshape(x.shape[0], 4, n_max + 1).sum(axis=1)
    resid = jnp.max(
        jnp.stack([jnp.abs(u_u - e_u * n_u_dot), jnp.abs(u_l - e_l * n_l_dot), jnp.abs(u_b - e_ph * n_b_dot)]),
        axis=0,
    )
    _, (_, _, e_used) = _energies(p, occupations)
    diag = with_flags(
        ss.diagnostics,
        input_bad=invalid_points(p, RULES) | ~(e_used > 0),
        fock_bad=~(pops[:, -1] <= fock_tol),
        condition_bad=rate_span(p["gamma_u"], p["gamma_l"], p["gamma_b"], couplings=(p["g"],)) > MAX_RATE_SPAN,
    )
    gu, gl, gb = p["gamma_u"], p["gamma_l"], p["gamma_b"]
    r_err = rate_error_bound(jax.lax.stop_gradient(diag.residual), (gu, gl, gb), gu + gl + gb)
    sdot, sdot_tol = affinity_entropy_production(
        rate,
        (
            (1.0, p["mu_u"], e_u, p["E_u"], p["T_u"]),
            (-1.0, p["mu_l"], e_l, p["E_l"], p["T_l"]),
            (-1.0, zero, e_ph, p["omega_cav"], p["T_b"]),
        ),
        r_err,
    )
    res = TransitionResult(
        rate=rate,
        particle_current={"u": n_u_dot, "l": n_l_dot, "b": n_b_dot},
        energy_current={"u": u_u, "l": u_l, "b": u_b},
        power=zero,
        entropy_production=sdot,
        entropy_flow={"u": s_u, "l": s_l, "b": s_b},
        effective_energy={"u": e_u, "l": e_l, "ph": e_ph},
        occupation={"u": f_u, "l": f_l, "b": n_b},
        populations={"u": ex[:, 0], "l": ex[:, 1], "ph": ex[:, 2]},
        coherence=0.5 * (ex[:, 3] - 1j * ex[:, 4]),  # <c_u^+ c_l a>
        first_law_residual=u_u + u_l + u_b,
        effective_energy_residual=resid,
        diagnostics=diag,
        fock_tail=pops[:, -1],
        entropy_production_tolerance=sdot_tol,
        occupations=occupations,
        model="cavity",
        n_max=n_max,
    )
    if check:  # throw=True under a trace: every check as an equinox runtime error
        res = raise_if_flagged(res, diag, "solve_cavity")
    return res, pops


def suggest_n_max(pops: np.ndarray, fock_tol: float) -> int:
    """Smallest cutoff that would bring ``P(n_max)`` below `fock_tol`, extrapolating the
    geometric decay of the last photon-number probabilities (``pops`` of shape (N, n+1))."""
    pops = np.atleast_2d(np.asarray(pops))
    n = pops.shape[1] - 1
    need = n
    for p in pops:
        top, prev = max(p[-1], 0.0), max(p[-2], 1e-300)
        if top <= fock_tol:
            continue
        ratio = top / prev
        if 0 < ratio < 0.999:
            extra = math.log(fock_tol / top) / math.log(ratio)
            need = max(need, n + int(math.ceil(1.2 * extra)) + 2)
        else:
            need = max(need, 2 * n + 2)
    return int(need)


def solve_cavity(
    *,
    E_u,
    E_l,
    omega_cav,
    g,
    gamma_u,
    gamma_l,
    gamma_b,
    mu_u,
    mu_l,
    T_u,
    T_l,
    T_b,
    n_max=30,
    occupations: str = "effective",
    solver=None,
    throw: bool = True,
    tol: float = 1e-8,
    fock_tol: float = 1e-8,
) -> TransitionResult:
    """Steady state of Model B (quantized cavity mode, Jaynes-Cummings) and its flows.

    **Arguments** (hbar = k_B = 1, one energy unit throughout; floats or arrays that broadcast
    together -- the result has the broadcast shape):

    - `E_u`, `E_l`: level energies; `omega_cav`: cavity frequency (``Delta_cav = omega_cav -
      (E_u - E_l)``); `g`: light-matter coupling (real or complex).
    - `gamma_u`, `gamma_l`, `gamma_b`: lead and cavity-loss rates (> 0).
    - `mu_u`, `mu_l`, `T_u`, `T_l`: lead chemical potentials and temperatures; `T_b`: bath
      temperature (all T > 0).
    - `n_max`: highest photon number kept (``n_max + 1`` Fock states, ``n_max >= 1``), or
      ``"auto"``: the smallest cutoff (from 16 up, by extrapolating the photon distribution)
      for which ``P(n_max) <= fock_tol`` at every point. A cutoff whose estimated memory
      (`BYTES_PER_FOCK_LEVEL` per level) exceeds what the host has is refused up front.
    - `occupations`: ``"bare"`` (Eq. 9) or ``"effective"`` (default; Eq. 21 energies in f_u,
      f_l and ``n_b = Bose(E~_ph / T_b)``).
    - `solver`: steady-state solver (default automatic: block-tridiagonal on the sector).
    - `throw`: raise `SteadyStateError` when a steady state fails its checks or the Fock
      cutoff is too small (the message gives the cutoff that would do); with ``False`` the
      result only flags it (``diagnostics.ok``, ``fock_tail``).
    - `tol`, `fock_tol`: tolerances of the linear-solve checks and of ``P(n_max)`` (finite, > 0).

    **Returns:** a `TransitionResult` (``power`` is 0; ``"b"`` entries for the bath, ``"ph"``
    for the photon: ``populations["ph"] = <a^+ a>``, ``effective_energy["ph"] = E~_ph``).
    """
    values = dict(
        E_u=E_u, E_l=E_l, omega_cav=omega_cav, g=g, gamma_u=gamma_u, gamma_l=gamma_l,
        gamma_b=gamma_b, mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l, T_b=T_b,
    )  # fmt: skip
    check_occupations(occupations, ("bare", "effective"))
    check_parameters(values, RULES)
    check_n_max(n_max)
    check_flag("throw", throw)
    check_tolerance("tol", tol)
    check_tolerance("fock_tol", fock_tol)
    check_solver("solver", solver, AbstractSteadySolver)
    concrete = all(is_concrete(v) for v in values.values())
    if concrete:
        _check_photon_energy(values, occupations)
    flat, shape = broadcast_parameters(values, complex_names=("g",))
    if isinstance(n_max, str):
        if not concrete:
            raise ParameterError("n_max='auto' needs concrete parameters (not traced); pass an integer")
        n = 16
        while True:
            res, pops = _core(cavity_structure(n).ops, flat, occupations, solver, tol, n, fock_tol)
            need = suggest_n_max(np.asarray(pops), fock_tol)
            if need <= n:
                break
            if need > MAX_AUTO_N:
                raise SteadyStateError(
                    f"n_max='auto': the photon distribution needs n_max > {MAX_AUTO_N}; "
                    "pass a larger integer n_max explicitly if you have the memory"
                )
            n = max(need, n + 1)
    else:
        n = int(n_max)
        res, pops = _core(cavity_structure(n).ops, flat, occupations, solver, tol, n, fock_tol, throw and not concrete)
    if throw and concrete and is_concrete(res.rate):
        flags = np.asarray(res.diagnostics.flags)
        if np.any(flags & FLAG_SOLVE):
            raise SteadyStateError(describe_failures(res.diagnostics, tol))
        tail = np.asarray(res.fock_tail)
        if np.any(flags & FLAG_FOCK):
            need = suggest_n_max(np.asarray(pops), fock_tol)
            raise SteadyStateError(
                f"Fock cutoff too small: P(n = n_max = {n}) reaches {tail.max():.3g} > fock_tol="
                f"{fock_tol:g} at {int(np.sum(tail > fock_tol))} of {tail.size} points; "
                f"use n_max >= {need} (or n_max='auto'), or pass throw=False to get flagged results"
            )
        msg = describe_flags(flags)
        if msg is not None:
            raise SteadyStateError(f"solve_cavity: {msg}; pass throw=False to get flagged results")
    return reshape_result(res, shape)


def _check_photon_energy(values, occupations):
    """The Bose function needs a positive photon energy: omega_cav (bare) or E~_ph (effective)."""
    p = {k: np.asarray(v) for k, v in values.items()}
    if occupations == "bare":
        if np.any(p["omega_cav"] <= 0):
            raise ParameterError(
                "omega_cav must be > 0 (the bath occupation n_b = Bose(omega_cav/T_b) needs a "
                f"positive photon energy), got min {np.min(p['omega_cav']):g}"
            )
        return
    *_, e_ph = effective_energies_cavity(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    if np.any(np.asarray(e_ph) <= 0):
        raise ParameterError(
            "omega_cav must make the effective photon energy E~_ph = omega_cav - gamma_b Delta_cav/Gamma "
            f"(Eq. 21) positive, got min E~_ph = {np.min(e_ph):g}; raise omega_cav or lower gamma_b"
        )


def cavity_master_equation(
    *,
    E_u,
    E_l,
    omega_cav,
    g,
    gamma_u,
    gamma_l,
    gamma_b,
    mu_u,
    mu_l,
    T_u,
    T_l,
    T_b,
    n_max: int = 30,
    occupations: str = "effective",
) -> tuple:
    """Model B as a full-space ``(H, jumps)`` pair, the generator `jaxtls.evolve` integrates.

    Scalar parameters as in `solve_cavity` (hbar = k_B = 1). Hilbert space ``|n_u n_l> x |n>``
    (fermion modes first, ``n = 0..n_max``), dimension ``4 (n_max + 1)``. ``H`` is the
    Jaynes-Cummings Hamiltonian of Sec. III B; ``jumps`` are, in this order,
    ``gamma_u f_u D[c_u^+]``, ``gamma_u (1 - f_u) D[c_u]``, ``gamma_l f_l D[c_l^+]``,
    ``gamma_l (1 - f_l) D[c_l]`` (Eq. 8), ``gamma_b (n_b + 1) D[a]``, ``gamma_b n_b D[a^+]``
    (Eq. 17), with the occupations of `occupations` (``"bare"`` or ``"effective"``, Eq. 21).
    Sum the per-jump energy flows of `jaxtls.evolve` in pairs for ``Udot_u, Udot_l, Udot_b``.
    """
    values = dict(
        E_u=E_u, E_l=E_l, omega_cav=omega_cav, g=g, gamma_u=gamma_u, gamma_l=gamma_l, gamma_b=gamma_b,
        mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l, T_b=T_b,
    )  # fmt: skip
    check_occupations(occupations, ("bare", "effective"))
    check_parameters(values, RULES)
    flat, shape = broadcast_parameters(values, complex_names=("g",))
    if shape != ():
        raise ParameterError(f"cavity_master_equation takes scalar parameters, got broadcast shape {shape}")
    _check_photon_energy(values, occupations)
    coeffs, _ = cavity_coefficients(flat, occupations)
    return cavity_structure(n_max).structure.master_equation(coeffs[0])
