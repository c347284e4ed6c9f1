"""Superoperator terms as sparse entries generated from operator non-zeros, and the graph search
that finds a sector (see `jaxtls._engine.sector`).

An element ``|i><j|`` of the density matrix is keyed ``i*d + j``. A Hamiltonian-kind term maps
it by ``-i(O rho - rho O)`` (any constant ``O``, Hermitian or not), a jump-kind term by the
dissipator ``D[s]``; `_Term.entries` lists the images of a set of elements without forming any
``d^2 x d^2`` matrix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .structure import as_csr

__all__ = ["Term", "bfs", "element_matrix"]


def _expand(indptr: np.ndarray, cols: np.ndarray):
    """For each entry e of `cols`, all stored positions of column/row ``cols[e]``.

    Returns ``(e_rep, pos)``: entry index repeated, and positions into ``indices``/``data``.
    """
    counts = indptr[cols + 1] - indptr[cols]
    e_rep = np.repeat(np.arange(cols.size), counts)
    starts = np.repeat(indptr[cols], counts)
    offsets = np.arange(e_rep.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return e_rep, starts + offsets


class Term:
    """One superoperator term: ``kind`` ``"ham"`` (``-i[O, .]``) or ``"jump"`` (``D[s]``)."""

    def __init__(self, kind: str, op):
        self.kind = kind
        op = as_csr(op)
        self.op_csc = op.tocsc()  # column j -> rows i with op[i, j] != 0
        self.op_csr = op.tocsr()  # row i -> cols j with op[i, j] != 0
        one_sided = op if kind == "ham" else (op.conj().T @ op)
        self.one_csc = sp.csc_matrix(one_sided)
        self.one_csr = sp.csr_matrix(one_sided)
        for m in (self.one_csc, self.one_csr, self.op_csc, self.op_csr):
            m.eliminate_zeros()

    def entries(self, rows: np.ndarray, cols: np.ndarray):
        """Entries ``(e, out_i, out_j, value)`` of the image of the elements ``|i><j|``.

        For a Hamiltonian term ``-i(O rho - rho O)``; for a jump term ``D[s]``.
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


def bfs(terms: Sequence[Term], d: int, seeds: np.ndarray):
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


def element_matrix(term: Term, keys: np.ndarray, d: int) -> sp.csr_matrix:
    """The complex matrix of `term` on the sector's elements (key order), ``(E, E)``; raises if
    the sector is not invariant under it."""
    rows, cols = np.divmod(keys, d)
    r_list, c_list, v_list = [], [], []
    for e, oi, oj, val in term.entries(rows, cols):
        okey = oi.astype(np.int64) * d + oj
        pos = np.minimum(np.searchsorted(keys, okey), keys.size - 1)
        ok = keys[pos] == okey
        if not np.all(ok | (np.abs(val) == 0)):
            raise ValueError("sector is not invariant under the Lindbladian")
        r_list.append(pos[ok])
        c_list.append(e[ok])
        v_list.append(val[ok])
    n = keys.size
    mat = sp.csr_matrix((np.concatenate(v_list), (np.concatenate(r_list), np.concatenate(c_list))), shape=(n, n))
    mat.sum_duplicates()
    mat.eliminate_zeros()
    return mat
