"""Periodic drives on a sector: Floquet harmonics and the one-period propagator, with
period-averaged flows (paper Appendix C, Eqs. C1, C2, 6).

A `LindbladStructure` with a drive has the Hamiltonian
``H(t) = sum_k h_k H_k + sum_q (d_q D_q e^{-i q omega t} + h.c.)``, so the Lindbladian is
``L(t) = sum_k L_k e^{-i k omega t}`` with ``L_0 = sum_t c_t S_t`` (static terms, jumps
included), ``L_q = sum_{D of order q} d_D (-i[D, .])`` and ``L_{-q} = sum conj(d_D) (-i[D^+, .])``.
Every ``L_k`` maps the sector into itself (the sector is found from all operators), so the
periodic steady state ``rho(t) = sum_n rho_n e^{-i n omega t}`` has every harmonic ``rho_n`` in
the sector. They are not Hermitian for ``n != 0``, so here the unknowns are complex, one per
sector element (`Sector.element_terms`, key order): for three number-conserving fermionic levels
20 per harmonic instead of the 64 of the full Liouville space.

- `floquet_harmonics`: ``(L_0 + i n omega) rho_n + sum_{k != 0} L_k rho_{n-k} = 0`` for
  ``|n| <= n_harm`` with one redundant population equation of ``rho_0`` replaced by
  ``Tr rho_0 = 1``; block tridiagonal in the harmonic index (chunks of ``K`` harmonics for a
  drive with highest harmonic ``K``), solved by the complex block LU of
  `jaxtls._engine.blocklu` with sector-sized blocks. Derivatives of any order solve with the same
  factors (`jax.lax.custom_linear_solve`): the self-consistent fixed point of Appendix C needs
  second derivatives along the occupations inside a Newton solve (third order), which the
  first-order implicit rule of the static engine (`jaxtls._engine.implicit`) does not provide.
- `period_propagator`: ``dU/dt = L(t) U`` over one period on the sector (``E x E`` sector
  mat-vecs; no ``d^2 x d^2`` matrix), then the fixed point of the period map.
- `periodic_averages`: ``<Tr{O rho}>``, ``<Tr{O D_j rho}>``, the energy flow of every jump
  ``<Tr{H(t) D_j[rho(t)]}> = sum_k Tr{H_k D_j rho_{-k}}`` (C1, per unit rate) and the power
  ``<Tr{rho dH/dt}> = sum_k (-i k omega) Tr{H_k rho_{-k}}`` (Eq. 6).

Units: hbar = 1; coefficients, rates and frequencies in one energy unit.
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .blocklu import floquet_solve, inverse
from .eigen import min_group_eigenvalue
from .sector import Sector

__all__ = ["HarmonicOperators", "harmonic_matrices", "floquet_harmonics", "periodic_averages", "period_propagator"]

_HP = jax.lax.Precision.HIGHEST


def _coo(mats, harmonics, offset: int):
    """Concatenated COO entries of sparse matrices: (term, row, col, value, harmonic)."""
    out = [[], [], [], [], []]
    for t, (mat, k) in enumerate(zip(mats, harmonics, strict=True)):
        c = mat.tocoo()
        out[0].append(np.full(c.nnz, offset + t, np.int64))
        out[1].append(c.row.astype(np.int64))
        out[2].append(c.col.astype(np.int64))
        out[3].append(c.data.astype(complex))
        out[4].append(np.full(c.nnz, k, np.int64))
    return [np.concatenate(x) if x else np.zeros(0, np.int64 if i != 3 else complex) for i, x in enumerate(out)]


class HarmonicOperators(eqx.Module):
    """Element-space arrays of a `Sector` for periodic drives (NumPy constants, so that a cached
    instance can be used inside any trace).

    Coefficients are ``c`` (``(T,)`` real: Hamiltonian terms then jump rates, as the structure
    orders them) and ``d`` (``(T_d,)`` complex drive amplitudes). ``E`` sector elements.
    """

    term: Array  # (nnz,) index into (c, d, conj d)
    row: Array
    col: Array
    val: Array  # complex
    harm: Array  # (nnz,) harmonic k of the entry (0, +q for -i[D,.], -q for -i[D^+,.])
    jump_term: Array  # COO of the jump terms D[s_j] (j = 0..T_j-1)
    jump_row: Array
    jump_col: Array
    jump_val: Array
    trace: Array  # (E,) 1 on populations
    keys: Array  # (E,) element keys i*d + j
    ham_functional: Array  # (T_h, E): Tr{H_t z}
    drive_functional: Array  # (T_d, E): Tr{D z}
    drive_dag_functional: Array  # (T_d, E): Tr{D^+ z}
    obs_functional: Array  # (n_O, E)
    group_elements: Array  # (G, g, g) element index (E: padding)
    real_index: Array  # (E, 2) real unknowns (flat K*m slots) each element is made of
    real_coef: Array  # (E, 2) complex: z_e = sum_i real_coef[e, i] x[real_index[e, i]]
    drive_orders: tuple = eqx.field(static=True)
    num_ham: int = eqx.field(static=True)
    num_jumps: int = eqx.field(static=True)
    num_elements: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    norm_index: int = eqx.field(static=True)

    @classmethod
    def from_sector(cls, sector: Sector) -> HarmonicOperators:
        st = sector.structure
        nt, nd = st.num_terms, st.num_drive
        orders = st.drive_orders
        static = _coo(sector.element_terms, [0] * nt, 0)
        fwd = _coo([a for a, _ in sector.drive_terms], list(orders), nt)
        bwd = _coo([b for _, b in sector.drive_terms], [-q for q in orders], nt + nd)
        allc = [np.concatenate(x) for x in zip(static, fwd, bwd, strict=True)]
        nh = len(st.hamiltonian)
        jumps = _coo(sector.element_terms[nh:], [0] * len(st.jumps), 0)
        e = sector.num_elements
        rows, cols = np.divmod(sector.keys, sector.dim)

        def functionals(ops):
            return np.stack([sector.functional(o) for o in ops]) if ops else np.zeros((0, e), complex)

        groups = sector.groups
        g = max(len(x) for x in groups)
        key_index = {int(k): i for i, k in enumerate(sector.keys)}
        # padded to the largest group as in `Sector`: zeros off the diagonal, the group's first
        # population on it (keeps the smallest eigenvalue)
        gel = np.full((len(groups), g, g), e, np.int64)
        for gi, states in enumerate(groups):
            for a in range(g):
                if a >= len(states):
                    gel[gi, a, a] = key_index[int(states[0]) * (sector.dim + 1)]
                    continue
                for b, j in enumerate(states):
                    gel[gi, a, b] = key_index.get(int(states[a]) * sector.dim + int(j), e)
        tm = sector.element_of_real.tocsr()
        ridx = np.zeros((e, 2), np.int64)
        rcoef = np.zeros((e, 2), complex)
        for k in range(e):
            lo, hi = tm.indptr[k], tm.indptr[k + 1]
            ridx[k, : hi - lo] = tm.indices[lo:hi]
            rcoef[k, : hi - lo] = tm.data[lo:hi]
        return cls(
            term=np.asarray(allc[0]),
            row=np.asarray(allc[1]),
            col=np.asarray(allc[2]),
            val=np.asarray(allc[3]),
            harm=np.asarray(allc[4]),
            jump_term=np.asarray(jumps[0]),
            jump_row=np.asarray(jumps[1]),
            jump_col=np.asarray(jumps[2]),
            jump_val=np.asarray(jumps[3]),
            trace=np.asarray((rows == cols).astype(np.float64)),
            keys=np.asarray(sector.keys),
            ham_functional=np.asarray(functionals(st.hamiltonian)),
            drive_functional=np.asarray(functionals([op for _, op in st.drive])),
            drive_dag_functional=np.asarray(functionals([op.conj().T for _, op in st.drive])),
            obs_functional=np.asarray(functionals(st.observables)),
            group_elements=np.asarray(gel),
            real_index=np.asarray(ridx),
            real_coef=np.asarray(rcoef),
            drive_orders=orders,
            num_ham=nh,
            num_jumps=len(st.jumps),
            num_elements=e,
            dim=sector.dim,
            norm_index=int(np.flatnonzero(rows == cols)[0]),
        )

    @property
    def max_harmonic(self) -> int:
        return max(self.drive_orders, default=0)

    # ----------------------------------------------------------------------------------------
    def _values(self, c, d):
        c = jnp.asarray(c)
        d = jnp.zeros((0,), jnp.complex128) if d is None else jnp.asarray(d, jnp.complex128)
        coef = jnp.concatenate([c.astype(jnp.complex128), d, jnp.conj(d)])
        return self.val * coef[self.term]

    def generator(self, c, d=None) -> Array:
        """``L = sum_t c_t S_t + sum_D (d_D (-i[D, .]) + conj(d_D) (-i[D^+, .]))`` on the
        elements, ``(E, E)``: ``L(t)`` for the instantaneous amplitudes ``d = d_D(t)``."""
        e = self.num_elements
        return jnp.zeros(e * e, jnp.complex128).at[self.row * e + self.col].add(self._values(c, d)).reshape(e, e)

    def jumps_apply(self, z) -> Array:
        """``D[s_j] z`` (unit rates) for element vectors ``z`` ``(..., E)``: ``(..., T_j, E)``."""
        nj = self.num_jumps
        vals = self.jump_val * z[..., self.jump_col]
        out = jnp.zeros(z.shape[:-1] + (nj, self.num_elements), vals.dtype)
        return out.at[..., self.jump_term, self.jump_row].add(vals)

    def jumps_rapply(self, w) -> Array:
        """Functionals ``w D[s_j]`` (unit rates) for ``w`` ``(..., E)``: ``(..., T_j, E)``."""
        nj = self.num_jumps
        vals = self.jump_val * w[..., self.jump_row]
        out = jnp.zeros(w.shape[:-1] + (nj, self.num_elements), vals.dtype)
        return out.at[..., self.jump_term, self.jump_col].add(vals)

    def hamiltonian_functional(self, c, d=None) -> Array:
        """Functional of ``H = sum_k h_k H_k + sum_D (d_D D + h.c.)`` (``(E,)``), for the real
        Hamiltonian coefficients at the front of ``c`` and instantaneous amplitudes ``d``."""
        w = jnp.asarray(c)[: self.num_ham].astype(jnp.complex128) @ self.ham_functional
        if d is not None and self.drive_orders:
            d = jnp.asarray(d, jnp.complex128)
            w = w + d @ self.drive_functional + jnp.conj(d) @ self.drive_dag_functional
        return w

    def from_real(self, x) -> Array:
        """Element vectors ``(..., E)`` from the real sector unknowns ``x`` ``(..., K, m)``."""
        flat = x.reshape(x.shape[:-2] + (-1,))
        return jnp.sum(self.real_coef * flat[..., self.real_index], axis=-1)

    def to_matrix(self, z) -> Array:
        """Full ``d x d`` matrices from element vectors ``z`` ``(..., E)``."""
        d = self.dim
        out = jnp.zeros(z.shape[:-1] + (d * d,), z.dtype).at[..., self.keys].set(z)
        return out.reshape(z.shape[:-1] + (d, d))

    def min_eigenvalue(self, z) -> Array:
        """Smallest eigenvalue of the states with element vectors ``z`` ``(..., E)`` (Hermitian
        parts), from their positivity groups (no LAPACK call for groups of up to 8 states)."""
        zp = jnp.concatenate([z, jnp.zeros(z.shape[:-1] + (1,), z.dtype)], axis=-1)
        return min_group_eigenvalue(zp[..., self.group_elements])


def harmonic_matrices(hops: HarmonicOperators, c, d=None) -> Array:
    """The components ``L_k`` (``k = -K..K``) of ``L(t) = sum_k L_k e^{-i k omega t}`` on the
    sector's elements, ``(2K+1, E, E)``."""
    kmax = hops.max_harmonic
    e = hops.num_elements
    flat = (hops.harm + kmax) * (e * e) + hops.row * e + hops.col
    out = jnp.zeros((2 * kmax + 1) * e * e, jnp.complex128).at[flat].add(hops._values(c, d))
    return out.reshape(2 * kmax + 1, e, e)


def floquet_harmonics(hops: HarmonicOperators, c, d, omega, n_harm: int):
    """Harmonics ``rho_n`` (``n = -n_harm..n_harm``, element vectors ``(2 n_harm + 1, E)``) of the
    periodic steady state, with the relative residual and smallest pivot of the linear system
    (module docstring)."""
    lk = harmonic_matrices(hops, c, d)
    omega = jnp.asarray(omega, jnp.float64) if hops.drive_orders else jnp.zeros((), jnp.float64)
    return floquet_solve(lk, omega, n_harm, hops.max_harmonic, hops.trace, hops.norm_index)


class PeriodicAverages(eqx.Module):
    """Period averages of a periodic steady state (per unit rate for the jump flows).

    `expect` ``(n_O,)`` ``<Tr{O_m rho}>``; `flow` ``(n_O, T_j)`` ``<Tr{O_m D[s_j] rho}>``;
    `energy` ``(T_j,)`` ``<Tr{H(t) D[s_j] rho(t)}>``; `power` ``<Tr{rho dH/dt}>``.
    """

    expect: Array
    flow: Array
    energy: Array
    power: Array


def periodic_averages(hops: HarmonicOperators, c, d, omega, z) -> PeriodicAverages:
    """Period averages (C1, C2, Eq. 6) from the harmonics ``z`` ``(2N+1, E)`` of `floquet_harmonics`."""
    kmax = hops.max_harmonic
    n_harm = (z.shape[0] - 1) // 2
    ks = np.arange(-kmax, kmax + 1)
    z_mk = z[n_harm - ks]  # rho_{-k}
    # functionals of the Hamiltonian harmonics H_k, k = -K..K
    w = jnp.zeros((2 * kmax + 1, hops.num_elements), jnp.complex128)
    w = w.at[kmax].set(hops.hamiltonian_functional(c))
    if hops.drive_orders:
        d = jnp.asarray(d, jnp.complex128)
        orders = np.asarray(hops.drive_orders)
        pos = (orders[:, None] == np.arange(-kmax, kmax + 1)[None, :]).astype(np.float64)  # (T_d, 2K+1)
        w = w + jnp.einsum("tk,te->ke", pos, d[:, None] * hops.drive_functional, precision=_HP)
        w = w + jnp.einsum("tk,te->ke", pos[:, ::-1], jnp.conj(d)[:, None] * hops.drive_dag_functional, precision=_HP)
    jz = hops.jumps_apply(z_mk)  # (2K+1, T_j, E)
    energy = jnp.real(jnp.einsum("ke,kje->j", w, jz, precision=_HP))
    flow = jnp.real(jnp.einsum("oe,je->oj", hops.obs_functional, jz[kmax], precision=_HP))
    expect = jnp.real(jnp.einsum("oe,e->o", hops.obs_functional, z[n_harm], precision=_HP))
    omega = jnp.asarray(omega, jnp.float64)
    power = jnp.real(jnp.sum(-1j * ks * omega * jnp.einsum("ke,ke->k", w, z_mk, precision=_HP)))
    return PeriodicAverages(expect, flow, energy, power)


def _integrate_period(hops: HarmonicOperators, coeffs_at, period, solver, rtol, atol, max_steps, adjoint, frozen=False):
    """``U(tau)`` and the accumulated flow functionals ``<r(t) U(t)>`` over one period (see
    `period_propagator`); returns ``(U, acc, success)``. `frozen`: not differentiated (the
    generator and the rows are `jax.lax.stop_gradient`-ed after their time derivative)."""
    freeze = jax.lax.stop_gradient if frozen else (lambda x: x)
    e = hops.num_elements
    obs = hops.obs_functional
    obs_flow = hops.jumps_rapply(obs)  # (n_O, T_j, E), constant
    n_o, nj = obs.shape[0], obs_flow.shape[1]

    def ham_w(t):
        c, d = coeffs_at(t)
        return hops.hamiltonian_functional(c, d)

    def rows(t):
        w, dw = jax.jvp(ham_w, (t,), (jnp.ones_like(t),))
        return jnp.concatenate([hops.jumps_rapply(w), dw[None], obs, obs_flow.reshape(-1, e)], axis=0)

    def vf(t, y, args):
        u = y[0] + 1j * y[1]
        c, d = coeffs_at(t)
        du = jnp.matmul(freeze(hops.generator(c, d)), u, precision=_HP)
        da = jnp.matmul(freeze(rows(t)), u, precision=_HP) / period
        return (jnp.real(du), jnp.imag(du), jnp.real(da), jnp.imag(da))

    nr = nj + 1 + n_o + n_o * nj
    y0 = (jnp.eye(e), jnp.zeros((e, e)), jnp.zeros((nr, e)), jnp.zeros((nr, e)))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(vf),
        solver,
        t0=0.0,
        t1=period,
        dt0=period / 64,
        y0=y0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        saveat=diffrax.SaveAt(t1=True),
        max_steps=max_steps,
        adjoint=adjoint,
        throw=False,
    )
    ur, ui, ar, ai = (y[-1] for y in sol.ys)
    return ur + 1j * ui, ar + 1j * ai, sol.result == diffrax.RESULTS.successful


def _period_fixed_point(hops: HarmonicOperators, prop, acc):
    """``rho(0)`` from ``(U(tau) - 1) z = 0``, ``Tr z = 1`` and the period averages ``acc @ z``:
    ``(z, vals, residual, periodicity_error, min_pivot)``."""
    e = hops.num_elements
    r = hops.norm_index
    a = (prop - jnp.eye(e)).at[r].set(hops.trace.astype(prop.dtype))
    rhs = jnp.zeros(e, a.dtype).at[r].set(1.0)
    inv_a, min_pivot = inverse(a)
    z = inv_a @ rhs
    residual = jnp.max(jnp.abs(a @ z - rhs)) / (jnp.max(jnp.abs(a)) * jnp.max(jnp.abs(z)))
    per_err = jnp.max(jnp.abs(prop @ z - z))
    return z, jnp.real(acc @ z), residual, per_err, min_pivot


#: the error-estimate integration runs with the controller this much looser than the result's
ESTIMATE_LOOSENING = 10.0


def period_propagator(
    hops: HarmonicOperators, coeffs_at, period, solver, rtol, atol, max_steps, adjoint, error_estimate=True
):
    """Periodic steady state from the one-period propagator on the sector.

    `coeffs_at(t) -> (c, d)`: the instantaneous coefficients (``d`` the drive amplitudes
    including their phases, or None). Integrates ``dU/dt = L(t) U`` (``U`` ``(E, E)``, complex,
    carried as real and imaginary parts) and the period averages of the flow functionals
    (``<r(t) U(t)>``) with diffrax, then solves ``(U(tau) - 1) z = 0``, ``Tr z = 1``.

    The periodicity error ``max|U(tau) z - z|`` only measures how well ``z`` solves the fixed
    point of the *computed* ``U(tau)``; it cannot see the integration error of ``U(tau)``, which
    the fixed point amplifies by ``~1 / (gamma tau)`` for a slowly relaxing system. With
    `error_estimate`, the period is integrated a second time with ``rtol`` and ``atol``
    ``s = ESTIMATE_LOOSENING`` (10) times looser; ``D``, the largest difference of the two
    fixed points ``rho(0)`` and period averages (per unit rate, absolute), is the error of the
    looser run minus that of the result. A controlled integration has a global error
    proportional to ``rtol^q``, so the result's error is ``D / (s^q - 1)`` (Richardson
    extrapolation in ``rtol``). Tolerance proportionality (``q = 1``) is the design goal of the
    PID controller, but measured exponents vary from point to point (from below 1 to 1.4 for
    `diffrax.Dopri8` and `diffrax.Tsit5` on random slowly relaxing 3-level systems), so the
    reported estimate assumes only ``q >= 1/2``: ``D / (sqrt(s) - 1) = D / 2.16``. It is an
    estimate, not a bound (the errors of the two runs can coincide by chance): on 48 random
    slowly relaxing 3-level systems, each at ``rtol`` 1e-9, 1e-11, 1e-13 (Dopri8) and 1e-10
    (Tsit5), it was below the true error (against `jaxtls.FloquetHarmonics`) at 7 of 192
    solves: 6 at ``rtol = 1e-13`` with errors below 1e-12 (round-off; by at most 2.7x) and
    one at 1e-11 with an error of 1.4e-10 (by 1.7x); at ``rtol = 1e-9`` (Dopri8) and 1e-10
    (Tsit5) every estimate was at least 3x above the error, and with ``tol = 1e-8`` no solve
    with an error above ``tol`` passed. The looser run takes about ``s^(-1/(p+1))`` (0.77 for
    order ``p = 8``; 0.74 measured) times the steps of the result's, so the estimate costs less
    than a second propagator; it is not differentiated (`jax.lax.stop_gradient` on its
    generator).

    **Returns:** ``(z, averages, residual, periodicity_error, min_pivot, success,
    integration_error)``: ``rho(0)`` as an element vector, a `PeriodicAverages`, the relative
    residual and smallest pivot of the period-map system, ``max|U(tau) z - z|``, whether the
    integration succeeded and the integration-error estimate (0 without `error_estimate`).
    """
    n_o, nj = hops.obs_functional.shape[0], hops.num_jumps
    prop, acc, success = _integrate_period(hops, coeffs_at, period, solver, rtol, atol, max_steps, adjoint)
    z, vals, residual, per_err, min_pivot = _period_fixed_point(hops, prop, acc)
    if error_estimate:
        lo = ESTIMATE_LOOSENING
        per = jax.lax.stop_gradient(period)
        prop_c, acc_c, success_c = _integrate_period(
            hops, coeffs_at, per, solver, lo * rtol, lo * atol, max_steps, adjoint, frozen=True
        )
        z_c, vals_c, *_ = _period_fixed_point(hops, prop_c, acc_c)
        diff = jnp.maximum(jnp.max(jnp.abs(z_c - z)), jnp.max(jnp.abs(vals_c - vals)))
        integration_error = jnp.where(success_c, jax.lax.stop_gradient(diff) / (np.sqrt(lo) - 1.0), jnp.inf)
    else:
        integration_error = jnp.zeros((), jnp.float64)
    avg = PeriodicAverages(
        expect=vals[nj + 1 : nj + 1 + n_o],
        flow=vals[nj + 1 + n_o :].reshape(n_o, nj),
        energy=vals[:nj],
        power=vals[nj],
    )
    return z, avg, residual, per_err, min_pivot, success, integration_error
