"""Constant Fock-space operators of ``M`` fermionic levels (Jordan-Wigner order of
`jaxtls.fermion_annihilators`: mode 0 the most significant tensor factor, ``d = 2**M``)."""

from __future__ import annotations

import functools

import numpy as np

from .._engine.checks import ParameterError
from .._engine.operators import dag, fermion_annihilators

__all__ = ["MAX_FOCK_LEVELS", "fock_operators", "check_fock_size"]

#: Largest number of levels for the Fock-space (Liouville) methods: ``4^M`` density-matrix
#: elements (the particle-number sector keeps ``C(2M, M)`` of them). Non-interacting systems of
#: any size use `jaxtls.correlation_steady_state`.
MAX_FOCK_LEVELS = 6


def check_fock_size(num_levels: int) -> None:
    if num_levels > MAX_FOCK_LEVELS:
        raise ParameterError(
            f"Fock-space methods support at most {MAX_FOCK_LEVELS} levels (4^M unknowns), got "
            f"M = {num_levels}; for non-interacting systems use jaxtls.correlation_steady_state"
        )


@functools.cache
def fock_operators(num_levels: int) -> dict:
    """Constant Fock-space operators of ``M`` levels (dense NumPy, cached).

    **Returns:** a dict with ``"c"`` (``M, d, d``) annihilators, ``"n"`` (``M, d, d``) number
    operators, ``"hop"`` (``M, M, d, d``) with ``hop[i, j] = c_i^+ c_j``, ``"trace"`` (``d^2``)
    the row ``vec(1)`` with ``trace . vec(rho) = Tr rho`` and ``"dim"`` ``d``.
    """
    check_fock_size(num_levels)
    cs = fermion_annihilators(num_levels)
    c = np.stack(cs)
    cd = np.stack([dag(x) for x in cs])
    hop = np.einsum("iab,jbc->ijac", cd, c)
    n = np.stack([hop[i, i] for i in range(num_levels)])
    d = c.shape[-1]
    return {"c": c, "n": n, "hop": hop, "trace": np.eye(d).reshape(-1), "dim": d}
