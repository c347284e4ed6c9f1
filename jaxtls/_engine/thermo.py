"""Thermodynamic ingredients: occupation functions and entropy production.

Units: hbar = k_B = 1; energies, chemical potentials and temperatures share one unit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "fermi",
    "fermi_hole",
    "bose",
    "bose_plus_one",
    "entropy_production_rate",
    "affinity_entropy_production",
    "rate_error_bound",
]


def fermi(energy, mu, temperature):
    """Fermi function ``1 / (exp((E - mu)/T) + 1)`` (Eq. 9).

    Evaluated as ``sigmoid(-(E - mu)/T)``: no overflow and no NaN for arguments of
    +-1000 or beyond, and finite derivatives everywhere.
    """
    return jax.nn.sigmoid(-(energy - mu) / temperature)


def fermi_hole(energy, mu, temperature):
    """``1 - f = 1 / (exp(-(E - mu)/T) + 1)`` (Eq. 8: the rate of ``D[c_a]`` per ``gamma_a``).

    Evaluated as ``sigmoid(+(E - mu)/T)``, not as ``1 - fermi``: exact (to relative rounding)
    where ``f`` rounds to 1 (``E - mu << -T``: cold, filled leads), so the rate keeps its true
    tiny value instead of cancelling to 0 or to ~1e-17.
    """
    return jax.nn.sigmoid((energy - mu) / temperature)


def bose_plus_one(energy, temperature):
    """``n + 1 = 1 / (1 - exp(-E/T))`` for ``E > 0`` (Eq. 17: the rate of ``D[a]`` per
    ``gamma_b``), as ``1 / (-expm1(-x))``: exact where ``n`` underflows (cold bath) or is
    huge (hot bath). Non-positive ``E/T`` give ``nan``."""
    x = energy / temperature
    xs = jnp.where(x > 0, x, 1.0)
    return jnp.where(x > 0, 1.0 / (-jnp.expm1(-xs)), jnp.nan)


def bose(energy, temperature):
    """Bose function ``1 / (exp(E/T) - 1)`` for ``E > 0`` (Eq. 9 for the bath).

    Evaluated as ``exp(-x) / (-expm1(-x))`` with ``x = E/T``: no overflow for large ``x``
    (tends to 0), exact ``T/E`` behaviour for small ``x``, and finite derivatives. Non-positive
    ``E/T`` give ``nan`` (the callers validate their arguments before).
    """
    x = energy / temperature
    xs = jnp.where(x > 0, x, 1.0)
    out = jnp.exp(-xs) / (-jnp.expm1(-xs))
    return jnp.where(x > 0, out, jnp.nan)


def entropy_production_rate(energy_current, particle_current, mu, temperature):
    """``Sdot_a = (-Udot_a + mu_a Ndot_a) / T_a`` (Eq. 2): entropy flow into reservoir ``a``."""
    return (-energy_current + mu * particle_current) / temperature


#: unit roundoff of float64
EPS = float(jnp.finfo(jnp.float64).eps)


def affinity_entropy_production(rate, reservoirs, rate_error):
    """Entropy production of a single-cycle steady state as current times affinity, with a
    bound on its rounding error.

    For a steady state in which every reservoir ``a`` exchanges particles at ``Ndot_a = nu_a R``
    (``nu_a = +-1``: one net cycle with rate ``R``) and energy at ``Udot_a = E~_a Ndot_a``
    exactly (Models A and B: Eqs. 11-13 and 21, whatever the occupations), the sum of Eq. 2 is

        ``Sdot = sum_a (-Udot_a + mu_a Ndot_a) / T_a = R A``,  ``A = sum_a nu_a (mu_a - E~_a) / T_a``

    (Eqs. 15 and 22). Summing the reservoirs' entropy flows instead cancels terms of size
    ``|Udot_a| / T_a`` down to ``R A``, an absolute error of ~1e-16 of the gross flows that near
    equilibrium exceeds the value itself; ``R A`` has a relative error of that of ``R`` plus
    rounding of ``A``, and the sign of ``R A`` is the sign of the second law.

    **Arguments:** `rate` (``R``), `reservoirs`: a sequence of ``(nu, mu, E~, E_ref, T)`` (``E_ref``
    the bare energy the effective one is computed from, for the rounding of ``E~``), and
    `rate_error`: a bound on the absolute error of ``R``. **Returns** ``(Sdot, tolerance)`` with
    ``tolerance = |A| rate_error + |R| dA + eps |Sdot|``, ``dA = 8 eps sum_a (|mu_a| + |E~_a| +
    |E_ref_a|) / T_a`` (the rounding of the differences, quotients and the sum, and of ``E~_a``
    from the inputs). Units: k_B per unit time.
    """
    affinity = 0.0
    gross = 0.0
    for nu, mu, energy, energy_ref, temperature in reservoirs:
        affinity = affinity + nu * (mu - energy) / temperature
        gross = gross + (jnp.abs(mu) + jnp.abs(energy) + jnp.abs(energy_ref)) / temperature
    sdot = rate * affinity
    tol = jnp.abs(affinity) * rate_error + jnp.abs(rate) * 8 * EPS * gross + EPS * jnp.abs(sdot)
    return sdot, tol


def rate_error_bound(residual, rates, gross_rate):
    """A bound on the absolute error of a net rate ``R`` read off a steady state whose linear
    system was solved to relative residual `residual`: ``64 max(eps, residual) kappa
    gross_rate`` with ``kappa = max(rates) / min(rates)`` (the spread of the rates -- lead,
    bath and coupling rates -- bounds the conditioning of the steady-state problem;
    `gross_rate` is the scale of the terms ``R`` is a difference of)."""
    rates = jnp.stack([jnp.abs(jnp.asarray(r, jnp.float64)) for r in jnp.broadcast_arrays(*rates)])
    kappa = jnp.max(rates, axis=0) / jnp.maximum(jnp.min(rates, axis=0), jnp.finfo(jnp.float64).tiny)
    return 64 * jnp.maximum(EPS, residual) * kappa * gross_rate
