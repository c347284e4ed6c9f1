"""Model C: the semiclassical laser and frequency pulling (paper Sec. IV).

The cavity field is a coherent amplitude ``a`` (semiclassical approximation, Eq. 24), so the
quantum model B reduces to Model A with ``eps = g a``. In a frame rotating at a frequency
``omega_f`` (``sigma_ul = e^{i omega_f t} <c_l^+ c_u>``, ``a = e^{i omega_f t} <a>``) the
equations of motion are (hbar = k_B = 1; six real unknowns: sigma_uu, sigma_ll and the real and
imaginary parts of sigma_ul and a)

- ``d sigma_uu/dt = gamma_u (f_u - sigma_uu) - R``, ``d sigma_ll/dt = gamma_l (f_l - sigma_ll) + R``
  (B1, B2) with ``R = 2 Im{g^* a^* sigma_ul}`` the net rate of u -> l transitions;
- ``d sigma_ul/dt = i Delta_f sigma_ul + i g a (sigma_uu - sigma_ll) - (gamma_u + gamma_l)/2 sigma_ul``
  (Eq. 25 with ``Delta_f = omega_f - (E_u - E_l)``; the paper prints ``g^* a^*`` in the drive
  term, ``g a`` is what follows from Eq. A3 with ``eps = g a`` and what reproduces Eq. 30);
- ``d a/dt = i (omega_f - omega_cav) a - i g^* sigma_ul - gamma_b/2 a`` (Eq. 26).

They are invariant under ``(sigma_ul, a) -> e^{i phi} (sigma_ul, a)``: above threshold the
attractor is a circle on which ``a(t) = |a| e^{i (omega_f - omega) t}``, and the lasing frequency
``omega`` is read off from the rotation of the phase of ``a``. Consistency of the steady state
(Eqs. 27-29) gives in closed form

- the lasing frequency (Eq. 30, frequency pulling)
  ``omega = [(gamma_u + gamma_l) omega_cav + gamma_b (E_u - E_l)] / (gamma_u + gamma_l + gamma_b)``,
  which equals the effective photon energy ``E~_ph`` of the quantum model (Eq. 21);
- from the real part of Eq. 29, the saturation factor ``H = 1/r`` with the pump ratio
  ``r = |g|^2 (f_u - f_l) / [gamma_b Gamma/4 - (omega - omega_cav) Delta]`` (``Gamma = gamma_u +
  gamma_l``, ``Delta = omega - (E_u - E_l)``): the laser oscillates iff ``r > 1``, and then
  ``|g a|^2 = (r - 1) gamma_u gamma_l (Gamma^2/4 + Delta^2) / Gamma^2``.

**Which effective energies.** With ``occupations="effective"`` the lead occupations are Fermi
functions of the effective energies of Eq. 14 evaluated at the *lasing* frequency. Because
Eq. 30 does not involve the occupations, that frequency is known before the populations are,
and Eq. 14 at ``omega`` (Eq. 30) is identical to the cavity-model energies of Eq. 21,
``E~_u = E_u + gamma_u Delta_cav / (gamma_u + gamma_l + gamma_b)``,
``E~_l = E_l - gamma_l Delta_cav / (gamma_u + gamma_l + gamma_b)``, ``Delta_cav = omega_cav - (E_u - E_l)``,
with ``E~_u - E~_l = omega = E~_ph``. jaxtls therefore uses Eq. 21 energies, also in the ODE
integration: they do not depend on the arbitrary frame frequency ``omega_f`` (Eq. 14 at the
frame frequency would make the physics depend on the frame), they are the Appendix C fixed point
``E~_a = Udot_a / Ndot_a`` of the lasing steady state (so ``"self_consistent"`` is accepted and
equal to ``"effective"``), they coincide with what the quantum model (`solve_cavity`) uses for
the same parameters, and they stay defined below threshold. Treating the coherent output as
work (``P = -omega R``), lasing with effective occupations needs
``f_u(E~_u) > f_l(E~_l)``, i.e. ``(E~_u - mu_u)/T_u < (E~_l - mu_l)/T_l``, so the entropy
production of the two leads is positive whenever the laser runs (with ``T_u = T_l`` this is
``omega < mu_u - mu_l``); with ``occupations="bare"`` it can be negative.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._engine.checks import ParameterError, check_flag, is_concrete
from .laser_equations import (
    PARAMETERS,
    RULES,
    check_controls,
    laser_effective_energies,
    lasing_frequency,
    occupations_used,
    ode_args,
    phase_rate_and_residual,
    prepare,
    pump_ratio,
    reshape,
    rhs,
    seed_state,
)
from .laser_result import LaserResult, assemble
from .result import SteadyStateError

__all__ = ["LaserResult", "solve_laser", "lasing_frequency", "laser_effective_energies", "PARAMETERS", "RULES"]


# --------------------------------------------------------------------------- closed forms


@eqx.filter_jit
def _closed_form_core(p: dict, occupations: str) -> LaserResult:
    gu, gl, gb, g = p["gamma_u"], p["gamma_l"], p["gamma_b"], p["g"]
    gam = gu + gl
    omega = lasing_frequency(p["E_u"], p["E_l"], p["omega_cav"], gu, gl, gb)  # Eq. 30
    delta = omega - (p["E_u"] - p["E_l"])
    f_u, f_l = occupations_used(p, occupations)
    r = pump_ratio(p, omega, f_u, f_l)
    lasing = r > 1
    # |g a|^2 from H(|g a|^2) = 1/r (real part of Eq. 29, A8)
    x = jnp.where(lasing, (r - 1) * gu * gl * (gam**2 / 4 + delta**2) / gam**2, 0.0)
    g2 = jnp.abs(g) ** 2
    intensity = jnp.where(lasing, x / jnp.where(g2 > 0, g2, 1.0), 0.0)
    alpha = x * gam / (gam**2 / 4 + delta**2)
    denom = gu * gl + alpha * gam
    h = gu * gl / denom
    s_uu = (alpha * (gu * f_u + gl * f_l) + gu * gl * f_u) / denom  # A11
    s_ll = (alpha * (gu * f_u + gl * f_l) + gu * gl * f_l) / denom
    rate = alpha * h * (f_u - f_l)  # A8 with eps = g a
    eps = g * jnp.sqrt(intensity)  # gauge: a real >= 0
    coherence = -eps * (s_uu - s_ll) / (delta + 0.5j * gam)  # A12 / Eq. 28
    ones = jnp.ones_like(omega)
    return assemble(
        p, occupations, "closed_form", omega=omega, intensity=intensity, s_uu=s_uu, s_ll=s_ll,
        coherence=coherence, rate=rate, f_u=f_u, f_l=f_l, lasing=lasing,
        converged=ones > 0, residual=0 * ones, t_final=0 * ones,
    )  # fmt: skip


# --------------------------------------------------------------------------- integration


@eqx.filter_jit
def _integrate_core(p, occupations, controls, max_steps) -> LaserResult:
    import diffrax

    rtol, atol, steady_tol = controls["rtol"], controls["atol"], controls["steady_tol"]

    args = ode_args(p, occupations)

    def one(args):
        g3 = args["gamma_u"] + args["gamma_l"] + args["gamma_b"]

        def cond(t, y, args, **kwargs):
            return phase_rate_and_residual(y, args)[1] < steady_tol

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs),
            diffrax.Tsit5(),
            t0=0.0,
            t1=controls["t_max"] / g3,
            dt0=None,
            y0=seed_state(args),
            args=args,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            event=diffrax.Event(cond),
            saveat=diffrax.SaveAt(t1=True),
            max_steps=max_steps,
            throw=False,
        )
        y = sol.ys[-1]
        delta, res = phase_rate_and_residual(y, args)
        return y, delta, res, sol.ts[-1]

    y, delta, res, t_final = jax.vmap(one)(args)
    g = p["g"]
    s = y[:, 2] + 1j * y[:, 3]
    a = y[:, 4] + 1j * y[:, 5]
    a_abs = jnp.abs(a)
    phase = jnp.where(a_abs > 0, a / jnp.where(a_abs > 0, a_abs, 1.0), 1.0)
    coherence = s * jnp.conj(phase)  # gauge: a real >= 0
    eps = g * a_abs
    rate = 2 * jnp.imag(jnp.conj(eps) * coherence)
    # energy currents from the state itself: Udot_a = Tr{H^R L_a[rho]} (Appendix A),
    # L_a^dagger(c_u^+ c_l) = -gamma_a/2 c_u^+ c_l for both leads
    re_x = jnp.real(jnp.conj(eps) * coherence)
    n_u = args["gamma_u"] * (args["f_u"] - y[:, 0])
    n_l = args["gamma_l"] * (args["f_l"] - y[:, 1])
    energy_current = {
        "u": p["E_u"] * n_u - args["gamma_u"] * re_x,
        "l": p["E_l"] * n_l - args["gamma_l"] * re_x,
    }
    return assemble(
        p, occupations, "integrate", omega=p["omega_frame"] - delta, intensity=a_abs**2,
        s_uu=y[:, 0], s_ll=y[:, 1], coherence=coherence, rate=rate, f_u=args["f_u"],
        f_l=args["f_l"], lasing=a_abs > p["a0"], converged=(res < steady_tol) & jnp.isfinite(a_abs**2), residual=res,
        t_final=t_final, energy_current=energy_current,
    )  # fmt: skip


def solve_laser(
    *,
    E_u,
    E_l,
    omega_cav,
    g,
    gamma_u,
    gamma_l,
    gamma_b,
    mu_u,
    mu_l,
    T_u,
    T_l,
    occupations: str = "effective",
    method: str = "closed_form",
    omega_frame=None,
    a0=None,
    rtol: float = 1e-12,
    atol: float = 1e-20,
    steady_tol: float = 1e-10,
    max_steps: int = 200_000,
    t_max: float = 1e8,
    throw: bool = True,
) -> LaserResult:
    """Steady state of the semiclassical laser (Model C, Sec. IV).

    **Arguments** (hbar = k_B = 1, one energy unit throughout; floats or arrays that broadcast
    together -- the result has the broadcast shape):

    - `E_u`, `E_l`: level energies; `omega_cav`: cavity frequency.
    - `g`: light-matter coupling (real or complex; only ``|g|`` matters).
    - `gamma_u`, `gamma_l`: lead rates; `gamma_b`: cavity loss rate (all > 0).
    - `mu_u`, `mu_l`, `T_u`, `T_l`: lead chemical potentials and temperatures (T > 0).
    - `occupations`: ``"effective"`` (default; Fermi functions at the Eq. 21 energies, which
      equal Eq. 14 at the lasing frequency -- see the module docstring), ``"self_consistent"``
      (the same: the Appendix C fixed point), or ``"bare"`` (Eq. 9).
    - `method`: ``"closed_form"`` (Eqs. 29, 30; differentiable) or ``"integrate"`` (the
      equations of motion integrated with diffrax, Tsit5 with an adaptive step, from
      ``sigma_uu = f_u``, ``sigma_ll = f_l``, ``sigma_ul = 0``, ``a = a0`` until the
      gauge-invariant residual drops below `steady_tol`; the lasing frequency is the frame
      frequency minus the phase rotation rate of ``a``).
    - `omega_frame`: frequency of the rotating frame for ``"integrate"`` (default
      ``omega_cav``); the results do not depend on it.
    - `a0`: seed amplitude (> 0) for ``"integrate"``; default ``1e-4 sqrt(gamma_u gamma_l)/|g|``.
    - `rtol`, `atol`, `steady_tol`, `max_steps`, `t_max`: integration controls (`t_max` in units
      of ``1/(gamma_u + gamma_l + gamma_b)``). The error control is per component,
      ``atol + rtol |y|``: the tiny default `atol` keeps a decaying field resolved relative to
      its own size (it stops being resolved below about ``10 atol``). Keep `steady_tol` at least
      ~100 `rtol`: where the state is (nearly) stationary the explicit solver takes steps at its
      stability limit and the residual stalls at a few `rtol`.
    - `throw`: raise `SteadyStateError` if a point cannot be trusted (``result.ok`` false): the
      steady state is linearly unstable (``result.growth_rate > 0``, e.g. a bad-cavity laser
      beyond the Lorenz-Haken second threshold, whose output pulsates), the integration did
      not reach a steady state (e.g. critical slowing down right at threshold), or a value is
      not finite. Under `jax.jit` the check runs inside the computation (`equinox.error_if`).
      With ``throw=False`` such points are only flagged (``ok``, ``stable``, ``converged``).

    **Returns:** a `LaserResult` (``lasing``, ``omega``, ``intensity``, ``threshold``, ...).
    """
    values = dict(
        E_u=E_u, E_l=E_l, omega_cav=omega_cav, g=g, gamma_u=gamma_u, gamma_l=gamma_l,
        gamma_b=gamma_b, mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l,
    )  # fmt: skip
    if method == "integrate":
        values.update(omega_frame=omega_frame, a0=a0)
    check_flag("throw", throw)
    flat, shape = prepare(values, occupations, method)
    if method == "closed_form":
        res = _closed_form_core(flat, occupations)
    else:
        check_controls(rtol, atol, steady_tol, t_max, max_steps)
        if is_concrete(flat["a0"]) and not bool(np.all(np.abs(np.asarray(flat["a0"])) < 1e150)):
            raise ParameterError(
                "g is too small for method='integrate': the default seed amplitude "
                "1e-4 sqrt(gamma_u gamma_l)/|g| exceeds 1e150, its square overflows "
                "(pass a0, or use method='closed_form')"
            )
        controls = {k: jnp.asarray(v, jnp.float64) for k, v in
                    dict(rtol=rtol, atol=atol, steady_tol=steady_tol, t_max=t_max).items()}  # fmt: skip
        res = _integrate_core(flat, occupations, controls, int(max_steps))
    if throw:
        res = _raise_untrusted(res, method, steady_tol)
    return reshape(res, shape)


def _raise_untrusted(res: LaserResult, method: str, steady_tol: float) -> LaserResult:
    """Raise `SteadyStateError` for points that fail `LaserResult.ok` (host-side message when the
    values are concrete, `equinox.error_if` under a trace)."""
    advice = (
        "Close to threshold the relaxation slows down critically: raise max_steps / t_max, loosen "
        "steady_tol, or use method='closed_form'."
        if method == "integrate"
        else ""
    )
    if not is_concrete(res.ok):
        msg = (
            "solve_laser: a point cannot be trusted (unstable steady state, no convergence or a "
            "non-finite value); pass throw=False to get it flagged in result.ok"
        )
        return eqx.error_if(res, ~res.ok, msg)  # attached to every field, so no use escapes it
    ok = np.asarray(res.ok)
    if ok.all():
        return res
    bad = np.flatnonzero(~ok)
    unstable = np.flatnonzero(~np.asarray(res.stable))
    unconverged = np.flatnonzero(~np.asarray(res.converged))
    parts = []
    if unstable.size:
        i = int(unstable[0])
        parts.append(
            f"{unstable.size} steady state(s) are linearly unstable (growth rate "
            f"{float(np.asarray(res.growth_rate)[i]):.3g} > 0 at flat index {i}): the laser pulsates "
            "(e.g. the Lorenz-Haken instability of a bad cavity far above threshold) and the steady-state "
            "numbers are not what it does; integrate the dynamics with jt.laser_trajectory"
        )
    if unconverged.size:
        resid = np.asarray(res.residual)[unconverged]
        worst = float(np.max(np.where(np.isnan(resid), np.inf, resid)))  # NaN: no residual at all
        parts.append(
            f"{unconverged.size} point(s) did not reach a steady state (largest residual "
            f"{worst:.3g} > steady_tol={steady_tol:g}; first flat index "
            f"{int(unconverged[0])}). {advice}"
        )
    if not parts:
        parts.append(f"{bad.size} point(s) have non-finite values (first flat index {int(bad[0])})")
    raise SteadyStateError(
        f"solve_laser(method={method!r}): " + "; ".join(parts) + ". Pass throw=False to get the flagged result."
    )
