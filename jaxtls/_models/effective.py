"""Effective energies ``E~_a = Udot_a^av / Ndot_a^av`` (paper Eq. C3) of a periodic steady state,
continued smoothly through zero particle current.

**Zero particle current.** ``E~_a = Udot_a / Ndot_a`` is 0/0 where the lead is in equilibrium
with the system (``Ndot_a = 0``), e.g. the RWA two-level system with ``f_u = f_l``. Both
currents are smooth functions of ``f_a`` (the steady state depends on ``f_a`` through the
Liouvillian, which is affine in it). Where both vanish at ``f_a = f*``,
``U(f_a) = A d + A_2 d^2 + ...`` and ``N(f_a) = B d + B_2 d^2 + ...`` with ``d = f_a - f*``, so
``U/N -> A/B``. Using derivatives along ``f_a`` (primes), the second-order L'Hopital form

    G = (2 U' N' - U'' N) / (2 N'^2 - N'' N)

equals ``(A + A_2 d)/(B + B_2 d) = U/N + O(d^2)`` (with ``d ~ N/N'``) and stays finite at
``N = 0``, where it reduces to ``U'/N'``. The effective energy is the smooth blend

    E~_a = (U N^3 + sigma_a^4 G) / (N^4 + sigma_a^4) = G + (U - G N) N^3 / (N^4 + sigma_a^4),

which is ``U/N`` up to a relative ``(sigma_a / N)^4`` away from the zero and ``G`` within
``|N| <~ sigma_a``.

**Width.** The width is a particle current, relative to the gross particle flow of that lead:
``sigma_a = s g_a`` with ``g_a = gamma_a [f_a (1 - <n_a>) + (1 - f_a) <n_a>]`` (in-flow plus
out-flow, the two terms whose difference is ``Ndot_a``; `zero_current_scale` ``s``, default
``1e-8``). ``Ndot_a`` is computed as that difference, so its rounding error is about
``eps g_a`` (``eps = 2.2e-16``): below ``|Ndot_a| ~ 1e-8 g_a`` the plain ratio is known to a
relative ``2e-8`` at best, and below ``1e-10 g_a`` to ``1e-6`` only (the self-consistent
solver flags that, `jaxtls._models.selfconsistent_checks`). The blend changes the ratio by a
relative ``(s g_a / Ndot_a)^4``: less than ``1e-8`` wherever ``|Ndot_a| > 100 s g_a = 1e-6 g_a``;
in between it is reported (below). A narrower width would amplify the rounding noise of
``U - G N`` in the derivatives at a genuine 0/0 point (``h'(x) / sigma_a``); a wide blend (the
old default, ``1e-4`` in occupation units) is wrong wherever ``Udot_a`` does not vanish with
``Ndot_a`` (an
interacting system exchanges heat at zero particle current: particles enter at one energy and
leave at another), since ``G`` continues ``U/N`` from the zero of ``N`` where ``U/N`` itself
diverges. In the RWA two-level model ``U`` and ``N`` are exactly proportional, ``G = U/N``
everywhere and the blend is exact for any width.

**Warning.** The change of ``E~_a`` when the width is halved, ``(U - G N) [h(x) - 2 h(2x)] /
sigma_a`` with ``x = N / sigma_a``, ``h(x) = x^3 / (1 + x^4)``, bounds the effect of the
blend (`blend_change`); `jaxtls.effective_energies` warns (`ZeroCurrentWarning`) where it, plus
the rounding bound ``eps gamma_a / |Ndot_a| (|E~_a| + |mu_a| + T_a)``, exceeds
``1e-9 (|E~_a| + |mu_a| + T_a)``, and the self-consistent solver adds it to its
``effective_energy_tolerance``. The derivatives come from nested `jax.jvp` of the periodic
steady state with respect to ``f_a`` (which reuse the factorisation of the linear system).

Units: hbar = k_B = 1.
"""

from __future__ import annotations

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._engine.checks import ParameterError, is_concrete
from .floquet import resolve_method
from .system import FermionicSystem

__all__ = [
    "BLEND_WARN_RTOL",
    "BlendedEnergies",
    "ZeroCurrentWarning",
    "blended_effective_energies",
    "effective_energies",
    "regularised_effective_energies",
]

#: default `zero_current_scale`: blend width in units of the lead's gross particle flow
DEFAULT_ZERO_CURRENT_SCALE = 1e-8
#: `effective_energies` warns where halving the width moves ``E~_a`` by more than this times
#: ``|E~_a| + |mu_a| + T_a``
BLEND_WARN_RTOL = 1e-9


class ZeroCurrentWarning(RuntimeWarning):
    """The zero-current blend of ``E~_a`` changes the answer (module docstring)."""


class BlendedEnergies(eqx.Module):
    """``E~_a`` with its blend (module docstring), each ``(n_leads,)``.

    - `value`: the blended ``E~_a`` (energy units);
    - `inverse_current`: ``(1 - w_a) / |Ndot_a| + w_a / |Ndot_a'|`` (``w_a`` the weight of
      ``G``), the factor by which the absolute rounding error of the currents (about
      ``eps gamma_a``) enters ``E~_a`` (inverse current units);
    - `blend_change`: ``E~_a(sigma_a) - E~_a(sigma_a / 2)`` (energy units);
    - `gross_flow`: ``g_a = gamma_a [f_a (1 - <n_a>) + (1 - f_a) <n_a>]``;
    - `particle_current`: ``Ndot_a``.
    """

    value: Array
    inverse_current: Array
    blend_change: Array
    gross_flow: Array
    particle_current: Array


def _h(x):
    """``x^3 / (1 + x^4)``, without overflow for large ``|x|`` (then ``1/x``)."""
    big = jnp.abs(x) > 1e4
    xs = jnp.where(big, 0.0, x)
    xb = jnp.where(big, x, 1.0)
    return jnp.where(big, 1.0 / xb, xs**3 / (1.0 + xs**4))


def blended_effective_energies(system, method, f, scale) -> BlendedEnergies:
    """Blended ``E~_a`` of the periodic steady state at lead occupations ``f`` (module
    docstring); `scale` is ``s`` (width relative to the gross particle flow)."""
    nl = system.num_leads
    levels = np.array([lead.level for lead in system.leads])

    def currents(ff):
        st = method.solve(system, ff)
        return st.energy_current, st.particle_current, st.populations[levels]

    def along(v):
        def first(ff):
            return jax.jvp(currents, (ff,), (v,))

        (prim, d1), (_, d2) = jax.jvp(first, (f,), (v,))
        return prim, d1, d2

    prim, d1, d2 = jax.vmap(along)(jnp.eye(nl, dtype=f.dtype))
    u, n, pops = prim[0][0], prim[1][0], prim[2][0]
    idx = jnp.arange(nl)
    u1, n1 = d1[0][idx, idx], d1[1][idx, idx]
    u2, n2 = d2[0][idx, idx], d2[1][idx, idx]
    g = (2 * u1 * n1 - u2 * n) / (2 * n1**2 - n2 * n)
    gamma = system.lead_array("gamma")
    gross = gamma * (f * (1 - pops) + (1 - f) * pops)
    sigma = scale * jnp.abs(gross) + jnp.finfo(jnp.float64).tiny * gamma
    x = n / sigma
    excess = (u - g * n) / sigma
    e = g + excess * _h(x)
    change = excess * (_h(x) - 2 * _h(2 * x))
    xs = jnp.where(jnp.abs(x) > 1e4, 0.0, x)
    w = jnp.where(jnp.abs(x) > 1e4, 0.0, 1.0 / (1.0 + xs**4))
    inv = jnp.where(w < 1, (1 - w) / jnp.where(n == 0, 1.0, jnp.abs(n)), 0.0) + jnp.where(w > 0, w / jnp.abs(n1), 0.0)
    return BlendedEnergies(value=e, inverse_current=inv, blend_change=change, gross_flow=gross, particle_current=n)


def regularised_effective_energies(system, method, f, scale) -> Array:
    """Blended ``E~_a`` (module docstring), ``(n_leads,)``: `blended_effective_energies`'s value."""
    return blended_effective_energies(system, method, f, scale).value


def check_zero_current_scale(scale) -> float:
    """`zero_current_scale` must be a finite number in ``(0, 1e-2]``."""
    ok = isinstance(scale, (int, float, np.floating, np.integer)) and not isinstance(scale, bool)
    if not ok or not np.isfinite(scale) or not (0 < scale <= 1e-2):
        raise ParameterError(
            f"zero_current_scale must be a finite number in (0, 1e-2] (the blend width through "
            f"Ndot_a = 0 relative to the lead's gross particle flow), got {scale!r}"
        )
    return float(scale)


def blend_message(names, energies, change, rounding, e_scale) -> str | None:
    """Warning text for leads whose ``E~_a`` is uncertain by more than `BLEND_WARN_RTOL` times
    `e_scale`: the blend moves it (`change`) or the rounding of ``Ndot_a`` (`rounding`)."""
    ch = np.abs(np.asarray(change)) + np.asarray(rounding)
    bad = ~(ch <= BLEND_WARN_RTOL * np.asarray(e_scale))
    if not np.any(bad):
        return None
    flat = np.argwhere(bad)
    first = tuple(int(i) for i in flat[0])
    lead = names[first[-1]]
    return (
        f"jaxtls: the effective energy E~ = Udot/Ndot of lead {lead!r} (first of {flat.shape[0]}; "
        f"index {first}) is uncertain by {float(ch[first]):.3g} (energy units: the rounding of Ndot "
        f"plus the change when zero_current_scale is halved), more than {BLEND_WARN_RTOL:g} relative: "
        "its particle current is close to the rounding level of the gross flow, where Udot/Ndot is "
        "undetermined (it diverges where Udot does not vanish with Ndot). Treat this E~ as unresolved."
    )


def effective_energies(
    system: FermionicSystem,
    *,
    occupations=None,
    method=None,
    zero_current_scale: float = DEFAULT_ZERO_CURRENT_SCALE,
    return_blend_change: bool = False,
    warn: bool = True,
) -> Array:
    """Effective energies ``E~_a = Udot_a^av / Ndot_a^av`` (Eq. C3), continued smoothly through
    ``Ndot_a = 0`` (module docstring).

    **Arguments:**

    - `system`: a `FermionicSystem`.
    - `occupations`: lead occupations (``None`` / ``"bare"`` or an array ``(n_leads,)``).
    - `method`: periodic steady-state method (see `jaxtls.periodic_steady_state`).
    - `zero_current_scale`: the blend width ``s`` relative to each lead's gross particle flow
      ``gamma_a [f_a (1 - <n_a>) + (1 - f_a) <n_a>]`` (default ``1e-8``; in ``(0, 1e-2]``).
    - `return_blend_change`: also return ``E~_a(s) - E~_a(s / 2)``, the effect of the blend.
    - `warn`: with concrete inputs, warn (`ZeroCurrentWarning`) where the blend change plus the
      rounding bound ``eps gamma_a / |Ndot_a| (|E~_a| + |mu_a| + T_a)`` of ``E~_a`` exceeds
      ``1e-9 (|E~_a| + |mu_a| + T_a)``.

    **Returns:** ``(n_leads,)`` energies (energy units), or ``(energies, blend_change)``.
    """
    scale = check_zero_current_scale(zero_current_scale)
    meth = resolve_method(method, system, any_order=True)
    f = system.resolve_occupations(occupations)
    out = _blended_jit(system, meth, f, scale)
    if warn and is_concrete(out.value):
        e_scale = jnp.abs(out.value) + jnp.abs(system.lead_array("mu")) + system.lead_array("T")
        rounding = jnp.finfo(jnp.float64).eps * system.lead_array("gamma") * out.inverse_current * e_scale
        msg = blend_message(system.lead_names, out.value, out.blend_change, rounding, e_scale)
        if msg is not None:
            warnings.warn(msg, ZeroCurrentWarning, stacklevel=2)
    if return_blend_change:
        return out.value, out.blend_change
    return out.value


_blended_jit = eqx.filter_jit(blended_effective_energies)
