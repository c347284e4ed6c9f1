"""Lindblad superoperators as matrices.

**Vectorisation convention.** A density matrix ``rho`` (``d x d``) is vectorised row-major,
``vec(rho)[i*d + j] = rho[i, j]`` (what ``rho.reshape(-1)`` does). Then

    vec(A rho B) = (A kron B^T) vec(rho),

so the commutator part is ``-i (H kron 1 - 1 kron H^T)`` and the dissipator (used throughout)

    D[s] rho = s rho s^+ - (s^+ s rho + rho s^+ s) / 2

is ``s kron s^* - (s^+ s kron 1)/2 - (1 kron (s^+ s)^T)/2``.

Functions taking JAX arrays (`hamiltonian_superop`, `dissipator`, `lindbladian`, ...) build
dense superoperators of the full Liouville space and are the *reference* path (small systems,
tests). The same maps are built sector-restricted and sparse by `jaxtls._engine.sector`, which is what
the fast solvers use; both are generated from the same `LindbladStructure`. `lindblad_rhs` and
`jump_flows` apply the master equation to a ``d x d`` matrix directly (matrix products, what
`jaxtls.evolve` integrates).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .operators import dag

__all__ = [
    "hamiltonian_superop",
    "dissipator",
    "lead_dissipator",
    "boson_bath",
    "lindbladian",
    "vec",
    "unvec",
    "lindblad_rhs",
    "jump_flows",
]


def vec(rho):
    """Row-major vectorisation ``rho[i, j] -> v[i*d + j]`` (module docstring)."""
    return rho.reshape(rho.shape[:-2] + (-1,))


def unvec(v):
    """Inverse of `vec`."""
    d = int(round(np.sqrt(v.shape[-1])))
    if d * d != v.shape[-1]:
        raise ValueError(f"vector length {v.shape[-1]} is not a square")
    return v.reshape(v.shape[:-1] + (d, d))


def hamiltonian_superop(h):
    """``rho -> -i [H, rho]`` as a ``(d^2, d^2)`` matrix (row-major convention)."""
    h = jnp.asarray(h)
    eye = jnp.eye(h.shape[-1], dtype=h.dtype)
    return -1j * (jnp.kron(h, eye) - jnp.kron(eye, h.T))


def dissipator(s):
    """``rho -> s rho s^+ - {s^+ s, rho}/2`` as a ``(d^2, d^2)`` matrix."""
    s = jnp.asarray(s)
    eye = jnp.eye(s.shape[-1], dtype=s.dtype)
    sds = dag(s) @ s
    return jnp.kron(s, s.conj()) - 0.5 * jnp.kron(sds, eye) - 0.5 * jnp.kron(eye, sds.T)


def lead_dissipator(c, gamma, f):
    """Local fermionic lead, Eq. (8): ``gamma f D[c^+] + gamma (1 - f) D[c]``.

    **Arguments:** `c` the annihilation operator of the level the lead is attached to,
    `gamma` the tunnelling rate (energy units, hbar = 1), `f` the lead occupation.
    """
    return gamma * f * dissipator(dag(jnp.asarray(c))) + gamma * (1.0 - f) * dissipator(c)


def boson_bath(a, gamma, n):
    """Thermal bosonic bath, Eq. (17): ``gamma (n + 1) D[a] + gamma n D[a^+]``."""
    return gamma * (n + 1.0) * dissipator(a) + gamma * n * dissipator(dag(jnp.asarray(a)))


def lindbladian(h, jumps: Sequence[tuple]):
    """General builder: ``-i[H, .] + sum_j rate_j D[s_j]``.

    **Arguments:** `h` the Hamiltonian (``d x d``); `jumps` a sequence of ``(rate, s)`` pairs.
    Every model of jaxtls is an instance of this form (see `LindbladStructure`).
    """
    out = hamiltonian_superop(jnp.asarray(h, dtype=complex))
    for rate, s in jumps:
        out = out + rate * dissipator(jnp.asarray(s, dtype=complex))
    return out


def lindblad_rhs(h, rates, jumps, rho):
    """``-i[H, rho] + sum_j r_j D[s_j] rho`` with matrix products only (no superoperator):
    ``O(J d^3)`` instead of the ``O(d^4)`` of a dense ``d^2 x d^2`` Liouvillian.

    **Arguments:** `h` ``(d, d)``; `rates` ``(J,)``; `jumps` ``(J, d, d)`` the operators ``s_j``;
    `rho` ``(d, d)``.
    """
    hp = jax.lax.Precision.HIGHEST
    out = -1j * (jnp.matmul(h, rho, precision=hp) - jnp.matmul(rho, h, precision=hp))
    if jumps.shape[0] == 0:
        return out
    sd = jnp.conj(jnp.swapaxes(jumps, -1, -2))
    g = jnp.einsum("j,jab,jbc->ac", rates.astype(jumps.dtype), sd, jumps, precision=hp)
    sandwich = jnp.einsum("j,jab,bc,jcd->ad", rates.astype(jumps.dtype), jumps, rho, sd, precision=hp)
    return out + sandwich - 0.5 * (jnp.matmul(g, rho, precision=hp) + jnp.matmul(rho, g, precision=hp))


def jump_flows(op, jumps, rho):
    """``Tr{O D[s_j] rho}`` (unit rates) for every jump ``s_j`` (``(J, d, d)``), ``(J,)`` complex;
    `op` ``(d, d)`` or one per jump ``(J, d, d)``."""
    hp = jax.lax.Precision.HIGHEST
    sd = jnp.conj(jnp.swapaxes(jumps, -1, -2))
    d_rho = jnp.einsum("jab,bc,jcd->jad", jumps, rho, sd, precision=hp)
    sds = jnp.matmul(sd, jumps, precision=hp)
    d_rho = d_rho - 0.5 * (jnp.matmul(sds, rho, precision=hp) + jnp.matmul(rho, sds, precision=hp))
    op = jnp.broadcast_to(op, d_rho.shape)
    return jnp.einsum("jab,jba->j", op, d_rho, precision=hp)
