"""`LaserResult`, the steady state of the semiclassical laser (Model C), and its assembly."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._engine.result_base import AbstractResult
from .._engine.thermo import entropy_production_rate
from .laser_equations import (
    default_seed,
    laser_effective_energies,
    linear_stability,
    ode_args,
    pump_ratio,
    stability_tolerance,
)

__all__ = ["LaserResult", "assemble"]


class LaserResult(AbstractResult):
    """Steady state of the semiclassical laser (Model C).

    Every array field has the broadcast shape of the parameters. Units: hbar = k_B = 1, one
    energy unit for energies, frequencies, rates and temperatures; currents are per unit time,
    *into* the system from the named reservoir.

    **Fields:**

    - `lasing`: bool, the laser oscillates (closed form: pump ratio ``threshold > 1``;
      integration: the seed field grew instead of decaying).
    - `omega`: lasing frequency (Eq. 30 = ``E~_ph``; integration: ``omega_f`` minus the phase
      rotation rate of ``a`` in the final state, which below threshold is the frequency of the
      decaying field).
    - `intensity`: ``|a|^2`` (mean photon number of the coherent field; 0 below threshold in the
      closed form, the decayed remainder of the seed when integrated). Alias `photon_number`.
    - `amplitude`: ``|a|`` (the phase of ``a`` is arbitrary; the gauge is ``a`` real >= 0).
    - `threshold`: pump ratio ``r`` from the real part of Eq. 29; lasing iff ``r > 1``
      (``r <= 0`` for a non-inverted medium).
    - `rate`: net transition rate ``R`` (u -> l), equal to the photon output rate
      ``gamma_b |a|^2`` in the steady state.
    - `populations`: ``{"u", "l"}`` sigma_uu, sigma_ll.
    - `coherence`: ``sigma_ul`` in the gauge where ``a`` is real and positive.
    - `occupation`: ``{"u", "l"}`` lead occupations f_u, f_l used.
    - `effective_energy`: ``{"u", "l", "ph"}`` Eq. 21 energies (= Eq. 14 at ``omega``) and
      ``E~_ph`` = Eq. 30.
    - `particle_current`, `energy_current`: ``{"u", "l"}`` Ndot_a and Udot_a (Eq. 5),
      ``Udot_u = E~_u R``, ``Udot_l = -E~_l R``.
    - `power`: ``P = -omega R``, power absorbed from the coherent field (negative: the laser
      delivers work).
    - `output_power`: photon output power ``gamma_b omega |a|^2`` (energy per unit time).
    - `entropy_production`: entropy production of the two leads, ``sum_a (-Udot_a +
      mu_a Ndot_a)/T_a`` (Eq. 2), with the coherent output counted as work.
    - `converged`, `residual`, `t_final`: integration diagnostics (gauge-invariant residual of
      the equations of motion divided by ``gamma_u + gamma_l + gamma_b``, final time); the
      closed form reports ``True, 0, 0``.
    - `growth_rate`: linear stability of the reported state: the largest real part of the
      eigenvalues of the linearised Eqs. (B1, B2, 25, 26) without the neutral phase mode
      (energy units; `jaxtls._models.laser_equations.linear_stability`). Positive: the steady
      state is unstable (the laser pulsates, e.g. the Lorenz-Haken instability of a bad-cavity
      laser far above threshold) and the closed-form numbers are not what the laser does.
    - `stable`: ``growth_rate <= 1e-9 (gamma_u + gamma_l + gamma_b)``.
    - `ok`: the result can be trusted: converged, stable and finite.
    - `occupations`, `method`: which prescription and method produced this result.
    """

    lasing: Array
    omega: Array
    intensity: Array
    amplitude: Array
    threshold: Array
    rate: Array
    populations: dict
    coherence: Array
    occupation: dict
    effective_energy: dict
    particle_current: dict
    energy_current: dict
    power: Array
    output_power: Array
    entropy_production: Array
    converged: Array
    residual: Array
    t_final: Array
    growth_rate: Array
    stable: Array
    ok: Array
    occupations: str = eqx.field(static=True, default="effective")
    method: str = eqx.field(static=True, default="closed_form")

    @property
    def photon_number(self) -> Array:
        """Mean photon number ``|a|^2`` of the coherent field (same as `intensity`)."""
        return self.intensity


def assemble(p, occupations, method, *, omega, intensity, s_uu, s_ll, coherence, rate, f_u, f_l,
              lasing, converged, residual, t_final, energy_current=None) -> LaserResult:  # fmt: skip
    e_u, e_l, e_ph = laser_effective_energies(
        p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"]
    )
    if energy_current is None:
        energy_current = {"u": e_u * rate, "l": -e_l * rate}
    particle = {"u": rate, "l": -rate}
    s_u = entropy_production_rate(energy_current["u"], particle["u"], p["mu_u"], p["T_u"])
    s_l = entropy_production_rate(energy_current["l"], particle["l"], p["mu_l"], p["T_l"])
    # linear stability in the frame rotating at the reported frequency (gauge: a real >= 0)
    amp = jnp.sqrt(intensity)
    y = jnp.stack([s_uu, s_ll, jnp.real(coherence), jnp.imag(coherence), amp, jnp.zeros_like(amp)], axis=-1)
    seed = p["a0"] if "a0" in p else default_seed(p)
    args = ode_args(dict(p, omega_frame=omega, a0=seed), occupations)
    growth, _ = linear_stability(y, args, intensity > 0)
    stable = growth <= stability_tolerance(args)
    finite = jnp.all(jnp.isfinite(jnp.stack([intensity, rate, omega, s_uu, s_ll])), axis=0)
    return LaserResult(
        lasing=lasing,
        omega=omega,
        intensity=intensity,
        amplitude=jnp.sqrt(intensity),
        threshold=pump_ratio(p, e_ph, f_u, f_l),
        rate=rate,
        populations={"u": s_uu, "l": s_ll},
        coherence=coherence,
        occupation={"u": f_u, "l": f_l},
        effective_energy={"u": e_u, "l": e_l, "ph": e_ph},
        particle_current=particle,
        energy_current=energy_current,
        power=-omega * rate,
        output_power=p["gamma_b"] * omega * intensity,
        entropy_production=s_u + s_l,
        converged=converged,
        residual=residual,
        t_final=t_final,
        growth_rate=growth,
        stable=stable,
        ok=converged & stable & finite,
        occupations=occupations,
        method=method,
    )
