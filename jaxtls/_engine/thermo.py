"""Thermodynamic ingredients: occupation functions and entropy production.

Units: hbar = k_B = 1; energies, chemical potentials and temperatures share one unit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["fermi", "bose", "entropy_production_rate"]


def fermi(energy, mu, temperature):
    """Fermi function ``1 / (exp((E - mu)/T) + 1)`` (Eq. 9).

    Evaluated as ``sigmoid(-(E - mu)/T)``: no overflow and no NaN for arguments of
    +-1000 or beyond, and finite derivatives everywhere.
    """
    return jax.nn.sigmoid(-(energy - mu) / temperature)


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
