"""Operators on the Fock space of fermionic modes and truncated bosonic modes.

Conventions (used everywhere in jaxtls):

- A fermionic mode has basis ``|0>, |1>`` (occupation number). ``M`` modes form the
  ``2**M`` dimensional Fock space ``|n_0 n_1 ... n_{M-1}>`` with mode 0 the most significant
  (leftmost) tensor factor.
- Jordan-Wigner: ``c_j = Z^{(0)} ... Z^{(j-1)} sigma_-^{(j)}`` with ``Z = diag(1, -1)``
  (``(-1)^n``) and ``sigma_- = |0><1|``. Hence ``c_j^+ |..., 0_j, ...> = (-1)^{sum_{i<j} n_i}
  |..., 1_j, ...>`` and the canonical anticommutation relations hold.
- A bosonic mode truncated at ``n_max`` photons has basis ``|0>, ..., |n_max>`` and
  ``a |n> = sqrt(n) |n-1>``.
- Composite systems are tensor products in the order the factors are given (fermions first,
  then bosons, in every model of jaxtls).

The constructors here return NumPy arrays (or SciPy sparse matrices with ``sparse=True``):
operators are *structure*, fixed before any JAX tracing, and the engine turns them into JAX
superoperator bases once per model shape (see `jaxtls._engine.sector`).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = [
    "fermion_annihilators",
    "boson_annihilator",
    "tensor",
    "identity",
    "number",
    "dag",
]

_SIGMA_MINUS = np.array([[0.0, 1.0], [0.0, 0.0]])  # |0><1|
_Z = np.diag([1.0, -1.0])  # (-1)^n
_I2 = np.eye(2)


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def fermion_annihilators(num_modes: int, *, sparse: bool = False):
    """Annihilation operators ``c_0, ..., c_{M-1}`` of ``M`` fermionic modes.

    **Arguments:**

    - `num_modes`: number of modes ``M >= 1``.
    - `sparse`: return `scipy.sparse.csr_matrix` instead of dense `numpy.ndarray`.

    **Returns:** a tuple of ``M`` real ``(2**M, 2**M)`` matrices with Jordan-Wigner signs
    (module docstring), so that ``{c_i, c_j^+} = delta_ij`` and ``{c_i, c_j} = 0``.
    """
    m = _check_int("num_modes", num_modes, 1)
    ops = []
    for j in range(m):
        factors = [_Z] * j + [_SIGMA_MINUS] + [_I2] * (m - j - 1)
        ops.append(tensor(*factors, sparse=sparse))
    return tuple(ops)


def boson_annihilator(n_max: int, *, sparse: bool = False):
    """Annihilation operator ``a`` of a bosonic mode truncated at ``n_max`` quanta.

    **Arguments:**

    - `n_max`: highest photon number kept (``n_max + 1`` Fock states), ``n_max >= 1``.

    **Returns:** the ``(n_max+1, n_max+1)`` matrix with ``a[n-1, n] = sqrt(n)``.
    """
    n = _check_int("n_max", n_max, 1)
    data = np.sqrt(np.arange(1, n + 1, dtype=float))
    a = sp.diags(data, offsets=1, shape=(n + 1, n + 1), format="csr")
    return a if sparse else a.toarray()


def identity(dim: int, *, sparse: bool = False):
    """Identity on a space of dimension `dim`."""
    d = _check_int("dim", dim, 1)
    return sp.identity(d, format="csr") if sparse else np.eye(d)


def tensor(*ops, sparse: bool = False):
    """Kronecker product ``ops[0] (x) ops[1] (x) ...`` (first factor most significant)."""
    if not ops:
        raise ValueError("tensor needs at least one operator")
    if sparse:
        out = sp.csr_matrix(ops[0])
        for op in ops[1:]:
            out = sp.kron(out, sp.csr_matrix(op), format="csr")
        return out
    out = np.asarray(_dense(ops[0]))
    for op in ops[1:]:
        out = np.kron(out, _dense(op))
    return out


def number(op):
    """Number operator ``op^+ op`` of an annihilation operator."""
    return dag(op) @ op


def dag(op):
    """Hermitian conjugate."""
    return op.conj().T


def _dense(op) -> np.ndarray:
    return op.toarray() if sp.issparse(op) else np.asarray(op)
