"""Input checks of `jaxtls.FermionicSystem`: matrices of the right size, Hermitian, finite; the
density-density interaction as a symmetric real matrix with zero diagonal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.checks import ParameterError, check_parameters, is_concrete

__all__ = ["as_matrix", "check_hermitian", "interaction_matrix"]


def as_matrix(name: str, value, shape_options: Sequence[int]) -> Array:
    arr = jnp.asarray(value)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] not in shape_options:
        raise ParameterError(
            f"{name} must be a square matrix of size {' or '.join(str(s) for s in shape_options)}, "
            f"got shape {arr.shape}"
        )
    return arr.astype(jnp.complex128)


def check_hermitian(name: str, arr) -> None:
    if not is_concrete(arr):
        return
    a = np.asarray(arr)
    if not np.all(np.isfinite(a)):
        raise ParameterError(f"{name} must be finite")
    scale = max(1.0, float(np.max(np.abs(a))) if a.size else 1.0)
    if np.max(np.abs(a - a.conj().T), initial=0.0) > 1e-12 * scale:
        raise ParameterError(f"{name} must be Hermitian (a Hamiltonian term)")


def interaction_matrix(interaction, m: int) -> Array:
    if isinstance(interaction, Mapping):
        u = jnp.zeros((m, m), jnp.float64)
        for key, val in interaction.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ParameterError(f"interaction keys must be level pairs (i, j), got {key!r}")
            i, j = key
            if not all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in key):
                raise ParameterError(f"interaction keys must be integer level pairs, got {key!r}")
            if not (0 <= i < m and 0 <= j < m) or i == j:
                raise ParameterError(
                    f"interaction pair {key!r} must name two different levels in [0, {m - 1}] "
                    "(on-site energies belong in h)"
                )
            check_parameters({f"interaction[{key}]": val}, {f"interaction[{key}]": "real"})
            u = u.at[i, j].add(val).at[j, i].add(val)
        return u
    u = jnp.asarray(interaction)
    if u.shape != (m, m):
        raise ParameterError(f"interaction must be a dict {{(i, j): U}} or an {m} x {m} matrix, got shape {u.shape}")
    if jnp.iscomplexobj(u):
        raise ParameterError("interaction must be real")
    u = u.astype(jnp.float64)
    if is_concrete(u):
        a = np.asarray(u)
        if not np.all(np.isfinite(a)):
            raise ParameterError("interaction must be finite")
        if np.max(np.abs(a - a.T)) > 1e-12 * max(1.0, np.max(np.abs(a))):
            raise ParameterError("interaction matrix must be symmetric (U_ij = U_ji)")
        if np.any(np.diag(a) != 0):
            raise ParameterError("interaction matrix must have a zero diagonal (on-site energies belong in h)")
    return u
