"""A `FermionicSystem` compiled to the engine's intermediate representation.

The constant operators depend only on the static structure of the system (number of levels,
the levels the leads attach to, which kinds of terms are present, the drive harmonics), never on
the values of its (possibly traced) parameters, so one compiled `LindbladStructure` and `Sector`
serve every point of a batch and every derivative with respect to any parameter -- including
couplings that happen to be zero. Ordering of the operators:

- Hamiltonian terms (real coefficients): ``n_i`` (coefficient ``Re h_ii``); for every pair
  ``i < j`` ``X_ij = c_i^+ c_j + h.c.`` (``Re h_ij``) and ``Y_ij = i(c_i^+ c_j - h.c.)``
  (``Im h_ij``); with interactions ``n_i n_j`` (``U_ij``); with many-body terms the Hermitian
  elementary basis of ``d x d`` matrices (``|a><a|``, ``|a><b| + h.c.``, ``i(|a><b| - h.c.)``)
  with the real and imaginary parts of the matrix elements. They are also the observables (the
  energy flows ``Tr{H_t D_j rho}`` and, for the first ``M``, the populations).
- Jumps (Eq. 8): for lead ``a`` on level ``l``, ``c_l^+`` with rate ``gamma_a f_a`` and ``c_l`` with
  rate ``gamma_a (1 - f_a)``.
- Drive harmonics ``(q, D)`` (complex coefficients): for every order ``q`` the ``M^2`` hoppings
  ``c_i^+ c_j`` (coefficient ``(H_q)_ij``) and, for many-body drives, the ``d^2`` elementary
  matrices ``|a><b|`` (``(H_q)_ab``). A callable drive is expanded in its Fourier components
  ``k = -K..K`` (its ``k = 0`` part joins the static Hamiltonian).
- Charge: the particle number ``N`` when every operator conserves it (no many-body terms); the
  sector is then that of equal ``N`` on both sides of ``rho``, block tridiagonal in ``N``.

Units: hbar = 1, coefficients in energy units.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .._engine.harmonic import HarmonicOperators
from .._engine.operators import dag, fermion_annihilators
from .._engine.sector import Sector
from .._engine.structure import LindbladStructure
from .fock import check_fock_size

__all__ = [
    "StructureKey",
    "CompiledSystem",
    "structure_key",
    "compile_system",
    "static_coefficients",
    "drive_coefficients",
    "system_coefficients",
    "coefficients_at",
    "fourier_components",
]


class StructureKey(NamedTuple):
    num_levels: int
    lead_levels: tuple
    interaction: bool
    many_static: bool
    drive_orders: tuple
    drive_many: bool


class CompiledSystem(NamedTuple):
    """The compiled structure, its sector and the element-space operators."""

    structure: LindbladStructure
    sector: Sector
    harmonic: HarmonicOperators


def structure_key(system) -> StructureKey:
    if system.drive_fn is not None:
        orders = tuple(range(1, system.drive_harmonics + 1))
        drive_many = system.drive_fn_kind == "many"
    else:
        orders = tuple(system.drive_orders)
        drive_many = system.drive_many is not None
    many_static = system.static_many_body is not None or (system.drive_fn is not None and drive_many)
    levels = tuple(lead.level for lead in system.leads)
    return StructureKey(system.num_levels, levels, system.interaction is not None, many_static, orders, drive_many)


def _unit(d: int, a: int, b: int):
    return sp.csr_matrix(([1.0], ([a], [b])), shape=(d, d))


def _hermitian_basis(ops_upper, diag):
    """``diag`` then, per upper pair, ``O + O^+`` and ``i(O - O^+)``."""
    out = list(diag)
    for o in ops_upper:
        out += [o + dag(o), 1j * (o - dag(o))]
    return out


@functools.lru_cache(maxsize=64)
def _compile(key: StructureKey) -> CompiledSystem:
    m = key.num_levels
    check_fock_size(m)
    d = 2**m
    cs = fermion_annihilators(m, sparse=True)
    num = [dag(c) @ c for c in cs]
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    ham = _hermitian_basis([dag(cs[i]) @ cs[j] for i, j in pairs], num)
    if key.interaction:
        ham += [num[i] @ num[j] for i, j in pairs]
    if key.many_static:
        ham += _hermitian_basis([_unit(d, a, b) for a in range(d) for b in range(a + 1, d)],
                                [_unit(d, a, a) for a in range(d)])  # fmt: skip
    jumps = []
    for level in key.lead_levels:
        jumps += [dag(cs[level]), cs[level]]
    drive = []
    for q in key.drive_orders:
        drive += [(q, dag(cs[i]) @ cs[j]) for i in range(m) for j in range(m)]
        if key.drive_many:
            drive += [(q, _unit(d, a, b)) for a in range(d) for b in range(d)]
    charge = None
    if not (key.many_static or key.drive_many):
        charge = np.real(sum(num).diagonal())
    structure = LindbladStructure(tuple(ham), tuple(jumps), observables=tuple(ham), charge=charge, drive=tuple(drive))
    sector = Sector.build(structure)
    return CompiledSystem(structure, sector, HarmonicOperators.from_sector(sector))


def compile_system(system) -> CompiledSystem:
    """The (cached) compiled structure of `system` (module docstring)."""
    return _compile(structure_key(system))


def _hermitian_coefficients(a):
    """Coefficients of a Hermitian matrix in the basis of `_hermitian_basis`."""
    n = a.shape[-1]
    iu, ju = np.triu_indices(n, 1)
    up = a[iu, ju]
    return jnp.concatenate([jnp.real(jnp.diagonal(a)), jnp.stack([jnp.real(up), jnp.imag(up)], axis=-1).reshape(-1)])


def static_coefficients(system, f, h_single=None, many=None):
    """Real coefficients ``(h, r)`` of the compiled structure for lead occupations ``f``;
    `h_single` / `many` replace the static single-particle / many-body matrices (callable drives)."""
    key = structure_key(system)
    h = system.h if h_single is None else h_single
    parts = [_hermitian_coefficients(jnp.asarray(h, jnp.complex128))]
    if key.interaction:
        iu, ju = np.triu_indices(system.num_levels, 1)
        parts.append(jnp.asarray(system.interaction, jnp.float64)[iu, ju])
    if key.many_static:
        if many is None:
            many = system.static_many_body
        if many is None:
            many = jnp.zeros((system.dim, system.dim), jnp.complex128)
        parts.append(_hermitian_coefficients(jnp.asarray(many, jnp.complex128)))
    g = system.lead_array("gamma")
    f = jnp.asarray(f, jnp.float64)
    parts.append(jnp.stack([g * f, g * (1.0 - f)], axis=-1).reshape(-1))
    return jnp.concatenate([p.astype(jnp.float64) for p in parts])


def drive_coefficients(system, single, many=None):
    """Complex drive coefficients from the components ``H_q`` of every order (``single``
    ``(n_q, M, M)``, ``many`` ``(n_q, d, d)`` or None)."""
    key = structure_key(system)
    parts = []
    for i in range(len(key.drive_orders)):
        parts.append(jnp.asarray(single[i], jnp.complex128).reshape(-1))
        if key.drive_many:
            mb = jnp.zeros((system.dim, system.dim), jnp.complex128) if many is None else many[i]
            parts.append(jnp.asarray(mb, jnp.complex128).reshape(-1))
    return jnp.concatenate(parts) if parts else jnp.zeros((0,), jnp.complex128)


def fourier_components(fn, omega, kmax: int):
    """``A_k = <A(t) e^{i k omega t}>`` for ``k = -K..K`` of a periodic matrix function (FFT
    sampling with ``max(4K + 1, 16)`` points), ``(2K+1, ...)``."""
    ns = max(4 * kmax + 1, 16)
    ts = jnp.arange(ns) * (2 * jnp.pi / omega) / ns
    vals = jax.vmap(lambda t: jnp.asarray(fn(t), jnp.complex128))(ts)
    ks = jnp.arange(-kmax, kmax + 1)
    phase = jnp.exp(1j * 2 * jnp.pi * ks[:, None] * jnp.arange(ns)[None, :] / ns)
    return jnp.einsum("kn,n...->k...", phase, vals) / ns


def system_coefficients(system, f):
    """``(c, d)``: the real and the drive coefficients of the compiled structure (Fourier
    components of a callable drive)."""
    if system.drive_fn is None:
        c = static_coefficients(system, f)
        d = drive_coefficients(system, system.drive_single, system.drive_many) if system.drive_orders else None
        return c, d
    kmax = system.drive_harmonics
    comps = fourier_components(system.drive_fn, system.omega, kmax)
    if system.drive_fn_kind == "single":
        c = static_coefficients(system, f, h_single=system.h + comps[kmax])
        return c, drive_coefficients(system, comps[kmax + 1 :])
    base = system.static_many_body if system.static_many_body is not None else 0.0
    c = static_coefficients(system, f, many=base + comps[kmax])
    zeros = jnp.zeros((kmax, system.num_levels, system.num_levels), jnp.complex128)
    return c, drive_coefficients(system, zeros, comps[kmax + 1 :])


def coefficients_at(system, f):
    """``t -> (c(t), d(t))``: instantaneous coefficients (``d(t)`` includes the phases
    ``e^{-i q omega t}``; a callable drive enters the static coefficients)."""
    key = structure_key(system)
    nd = len(key.drive_orders) * (system.num_levels**2 + (system.dim**2 if key.drive_many else 0))
    if system.drive_fn is None:
        c, d = system_coefficients(system, f)
        orders = np.repeat(np.asarray(key.drive_orders, np.float64), nd // max(len(key.drive_orders), 1))

        def at(t):
            if d is None:
                return c, None
            return c, d * jnp.exp(-1j * orders * system.omega * t)

        return at
    zeros = jnp.zeros((nd,), jnp.complex128)

    def at_callable(t):
        val = jnp.asarray(system.drive_fn(t), jnp.complex128)
        if system.drive_fn_kind == "single":
            return static_coefficients(system, f, h_single=system.h + val), zeros
        base = system.static_many_body if system.static_many_body is not None else 0.0
        return static_coefficients(system, f, many=base + val), zeros

    return at_callable
