"""Transient dynamics of Lindblad master equations with diffrax.

``d rho/dt = -i[H(t), rho] + sum_j r_j D[s_j] rho`` is integrated from any initial state with
matrix products on the ``d x d`` density matrix (`jaxtls._engine.superoperator.lindblad_rhs`,
``O(J d^3)`` per evaluation; no ``d^2 x d^2`` Liouvillian is formed, and the initial state may
have coherences outside the steady-state sector); the complex state is carried as its real and
imaginary parts, so every diffrax solver (explicit or implicit) applies. Three ways to give the
generator:

- a `FermionicSystem`: ``L(t) = -i[H_S(t), .] + sum_a L_a`` (Eq. 8); the flows of Eq. (5),
  ``Udot_a(t) = Tr{H_S(t) L_a[rho(t)]}``, ``Ndot_a(t) = Tr{n_a L_a[rho(t)]}``, and the power
  ``P(t) = Tr{rho(t) dH_S/dt}`` (Eq. 6) are returned at the save times;
- a pair ``(H, jumps)``: ``H`` a ``d x d`` matrix or a callable ``t -> H(t)``, ``jumps`` a
  sequence of ``(rate, s)`` (dissipator ``rate D[s]``); the energy flow of every jump term,
  ``Tr{H(t) rate D[s] rho(t)}``, and the power are returned;
- a callable ``t -> L(t)`` returning the ``d^2 x d^2`` superoperator (row-major vectorisation,
  see `jaxtls._engine.superoperator`); only ``rho(t)``.

Units: hbar = 1 (times in inverse energy units).
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.checks import ParameterError, check_flag, check_int, check_parameters, check_tolerance, is_concrete
from .._engine.result_base import AbstractResult
from .._engine.superoperator import jump_flows, lindblad_rhs
from .fock import check_fock_size, fock_operators
from .system import FermionicSystem

__all__ = ["TransientSolution", "evolve"]

_HP = jax.lax.Precision.HIGHEST


class TransientSolution(AbstractResult):
    """Solution of `jaxtls.evolve`.

    **Fields:**

    - `ts`: save times ``(n_t,)``.
    - `rho`: density matrices ``(n_t, d, d)``.
    - `energy_current`: ``(n_t, n_leads)`` ``Udot_a(t)`` into the system (Eq. 5) for a
      `FermionicSystem`, ``(n_t, n_jumps)`` per jump term for ``(H, jumps)``; ``None`` for a
      superoperator callable.
    - `particle_current`: ``(n_t, n_leads)`` ``Ndot_a(t)`` (`FermionicSystem` only).
    - `power`: ``(n_t,)`` ``Tr{rho dH/dt}`` (Eq. 6); ``None`` for a superoperator callable.
    - `energy`: ``(n_t,)`` ``Tr{H(t) rho(t)}``; ``None`` for a superoperator callable.
    - `num_steps`: accepted + rejected steps of the integrator; `ok`: whether it succeeded.
    - `lead_names`: labels of the current columns.
    """

    ts: Array
    rho: Array
    energy_current: Array | None
    particle_current: Array | None
    power: Array | None
    energy: Array | None
    num_steps: Array
    ok: Array
    lead_names: tuple = eqx.field(static=True, default=())


def _as_callable(h):
    if callable(h):
        return lambda t: jnp.asarray(h(t), jnp.complex128)
    arr = jnp.asarray(h, jnp.complex128)
    return lambda t: arr


def _solve(vf, y0, t0, ts, solver, controller, dt0, max_steps, adjoint, throw):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vf),
        solver,
        t0=t0,
        t1=ts[-1],
        dt0=dt0,
        y0=y0,
        stepsize_controller=controller,
        saveat=diffrax.SaveAt(ts=ts),
        max_steps=max_steps,
        adjoint=adjoint,
        throw=throw,
    )
    return sol.ys[0] + 1j * sol.ys[1], sol.stats["num_steps"], sol.result == diffrax.RESULTS.successful


def _integrate(h_fn, rates, jumps, rho0, *common):
    """``rho(t)`` ``(n_t, d, d)`` of ``d rho/dt = -i[H(t), rho] + sum_j r_j D[s_j] rho``."""

    def vf(t, y, args):
        drho = lindblad_rhs(h_fn(t), rates, jumps, y[0] + 1j * y[1])
        return (jnp.real(drho), jnp.imag(drho))

    return _solve(vf, (jnp.real(rho0), jnp.imag(rho0)), *common)


def _lead_jumps(system, f):
    """Rates and operators of the lead jumps (Eq. 8): ``c_l^+`` at ``gamma f``, ``c_l`` at
    ``gamma (1 - f)`` for every lead, in that order."""
    c = fock_operators(system.num_levels)["c"]
    ops = []
    for lead in system.leads:
        ops += [c[lead.level].T, c[lead.level]]
    g = system.lead_array("gamma")
    rates = jnp.stack([g * f, g * (1.0 - f)], axis=-1).reshape(-1)
    return rates, jnp.asarray(np.stack(ops), jnp.complex128)


@eqx.filter_jit
def _evolve_system(system, f, rho0, t0, ts, solver, controller, dt0, max_steps, adjoint, throw):
    rates, jumps = _lead_jumps(system, f)
    rhos, steps, ok = _integrate(
        system.hamiltonian, rates, jumps, rho0, t0, ts, solver, controller, dt0, max_steps, adjoint, throw
    )
    n_ops = jnp.asarray(
        np.repeat(fock_operators(system.num_levels)["n"][[lead.level for lead in system.leads]], 2, axis=0)
    )

    def flows(t, rho):
        h = system.hamiltonian(t)
        u = jnp.real(rates * jump_flows(h, jumps, rho)).reshape(-1, 2).sum(axis=-1)
        n = jnp.real(rates * jump_flows(n_ops.astype(rho.dtype), jumps, rho)).reshape(-1, 2).sum(axis=-1)
        p = jnp.real(jnp.trace(system.hamiltonian_derivative(t) @ rho))
        return u, n, p, jnp.real(jnp.trace(h @ rho))

    u, n, p, e = jax.vmap(flows)(ts, rhos)
    return TransientSolution(
        ts=ts,
        rho=rhos,
        energy_current=u,
        particle_current=n,
        power=p,
        energy=e,
        num_steps=steps,
        ok=ok,
        lead_names=system.lead_names,
    )


@eqx.filter_jit
def _evolve_pair(h, jumps, rho0, t0, ts, solver, controller, dt0, max_steps, adjoint, throw):
    d = rho0.shape[-1]
    h_fn = _as_callable(h)
    rates = jnp.stack([jnp.asarray(r, jnp.float64) for r, _ in jumps]) if jumps else jnp.zeros((0,))
    ops = jnp.stack([jnp.asarray(s, jnp.complex128) for _, s in jumps]) if jumps else jnp.zeros((0, d, d), complex)
    rhos, steps, ok = _integrate(h_fn, rates, ops, rho0, t0, ts, solver, controller, dt0, max_steps, adjoint, throw)

    def flows(t, rho):
        h = h_fn(t)
        hd = jax.jvp(h_fn, (t,), (jnp.ones_like(t),))[1]
        u = jnp.real(rates * jump_flows(h, ops, rho)) if jumps else jnp.zeros((0,), jnp.float64)
        return u, jnp.real(jnp.trace(hd @ rho)), jnp.real(jnp.trace(h @ rho))

    u, p, e = jax.vmap(flows)(ts, rhos)
    return TransientSolution(
        ts=ts,
        rho=rhos,
        energy_current=u,
        particle_current=None,
        power=p,
        energy=e,
        num_steps=steps,
        ok=ok,
        lead_names=tuple(str(k) for k in range(len(jumps))),
    )


@eqx.filter_jit
def _evolve_superop(l_fn, rho0, t0, ts, solver, controller, dt0, max_steps, adjoint, throw):
    d = rho0.shape[-1]

    def vf(t, y, args):
        dv = jnp.matmul(jnp.asarray(l_fn(t), jnp.complex128), y[0] + 1j * y[1], precision=_HP)
        return (jnp.real(dv), jnp.imag(dv))

    v0 = rho0.reshape(-1)
    vs, steps, ok = _solve(vf, (jnp.real(v0), jnp.imag(v0)), t0, ts, solver, controller, dt0, max_steps, adjoint, throw)
    return TransientSolution(
        ts=ts,
        rho=vs.reshape(-1, d, d),
        energy_current=None,
        particle_current=None,
        power=None,
        energy=None,
        num_steps=steps,
        ok=ok,
    )


def _check_rho0(rho0, d: int | None):
    rho0 = jnp.asarray(rho0, jnp.complex128)
    if rho0.ndim != 2 or rho0.shape[0] != rho0.shape[1] or (d is not None and rho0.shape[0] != d):
        want = f"({d}, {d})" if d is not None else "square"
        raise ParameterError(f"rho0 must be a {want} density matrix, got shape {rho0.shape}")
    if is_concrete(rho0):
        r = np.asarray(rho0)
        if not np.all(np.isfinite(r)):
            raise ParameterError("rho0 must be finite")
        if np.max(np.abs(r - r.conj().T)) > 1e-10:
            raise ParameterError("rho0 must be Hermitian")
        if abs(np.trace(r).real - 1.0) > 1e-8:
            raise ParameterError(f"rho0 must have unit trace, got Tr rho0 = {np.trace(r).real:.6g}")
        lam = float(np.min(np.linalg.eigvalsh(0.5 * (r + r.conj().T))))
        if lam < -1e-10:
            raise ParameterError(
                f"rho0 must be positive semidefinite (a density matrix), got smallest eigenvalue {lam:.3g}"
            )
    return rho0


def _check_pair(h, jumps, d: int) -> None:
    """``(H, jumps)`` generator: constant ``H`` Hermitian and finite; every jump rate a finite
    number >= 0 (concrete values; callables and traced values are checked for shape only)."""
    if not callable(h) and is_concrete(h):
        a = np.asarray(h)
        if a.shape == (d, d):
            if not np.all(np.isfinite(a)):
                raise ParameterError("H must be finite")
            if np.max(np.abs(a - a.conj().T), initial=0.0) > 1e-12 * max(1.0, float(np.max(np.abs(a)))):
                raise ParameterError("H must be Hermitian")
    for k, (rate, op) in enumerate(jumps):
        check_parameters({f"jumps[{k}] rate": rate}, {f"jumps[{k}] rate": "nonneg"})
        if jnp.shape(op) != (d, d):
            raise ParameterError(f"jumps[{k}] operator must be a {d} x {d} matrix, got shape {jnp.shape(op)}")


def evolve(
    generator,
    rho0,
    ts,
    *,
    t0=None,
    occupations=None,
    solver: diffrax.AbstractSolver | None = None,
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    dt0=None,
    max_steps: int = 100_000,
    adjoint: diffrax.AbstractAdjoint | None = None,
    throw: bool = True,
) -> TransientSolution:
    """Integrate the master equation from ``rho0`` and record ``rho(t)`` and the flows.

    **Arguments:**

    - `generator`: a `FermionicSystem`, a pair ``(H, jumps)`` (``H`` a ``d x d`` matrix or a
      callable ``t -> H(t)``; ``jumps`` a sequence of ``(rate, s)``), or a callable
      ``t -> L(t)`` returning the ``d^2 x d^2`` Liouvillian (row-major convention).
    - `rho0`: initial density matrix ``(d, d)`` (Hermitian, unit trace).
    - `ts`: increasing save times (inverse energy units, hbar = 1).
    - `t0`: initial time (default ``ts[0]``).
    - `occupations`: `FermionicSystem` only: lead occupations (``None`` / ``"bare"`` or an array
      ``(n_leads,)``, e.g. the self-consistent ones).
    - `solver`: a diffrax solver; default `diffrax.Tsit5()` (use `diffrax.Kvaerno5()` for
      stiff problems, e.g. rates much larger than the drive frequency).
    - `stepsize_controller`: default `diffrax.PIDController(rtol, atol)`.
    - `rtol`, `atol`: tolerances of the default controller.
    - `dt0`: initial step (default: chosen by the controller).
    - `max_steps`: integrator step budget.
    - `adjoint`: diffrax adjoint (default `diffrax.RecursiveCheckpointAdjoint()`, reverse mode;
      `diffrax.ForwardMode()` for `jax.jvp`).
    - `throw`: raise if the integration fails (e.g. `max_steps` reached).

    **Returns:** a `TransientSolution`.

    **Raises:** `jaxtls.ParameterError` (a `ValueError`) naming the parameter, before any work,
    for bad input that can be checked up front: ``ts`` empty, not 1-D, not finite or not
    strictly increasing; ``t0`` not a finite scalar or later than ``ts[0]``; ``rho0`` of the
    wrong shape, not finite, not Hermitian or without unit trace; ``rtol``/``atol`` negative,
    non-finite or both 0; ``dt0`` not a finite positive number; ``max_steps < 1``; a malformed
    generator or ``occupations``.
    """
    ts = jnp.asarray(ts, jnp.float64)
    if ts.ndim != 1 or ts.shape[0] < 1:
        raise ParameterError(f"ts must be a non-empty 1-D array of times, got shape {ts.shape}")
    if is_concrete(ts):
        ts_host = np.asarray(ts)
        if not np.all(np.isfinite(ts_host)):
            raise ParameterError("ts must contain finite times only")
        if ts_host.shape[0] > 1 and np.any(np.diff(ts_host) <= 0):
            raise ParameterError("ts must be strictly increasing")
    t0 = ts[0] if t0 is None else jnp.asarray(t0, jnp.float64)
    if t0.shape != ():
        raise ParameterError(f"t0 must be a scalar time, got shape {t0.shape}")
    if is_concrete(t0) and not np.isfinite(float(t0)):
        raise ParameterError(f"t0 must be a finite time, got {float(t0)}")
    if is_concrete(t0) and is_concrete(ts) and float(t0) > float(ts[0]):
        raise ParameterError("t0 must not be later than ts[0]")
    if stepsize_controller is None:
        check_tolerance("rtol", rtol, strict=False)
        check_tolerance("atol", atol, strict=False)
        if is_concrete(rtol) and is_concrete(atol) and rtol == 0 and atol == 0:
            raise ParameterError("rtol and atol must not both be 0")
    if dt0 is not None:
        check_tolerance("dt0", dt0)
    check_int("max_steps", max_steps, 1)
    check_flag("throw", throw)
    solver = diffrax.Tsit5() if solver is None else solver
    controller = diffrax.PIDController(rtol=rtol, atol=atol) if stepsize_controller is None else stepsize_controller
    adjoint = diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint
    common = (t0, ts, solver, controller, dt0, max_steps, adjoint, throw)
    if isinstance(generator, FermionicSystem):
        check_fock_size(generator.num_levels)
        rho0 = _check_rho0(rho0, generator.dim)
        if occupations is not None:
            generator.resolve_occupations(occupations)
        f = generator.resolve_occupations(occupations)
        return _evolve_system(generator, f, rho0, *common)
    if occupations is not None:
        raise ParameterError("occupations is only used with a FermionicSystem generator")
    if isinstance(generator, tuple) and len(generator) == 2:
        h, jumps = generator
        jumps = tuple(jumps)
        for k, item in enumerate(jumps):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ParameterError(f"jumps[{k}] must be a (rate, operator) pair")
        rho0 = _check_rho0(rho0, None)
        d = rho0.shape[0]
        h_fn = _as_callable(h)
        hs = jax.eval_shape(h_fn, jnp.zeros((), jnp.float64))
        if hs.shape != (d, d):
            raise ParameterError(f"H must be a {d} x {d} matrix (or return one), got {hs.shape}")
        _check_pair(h, jumps, d)
        return _evolve_pair(h, jumps, rho0, *common)
    if callable(generator):
        rho0 = _check_rho0(rho0, None)
        d = rho0.shape[0]
        ls = jax.eval_shape(generator, jnp.zeros((), jnp.float64))
        if ls.shape != (d * d, d * d):
            raise ParameterError(f"L(t) must be a {d * d} x {d * d} superoperator, got {ls.shape}")
        return _evolve_superop(generator, rho0, *common)
    raise ParameterError(
        "generator must be a FermionicSystem, an (H, jumps) pair, or a callable t -> L(t) superoperator"
    )


def empty_state(num_levels: int) -> Array:
    """The vacuum ``|0...0><0...0|`` of ``M`` levels (a convenient initial state)."""
    d = 2**num_levels
    return jnp.zeros((d, d), jnp.complex128).at[0, 0].set(1.0)
