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

    E~_a = (U N^3 + s^4 N'^4 G) / (N^4 + s^4 N'^4),

which is ``U/N`` up to a relative ``(s N'/N)^4`` away from the zero (``|d| >> s``) and
``G`` within ``|d| <~ s`` (error ``O(s^2)`` times the curvature; rounding ``O(eps/s)``).
The derivatives come from nested `jax.jvp` of the periodic steady state with respect to
``f_a`` (which reuse the factorisation of the linear system). Default ``s = 1e-4``
(`zero_current_scale`, in units of the occupation). In the RWA two-level model ``U`` and ``N``
are exactly proportional, ``G = U/N`` everywhere and the blend is exact. If ``Udot_a`` does not
vanish with ``Ndot_a`` (heat without particle exchange), the true ``E~_a`` diverges there; the
blend stays finite and the mismatch is reported as ``effective_energy_residual``.

Units: hbar = k_B = 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .floquet import resolve_method
from .system import FermionicSystem

__all__ = ["effective_energies", "regularised_effective_energies"]


# ------------------------------------------------------------------------------------------------
# Effective energies with their continuation through Ndot_a = 0
# ------------------------------------------------------------------------------------------------
def _currents(system, method, f):
    st = method.solve(system, f)
    return st.energy_current, st.particle_current


def regularised_effective_energies(system, method, f, scale, *, with_inverse_current=False):
    """Blended ``E~_a`` (module docstring), ``(n_leads,)``. With `with_inverse_current`, also
    ``(1 - w_a) / |Ndot_a| + w_a / |Ndot_a'|`` (``w_a`` the weight of the continuation ``G``):
    the factor by which the absolute rounding error of the currents (about ``eps gamma_a``)
    enters ``E~_a`` (inverse current units)."""
    nl = system.num_leads

    def along(v):
        def first(ff):
            return jax.jvp(lambda x: _currents(system, method, x), (ff,), (v,))

        (prim, d1), (_, d2) = jax.jvp(first, (f,), (v,))
        return prim, d1, d2

    prim, d1, d2 = jax.vmap(along)(jnp.eye(nl, dtype=f.dtype))
    u, n = prim[0][0], prim[1][0]
    idx = jnp.arange(nl)
    u1, n1 = d1[0][idx, idx], d1[1][idx, idx]
    u2, n2 = d2[0][idx, idx], d2[1][idx, idx]
    g = (2 * u1 * n1 - u2 * n) / (2 * n1**2 - n2 * n)
    s4n4 = scale**4 * n1**4
    e = (u * n**3 + s4n4 * g) / (n**4 + s4n4)
    if not with_inverse_current:
        return e
    w = s4n4 / (n**4 + s4n4)
    inv = jnp.where(w < 1, (1 - w) / jnp.abs(n), 0.0) + jnp.where(w > 0, w / jnp.abs(n1), 0.0)
    return e, inv


def effective_energies(
    system: FermionicSystem, *, occupations=None, method=None, zero_current_scale: float = 1e-4
) -> Array:
    """Effective energies ``E~_a = Udot_a^av / Ndot_a^av`` (Eq. C3), continued smoothly through
    ``Ndot_a = 0`` (module docstring).

    **Arguments:**

    - `system`: a `FermionicSystem`.
    - `occupations`: lead occupations (``None`` / ``"bare"`` or an array ``(n_leads,)``).
    - `method`: periodic steady-state method (see `jaxtls.periodic_steady_state`).
    - `zero_current_scale`: the width ``s`` (in occupation units) of the blend.

    **Returns:** ``(n_leads,)`` energies (energy units).
    """
    meth = resolve_method(method, system, any_order=True)
    f = system.resolve_occupations(occupations)
    return regularised_effective_energies(system, meth, f, zero_current_scale)
