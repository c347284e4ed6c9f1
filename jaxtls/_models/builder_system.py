"""`jaxtls.System` and `jaxtls.Bath`: a user's own model on a `jaxtls.Space`, compiled to the
one engine (a `jaxtls.LindbladStructure`; its sector and block-tridiagonal levels are found from
the operators' sparsity by `jaxtls._engine.sector`).

Model (hbar = k_B = 1, one energy unit):

- Hamiltonian ``H = sum_k c_k O_k`` (terms ``(c, O)``, ``O`` Hermitian, ``c`` real) plus
  ``c O + c^* O^+`` for terms ``(c, O, "hc")``, compiled to the two Hermitian structure terms
  ``Re c (O + O^+)`` and ``Im c i (O - O^+)``.
- Leads (Eq. 8): ``gamma f D[c^+] + gamma (1 - f) D[c]`` on the lead's level, ``f =
  Fermi((E - mu)/T)``.
- Baths (Eq. 17 generalised): ``gamma (n + 1) D[s] + gamma n D[s^+]`` on a lowering operator
  ``s`` of the space (a mode ``a`` or a transition ``c_i^+ c_j``), ``n = Bose(E/T)``.
- Optional periodic drive ``sum (d O e^{-i k omega t} + h.c.)`` (terms ``(k, d, O)``; Appendix C).

The structure (constant operators) is built once per distinct set of operators and cached, so a
`System` rebuilt inside `jax.jit` / `jax.vmap` with traced coefficients reuses the sector.
"""

from __future__ import annotations

import dataclasses
import hashlib

import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from .._engine.checks import ParameterError, check_parameters, is_concrete
from .._engine.sector import LindbladStructure
from .builder_space import Space, operator, proportional
from .system import Lead

__all__ = ["Bath", "System"]


class Bath:
    """A thermal bosonic reservoir acting with a lowering operator `s` of the space (Eq. 17
    generalised): ``gamma (n + 1) D[s] + gamma n D[s^+]``, ``n = Bose(E/T)``.

    **Arguments:** `s` (a mode's annihilator or a transition ``c_i^+ c_j``; SciPy, NumPy or QuTiP),
    `T` (temperature, > 0), `gamma` (rate, > 0), `name` (label of its results), `energy` (optional
    quantum energy for ``occupations="bare"``; default the mode frequency, or ``E_j - E_i``).
    """

    def __init__(self, s, T, gamma, name: str | None = None, energy=None):
        check_parameters({"T": T, "gamma": gamma}, {"T": "positive", "gamma": "positive"})
        if energy is not None:
            check_parameters({"energy": energy}, {"energy": "positive"})
        self.s = s
        self.T = jnp.asarray(T, jnp.float64)
        self.gamma = jnp.asarray(gamma, jnp.float64)
        self.name = name
        self.energy = None if energy is None else jnp.asarray(energy, jnp.float64)


@dataclasses.dataclass(frozen=True)
class Reservoir:
    """A compiled lead or bath: its jumps ``(j_up, j_down)`` (``c^+, c`` for a lead; ``s, s^+``
    for a bath), observables it needs, its parameters and the bare energy (or `None`)."""

    name: str
    kind: str  # "lead" or "bath"
    jumps: tuple
    number: int  # observable index: the level's number operator (lead) or s^+ s (bath)
    raised: int  # bath: observable index of s s^+ (-1 for a lead)
    mu: object
    T: object
    gamma: object
    energy: object  # bare energy (an array) or None


_CACHE: dict = {}


def _digest(ops) -> str:
    h = hashlib.sha1()
    for m in ops:
        m = sp.csr_matrix(m, dtype=complex)
        m.sort_indices()
        for a in (np.asarray(m.shape), m.indptr, m.indices, m.data):
            h.update(np.ascontiguousarray(a).tobytes())
        h.update(b"|")
    return h.hexdigest()


def _structure(ham, jumps, observables, drive) -> LindbladStructure:
    """One `LindbladStructure` per distinct operator content (so `jt.steady_state`'s sector
    cache hits on every rebuild of the same model)."""
    key = (_digest(ham), _digest(jumps), _digest(observables), tuple(q for q, _ in drive), _digest(o for _, o in drive))
    s = _CACHE.get(key)
    if s is None:
        if len(_CACHE) > 64:
            _CACHE.clear()
        s = _CACHE[key] = LindbladStructure(
            hamiltonian=tuple(ham), jumps=tuple(jumps), observables=tuple(observables), drive=tuple(drive)
        )
    return s


def _hermitian(m: sp.csr_matrix) -> bool:
    return abs(m - m.conj().T).max() <= 1e-12 * max(1.0, abs(m).max()) if m.nnz else True


def _real_coefficient(c, what: str):
    if not is_concrete(c):
        if jnp.iscomplexobj(c):
            raise ParameterError(f"{what} must be real (a term without 'hc' needs a real coefficient)")
        return jnp.asarray(c, jnp.float64)
    check_parameters({what: c}, {what: "real"})
    return jnp.asarray(c, jnp.float64)


class System:
    """A user-built Lindblad model on a `jaxtls.Space` (module docstring; CONTRACT "Your own model").

    **Arguments:**

    - `space`: the `jaxtls.Space`.
    - `hamiltonian`: terms ``(c, O)`` (``O`` Hermitian, ``c`` real, energy units) or
      ``(c, O, "hc")`` (adds ``c O + c^* O^+``, ``c`` real or complex).
    - `leads`: `jaxtls.Lead` on levels of the space (by name or index; Eq. 8).
    - `baths`: `jaxtls.Bath` on lowering operators of the space (Eq. 17 generalised).
    - `drive`: optional ``[(k, d, O), ...]`` (``k >= 1`` integer, ``d`` complex amplitude):
      adds ``d O e^{-i k omega t} + h.c.``; `omega` the drive frequency (> 0).

    Coefficients are floats or arrays that broadcast together (the batch). Solve it with
    ``jt.steady_state(system, occupations="bare")``.
    """

    def __init__(self, space, hamiltonian=(), leads=(), baths=(), drive=None, omega=None):
        if not isinstance(space, Space):
            raise ParameterError(f"space must be a jaxtls.Space, got {type(space).__name__}")
        self.space = space
        d = space.dim
        ham_ops, ham_coefs, self._onsite = [], [], []
        for k, term in enumerate(hamiltonian):
            if not isinstance(term, (tuple, list)) or len(term) not in (2, 3):
                raise ParameterError(
                    f"hamiltonian[{k}] must be (coefficient, operator) or (coefficient, operator, 'hc')"
                )
            if len(term) == 3 and term[2] != "hc":
                raise ParameterError(f"hamiltonian[{k}]: the third entry may only be 'hc', got {term[2]!r}")
            o = operator(term[1], d, f"hamiltonian[{k}] operator")
            if len(term) == 2:
                if not _hermitian(o):
                    raise ParameterError(
                        f"hamiltonian[{k}] operator is not Hermitian: add 'hc' for c O + c* O^+, "
                        "i.e. (coefficient, operator, 'hc')"
                    )
                ham_ops.append(o)
                ham_coefs.append(_real_coefficient(term[0], f"hamiltonian[{k}] coefficient"))
                self._onsite.append((o, ham_coefs[-1]))
            else:
                c = jnp.asarray(term[0])
                if is_concrete(c):
                    check_parameters({f"hamiltonian[{k}] coefficient": c}, {f"hamiltonian[{k}] coefficient": "complex"})
                od = o.conj().T.tocsr()
                for op, coef in (((o + od).tocsr(), jnp.real(c)), ((1j * (o - od)).tocsr(), jnp.imag(c))):
                    op.eliminate_zeros()
                    if op.nnz:
                        ham_ops.append(op)
                        ham_coefs.append(jnp.asarray(coef, jnp.float64))
        if not ham_ops:
            raise ParameterError("hamiltonian must have at least one nonzero term")
        observables = list(ham_ops)
        n_h = len(ham_ops)
        # populations of every level and mode
        self.pop_index = {}
        for k, name in enumerate(space.names):
            self.pop_index[name] = len(observables)
            observables.append(space.number(k))
        self.tail_index = {}
        for k, name in enumerate(space.names):
            if not space.is_fermion(k):
                self.tail_index[name] = len(observables)
                observables.append(space.fock_top(k))
        jumps, reservoirs = [], []
        leads, baths = tuple(leads), tuple(baths)
        if not leads and not baths:
            raise ParameterError(
                "a System needs at least one reservoir: leads= or baths= (the steady state is not unique)"
            )
        for k, lead in enumerate(leads):
            if not isinstance(lead, Lead):
                raise ParameterError(f"leads[{k}] must be a jaxtls.Lead, got {type(lead).__name__}")
            lvl = space.index(lead.level, f"leads[{k}].level")
            if not space.is_fermion(lvl):
                raise ParameterError(
                    f"leads[{k}].level must name a fermionic level {list(space.fermions)}, got {lead.level!r}"
                )
            c = space.annihilators()[lvl]
            name = lead.name
            energy = lead.energy if lead.energy is not None else self._onsite_energy(space.number(lvl))
            reservoirs.append(
                Reservoir(
                    name,
                    "lead",
                    (len(jumps), len(jumps) + 1),
                    self.pop_index[space.names[lvl]],
                    -1,
                    lead.mu,
                    lead.T,
                    lead.gamma,
                    energy,
                )  # fmt: skip
            )
            jumps += [c.conj().T.tocsr(), c]
        for k, bath in enumerate(baths):
            if not isinstance(bath, Bath):
                raise ParameterError(f"baths[{k}] must be a jaxtls.Bath, got {type(bath).__name__}")
            s = operator(bath.s, d, f"baths[{k}] operator")
            kind = space.lowering(s)
            if kind is None:
                raise ParameterError(
                    f"baths[{k}] operator is not a lowering operator of the space: it must be a mode's "
                    f"annihilator a or a transition c_i^+ c_j between two levels of {list(space.names)}"
                )
            if bath.energy is not None:
                energy = bath.energy
            elif kind[0] == "mode":
                energy = self._onsite_energy(space.number(kind[1]))
            else:
                e_i, e_j = (self._onsite_energy(space.number(kind[n])) for n in (1, 2))
                energy = None if e_i is None or e_j is None else e_j - e_i
            sd = s.conj().T.tocsr()
            name = f"bath{k}" if bath.name is None else str(bath.name)
            reservoirs.append(Reservoir(name, "bath", (len(jumps), len(jumps) + 1), len(observables),
                                        len(observables) + 1, 0.0, bath.T, bath.gamma, energy))  # fmt: skip
            observables += [(sd @ s).tocsr(), (s @ sd).tocsr()]
            jumps += [s, sd]
        names = [r.name for r in reservoirs]
        if len(set(names)) != len(names):
            raise ParameterError(f"reservoir names must be distinct (name=), got {names}")
        self.reservoirs = tuple(reservoirs)
        drive_ops, self.drive_coefs = [], []
        if drive is not None:
            for k, term in enumerate(drive):
                if not isinstance(term, (tuple, list)) or len(term) != 3:
                    raise ParameterError(f"drive[{k}] must be (k, amplitude, operator)")
                q = term[0]
                if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 1:
                    raise ParameterError(f"drive[{k}] harmonic k must be an integer >= 1, got {q!r}")
                if is_concrete(term[1]):
                    check_parameters({f"drive[{k}] amplitude": term[1]}, {f"drive[{k}] amplitude": "complex"})
                drive_ops.append((int(q), operator(term[2], d, f"drive[{k}] operator")))
                self.drive_coefs.append(jnp.asarray(term[1], jnp.complex128))
            if omega is None:
                raise ParameterError("omega (the drive frequency, > 0) is required with drive=")
            check_parameters({"omega": omega}, {"omega": "positive"})
        elif omega is not None:
            raise ParameterError("omega is only meaningful with drive=[(k, amplitude, operator), ...]")
        self.omega = None if omega is None else jnp.asarray(omega, jnp.float64)
        self.ham_coefs = tuple(ham_coefs)
        self.num_ham = n_h
        self.structure = _structure(ham_ops, jumps, observables, drive_ops)
        del self._onsite

    def _onsite_energy(self, number: sp.csr_matrix):
        """Sum of ``c alpha`` over the Hamiltonian terms ``(c, alpha N)`` (the on-site energy of a
        level or the frequency of a mode), or `None` if there is none."""
        total = None
        for o, c in self._onsite:
            alpha = proportional(o, number)
            if alpha is not None:
                total = c * alpha.real if total is None else total + c * alpha.real
        return total

    @property
    def reservoir_names(self) -> tuple:
        return tuple(r.name for r in self.reservoirs)
