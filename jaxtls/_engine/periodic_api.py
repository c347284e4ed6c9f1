"""Periodic steady states of a user's driven `LindbladStructure` (the periodic counterpart of
`jaxtls.steady_state`; Appendix C of the paper).

A structure with a drive ``((q_1, D_1), ...)`` has the Hamiltonian
``H(t) = sum_k h_k H_k + sum_D (d_D D e^{-i q_D omega t} + h.c.)`` and the dissipator
``sum_j r_j D[s_j]``. Its periodic steady state ``rho(t) = sum_n rho_n e^{-i n omega t}`` is
found from the Floquet-Liouville equations truncated at ``|n| <= n_harm`` on the structure's
sector (`jaxtls._engine.harmonic.floquet_harmonics`: the harmonic index is one more block
level), and the period averages (C1, C2, Eq. 6) follow from the harmonics. Batched over the
leading axes of the coefficients, the drive amplitudes and ``omega`` (broadcast together);
differentiable (`jax.grad`, `jax.jacfwd`) through the block LU.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Complex, Float

from .blocklu import SINGULAR_PIVOT
from .checks import ParameterError, check_int, is_concrete
from .diagnostics import Diagnostics, SteadyStateError
from .harmonic import HarmonicOperators, floquet_harmonics, periodic_averages
from .result_base import AbstractResult
from .sector import Sector

__all__ = ["PeriodicState", "solve_periodic"]


@functools.lru_cache(maxsize=32)
def harmonic_operators(sector: Sector) -> HarmonicOperators:
    """The element-space arrays of a sector for periodic drives (built once per sector)."""
    return HarmonicOperators.from_sector(sector)


class PeriodicState(AbstractResult):
    """Periodic steady states of a driven `jaxtls.LindbladStructure` for a batch of points.

    Every field has the batch shape ``*batch`` in front; units are those of the coefficients
    (hbar = 1), flows per unit time.

    **Fields:**

    - `harmonics`: ``(*batch, 2 n_harm + 1, E)`` complex element vectors of ``rho_n``,
      ``n = -n_harm..n_harm`` (the sector's elements ``rho_ij``, `Sector.keys`).
    - `expect`: ``(*batch, n_O)`` period averages ``<Tr{O_m rho(t)}>`` of the observables.
    - `flows`: ``(*batch, n_O, n_J)`` period-averaged ``r_j <Tr{O_m D[s_j] rho}>`` (for a lead,
      its particle current C2 is the sum over its jumps of the number operator's row).
    - `energy_flows`: ``(*batch, n_J)`` ``r_j <Tr{H(t) D[s_j] rho(t)}>`` (C1 per jump).
    - `power`: ``(*batch,)`` ``<Tr{rho dH/dt}>`` absorbed from the drive (Eq. 6).
    - `harmonic_tail`: ``max(|rho_{n_harm}|, |rho_{-n_harm}|)``; part of ``ok``.
    - `diagnostics`: `jaxtls.Diagnostics` (relative residual of the Floquet system, trace
      error, smallest eigenvalue of ``rho(0)`` and of the period average, ``ok``: finite, all
      below ``tol``, harmonic tail below ``tol``, no singular pivot).
    - `omega` ``(*batch,)``; `sector` and `n_harm` (static).
    """

    harmonics: Complex[Array, "*batch H E"]
    expect: Float[Array, "*batch nO"]
    flows: Float[Array, "*batch nO nJ"]
    energy_flows: Float[Array, "*batch nJ"]
    power: Float[Array, "*batch"]
    harmonic_tail: Float[Array, "*batch"]
    diagnostics: Diagnostics
    omega: Float[Array, "*batch"]
    sector: Sector = eqx.field(static=True)
    n_harm: int = eqx.field(static=True)

    @property
    def ok(self) -> Bool[Array, "*batch"]:
        """``diagnostics.ok``: every check of the point passed."""
        return self.diagnostics.ok

    def density_matrix(self, index=(), t=None) -> Complex[Array, "d d"]:
        """The ``d x d`` density matrix of one point (``index`` into the batch shape): the
        period average, or ``rho(t)`` at time `t`. Elements outside the sector are 0."""
        z = self.harmonics[index]
        if z.ndim != 2:
            raise ParameterError(f"index must select one point of the batch shape {self.shape}, got {index!r}")
        hops = harmonic_operators(self.sector)
        if t is None:
            return hops.to_matrix(z[self.n_harm])
        n = jnp.arange(-self.n_harm, self.n_harm + 1)
        phase = jnp.exp(-1j * n * self.omega[index] * jnp.asarray(t, jnp.float64))
        return hops.to_matrix(phase @ z)


def _one_point(hops: HarmonicOperators, c, d, omega, n_harm: int, tol: float):
    z, residual, min_pivot = floquet_harmonics(hops, c, d, omega, n_harm)
    avg = periodic_averages(hops, c, d, omega, z)
    rates = c[hops.num_ham :]
    z_av, z0 = z[n_harm], jnp.sum(z, axis=0)
    tail = jnp.maximum(jnp.linalg.norm(z[0]), jnp.linalg.norm(z[-1])) if n_harm > 0 else jnp.zeros(())
    trace_error = jnp.abs(jnp.sum(hops.trace * z_av) - 1.0)
    min_eig = jnp.min(hops.min_eigenvalue(jnp.stack([z_av, z0])))
    flows, energy = avg.flow * rates[None, :], avg.energy * rates
    finite = jnp.all(jnp.isfinite(flows)) & jnp.all(jnp.isfinite(energy)) & jnp.isfinite(avg.power)
    inputs = jnp.all(jnp.isfinite(c)) & jnp.all(rates >= 0) & jnp.all(jnp.isfinite(d)) & (omega > 0)
    ok = (
        finite
        & inputs
        & (residual < tol)
        & (trace_error < tol)
        & (min_eig >= -tol)
        & (tail < tol)
        & (min_pivot > SINGULAR_PIVOT)
    )
    diag = Diagnostics(residual=residual, trace_error=trace_error, min_eigenvalue=min_eig, ok=ok)
    return z, avg.expect, flows, energy, avg.power, tail, diag


@eqx.filter_jit
def _periodic_core(hops, c, d, omega, n_harm, tol, traced):
    out = jax.vmap(lambda c_, d_, w_: _one_point(hops, c_, d_, w_, n_harm, tol))(c, d, omega)
    if traced:  # throw=True under jit: the checks act at run time, on every output
        out = eqx.error_if(
            out,
            ~out[-1].ok,
            "periodic steady state failed its checks (residual, trace, positivity or harmonic tail "
            "above tol, a singular Floquet system, or non-finite / negative-rate inputs): raise n_harm, "
            "or pass throw=False",
        )
    return out


def _check_drive(structure, drive, omega, n_harm):
    nd = structure.num_drive
    if drive is None or omega is None:
        raise ParameterError(
            f"this structure has a periodic drive: pass drive (complex amplitudes, shape (*batch, {nd})) "
            "and omega (the drive frequency, > 0)"
        )
    try:
        d = jnp.asarray(drive, jnp.complex128)
        w = jnp.asarray(omega, jnp.float64) if not jnp.iscomplexobj(jnp.asarray(omega)) else None
    except TypeError as err:
        raise ParameterError("drive must be a complex array and omega a real array") from err
    if w is None:
        raise ParameterError(f"omega must be real, got {omega!r}")
    if d.ndim < 1 or d.shape[-1] != nd:
        raise ParameterError(f"drive must have shape (*batch, {nd}) (one amplitude per drive term), got {d.shape}")
    if is_concrete(d) and not np.all(np.isfinite(np.asarray(d))):
        raise ParameterError("drive must be finite")
    if is_concrete(w) and not (np.all(np.isfinite(np.asarray(w))) and np.all(np.asarray(w) > 0)):
        raise ParameterError(f"omega must be finite and > 0, got {omega!r}")
    k = structure.max_harmonic
    n = 12 * k if n_harm is None else check_int("n_harm", n_harm, lo=k)
    return d, w, n


def solve_periodic(sector: Sector, c, drive, omega, n_harm, tol: float, throw: bool) -> PeriodicState:
    """Periodic steady states for validated coefficients ``c`` ``(*batch, T)`` (the driven
    branch of `jaxtls.steady_state`; module docstring)."""
    structure = sector.structure
    d, w, n = _check_drive(structure, drive, omega, n_harm)
    batch = jnp.broadcast_shapes(c.shape[:-1], d.shape[:-1], w.shape)
    nt, nd = c.shape[-1], d.shape[-1]
    cf = jnp.broadcast_to(c, batch + (nt,)).reshape(-1, nt)
    df = jnp.broadcast_to(d, batch + (nd,)).reshape(-1, nd)
    wf = jnp.broadcast_to(w, batch).reshape(-1)
    traced = not (is_concrete(cf) and is_concrete(df) and is_concrete(wf))
    hops = harmonic_operators(sector)
    z, expect, flows, energy, power, tail, diag = _periodic_core(hops, cf, df, wf, n, float(tol), throw and traced)
    if throw and not traced:
        ok = np.asarray(diag.ok)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            raise SteadyStateError(
                f"{bad.size} of {ok.size} periodic steady states failed the checks (tol={tol:g}): max "
                f"residual {float(np.max(np.asarray(diag.residual)[bad])):.2e}, max harmonic tail "
                f"{float(np.max(np.asarray(tail)[bad])):.2e} (n_harm = {n}; raise it if the tail is "
                "large), min eigenvalue "
                f"{float(np.min(np.asarray(diag.min_eigenvalue)[bad])):.2e}; pass throw=False for the flagged results"
            )
    res = PeriodicState(z, expect, flows, energy, power, tail, diag, wf, sector, n)
    return jax.tree_util.tree_map(lambda a: a.reshape(batch + a.shape[1:]), res)
