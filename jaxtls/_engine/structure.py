"""`LindbladStructure`: the constant operator content of a Lindblad model (the intermediate
representation every model compiles to).

A model is described once, before any tracing, by constant operators whose (possibly traced)
coefficients come later:

- Hermitian Hamiltonian terms ``H_k`` with real coefficients ``h_k``;
- jump operators ``s_j`` with rates ``r_j >= 0`` (dissipator ``sum_j r_j D[s_j]``,
  ``D[s] rho = s rho s^+ - {s^+ s, rho}/2``);
- optionally a periodic drive: Fourier harmonics ``(q, D_q)`` (``q >= 1``, ``D_q`` any constant
  operator, not necessarily Hermitian) with complex coefficients ``d_q``;
- Hermitian observables ``O_m`` whose expectations and flows ``Tr{O_m D[s_j] rho}`` are needed.

The Hamiltonian is

    H(t) = sum_k h_k H_k + sum_q (d_q D_q e^{-i q omega t} + h.c.),

so the Lindbladian is linear in the real coefficients ``(h, r)``, in ``Re d`` and ``Im d``, and,
for the Floquet harmonics ``(L_0 + i n omega) rho_n + ...``, in ``omega``. Units: hbar = 1
(coefficients in energy units).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

__all__ = ["LindbladStructure", "as_csr", "dense"]


def as_csr(op) -> sp.csr_matrix:
    """A constant operator (NumPy, SciPy sparse, or anything with ``.full()`` such as a QuTiP
    ``Qobj``) as a complex CSR matrix."""
    if hasattr(op, "full") and not sp.issparse(op) and not isinstance(op, np.ndarray):
        op = op.full()
    return sp.csr_matrix(op, dtype=complex)


def dense(op) -> np.ndarray:
    """A constant operator as a dense NumPy array."""
    return op.toarray() if sp.issparse(op) else np.asarray(op)


def _hermitian(name: str, op) -> None:
    h = as_csr(op)
    if abs(h - h.conj().T).max() > 1e-12 * max(1.0, abs(h).max()):
        raise ValueError(f"{name} is not Hermitian")


@dataclasses.dataclass(frozen=True, eq=False)
class LindbladStructure:
    """The constant operator content of a Lindblad model (module docstring).

    **Arguments:**

    - `hamiltonian`: Hermitian operators ``H_k``; ``H = sum_k h_k H_k`` with real ``h_k``.
    - `jumps`: jump operators ``s_j``; dissipator ``sum_j r_j D[s_j]``.
    - `observables`: Hermitian operators whose expectation values and flows are needed.
    - `charge`: optional diagonal (a 1-D array over the Hilbert basis) of a conserved charge;
      its value orders the sector into block-tridiagonal levels. Without it the breadth-first
      distance from the first population is used.
    - `drive`: optional periodic drive, a tuple of ``(q, D)`` pairs (integer harmonic order
      ``q >= 1``, constant operator ``D``); with complex coefficients ``d`` it adds
      ``d D e^{-i q omega t} + h.c.`` to the Hamiltonian. The sector is found from all operators,
      so a drive may enlarge it.

    Coefficients are ordered ``hamiltonian`` then ``jumps`` (real, `num_terms` of them); the drive
    coefficients (complex, `num_drive`) come separately.
    """

    hamiltonian: tuple
    jumps: tuple
    observables: tuple = ()
    charge: np.ndarray | None = None
    drive: tuple = ()

    def __post_init__(self):
        if not self.hamiltonian and not self.jumps:
            raise ValueError("a LindbladStructure needs at least one Hamiltonian term or jump operator")
        d = self.dim
        for k, h in enumerate(self.hamiltonian):
            _hermitian(f"hamiltonian term {k}", h)
        for k, o in enumerate(self.observables):
            _hermitian(f"observable {k}", o)
        for k, op in enumerate(tuple(self.hamiltonian) + tuple(self.jumps) + tuple(self.observables)):
            if as_csr(op).shape != (d, d):
                raise ValueError(f"operator {k} has shape {as_csr(op).shape}, expected ({d}, {d})")
        for k, item in enumerate(self.drive):
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ValueError(f"drive[{k}] must be a (q, operator) pair")
            q, op = item
            if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 1:
                raise ValueError(f"drive[{k}] harmonic order must be an integer >= 1, got {q!r}")
            if as_csr(op).shape != (d, d):
                raise ValueError(f"drive[{k}] operator has shape {as_csr(op).shape}, expected ({d}, {d})")

    @property
    def dim(self) -> int:
        return as_csr(self.hamiltonian[0] if self.hamiltonian else self.jumps[0]).shape[0]

    @property
    def num_terms(self) -> int:
        """Number of real coefficients ``(h, r)``."""
        return len(self.hamiltonian) + len(self.jumps)

    @property
    def num_drive(self) -> int:
        """Number of complex drive coefficients ``d``."""
        return len(self.drive)

    @property
    def drive_orders(self) -> tuple:
        return tuple(int(q) for q, _ in self.drive)

    @property
    def max_harmonic(self) -> int:
        """Highest drive harmonic ``K`` (0 without a drive)."""
        return max(self.drive_orders, default=0)

    def master_equation(self, coeffs) -> tuple:
        """The full-space ``(H, jumps)`` pair for coefficients ``coeffs`` (one point, ordered
        as ``hamiltonian`` then ``jumps``): ``H = sum_k h_k H_k`` (dense, complex) and
        ``jumps = ((r_j, s_j), ...)``, the input `jaxtls.evolve` takes for transients."""
        coeffs = jnp.asarray(coeffs)
        nh = len(self.hamiltonian)
        if coeffs.shape != (self.num_terms,):
            raise ValueError(f"coeffs must have shape ({self.num_terms},), got {coeffs.shape}")
        hs = jnp.asarray(np.stack([dense(h).astype(complex) for h in self.hamiltonian]))
        h = jnp.einsum("k,kij->ij", coeffs[:nh].astype(hs.dtype), hs)
        jumps = tuple((coeffs[nh + j], jnp.asarray(dense(s).astype(complex))) for j, s in enumerate(self.jumps))
        return h, jumps

    def full_liouvillian_basis(self) -> np.ndarray:
        """Dense complex superoperators ``S_t`` of the static terms on the full Liouville space
        (a reference for tests, NumPy, row-major vectorisation as in `jaxtls._engine.superoperator`)."""
        d = self.dim
        eye = np.eye(d)
        basis = []
        for h in self.hamiltonian:
            h = dense(h).astype(complex)
            basis.append(-1j * (np.kron(h, eye) - np.kron(eye, h.T)))
        for s in self.jumps:
            s = dense(s).astype(complex)
            sds = s.conj().T @ s
            basis.append(np.kron(s, s.conj()) - 0.5 * np.kron(sds, eye) - 0.5 * np.kron(eye, sds.T))
        return np.stack(basis)
