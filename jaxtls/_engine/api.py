"""The generic entry point: steady states of a user's own `LindbladStructure`.

``jt.steady_state(structure, coefficients)`` solves ``L(c) rho = 0, Tr rho = 1`` for the
Lindbladian ``L(c) = -i[sum_k h_k H_k, .] + sum_j r_j D[s_j]`` of a `LindbladStructure` (its
constant operators ``H_k``, ``s_j``, observables ``O_m``) and a batch of coefficient vectors
``c = (h_1..h_nH, r_1..r_nJ)``, on the symmetry sector the engine finds from the operators'
sparsity (`jaxtls._engine.sector`), with any solver of `jaxtls._engine.solvers` and implicit
derivatives (`jaxtls._engine.implicit`). Models A and B (`jaxtls.solve_classical`,
`jaxtls.solve_cavity`) are thin layers on `solve_sector`, its traced core.

`steady_state` dispatches on the type of its first argument (`functools.singledispatch`), so a
higher layer can register its own model types (``steady_state.register(MyType)``).
"""

from __future__ import annotations

import functools
import weakref

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .checks import ParameterError, check_flag, check_solver, check_tolerance, is_concrete
from .diagnostics import Diagnostics, SteadyStateError, describe_failures
from .periodic_api import PeriodicState, solve_periodic
from .result_base import AbstractResult
from .sector import LindbladStructure, Sector, SectorOperators
from .solvers import AbstractSteadySolver
from .steady import dissipated, expectations, solve_batch

__all__ = ["SteadyState", "steady_state", "solve_sector", "sector_of"]


class SteadyState(AbstractResult):
    """Steady states of a `LindbladStructure` for a batch of coefficient vectors.

    Units are those of the coefficients (hbar = 1): expectations are dimensionless for
    dimensionless observables, flows are per unit time. Every field has the batch shape
    ``*batch`` of the coefficients (their leading axes) in front.

    **Fields:**

    - `state`: ``(*batch, K, m)`` real sector unknowns (populations ``rho_ii`` and
      ``(Re, Im) rho_ij`` of the sector's coherences, `Sector.unknowns`; padded slots 0).
    - `expect`: ``(*batch, n_O)`` ``Tr{O_m rho}`` for every observable of the structure.
    - `flows`: ``(*batch, n_O, n_J)`` ``r_j Tr{O_m D[s_j] rho}``, the rate of change of
      ``<O_m>`` caused by jump ``j`` at its rate (for a lead, Eq. 5 of the paper is the sum over
      its jumps).
    - `diagnostics`: `jaxtls.Diagnostics` of the linear solve (residual, trace error, smallest
      eigenvalue of ``rho``, ``ok``).
    - `sector` (static): the `Sector` the state lives on.
    """

    state: Float[Array, "*batch K m"]
    expect: Float[Array, "*batch nO"]
    flows: Float[Array, "*batch nO nJ"]
    diagnostics: Diagnostics
    sector: Sector = eqx.field(static=True)

    @property
    def ok(self):
        """``diagnostics.ok``: the solve of the point passed every check."""
        return self.diagnostics.ok

    @property
    def shape(self) -> tuple:
        """The batch shape."""
        return tuple(self.state.shape[:-2])

    def density_matrix(self, index=()) -> Complex[Array, "d d"]:
        """The full ``d x d`` density matrix of one point, ``index`` into the batch shape (an
        int or a tuple; ``()`` for an unbatched result). Elements outside the sector are 0."""
        x = self.state[index]
        if x.shape != self.state.shape[-2:]:
            raise ParameterError(
                f"index must select one point of the batch shape {self.shape}, got {index!r} "
                f"(leaves batch shape {x.shape[:-2]})"
            )
        pos, slot, coef = _density_layout(self.sector)
        d = self.sector.dim
        vals = x.reshape(-1)[slot] * coef
        return jnp.zeros(d * d, vals.dtype).at[pos].add(vals).reshape(d, d)


@functools.lru_cache(maxsize=32)
def _density_layout(sector: Sector):
    """For every (unknown, matrix element) pair: flat position ``i d + j``, unknown slot and
    coefficient (``rho_ij = Re + i Im``, ``rho_ji = Re - i Im``)."""
    d = sector.dim
    pos, slot, coef = [], [], []
    for f, u in enumerate(sector.unknowns):
        if u is None:
            continue
        kind, i, j = u
        if kind == "d":
            pos.append(i * d + i), slot.append(f), coef.append(1.0)
        elif kind == "re":
            pos += [i * d + j, j * d + i]
            slot += [f, f]
            coef += [1.0, 1.0]
        else:
            pos += [i * d + j, j * d + i]
            slot += [f, f]
            coef += [1j, -1j]
    return np.asarray(pos), np.asarray(slot), np.asarray(coef, complex)


_SECTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sector_of(structure: LindbladStructure | Sector) -> Sector:
    """The `Sector` of a structure, built once per structure object (cached weakly), or the
    given `Sector` itself (e.g. one built with ``Sector.build(structure, levels=...)``)."""
    if isinstance(structure, Sector):
        return structure
    sector = _SECTORS.get(structure)
    if sector is None:
        sector = _SECTORS[structure] = Sector.build(structure)
    return sector


def solve_sector(
    sector: Sector,
    ops: SectorOperators,
    coeffs: Float[Array, "N T"],
    solver=None,
    tol: float = 1e-8,
    check: bool = False,
) -> SteadyState:
    """Steady states of a flat batch ``(N, T)`` of coefficient vectors on `sector` (traced core
    of `steady_state`, without input validation; the models call it inside their own `jit`).

    `ops` is ``sector.ops``, passed separately so that it reaches a `jit` as an argument (not as
    constants). With `check`, the state is guarded by `equinox.error_if` on failed checks (the
    `throw=True` of a traced call). **Returns:** a `SteadyState` with batch shape ``(N,)``.
    """
    x, diag = solve_batch(ops, coeffs, solver, tol)
    if check:
        x = eqx.error_if(
            x,
            ~diag.ok,
            "steady state failed its checks (residual, trace or positivity above tol): a singular "
            "Liouvillian (non-unique steady state) usually means a rate is zero; pass throw=False "
            "to get the flagged results",
        )
    n_h = len(sector.structure.hamiltonian)
    flows = dissipated(ops, x) * coeffs[:, None, n_h:]
    return SteadyState(x, expectations(ops, x), flows, diag, sector)


@eqx.filter_jit
def _public_core(sector, ops, c, solver, tol, traced):
    if traced:  # value checks of traced coefficients (concrete ones were checked on the host)
        rates = c[:, len(sector.structure.hamiltonian) :]
        c = eqx.error_if(
            c,
            ~jnp.all(jnp.isfinite(c)) | jnp.any(rates < 0),
            "coefficients must be finite and the jump rates (the last n_J entries) >= 0",
        )
    return solve_sector(sector, ops, c, solver, tol, check=traced)


@functools.singledispatch
def steady_state(
    structure,
    coefficients=None,
    *,
    drive=None,
    omega=None,
    n_harm: int | None = None,
    solver=None,
    tol: float = 1e-8,
    throw: bool = True,
):
    """Steady states of a Lindblad model for a batch of coefficient vectors.

    For a `jaxtls.LindbladStructure` (or a `jaxtls.Sector` built from one): the Lindbladian is
    ``L(c) rho = -i[H, rho] + sum_j r_j D[s_j] rho`` with ``H = sum_k h_k H_k`` and
    ``D[s] rho = s rho s^+ - (s^+ s rho + rho s^+ s)/2`` (paper, Sec. II), and the result is
    the unique ``rho`` with ``L(c) rho = 0`` and ``Tr rho = 1`` on the structure's symmetry
    sector. Works under `jax.jit`, `jax.vmap` and `jax.grad` (implicit differentiation with
    respect to the coefficients; second derivatives raise).

    **Arguments:**

    - `structure`: a `jaxtls.LindbladStructure` (its sector is found once per structure and
      cached) or a `jaxtls.Sector`.
    - `coefficients`: real array ``(*batch, T)``, ``T = n_H + n_J``: the Hamiltonian
      coefficients ``h_k`` (energy units) then the jump rates ``r_j >= 0`` (per unit time),
      in the order of the structure's ``hamiltonian`` and ``jumps``. Any batch shape (``()``
      for one point).
    - `drive`, `omega`, `n_harm`: for a structure with a periodic drive ``((q, D), ...)`` (and
      only then): the complex amplitudes ``d_D`` ``(*batch, n_D)`` of ``d_D D e^{-i q omega t} +
      h.c.``, the drive frequency ``omega > 0`` (``*batch``) and the highest Floquet harmonic
      kept (default ``12 q_max``). The result is then a `jaxtls.PeriodicState` of period
      averages (C1, C2, Eq. 6) with the harmonics ``rho_n``; batch shapes of the coefficients,
      `drive` and `omega` broadcast together.
    - `solver`: a steady-state solver (`jaxtls.AbstractSteadySolver`, static structures); default
      `jaxtls.AutoSolver` (the block-tridiagonal kernel from 4 sector levels, dense LU below).
    - `tol`: tolerance of the checks in `SteadyState.diagnostics` (> 0).
    - `throw`: raise `jaxtls.SteadyStateError` if a point fails its checks (under `jax.jit`
      an `equinox` runtime error); with ``False`` failures are only flagged in
      ``diagnostics.ok``.

    **Returns:** a `SteadyState` (state, `expect`, `flows`, `diagnostics`,
    `density_matrix(index)`), or for a driven structure a `jaxtls.PeriodicState`.
    """
    raise ParameterError(
        "structure must be a jaxtls.LindbladStructure or jaxtls.Sector (or a type registered with "
        f"jaxtls.steady_state.register), got {type(structure).__name__}"
    )


@steady_state.register(LindbladStructure)
@steady_state.register(Sector)
def _steady_state_structure(
    structure, coefficients=None, *, drive=None, omega=None, n_harm=None, solver=None, tol=1e-8, throw=True
) -> SteadyState | PeriodicState:
    sector = sector_of(structure)
    n_h, n_t = len(sector.structure.hamiltonian), sector.structure.num_terms
    c = _check_inputs(coefficients, n_h, n_t, solver, tol, throw)
    if sector.structure.drive:
        if solver is not None:
            raise ParameterError("solver applies to static structures; a driven one is solved by Floquet harmonics")
        return solve_periodic(sector, c, drive, omega, n_harm, tol, throw)
    if drive is not None or omega is not None or n_harm is not None:
        raise ParameterError(
            "drive, omega and n_harm need a structure with a periodic drive (LindbladStructure(drive=...))"
        )
    batch = c.shape[:-1]
    traced = not is_concrete(c)
    flat = c.reshape(-1, n_t)
    res = _public_core(sector, sector.ops, flat, solver, float(tol), traced)
    if throw and not traced:
        msg = describe_failures(res.diagnostics, tol)
        if msg is not None:
            raise SteadyStateError(msg)
    return jax.tree_util.tree_map(lambda a: a.reshape(batch + a.shape[1:]), res)


def _check_inputs(coefficients, n_h: int, n_t: int, solver, tol, throw):
    """Validate the arguments of `steady_state`; returns the coefficients as a float array."""
    if coefficients is None:
        raise ParameterError(
            f"coefficients are required: an array (*batch, {n_t}) (Hamiltonian terms, then jump rates)"
        )
    check_solver("solver", solver, AbstractSteadySolver)
    check_tolerance("tol", tol)
    if not is_concrete(tol):
        raise ParameterError("tol must be a concrete number (not traced under jax.jit)")
    check_flag("throw", throw)
    try:
        c = jnp.asarray(coefficients)
    except TypeError as err:
        raise ParameterError(
            f"coefficients must be a real array (*batch, {n_t}), got {type(coefficients).__name__}"
        ) from err
    if jnp.iscomplexobj(c) or not (jnp.issubdtype(c.dtype, jnp.floating) or jnp.issubdtype(c.dtype, jnp.integer)):
        raise ParameterError(
            f"coefficients must be real (got dtype {c.dtype}): write a complex coupling g O + g* O^+ as "
            "two Hermitian terms Re(g) (O + O^+) + Im(g) i(O - O^+)"
        )
    if not jnp.issubdtype(c.dtype, jnp.floating):
        c = c.astype(jnp.float64)
    if c.ndim < 1 or c.shape[-1] != n_t:
        raise ParameterError(
            f"coefficients must have shape (*batch, {n_t}) ({n_h} Hamiltonian terms, then "
            f"{n_t - n_h} jump rates), got {c.shape}"
        )
    if c.size == 0:
        raise ParameterError(f"coefficients must hold at least one point, got shape {c.shape}")
    if is_concrete(c):
        host = np.asarray(c)
        if not np.all(np.isfinite(host)):
            raise ParameterError("coefficients must be finite, got a non-finite value")
        rates = host[..., n_h:]
        if rates.size and np.min(rates) < 0:
            j = int(np.argmin(np.min(rates.reshape(-1, n_t - n_h), axis=0)))
            raise ParameterError(
                f"coefficients[..., {n_h + j}] (the rate of jump {j}) must be >= 0, got min {np.min(rates):g}"
            )
    return c
