"""Dense full-space reference for periodic steady states (tests, benchmarks, small systems).

`DenseFloquetReference` is the Floquet-Liouville harmonic expansion on the *full* Liouville
space: the ``d^2 x d^2`` superoperators ``L_k = -i[H_k, .]`` of the many-body Hamiltonian
harmonics ``H_k`` of `FermionicSystem.hamiltonian_harmonics` (``k != 0``) and
``L_0 = -i[H_0, .] + sum_a L_a`` with the dense lead dissipators of Eq. (8), built by Kronecker
products (`jaxtls._engine.superoperator`, row-major vectorisation) independently of the sector
machinery; the flows (C1, C2, Eq. 6) are traces in the full space. It is what jaxtls computed
for every `FermionicSystem` before the sector engine (cost ``O(n_harm d^6)``), kept as the
reference the sector methods are tested and benchmarked against. Nothing else builds a
``d^2 x d^2`` matrix of a `FermionicSystem`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._engine.blocklu import floquet_solve
from .._engine.eigen import min_eigenvalue
from .._engine.superoperator import dissipator, hamiltonian_superop
from .fock import fock_operators
from .periodic_result import AbstractPeriodicMethod, PeriodicDiagnostics, finish, harmonics_kept

__all__ = ["DenseFloquetReference", "dense_lead_superoperators", "dense_liouvillian", "dense_liouvillian_harmonics"]

_HP = jax.lax.Precision.HIGHEST


def dense_lead_superoperators(system, f):
    """``L_a`` of Eq. (8) for every lead, ``(n_leads, d^2, d^2)``, for occupations ``f``."""
    c = fock_operators(system.num_levels)["c"]
    idx = [lead.level for lead in system.leads]
    dp = jnp.stack([dissipator(jnp.asarray(c[i].T, jnp.complex128)) for i in idx])
    dm = jnp.stack([dissipator(jnp.asarray(c[i], jnp.complex128)) for i in idx])
    g = system.lead_array("gamma")[:, None, None]
    f = jnp.asarray(f)[:, None, None]
    return g * f * dp + g * (1.0 - f) * dm


def dense_liouvillian(system, t, f):
    """``L(t) = -i[H_S(t), .] + sum_a L_a`` (``d^2 x d^2``, complex), occupations ``f``."""
    return hamiltonian_superop(system.hamiltonian(t)) + jnp.sum(dense_lead_superoperators(system, f), axis=0)


def dense_liouvillian_harmonics(system, f):
    """Fourier components ``L_k`` (``k = -K..K``) of ``L(t)``, ``(2K+1, d^2, d^2)``."""
    lk = jax.vmap(hamiltonian_superop)(system.hamiltonian_harmonics())
    return lk.at[system.max_harmonic].add(jnp.sum(dense_lead_superoperators(system, f), axis=0))


class DenseFloquetReference(AbstractPeriodicMethod):
    """Floquet harmonics ``|n| <= n_harm`` on the full Liouville space (module docstring); a
    reference (tests, benchmarks), ``O(n_harm d^6)``.

    **Arguments:** `n_harm`: highest harmonic kept (default as `jaxtls.FloquetHarmonics`).
    """

    n_harm: int | None = eqx.field(static=True, default=None)

    def solve(self, system, f):
        n_harm = harmonics_kept(system, self.n_harm)
        ops = fock_operators(system.num_levels)
        d = ops["dim"]
        dd = d * d
        kmax = system.max_harmonic
        lk = dense_liouvillian_harmonics(system, f)
        omega = system.omega if kmax > 0 else jnp.zeros((), jnp.float64)
        x, residual, min_pivot = floquet_solve(lk, omega, n_harm, kmax, ops["trace"], 0)
        rho_h = x.reshape(-1, d, d)
        rho_av = rho_h[n_harm]
        rho0 = jnp.sum(rho_h, axis=0)
        tail = jnp.maximum(jnp.linalg.norm(rho_h[0]), jnp.linalg.norm(rho_h[-1])) if n_harm > 0 else jnp.zeros(())
        hk = system.hamiltonian_harmonics()  # (2K+1, d, d), k = -K..K
        ks = np.arange(-kmax, kmax + 1)
        rho_mk = rho_h[n_harm - ks].reshape(-1, dd)  # rho_{-k}
        la = dense_lead_superoperators(system, f).astype(jnp.complex128)
        lrho = jnp.einsum("aij,kj->aki", la, rho_mk, precision=_HP)
        hkt = jnp.swapaxes(hk, -1, -2).reshape(-1, dd)  # vec(H_k^T): Tr{H_k X} = vec(H_k^T) . vec(X)
        u_dot = jnp.real(jnp.einsum("kj,akj->a", hkt, lrho, precision=_HP))
        nops = jnp.asarray(ops["n"][[lead.level for lead in system.leads]], jnp.complex128)
        nrow = jnp.einsum("aj,aji->ai", jnp.swapaxes(nops, -1, -2).reshape(-1, dd), la, precision=_HP)
        n_dot = jnp.real(jnp.einsum("ai,i->a", nrow, rho_av.reshape(-1), precision=_HP))
        power = jnp.real(jnp.sum(-1j * ks * omega * jnp.einsum("kj,kj->k", hkt, rho_mk, precision=_HP)))
        pops = jnp.real(jnp.einsum("iab,ba->i", jnp.asarray(ops["n"]), rho_av))
        diag = PeriodicDiagnostics(
            residual=residual,
            trace_error=jnp.abs(jnp.trace(rho_av) - 1.0),
            min_eigenvalue=min_eigenvalue(rho_av, rho0),
            harmonic_tail=tail,
            periodicity_error=jnp.zeros((), jnp.float64),
            integration_error=jnp.zeros((), jnp.float64),
            min_pivot=min_pivot,
            ok=jnp.asarray(True),
        )
        return finish(system, f, u_dot, n_dot, power, pops, rho0, rho_av, rho_h, diag, "dense_reference")
