"""User-facing description of an arbitrary fermionic system under a periodic drive (Model E,
paper Appendix C).

A `FermionicSystem` holds

- ``M`` fermionic levels (Jordan-Wigner operators of `jaxtls.fermion_annihilators`; mode 0 the
  most significant tensor factor, Fock dimension ``d = 2**M``);
- a static single-particle Hamiltonian ``h`` (``M x M`` Hermitian):
  ``H_0 = sum_ij h_ij c_i^+ c_j``;
- optional density-density interactions ``H_int = sum_{i<j} U_ij n_i n_j`` (dict or matrix)
  and an optional static many-body term (a ``d x d`` Hermitian matrix);
- an optional periodic drive of angular frequency ``omega`` given either as Fourier components
  ``H(t) = sum_k H_k e^{-i k omega t}`` with ``H_{-k} = H_k^+`` (``{k: matrix}`` for ``k >= 1``,
  each an ``M x M`` single-particle matrix -- meaning ``sum_ij (H_k)_ij c_i^+ c_j`` -- or a
  ``d x d`` many-body operator), or as a callable ``t -> matrix`` (single-particle or
  many-body) returning the time-dependent part of the Hamiltonian;
- leads attached to single levels, `Lead(level, mu, T, gamma)`, each contributing the local
  dissipator of Eq. (8): ``L_a = gamma_a f_a D[c_a^+] + gamma_a (1 - f_a) D[c_a]``.

Units: hbar = k_B = 1; energies, rates, frequencies, chemical potentials and temperatures share
one unit. All parameters are JAX arrays (pytree leaves), so a system can be built inside
`jax.vmap` / `jax.jit` and the solvers (`jaxtls.periodic_steady_state`,
`jaxtls.self_consistent_steady_state`, `jaxtls.correlation_steady_state`, `jaxtls.evolve`)
are vectorised over any batch of systems. Structure (number of levels, which leads, which drive
harmonics) is static: the solvers compile it once to the engine's `LindbladStructure` (constant
operators, `jaxtls._models.system_structure`) and work on its sector (for number-conserving
systems the sector of equal particle numbers on both sides of ``rho``), with the parameters as
coefficients. The ``d x d`` matrices below (`hamiltonian`, `hamiltonian_harmonics`) serve
`jaxtls.evolve` and the dense reference; no ``d^2 x d^2`` superoperator is built here.

Examples:

```python
import jax.numpy as jnp
import jaxtls as jt

# Model A in the lab frame (RWA drive eps c_u^+ c_l e^{-i omega t} + h.c.)
sys = jt.FermionicSystem(
    h=jnp.diag(jnp.array([1.0, 0.0])),
    drive={1: jnp.array([[0.0, 0.05], [0.0, 0.0]])},
    omega=1.1,
    leads=[jt.Lead(0, mu=0.9, T=0.02, gamma=0.03, name="u"),
           jt.Lead(1, mu=0.1, T=0.02, gamma=0.05, name="l")],
)
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.checks import ParameterError, check_parameters, is_concrete
from .._engine.operators import dag
from .._engine.thermo import fermi
from .fock import MAX_FOCK_LEVELS, fock_operators
from .system_checks import as_matrix, check_hermitian, interaction_matrix
from .system_structure import fourier_components

__all__ = ["Lead", "FermionicSystem", "MAX_FOCK_LEVELS", "fock_operators"]


class Lead(eqx.Module):
    """A fermionic reservoir attached locally to one level (Eq. 8).

    **Arguments:**

    - `level`: index of the level (``0 <= level < M``) the lead exchanges particles with, or
      its name (a str) for a `jaxtls.System` built on a `jaxtls.Space`.
    - `mu`: chemical potential (energy units).
    - `T`: temperature ``k_B T`` (energy units, > 0).
    - `gamma`: tunnelling rate ``hbar gamma`` (energy units, > 0).
    - `name`: optional label used in reports (default ``str(level)``).
    - `energy`: optional energy used in the lead's Fermi function by ``occupations="bare"`` of a
      `jaxtls.System` (default: the on-site energy of the level).

    The occupation ``f`` the dissipator uses is not a field: the solvers compute it (bare
    ``fermi(h_aa, mu, T)``, user-given, or self-consistent).
    """

    level: int | str = eqx.field(static=True)
    mu: Array
    T: Array
    gamma: Array
    name: str = eqx.field(static=True)
    energy: Array | None = None

    def __init__(self, level: int | str, mu, T, gamma, name: str | None = None, energy=None):
        named = isinstance(level, str) and level != ""
        if not named and (isinstance(level, bool) or not isinstance(level, (int, np.integer)) or level < 0):
            raise ParameterError(f"Lead level must be a non-negative integer or a level name, got {level!r}")
        check_parameters({"mu": mu, "T": T, "gamma": gamma}, {"mu": "real", "T": "positive", "gamma": "positive"})
        if energy is not None:
            check_parameters({"energy": energy}, {"energy": "real"})
            energy = jnp.asarray(energy, dtype=jnp.float64)
        self.energy = energy
        self.level = level if named else int(level)
        self.mu = jnp.asarray(mu, dtype=jnp.float64)
        self.T = jnp.asarray(T, dtype=jnp.float64)
        self.gamma = jnp.asarray(gamma, dtype=jnp.float64)
        self.name = str(level) if name is None else str(name)


class FermionicSystem(eqx.Module):
    """``M`` fermionic levels with a static Hamiltonian, optional interactions, an optional
    periodic drive and local leads (Model E, Appendix C). See the module docstring.

    **Arguments:**

    - `h`: static single-particle Hamiltonian, ``M x M`` Hermitian (energy units);
      ``H_0 = sum_ij h_ij c_i^+ c_j``. Its diagonal gives the bare level energies used by the
      ``"bare"`` occupations (Eq. 9).
    - `leads`: sequence of `Lead` (at least one).
    - `interaction`: optional density-density couplings ``sum_{i<j} U_ij n_i n_j`` as a dict
      ``{(i, j): U_ij}`` or a symmetric ``M x M`` real matrix with zero diagonal.
    - `static_many_body`: optional extra static ``d x d`` Hermitian many-body term.
    - `drive`: optional periodic drive: a dict ``{k: H_k}`` (``k >= 1``; each an ``M x M``
      single-particle matrix or a ``d x d`` many-body matrix; ``H_{-k} = H_k^+`` is implied), or
      a callable ``t -> H_drive(t)`` returning an ``M x M`` or ``d x d`` Hermitian matrix of
      period ``2 pi / omega``.
    - `omega`: drive angular frequency (> 0 when a drive is given).
    - `drive_harmonics`: for a callable drive only, the highest harmonic ``K`` kept when the
      harmonic (Floquet) methods need its Fourier components (sampled with an FFT of
      ``max(4K + 1, 16)`` points); the drive should not contain higher harmonics.
    """

    h: Array
    leads: tuple
    interaction: Array | None
    static_many_body: Array | None
    drive_orders: tuple = eqx.field(static=True)
    drive_single: Array | None
    drive_many: Array | None
    drive_fn: Callable | None = eqx.field(static=True)
    drive_fn_kind: str | None = eqx.field(static=True)
    drive_harmonics: int = eqx.field(static=True)
    omega: Array
    num_levels: int = eqx.field(static=True)

    def __init__(
        self,
        h,
        leads: Sequence[Lead],
        *,
        interaction: Mapping | Array | None = None,
        static_many_body=None,
        drive: Mapping | Callable | None = None,
        omega=0.0,
        drive_harmonics: int = 8,
    ):
        h_arr = jnp.asarray(h)
        if h_arr.ndim != 2 or h_arr.shape[0] != h_arr.shape[1] or h_arr.shape[0] < 1:
            raise ParameterError(f"h must be a square M x M matrix (M >= 1), got shape {h_arr.shape}")
        m = int(h_arr.shape[0])
        check_hermitian("h", h_arr)
        self.h = h_arr.astype(jnp.complex128)
        self.num_levels = m

        leads = tuple(leads)
        if not leads:
            raise ParameterError("leads must contain at least one Lead")
        for k, lead in enumerate(leads):
            if not isinstance(lead, Lead):
                raise ParameterError(f"leads[{k}] must be a jaxtls.Lead, got {type(lead).__name__}")
            if isinstance(lead.level, str):
                raise ParameterError(
                    f"leads[{k}].level must be a level index for a FermionicSystem, got {lead.level!r}"
                )
            if lead.level >= m:
                raise ParameterError(f"leads[{k}].level must be in [0, {m - 1}] (M = {m}), got {lead.level}")
        self.leads = leads

        self.interaction = None if interaction is None else interaction_matrix(interaction, m)
        d = 2**m
        if static_many_body is not None:
            if m > MAX_FOCK_LEVELS:
                raise ParameterError(f"static_many_body needs M <= {MAX_FOCK_LEVELS}")
            smb = as_matrix("static_many_body", static_many_body, (d,))
            check_hermitian("static_many_body", smb)
            self.static_many_body = smb
        else:
            self.static_many_body = None

        check_parameters({"omega": omega}, {"omega": "nonneg"})
        self.omega = jnp.asarray(omega, dtype=jnp.float64)
        if (
            isinstance(drive_harmonics, bool)
            or not isinstance(drive_harmonics, (int, np.integer))
            or drive_harmonics < 1
        ):
            raise ParameterError(f"drive_harmonics must be an integer >= 1, got {drive_harmonics!r}")
        self.drive_harmonics = int(drive_harmonics)

        self.drive_fn = None
        self.drive_fn_kind = None
        self.drive_orders = ()
        self.drive_single = None
        self.drive_many = None
        if drive is None:
            return
        if is_concrete(self.omega) and np.any(np.asarray(self.omega) <= 0):
            raise ParameterError("omega must be a finite number > 0 when a drive is given (put static couplings in h)")
        if callable(drive) and not isinstance(drive, Mapping):
            out = jax.eval_shape(drive, jnp.zeros((), jnp.float64))
            if out.shape == (m, m):
                kind = "single"
            elif out.shape == (d, d) and m <= MAX_FOCK_LEVELS:
                kind = "many"
            else:
                raise ParameterError(
                    f"drive(t) must return an M x M ({m} x {m}) or d x d ({d} x {d}) matrix, got {out.shape}"
                )
            self.drive_fn = drive
            self.drive_fn_kind = kind
            return
        if not isinstance(drive, Mapping) or not drive:
            raise ParameterError("drive must be a non-empty dict {k: H_k} (k >= 1) or a callable t -> H(t)")
        orders = []
        for k in drive:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
                raise ParameterError(
                    f"drive keys must be harmonic orders k >= 1 (H_-k = H_k^+ is implied, the static "
                    f"part belongs in h), got {k!r}"
                )
            orders.append(int(k))
        orders = tuple(sorted(orders))
        single, many = [], []
        any_many = False
        for k in orders:
            mat = jnp.asarray(drive[k])
            if mat.shape == (m, m):
                single.append(mat.astype(jnp.complex128))
                many.append(None)
            elif mat.shape == (d, d) and m <= MAX_FOCK_LEVELS:
                single.append(jnp.zeros((m, m), jnp.complex128))
                many.append(mat.astype(jnp.complex128))
                any_many = True
            else:
                raise ParameterError(
                    f"drive[{k}] must be an M x M ({m} x {m}) single-particle or d x d ({d} x {d}) "
                    f"many-body matrix, got shape {mat.shape}"
                )
            if is_concrete(mat) and not np.all(np.isfinite(np.asarray(mat))):
                raise ParameterError(f"drive[{k}] must be finite")
        self.drive_orders = orders
        self.drive_single = jnp.stack(single)
        if any_many:
            self.drive_many = jnp.stack([jnp.zeros((d, d), jnp.complex128) if x is None else x for x in many])

    # ----------------------------------------------------------------------------------------
    # Structure
    # ----------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Fock-space dimension ``d = 2**M``."""
        return 2**self.num_levels

    @property
    def lead_names(self) -> tuple:
        return tuple(lead.name for lead in self.leads)

    @property
    def num_leads(self) -> int:
        return len(self.leads)

    @property
    def is_driven(self) -> bool:
        return self.drive_fn is not None or bool(self.drive_orders)

    @property
    def max_harmonic(self) -> int:
        """Highest drive harmonic ``K`` (0 for a static system)."""
        if self.drive_fn is not None:
            return self.drive_harmonics
        return max(self.drive_orders) if self.drive_orders else 0

    @property
    def is_quadratic(self) -> bool:
        """True if the Hamiltonian is a single-particle (quadratic) form at all times."""
        return (
            self.interaction is None
            and self.static_many_body is None
            and self.drive_many is None
            and (self.drive_fn is None or self.drive_fn_kind == "single")
        )

    @property
    def period(self) -> Array:
        return 2 * jnp.pi / self.omega

    # ----------------------------------------------------------------------------------------
    # Occupations
    # ----------------------------------------------------------------------------------------
    def bare_energies(self) -> Array:
        """Bare level energies ``h_aa`` of the levels the leads attach to (Eq. 9), ``(n_leads,)``."""
        idx = np.array([lead.level for lead in self.leads])
        return jnp.real(jnp.diagonal(self.h))[idx]

    def lead_array(self, field: str) -> Array:
        """Stack one lead field (``"mu"``, ``"T"``, ``"gamma"``) over the leads, ``(n_leads,)``."""
        return jnp.stack([jnp.asarray(getattr(lead, field)) for lead in self.leads])

    def occupations_from_energies(self, energies) -> Array:
        """``f_a = fermi(E_a, mu_a, T_a)`` (Eqs. 9, 16) for energies ``(n_leads,)``."""
        return fermi(jnp.asarray(energies), self.lead_array("mu"), self.lead_array("T"))

    def resolve_occupations(self, occupations) -> Array:
        """``None`` or ``"bare"``: Fermi functions at the bare level energies (Eq. 9); an array
        ``(n_leads,)``: the lead occupations themselves."""
        if occupations is None or (isinstance(occupations, str) and occupations == "bare"):
            return self.occupations_from_energies(self.bare_energies())
        if isinstance(occupations, str):
            raise ParameterError(
                f"occupations must be 'bare' or an array of {self.num_leads} lead occupations, got {occupations!r}"
            )
        f = jnp.asarray(occupations, dtype=jnp.float64)
        if f.shape != (self.num_leads,):
            raise ParameterError(f"occupations must have shape ({self.num_leads},), got {f.shape}")
        if is_concrete(f):
            fa = np.asarray(f)
            if not np.all(np.isfinite(fa)) or np.any(fa < 0) or np.any(fa > 1):
                raise ParameterError("occupations must be finite numbers in [0, 1]")
        return f

    # ----------------------------------------------------------------------------------------
    # Single-particle picture (quadratic systems)
    # ----------------------------------------------------------------------------------------
    def single_particle_harmonics(self) -> Array:
        """Fourier components ``h_k``, ``k = -K..K`` of the single-particle Hamiltonian
        ``h(t) = sum_k h_k e^{-i k omega t}`` (``h_0 = h``, ``h_{-k} = h_k^+``), ``(2K+1, M, M)``."""
        if not self.is_quadratic:
            raise ParameterError("the system is not quadratic (interactions or many-body terms present)")
        kmax = self.max_harmonic
        m = self.num_levels
        comps = [jnp.zeros((m, m), jnp.complex128) for _ in range(2 * kmax + 1)]
        comps[kmax] = self.h
        if self.drive_fn is not None:
            sampled = fourier_components(self.drive_fn, self.omega, kmax)
            for i in range(2 * kmax + 1):
                comps[i] = comps[i] + sampled[i]
        else:
            for i, k in enumerate(self.drive_orders):
                hk = self.drive_single[i]
                comps[kmax + k] = comps[kmax + k] + hk
                comps[kmax - k] = comps[kmax - k] + dag(hk)
        return jnp.stack(comps)

    def single_particle_hamiltonian(self, t) -> Array:
        """``h(t)`` (``M x M``)."""
        if not self.is_quadratic:
            raise ParameterError("the system is not quadratic (interactions or many-body terms present)")
        out = self.h
        if self.drive_fn is not None:
            return out + jnp.asarray(self.drive_fn(t), jnp.complex128)
        for i, k in enumerate(self.drive_orders):
            hk = self.drive_single[i]
            ph = jnp.exp(-1j * k * self.omega * t)
            out = out + hk * ph + dag(hk) * jnp.conj(ph)
        return out

    # ----------------------------------------------------------------------------------------
    # Fock space
    # ----------------------------------------------------------------------------------------
    def _single_to_many(self, mat) -> Array:
        hop = jnp.asarray(fock_operators(self.num_levels)["hop"], jnp.complex128)
        return jnp.einsum("ij,ijab->ab", mat, hop, precision=jax.lax.Precision.HIGHEST)

    def static_hamiltonian(self) -> Array:
        """Static many-body Hamiltonian ``H_0`` (``d x d``): hopping, interactions, extra term."""
        ops = fock_operators(self.num_levels)
        out = self._single_to_many(self.h)
        if self.interaction is not None:
            n = jnp.asarray(ops["n"], jnp.complex128)
            nn = jnp.einsum("iab,jbc->ijac", n, n)
            out = out + 0.5 * jnp.einsum("ij,ijab->ab", self.interaction.astype(jnp.complex128), nn)
        if self.static_many_body is not None:
            out = out + self.static_many_body
        return out

    def _drive_many_body(self, t) -> Array:
        if self.drive_fn is not None:
            val = jnp.asarray(self.drive_fn(t), jnp.complex128)
            return self._single_to_many(val) if self.drive_fn_kind == "single" else val
        d = self.dim
        out = jnp.zeros((d, d), jnp.complex128)
        for i, k in enumerate(self.drive_orders):
            hk = self._single_to_many(self.drive_single[i])
            if self.drive_many is not None:
                hk = hk + self.drive_many[i]
            ph = jnp.exp(-1j * k * self.omega * t)
            out = out + hk * ph + dag(hk) * jnp.conj(ph)
        return out

    def hamiltonian(self, t) -> Array:
        """Many-body ``H_S(t)`` (``d x d``)."""
        return self.static_hamiltonian() + self._drive_many_body(t)

    def hamiltonian_derivative(self, t) -> Array:
        """``dH_S/dt`` (``d x d``), for the power ``P = Tr{rho dH/dt}`` (Eq. 6)."""
        t = jnp.asarray(t, jnp.float64)
        return jax.jvp(self._drive_many_body, (t,), (jnp.ones_like(t),))[1]

    def hamiltonian_harmonics(self) -> Array:
        """Fourier components ``H_k``, ``k = -K..K`` of ``H_S(t) = sum_k H_k e^{-i k omega t}``
        (``H_0`` static, ``H_{-k} = H_k^+``), ``(2K+1, d, d)``."""
        kmax = self.max_harmonic
        d = self.dim
        comps = [jnp.zeros((d, d), jnp.complex128) for _ in range(2 * kmax + 1)]
        comps[kmax] = self.static_hamiltonian()
        if self.drive_fn is not None:
            sampled = fourier_components(self._drive_many_body, self.omega, kmax)
            for i in range(2 * kmax + 1):
                comps[i] = comps[i] + sampled[i]
        else:
            for i, k in enumerate(self.drive_orders):
                hk = self._single_to_many(self.drive_single[i])
                if self.drive_many is not None:
                    hk = hk + self.drive_many[i]
                comps[kmax + k] = comps[kmax + k] + hk
                comps[kmax - k] = comps[kmax - k] + dag(hk)
        return jnp.stack(comps)
