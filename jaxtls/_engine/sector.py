"""Symmetry sectors of a Lindbladian and their block-tridiagonal real representation.

A model is described once, before any tracing, by a `LindbladStructure`
(`jaxtls._engine.structure`): constant Hermitian Hamiltonian terms ``H_k``, jump operators
``s_j``, optional drive harmonics ``(q, D_q)`` and Hermitian observables ``O_m``. The static
Lindbladian is linear in the coefficient vector ``c = (h, r)``: ``L(c) = sum_t c_t S_t``.

`Sector.build` finds, from the sparsity pattern of all operators only (no model knowledge; the
drive operators ``D_q`` and ``D_q^+`` included, so a drive may enlarge the sector), the set of
density-matrix elements connected to the populations: the union of the connected components of
the (undirected) graph of ``L`` that contain a diagonal element. ``L`` is block diagonal over
components, and a unique steady state has non-zero trace, so it lives in that union. For a model
with a weak U(1) symmetry (e.g. the Jaynes-Cummings cavity, conserved ``Q = n_u + a^+ a`` and
``N``) this is the sector of equal charges on both sides, about ``6 (n_max + 1)`` elements
instead of ``16 (n_max + 1)^2``; for number-conserving fermions with local leads it is the
sector of equal particle numbers on both sides (20 of 64 elements for three levels).

Two representations are built:

- *Real, block tridiagonal* (`SectorOperators`, for the static steady-state solvers of
  `jaxtls._engine.steady`): within the sector the state is Hermitian, so it is stored as real
  unknowns ``rho_ii`` and ``(Re rho_ij, Im rho_ij)`` for ``i < j``, grouped in *levels* -- the
  value of a declared diagonal charge (e.g. ``Q``) or, without one, the breadth-first distance
  from the first population -- so that ``L`` only couples a level to itself and its two
  neighbours: ``K`` levels of (padded) size ``m``; padded unknowns get the equation ``x = 0``.
- *Complex, element space* (`element_terms`, `drive_terms`, for the Floquet harmonics and the
  one-period propagator of `jaxtls._engine.harmonic`, whose states ``rho_n`` are not Hermitian):
  one complex unknown per sector element, in key order.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import numpy as np
import scipy.sparse as sp
from jaxtyping import Array, Float

from .sector_graph import Term, bfs, element_matrix
from .structure import LindbladStructure, as_csr

__all__ = ["LindbladStructure", "Sector", "SectorOperators"]


class SectorOperators(eqx.Module):
    """JAX arrays of a `Sector`, passed as a pytree argument into jitted kernels.

    Shapes: ``T`` terms, ``K`` levels, ``m`` unknowns per level, ``n_O`` observables,
    ``n_J`` jumps, ``d`` Hilbert dimension.
    """

    blocks: Float[Array, "T K 3 m m"]  # [.., 0] couples level k-1 into k, 1: k, 2: k+1
    pad: Float[Array, "K m m"]
    trace: Float[Array, "K m"]
    expect: Float[Array, "nO K m"]
    flow: Float[Array, "nO nJ K m"]
    diag_index: Array  # (d,) flat index of rho_ii (or the zero slot K*m)
    group_index: Array  # (G, g, g, 2) flat indices of (Re, Im) parts of group entries
    group_coef: Array  # (G, g, g, 2) coefficients of those parts
    nz_basis: Float[Array, "T E"]  # the structurally non-zero entries of `blocks` (flattened)
    nz_gather: Array  # (K*3*m*m,) position of each flat entry in nz_basis, or E (a zero)
    norm_row: int = eqx.field(static=True)  # slot of level 0 replaced by the trace row


def _levels(structure: LindbladStructure, terms, keys, d: int, levels: str) -> np.ndarray:
    """Level of every sector element (module docstring)."""
    rows, cols = np.divmod(keys, d)
    if levels == "auto":
        levels = "charge" if structure.charge is not None else "bfs"
    if levels == "charge":
        if structure.charge is None:
            raise ValueError("levels='charge' needs a structure with a charge")
        q = np.asarray(structure.charge)
        if not np.allclose(q[rows], q[cols]):
            raise ValueError("the declared charge is not conserved on the sector")
        _, lev = np.unique(np.round(q[rows], 9), return_inverse=True)
    elif levels == "bfs":
        seed = np.array([keys[rows == cols][0]])
        k2, l2 = bfs(terms, d, seed)
        lev = l2 if k2.size == keys.size else np.zeros(keys.size, dtype=np.int64)  # several components
    else:
        lev = np.zeros(keys.size, dtype=np.int64)
    return np.asarray(lev, dtype=np.int64).reshape(-1)


def _unknowns(keys, lev, d: int):
    """Real unknowns per level (populations first, so slot 0 of level 0 is a population)."""
    rows, cols = np.divmod(keys, d)
    num_levels = int(lev.max()) + 1
    per_level: list[list[tuple]] = [[] for _ in range(num_levels)]
    for i, j, lv in zip(rows, cols, lev, strict=True):
        if i == j:
            per_level[lv].append(("d", int(i), int(j)))
        elif i < j:
            per_level[lv].append(("re", int(i), int(j)))
            per_level[lv].append(("im", int(i), int(j)))
    m = max(len(u) for u in per_level)
    unknowns: list = [None] * (num_levels * m)
    slot_of: dict = {}
    for lv, us in enumerate(per_level):
        us.sort(key=lambda u: (u[0] != "d", u[1], u[2], u[0]))
        for s, u in enumerate(us):
            unknowns[lv * m + s] = u
            slot_of[u] = lv * m + s
    return num_levels, m, unknowns, slot_of


def _real_maps(keys, unknowns, slot_of, d: int):
    """``tmat`` (elements <- real unknowns, complex) and ``proj`` (real unknowns <- elements:
    each real unknown reads Re or Im of its element)."""
    rows, cols = np.divmod(keys, d)
    n = len(unknowns)
    t_rows, t_cols, t_vals = [], [], []
    for e, (i, j) in enumerate(zip(rows, cols, strict=True)):
        if i == j:
            cs = ((slot_of[("d", i, j)], 1.0),)
        elif i < j:
            cs = ((slot_of[("re", i, j)], 1.0), (slot_of[("im", i, j)], 1j))
        else:
            cs = ((slot_of[("re", j, i)], 1.0), (slot_of[("im", j, i)], -1j))
        for f, c in cs:
            t_rows.append(e)
            t_cols.append(f)
            t_vals.append(c)
    tmat = sp.csr_matrix((t_vals, (t_rows, t_cols)), shape=(keys.size, n))
    key_index = {int(k): idx for idx, k in enumerate(keys)}
    o_rows, o_cols, o_vals = [], [], []
    for f, u in enumerate(unknowns):
        if u is None:
            continue
        kind, i, j = u
        o_rows.append(f)
        o_cols.append(key_index[i * d + j])
        o_vals.append(1.0 if kind != "im" else -1j)  # Im z = Re(-i z)
    proj = sp.csr_matrix((o_vals, (o_rows, o_cols)), shape=(n, keys.size))
    return tmat, proj


def _groups(keys, d: int):
    """Positivity groups: connected components of Hilbert states linked by coherences (the
    density matrix is block diagonal over them; its eigenvalues are those of the blocks)."""
    rows, cols = np.divmod(keys, d)
    parent = list(range(d))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in zip(rows, cols, strict=True):
        if i != j:
            ri, rj = find(int(i)), find(int(j))
            if ri != rj:
                parent[ri] = rj
    comps: dict = {}
    for i in range(d):
        comps.setdefault(find(i), []).append(i)
    return list(comps.values())


def _group_slots(groups, slot_of, n: int):
    """Real-unknown slots of the positivity groups, padded to the largest group: off-diagonal
    padding reads an appended zero (slot ``n``), diagonal padding repeats the group's first
    population, which keeps the smallest eigenvalue (a diagonal entry of a Hermitian matrix is
    never below its smallest eigenvalue)."""
    g = max(len(c) for c in groups)
    gidx = np.full((len(groups), g, g, 2), n, dtype=np.int64)  # n: an appended zero
    gcoef = np.zeros((len(groups), g, g, 2))
    for gi, states in enumerate(groups):
        for a in range(len(states), g):
            gidx[gi, a, a, 0] = slot_of[("d", states[0], states[0])]
            gcoef[gi, a, a, 0] = 1.0
        for a, i in enumerate(states):
            for b, j in enumerate(states):
                if i == j:
                    gidx[gi, a, b, 0] = slot_of[("d", i, i)]
                    gcoef[gi, a, b, 0] = 1.0
                elif i < j and ("re", i, j) in slot_of:
                    gidx[gi, a, b] = (slot_of[("re", i, j)], slot_of[("im", i, j)])
                    gcoef[gi, a, b] = (1.0, 1.0)
                elif j < i and ("re", j, i) in slot_of:
                    gidx[gi, a, b] = (slot_of[("re", j, i)], slot_of[("im", j, i)])
                    gcoef[gi, a, b] = (1.0, -1.0)
    return gidx, gcoef


def _blocks(real_terms, num_levels: int, m: int) -> np.ndarray:
    blocks = np.zeros((len(real_terms), num_levels, 3, m, m))
    for ti, rt in enumerate(real_terms):
        coo = rt.tocoo()
        lo, so = np.divmod(coo.row, m)
        li, si = np.divmod(coo.col, m)
        rel = li - lo + 1
        if np.any((rel < 0) | (rel > 2)):
            raise ValueError("levels are not block tridiagonal")
        np.add.at(blocks[ti], (lo, rel, so, si), coo.data)
    return blocks


def _expect_rows(ops, unknowns) -> np.ndarray:
    """``Tr{O rho}`` of Hermitian operators as real functionals of the real unknowns."""
    expect = np.zeros((len(ops), len(unknowns)))
    for oi, obs in enumerate(ops):
        o = as_csr(obs)
        for f, u in enumerate(unknowns):
            if u is None:
                continue
            kind, i, j = u
            if kind == "d":
                expect[oi, f] = o[i, i].real
            elif kind == "re":
                expect[oi, f] = 2.0 * o[j, i].real
            else:
                expect[oi, f] = -2.0 * o[j, i].imag
    return expect


@dataclasses.dataclass(frozen=True, eq=False)
class Sector:
    """The steady-state sector of a `LindbladStructure` (see module docstring).

    Besides the real block-tridiagonal `ops`, it holds the complex element-space matrices
    `element_terms` (one per static term, ``(E, E)``, key order) and `drive_terms` (per drive
    harmonic ``(q, D)`` the pair ``(-i[D, .], -i[D^+, .])``) and the positivity `groups`.
    """

    structure: LindbladStructure
    keys: np.ndarray  # sorted element keys i*d + j in the sector
    level_of_key: np.ndarray
    num_levels: int
    block_size: int
    unknowns: tuple  # per flat slot: ("d", i, i) / ("re", i, j) / ("im", i, j) / None
    real_terms: tuple  # per static term: scipy sparse real matrix (n, n), flat = level*m + slot
    ops: SectorOperators
    element_terms: tuple = ()  # per static term: scipy sparse complex (E, E)
    drive_terms: tuple = ()  # per drive harmonic: (A, B) scipy sparse complex (E, E)
    groups: tuple = ()  # positivity groups of Hilbert states
    element_of_real: sp.csr_matrix | None = None  # (E, K m) complex: elements from real unknowns

    @property
    def size(self) -> int:
        """Number of real unknowns (without padding) = number of sector elements."""
        return sum(u is not None for u in self.unknowns)

    @property
    def num_elements(self) -> int:
        return int(self.keys.size)

    @property
    def dim(self) -> int:
        return self.structure.dim

    @classmethod
    def build(cls, structure: LindbladStructure, *, levels: str = "auto") -> Sector:
        """Find the sector and assemble its block-tridiagonal real basis and element-space terms.

        **Arguments:** `structure`; `levels` one of ``"auto"`` (the declared charge if any,
        else breadth-first distance), ``"charge"``, ``"bfs"`` or ``"single"`` (one dense level).
        """
        if levels not in ("auto", "charge", "bfs", "single"):
            raise ValueError(f"levels must be 'auto', 'charge', 'bfs' or 'single', got {levels!r}")
        d = structure.dim
        static = [Term("ham", h) for h in structure.hamiltonian] + [Term("jump", s) for s in structure.jumps]
        drive = [(Term("ham", op), Term("ham", as_csr(op).conj().T)) for _, op in structure.drive]
        terms = static + [t for pair in drive for t in pair]
        keys, _ = bfs(terms, d, np.arange(d, dtype=np.int64) * (d + 1))
        rows, cols = np.divmod(keys, d)
        if not np.all(np.isin(cols * d + rows, keys)):  # Hermiticity
            raise ValueError("sector is not closed under Hermitian conjugation")
        lev = _levels(structure, terms, keys, d, levels)
        num_levels, m, unknowns, slot_of = _unknowns(keys, lev, d)
        n = num_levels * m
        tmat, proj = _real_maps(keys, unknowns, slot_of, d)
        element_terms = tuple(element_matrix(t, keys, d) for t in static)
        drive_terms = tuple((element_matrix(a, keys, d), element_matrix(b, keys, d)) for a, b in drive)
        real_terms = []
        for smat in element_terms:
            # Re of the projected image: exact for Hermiticity-preserving maps (Hermitian H_k)
            real = (proj @ smat @ tmat).tocoo()
            real_terms.append(sp.csr_matrix((real.data.real, (real.row, real.col)), shape=(n, n)))
        blocks = _blocks(real_terms, num_levels, m)
        pad = np.zeros((num_levels, m, m))
        trace = np.zeros((num_levels, m))
        for f, u in enumerate(unknowns):
            lv, s = divmod(f, m)
            if u is None:
                pad[lv, s, s] = 1.0
            elif u[0] == "d":
                trace[lv, s] = 1.0
        # expectations Tr{O rho} as real functionals, and flows Tr{O D_j rho}
        n_o, n_h, n_j = len(structure.observables), len(structure.hamiltonian), len(structure.jumps)
        expect = _expect_rows(structure.observables, unknowns)
        flow = np.zeros((n_o, n_j, n))
        for jj in range(n_j):
            flow[:, jj, :] = (real_terms[n_h + jj].T @ expect.T).T
        groups = _groups(keys, d)
        gidx, gcoef = _group_slots(groups, slot_of, n)
        diag_index = np.full(d, n, dtype=np.int64)
        for i in range(d):
            if ("d", i, i) in slot_of:
                diag_index[i] = slot_of[("d", i, i)]
        flat_blocks = blocks.reshape(blocks.shape[0], -1)
        nz = np.flatnonzero(np.any(flat_blocks != 0, axis=0))
        nz_gather = np.full(flat_blocks.shape[1], nz.size, dtype=np.int64)
        nz_gather[nz] = np.arange(nz.size)
        ops = SectorOperators(
            nz_basis=flat_blocks[:, nz],
            nz_gather=nz_gather,
            blocks=blocks,
            pad=pad,
            trace=trace,
            expect=expect.reshape(n_o, num_levels, m),
            flow=flow.reshape(n_o, n_j, num_levels, m),
            diag_index=diag_index,
            group_index=gidx,
            group_coef=gcoef,
            norm_row=0,
        )
        return cls(
            structure=structure,
            keys=keys,
            level_of_key=lev,
            num_levels=num_levels,
            block_size=m,
            unknowns=tuple(unknowns),
            real_terms=tuple(real_terms),
            ops=ops,
            element_terms=element_terms,
            drive_terms=drive_terms,
            groups=tuple(tuple(g) for g in groups),
            element_of_real=tmat,
        )

    def functional(self, op) -> np.ndarray:
        """``w`` (``(E,)``, complex) with ``Tr{op rho} = w . z`` for the element vector ``z`` of
        any ``rho`` in the sector (``op`` any constant operator): ``w[(i, j)] = op[j, i]``."""
        o = as_csr(op)
        rows, cols = np.divmod(self.keys, self.dim)
        return np.asarray(o[cols, rows]).reshape(-1).astype(complex)

    def to_density_matrix(self, x) -> np.ndarray:
        """Full ``d x d`` density matrix from the real unknowns ``x`` (shape ``(K, m)``)."""
        x = np.asarray(x).reshape(-1)
        d = self.dim
        rho = np.zeros((d, d), dtype=complex)
        for f, u in enumerate(self.unknowns):
            if u is None:
                continue
            kind, i, j = u
            if kind == "d":
                rho[i, i] = x[f]
            elif kind == "re":
                rho[i, j] += x[f]
                rho[j, i] += x[f]
            else:
                rho[i, j] += 1j * x[f]
                rho[j, i] -= 1j * x[f]
        return rho

    def dense_matrix(self, coeffs) -> np.ndarray:
        """The real sector Lindbladian ``sum_t c_t S_t`` as a dense NumPy matrix (reference)."""
        out = sum(float(c) * rt for c, rt in zip(np.asarray(coeffs), self.real_terms, strict=True))
        return out.toarray()
