"""L-I curves of the semiclassical laser (Model C): photon output versus pump."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.checks import ParameterError
from .._engine.result_base import AbstractResult
from .laser import solve_laser

__all__ = ["LICurve", "laser_li_curve"]


class LICurve(AbstractResult):
    """Light output versus pump of the semiclassical laser (see `laser_li_curve`).

    **Fields** (arrays of the broadcast shape of `pump` and the other parameters):

    - `pump`: the pump values; `pump_name`: which parameter was swept (static).
    - `output_power`: photon output power ``P_out = gamma_b omega |a|^2`` (energy per unit time;
      the photon flux ``gamma_b |a|^2`` times the photon energy ``omega``, Eq. 30).
    - `photon_flux`: ``gamma_b |a|^2`` (photons per unit time; equals the current ``R``).
    - `current`: particle current ``R`` through the device (u lead -> l lead).
    - `input_power`: chemical (electrical) power ``R (mu_u - mu_l)``.
    - `threshold`: the pump ratio ``r`` (lasing iff ``r > 1``); `lasing`: ``r > 1``.
    - `omega`, `intensity`: as in `LaserResult`.
    - `pump_at_threshold`: the pump value where ``r`` crosses 1 (linear interpolation on the
      given 1-D grid; NaN if it does not cross, or for grids of other shapes).
    - `ok`: the `LaserResult.ok` of every point (converged, stable, inputs valid).
    """

    pump: Array
    output_power: Array
    photon_flux: Array
    current: Array
    input_power: Array
    threshold: Array
    lasing: Array
    omega: Array
    intensity: Array
    pump_at_threshold: Array
    ok: Array
    pump_name: str = eqx.field(static=True, default="mu_u")


def laser_li_curve(pump, *, pump_name: str = "mu_u", method: str = "closed_form", **params) -> LICurve:
    """L-I curve: photon output power versus pump.

    **Arguments:**

    - `pump`: values of the pump parameter (array).
    - `pump_name`: which `solve_laser` parameter is the pump (default ``"mu_u"``, the
      chemical potential of the injecting lead; ``"mu_l"``, ``"T_u"``, ``"g"``, ... work too).
      The injection current ``R`` itself is not a good abscissa in this model: without
      spontaneous emission into the mode it vanishes below threshold, and above it
      ``P_out = omega R`` exactly.
    - `method`: ``"closed_form"`` or ``"integrate"`` (as in `solve_laser`).
    - `**params`: every other `solve_laser` argument.

    **Returns:** an `LICurve` with ``output_power = gamma_b omega |a|^2``.
    """
    if pump_name in params:
        raise ParameterError(f"{pump_name!r} is the pump parameter; pass its values as `pump`")
    params = dict(params)
    params[pump_name] = pump
    res = solve_laser(method=method, **params)
    gamma_b = jnp.broadcast_to(jnp.asarray(params["gamma_b"], float), res.shape)
    mu_bias = jnp.broadcast_to(jnp.asarray(params["mu_u"], float) - jnp.asarray(params["mu_l"], float), res.shape)
    flux = gamma_b * res.intensity
    pump_arr = jnp.broadcast_to(jnp.asarray(pump, float), res.shape)
    return LICurve(
        pump=pump_arr,
        output_power=flux * res.omega,
        photon_flux=flux,
        current=res.rate,
        input_power=res.rate * mu_bias,
        threshold=res.threshold,
        lasing=res.lasing,
        omega=res.omega,
        intensity=res.intensity,
        pump_at_threshold=jnp.asarray(_crossing(np.asarray(pump_arr), np.asarray(res.threshold))),
        ok=res.ok,
        pump_name=pump_name,
    )


def _crossing(x, r) -> float:
    if x.ndim != 1 or x.size < 2:
        return float("nan")
    s = r - 1.0
    idx = np.flatnonzero(np.sign(s[:-1]) * np.sign(s[1:]) < 0)
    if idx.size == 0:
        return float("nan")
    i = int(idx[0])
    return float(x[i] - s[i] * (x[i + 1] - x[i]) / (s[i + 1] - s[i]))
