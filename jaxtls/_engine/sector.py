"""Symmetry sectors of a Lindbladian and their block-tridiagonal real representation.

A model is described once, before any tracing, by a `LindbladStructure`: constant Hermitian
Hamiltonian terms ``H_k`` (the Hamiltonian is ``sum_k h_k H_k`` with real, possibly traced,
coefficients ``h_k``), constant jump operators ``s_j`` (dissipator ``sum_j r_j D[s_j]`` with
rates ``r_j >= 0``) and constant Hermitian observables ``O_m`` whose expectations and
dissipated flows ``Tr{O_m D[s_j] rho}`` the model needs. The Lindbladian is therefore linear
in the coefficient vector ``c = (h, r)``: ``L(c) = sum_t c_t S_t``.

`Sector.build` finds, from the sparsity pattern of the ``S_t`` only (no model knowledge), the
set of density-matrix elements connected to the populations: the union of the connected
components of the (undirected) graph of ``L`` that contain a diagonal element. ``L`` is block
diagonal over components, and a unique steady state has non-zero trace, so it lives in that
union. For a model with a weak U(1) symmetry (e.g. the Jaynes-Cummings cavity, conserved
``Q = n_u + a^+ a`` and ``N``) this is the sector of equal charges on both sides, about
``6 (n_max + 1)`` elements instead of ``16 (n_max + 1)^2``.

Within the sector the state is Hermitian, so it is stored as *real* unknowns: ``rho_ii`` for
the populations and ``(Re rho_ij, Im rho_ij)`` for each coherence with ``i < j``. The unknowns
are grouped in *levels* -- the value of a declared diagonal charge (e.g. ``Q``) or, without one,
the breadth-first distance from the first population -- so that ``L`` only couples a level to
itself and its two neighbours: a block-tridiagonal matrix with ``K`` levels of (padded) size
``m``. Padded unknowns get the equation ``x = 0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp
from jaxtyping import Array, Float

__all__ = ["LindbladStructure", "Sector", "SectorOperators"]


@dataclasses.dataclass(frozen=True, eq=False)
class LindbladStructure:
    """The constant operator content of a Lindblad model.

    **Arguments:**

    - `hamiltonian`: Hermitian operators ``H_k``; ``H = sum_k h_k H_k`` with real ``h_k``.
    - `jumps`: jump operators ``s_j``; dissipator ``sum_j r_j D[s_j]``.
    - `observables`: Hermitian operators whose expectation values and flows are needed.
    - `charge`: optional diagonal (a 1-D array over the Hilbert basis) of a conserved charge;
      its value orders the sector into block-tridiagonal levels. Without it the breadth-first
      distance from the first population is used.
    - `names`: optional labels ``(hamiltonian names, jump names, observable names)``.
    """

    hamiltonian: tuple
    jumps: tuple
    observables: tuple = ()
    charge: np.ndarray | None = None

    def __post_init__(self):
        for k, h in enumerate(self.hamiltonian):
            h = _as_csr(h)
            if abs(h - h.conj().T).max() > 1e-12 * max(1.0, abs(h).max()):
                raise ValueError(f"hamiltonian term {k} is not Hermitian")
        for k, o in enumerate(self.observables):
            o = _as_csr(o)
            if abs(o - o.conj().T).max() > 1e-12 * max(1.0, abs(o).max()):
                raise ValueError(f"observable {k} is not Hermitian")

    @property
    def dim(self) -> int:
        return _as_csr(self.hamiltonian[0] if self.hamiltonian else self.jumps[0]).shape[0]

    @property
    def num_terms(self) -> int:
        return len(self.hamiltonian) + len(self.jumps)

    def master_equation(self, coeffs) -> tuple:
        """The full-space ``(H, jumps)`` pair for coefficients ``coeffs`` (one point, ordered
        as ``hamiltonian`` then ``jumps``): ``H = sum_k h_k H_k`` (dense, complex) and
        ``jumps = ((r_j, s_j), ...)``, the input `jaxtls.evolve` takes for transients."""
        coeffs = jnp.asarray(coeffs)
        nh = len(self.hamiltonian)
        if coeffs.shape != (self.num_terms,):
            raise ValueError(f"coeffs must have shape ({self.num_terms},), got {coeffs.shape}")
        hs = jnp.asarray(np.stack([_dense(h).astype(complex) for h in self.hamiltonian]))
        h = jnp.einsum("k,kij->ij", coeffs[:nh].astype(hs.dtype), hs)
        jumps = tuple((coeffs[nh + j], jnp.asarray(_dense(s).astype(complex))) for j, s in enumerate(self.jumps))
        return h, jumps

    def full_liouvillian_basis(self) -> np.ndarray:
        """Dense complex superoperators ``S_t`` on the full Liouville space (reference path,
        NumPy, row-major vectorisation as in `jaxtls._engine.superoperator`)."""
        d = self.dim
        eye = np.eye(d)
        basis = []
        for h in self.hamiltonian:
            h = _dense(h).astype(complex)
            basis.append(-1j * (np.kron(h, eye) - np.kron(eye, h.T)))
        for s in self.jumps:
            s = _dense(s).astype(complex)
            sds = s.conj().T @ s
            basis.append(np.kron(s, s.conj()) - 0.5 * np.kron(sds, eye) - 0.5 * np.kron(eye, sds.T))
        return np.stack(basis)


def _as_csr(op) -> sp.csr_matrix:
    return sp.csr_matrix(op, dtype=complex)


def _dense(op) -> np.ndarray:
    return op.toarray() if sp.issparse(op) else np.asarray(op)


def _expand(indptr: np.ndarray, cols: np.ndarray):
    """For each entry e of `cols`, all stored positions of column/row ``cols[e]``.

    Returns ``(e_rep, pos)``: entry index repeated, and positions into ``indices``/``data``.
    """
    counts = indptr[cols + 1] - indptr[cols]
    e_rep = np.repeat(np.arange(cols.size), counts)
    starts = np.repeat(indptr[cols], counts)
    offsets = np.arange(e_rep.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return e_rep, starts + offsets


class _Term:
    """One superoperator term as sparse entries generated from operator nonzeros."""

    def __init__(self, kind: str, op):
        self.kind = kind  # "ham" or "jump"
        op = _as_csr(op)
        self.op_csc = op.tocsc()  # column j -> rows i with op[i, j] != 0
        self.op_csr = op.tocsr()  # row i -> cols j with op[i, j] != 0
        one_sided = op if kind == "ham" else (op.conj().T @ op)
        self.one_csc = sp.csc_matrix(one_sided)
        self.one_csr = sp.csr_matrix(one_sided)
        self.one_csc.eliminate_zeros()
        self.one_csr.eliminate_zeros()
        self.op_csc.eliminate_zeros()
        self.op_csr.eliminate_zeros()

    def entries(self, rows: np.ndarray, cols: np.ndarray):
        """Entries ``(e, out_i, out_j, value)`` of the image of the elements ``|i><j|``.

        For a Hamiltonian term ``-i(H rho - rho H)``; for a jump term ``D[s]``.
        """
        out = []
        o = self.one_csc
        coef = -1j if self.kind == "ham" else -0.5
        # left multiplication: (O rho)_{i'j} = O[i', i] rho_ij
        e, pos = _expand(o.indptr, rows)
        out.append((e, o.indices[pos], cols[e], coef * o.data[pos]))
        # right multiplication: (rho O)_{ij'} = rho_ij O[j, j']
        r = self.one_csr
        e, pos = _expand(r.indptr, cols)
        rcoef = 1j if self.kind == "ham" else -0.5
        out.append((e, rows[e], r.indices[pos], rcoef * r.data[pos]))
        if self.kind == "jump":
            s = self.op_csc
            e1, p1 = _expand(s.indptr, rows)  # s[i', i]
            e2, p2 = _expand(s.indptr, cols[e1])  # s[j', j] for each (e, i')
            ee = e1[e2]
            out.append((ee, s.indices[p1][e2], s.indices[p2], s.data[p1][e2] * np.conj(s.data[p2])))
        return out

    def neighbours(self, rows: np.ndarray, cols: np.ndarray):
        """Keys reachable in one step of the undirected graph (both directions)."""
        res = [(i, j) for (_, i, j, _) in self.entries(rows, cols)]
        if self.kind == "jump":
            # transpose direction of the sandwich: (i', j') with s[i, i'] s[j, j'] != 0
            s = self.op_csr
            e1, p1 = _expand(s.indptr, rows)
            e2, p2 = _expand(s.indptr, cols[e1])
            res.append((s.indices[p1][e2], s.indices[p2]))
        return res


def _bfs(terms: Sequence[_Term], d: int, seeds: np.ndarray):
    """Breadth-first search over element keys ``i*d + j``; returns (keys, distance)."""
    dist = {int(k): 0 for k in seeds}
    frontier = np.unique(seeds)
    level = 0
    while frontier.size:
        level += 1
        rows, cols = np.divmod(frontier, d)
        cand = []
        for t in terms:
            for i, j in t.neighbours(rows, cols):
                cand.append(i.astype(np.int64) * d + j)
        cand = np.unique(np.concatenate(cand)) if cand else np.empty(0, np.int64)
        new = [int(k) for k in cand if int(k) not in dist]
        for k in new:
            dist[k] = level
        frontier = np.asarray(new, dtype=np.int64)
    keys = np.fromiter(dist.keys(), dtype=np.int64)
    levels = np.fromiter(dist.values(), dtype=np.int64)
    order = np.argsort(keys)
    return keys[order], levels[order]


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


@dataclasses.dataclass(frozen=True, eq=False)
class Sector:
    """The steady-state sector of a `LindbladStructure` (see module docstring)."""

    structure: LindbladStructure
    keys: np.ndarray  # sorted element keys i*d + j in the sector
    level_of_key: np.ndarray
    num_levels: int
    block_size: int
    unknowns: tuple  # per flat slot: ("d", i, i) / ("re", i, j) / ("im", i, j) / None
    real_terms: tuple  # per term: scipy sparse real matrix (n, n), flat = level*m + slot
    ops: SectorOperators

    @property
    def size(self) -> int:
        """Number of real unknowns (without padding)."""
        return sum(u is not None for u in self.unknowns)

    @property
    def dim(self) -> int:
        return self.structure.dim

    @classmethod
    def build(cls, structure: LindbladStructure, *, levels: str = "auto") -> Sector:
        """Find the sector and assemble its block-tridiagonal real basis.

        **Arguments:** `structure`; `levels` one of ``"auto"`` (the declared charge if any,
        else breadth-first distance), ``"charge"``, ``"bfs"`` or ``"single"`` (one dense level).
        """
        if levels not in ("auto", "charge", "bfs", "single"):
            raise ValueError(f"levels must be 'auto', 'charge', 'bfs' or 'single', got {levels!r}")
        d = structure.dim
        terms = [_Term("ham", h) for h in structure.hamiltonian]
        terms += [_Term("jump", s) for s in structure.jumps]
        diag = np.arange(d, dtype=np.int64) * (d + 1)
        keys, _ = _bfs(terms, d, diag)
        rows, cols = np.divmod(keys, d)
        # the sector must be closed under transposition (Hermiticity)
        tkeys = cols * d + rows
        if not np.all(np.isin(tkeys, keys)):
            raise ValueError("sector is not closed under Hermitian conjugation")

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
            sub_terms = terms
            k2, l2 = _bfs(sub_terms, d, seed)
            if k2.size != keys.size:  # several components: no single layering
                lev = np.zeros(keys.size, dtype=np.int64)
            else:
                lev = l2
        else:
            lev = np.zeros(keys.size, dtype=np.int64)
        lev = np.asarray(lev, dtype=np.int64).reshape(-1)

        # real unknowns per level
        num_levels = int(lev.max()) + 1
        per_level: list[list[tuple]] = [[] for _ in range(num_levels)]
        for i, j, lv in zip(rows, cols, lev, strict=True):
            if i == j:
                per_level[lv].append(("d", int(i), int(j)))
            elif i < j:
                per_level[lv].append(("re", int(i), int(j)))
                per_level[lv].append(("im", int(i), int(j)))
        m = max(len(u) for u in per_level)
        n = num_levels * m
        unknowns: list = [None] * n
        slot_of: dict = {}
        for lv, us in enumerate(per_level):
            # populations first so that slot 0 of level 0 is a population
            us.sort(key=lambda u: (u[0] != "d", u[1], u[2], u[0]))
            for s, u in enumerate(us):
                unknowns[lv * m + s] = u
                slot_of[u] = lv * m + s

        key_index = {int(k): idx for idx, k in enumerate(keys)}

        def in_coeffs():
            """For each sector element (by key order): list of (flat unknown, complex coef)."""
            res = []
            for i, j in zip(rows, cols, strict=True):
                if i == j:
                    res.append(((slot_of[("d", i, j)], 1.0),))
                elif i < j:
                    res.append(((slot_of[("re", i, j)], 1.0), (slot_of[("im", i, j)], 1j)))
                else:
                    res.append(((slot_of[("re", j, i)], 1.0), (slot_of[("im", j, i)], -1j)))
            return res

        incoef = in_coeffs()
        # complex element-to-real-unknown matrix T (n_elem -> n), and output projection
        t_rows, t_cols, t_vals = [], [], []
        for e, cs in enumerate(incoef):
            for f, c in cs:
                t_rows.append(e)
                t_cols.append(f)
                t_vals.append(c)
        n_elem = keys.size
        tmat = sp.csr_matrix((t_vals, (t_rows, t_cols)), shape=(n_elem, n))
        # output: real unknown f reads Re or Im of element e
        o_rows, o_cols, o_vals = [], [], []
        for f, u in enumerate(unknowns):
            if u is None:
                continue
            kind, i, j = u
            o_rows.append(f)
            o_cols.append(key_index[i * d + j])
            o_vals.append(1.0 if kind != "im" else -1j)  # Im z = Re(-i z)
        proj = sp.csr_matrix((o_vals, (o_rows, o_cols)), shape=(n, n_elem))

        real_terms = []
        for t in terms:
            ent = t.entries(rows, cols)
            r_list, c_list, v_list = [], [], []
            for e, oi, oj, val in ent:
                okey = oi.astype(np.int64) * d + oj
                pos = np.searchsorted(keys, okey)
                pos = np.minimum(pos, keys.size - 1)
                ok = keys[pos] == okey
                if not np.all(ok | (np.abs(val) == 0)):
                    raise ValueError("sector is not invariant under the Lindbladian")
                r_list.append(pos[ok])
                c_list.append(e[ok])
                v_list.append(val[ok])
            smat = sp.csr_matrix(
                (np.concatenate(v_list), (np.concatenate(r_list), np.concatenate(c_list))),
                shape=(n_elem, n_elem),
            )
            # Re of the projected image: exact for Hermiticity-preserving maps (Hermitian H_k)
            real = (proj @ smat @ tmat).tocoo()
            real_terms.append(sp.csr_matrix((real.data.real, (real.row, real.col)), shape=(n, n)))

        blocks = np.zeros((len(terms), num_levels, 3, m, m))
        for ti, rt in enumerate(real_terms):
            coo = rt.tocoo()
            lo, so = np.divmod(coo.row, m)
            li, si = np.divmod(coo.col, m)
            rel = li - lo + 1
            if np.any((rel < 0) | (rel > 2)):
                raise ValueError("levels are not block tridiagonal")
            np.add.at(blocks[ti], (lo, rel, so, si), coo.data)
        pad = np.zeros((num_levels, m, m))
        trace = np.zeros((num_levels, m))
        for f, u in enumerate(unknowns):
            lv, s = divmod(f, m)
            if u is None:
                pad[lv, s, s] = 1.0
            elif u[0] == "d":
                trace[lv, s] = 1.0

        # expectations Tr{O rho} as real functionals, and flows Tr{O D_j rho}
        n_o = len(structure.observables)
        expect = np.zeros((n_o, n))
        for oi, obs in enumerate(structure.observables):
            o = _as_csr(obs)
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
        n_h = len(structure.hamiltonian)
        n_j = len(structure.jumps)
        flow = np.zeros((n_o, n_j, n))
        for jj in range(n_j):
            rt = real_terms[n_h + jj]
            flow[:, jj, :] = (rt.T @ expect.T).T

        # positivity groups: connected components of Hilbert states linked by coherences
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
        groups = list(comps.values())
        g = max(len(c) for c in groups)
        zero = n  # index of an appended zero
        gidx = np.full((len(groups), g, g, 2), zero, dtype=np.int64)
        gcoef = np.zeros((len(groups), g, g, 2))
        for gi, states in enumerate(groups):
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
        diag_index = np.full(d, zero, dtype=np.int64)
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
        )

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
