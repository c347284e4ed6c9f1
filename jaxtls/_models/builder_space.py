"""`jaxtls.Space`: the Hilbert space of a user-built model (fermionic levels and bosonic modes).

The space is the tensor product ``F_0 (x) ... (x) F_{M-1} (x) B_0 (x) ... (x) B_{K-1}`` of ``M``
fermionic levels (Jordan-Wigner signs over the levels in the order given, as in
`jaxtls.fermion_annihilators`, paper Sec. II) and ``K`` bosonic modes truncated at ``n_max``
quanta each (``n_max + 1`` Fock states). Dimension ``2^M prod_k (n_max_k + 1)``; the first
factor is the most significant index of the basis. Operators are SciPy CSR matrices (complex).

The space also recognises the operators a model is built from: number operators of its levels and
modes (for the bare energies of `occupations="bare"`) and lowering operators (a mode's ``a`` or a
transition ``c_i^+ c_j`` between two levels) that a bath may act with (Eq. 17 generalised).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._engine.checks import ParameterError
from .._engine.operators import boson_annihilator, fermion_annihilators, identity, tensor
from .._engine.structure import as_csr

__all__ = ["Space", "dag", "operator", "proportional"]


def dag(op):
    """Hermitian conjugate ``O^+`` of a constant operator (SciPy sparse, NumPy or QuTiP ``Qobj``)."""
    if hasattr(op, "dag") and not sp.issparse(op) and not isinstance(op, np.ndarray):
        return op.dag()
    return op.conj().T


def operator(op, dim: int, what: str) -> sp.csr_matrix:
    """A constant operator as complex CSR of shape ``(dim, dim)``; `ParameterError` naming `what`."""
    try:
        m = as_csr(op)
    except Exception as err:
        raise ParameterError(f"{what} must be a square matrix (SciPy sparse, NumPy or QuTiP Qobj)") from err
    if m.shape != (dim, dim):
        raise ParameterError(f"{what} has shape {m.shape}, expected ({dim}, {dim}) (the dimension of the space)")
    m.eliminate_zeros()
    return m


def proportional(op: sp.csr_matrix, ref: sp.csr_matrix, rtol: float = 1e-12):
    """The complex factor ``alpha`` with ``op = alpha ref`` (within `rtol` of ``|op|``), else `None`."""
    nref = sp.linalg.norm(ref)
    nop = sp.linalg.norm(op)
    if nref == 0 or nop == 0:
        return None
    alpha = complex((ref.conj().multiply(op)).sum()) / nref**2
    if sp.linalg.norm(op - alpha * ref) > rtol * nop:
        return None
    return alpha


class Space:
    """Fermionic levels and bosonic modes of a user-built model (module docstring).

    **Arguments:**

    - `fermions`: names of the fermionic levels (Jordan-Wigner order), e.g. ``["u", "l"]``.
    - `bosons`: ``{name: n_max}`` of the bosonic modes (``n_max >= 1`` quanta kept each).

    `annihilators()` returns ``c_0, ..., c_{M-1}, a_0, ..., a_{K-1}`` on the full space.
    """

    def __init__(self, fermions=(), bosons=None):
        if isinstance(fermions, str):
            raise ParameterError(f"fermions must be a list of level names, got the string {fermions!r}")
        self.fermions = tuple(str(f) for f in fermions)
        bosons = {} if bosons is None else dict(bosons)
        for name, n in bosons.items():
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ParameterError(f"bosons[{name!r}] (the cutoff n_max of mode {name!r}) must be an integer >= 1")
        self.bosons = {str(k): int(v) for k, v in bosons.items()}
        names = self.fermions + tuple(self.bosons)
        if not names:
            raise ParameterError("a Space needs at least one fermionic level or bosonic mode (fermions=, bosons=)")
        if len(set(names)) != len(names):
            raise ParameterError(f"fermions and bosons must have distinct names, got {names}")
        self.names = names
        factors = ([identity(2 ** len(self.fermions), sparse=True)] if self.fermions else []) + [
            identity(n + 1, sparse=True) for n in self.bosons.values()
        ]
        ops = []
        if self.fermions:
            for c in fermion_annihilators(len(self.fermions), sparse=True):
                ops.append(tensor(c, *factors[1:], sparse=True) if len(factors) > 1 else sp.csr_matrix(c))
        off = 1 if self.fermions else 0
        for k, n in enumerate(self.bosons.values()):
            fs = list(factors)
            fs[off + k] = boson_annihilator(n, sparse=True)
            ops.append(tensor(*fs, sparse=True) if len(fs) > 1 else sp.csr_matrix(fs[0]))
        self._ops = tuple(sp.csr_matrix(o, dtype=complex) for o in ops)
        self.dim = self._ops[0].shape[0]

    def __repr__(self) -> str:
        return f"Space(fermions={list(self.fermions)}, bosons={self.bosons})"

    def annihilators(self) -> tuple:
        """``(c_0, ..., c_{M-1}, a_0, ..., a_{K-1})``: complex CSR ``d x d`` matrices."""
        return self._ops

    def index(self, name, what: str = "level") -> int:
        """Position of a level or mode given by name (or index) in `names`."""
        if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
            if 0 <= int(name) < len(self.names):
                return int(name)
        elif isinstance(name, str) and name in self.names:
            return self.names.index(name)
        raise ParameterError(f"{what} must name a level or mode of the space {list(self.names)}, got {name!r}")

    def is_fermion(self, k: int) -> bool:
        return k < len(self.fermions)

    def number(self, k: int) -> sp.csr_matrix:
        """Number operator ``c_k^+ c_k`` (or ``a^+ a``) of level / mode ``k``."""
        return (self._ops[k].conj().T @ self._ops[k]).tocsr()

    def fock_top(self, k: int) -> sp.csr_matrix:
        """Projector on the highest kept Fock state of mode ``k`` (its truncation check)."""
        n = self.bosons[self.names[k]]
        num = self.number(k).diagonal().real
        return sp.diags((np.abs(num - n) < 0.5).astype(complex)).tocsr()

    def lowering(self, op: sp.csr_matrix):
        """Classify a bath operator: ``("mode", k, alpha)`` for ``alpha a_k``, ``("transition", i,
        j, alpha)`` for ``alpha c_i^+ c_j`` (i != j), else `None`."""
        for k in range(len(self.fermions), len(self.names)):
            alpha = proportional(op, self._ops[k])
            if alpha is not None:
                return ("mode", k, alpha)
        m = len(self.fermions)
        for i in range(m):
            for j in range(m):
                if i != j:
                    alpha = proportional(op, (self._ops[i].conj().T @ self._ops[j]).tocsr())
                    if alpha is not None:
                        return ("transition", i, j, alpha)
        return None
