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
from jaxtyping import Array

from .._engine.checks import (
    ParameterError,
    broadcast_parameters,
    check_occupations,
    check_parameters,
    is_concrete,
)
from .._engine.thermo import entropy_production_rate, fermi
from .result import SteadyStateError

__all__ = [
    "LaserResult",
    "LICurve",
    "solve_laser",
    "lasing_frequency",
    "laser_effective_energies",
    "laser_trajectory",
    "laser_li_curve",
]

PARAMETERS = (
    "E_u", "E_l", "omega_cav", "g", "gamma_u", "gamma_l", "gamma_b", "mu_u", "mu_l", "T_u", "T_l",
)  # fmt: skip
RULES = {
    "E_u": "real",
    "E_l": "real",
    "omega_cav": "real",
    "g": "complex",
    "gamma_u": "positive",
    "gamma_l": "positive",
    "gamma_b": "positive",
    "mu_u": "real",
    "mu_l": "real",
    "T_u": "positive",
    "T_l": "positive",
    "omega_frame": "real",
    "a0": "positive",
}
METHODS = ("closed_form", "integrate")
LASER_OCCUPATIONS = ("bare", "effective", "self_consistent")


class LaserResult(eqx.Module):
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
    occupations: str = eqx.field(static=True, default="effective")
    method: str = eqx.field(static=True, default="closed_form")

    @property
    def photon_number(self) -> Array:
        """Mean photon number ``|a|^2`` of the coherent field (same as `intensity`)."""
        return self.intensity

    @property
    def shape(self) -> tuple:
        return tuple(np.shape(self.omega))

    def to_dict(self) -> dict:
        """Plain Python (floats, bools, nested lists) for JSON; complex as ``[re, im]``."""

        def conv(x):
            a = np.asarray(x)
            if np.iscomplexobj(a):
                return np.stack([a.real, a.imag], axis=-1).tolist()
            if a.dtype == bool:
                return a.tolist()
            return a.astype(float).tolist()

        out = {}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            if isinstance(v, str):
                out[name] = v
            elif isinstance(v, dict):
                out[name] = {k: conv(w) for k, w in v.items()}
            else:
                out[name] = conv(v)
        return out


# --------------------------------------------------------------------------- closed forms


def lasing_frequency(E_u, E_l, omega_cav, gamma_u, gamma_l, gamma_b):
    """Eq. (30): ``omega = [(gamma_u + gamma_l) omega_cav + gamma_b (E_u - E_l)] /
    (gamma_u + gamma_l + gamma_b)`` (frequency pulling; equals ``E~_ph`` of Eq. 21)."""
    gam = gamma_u + gamma_l
    return (gam * omega_cav + gamma_b * (E_u - E_l)) / (gam + gamma_b)


def laser_effective_energies(E_u, E_l, omega_cav, gamma_u, gamma_l, gamma_b):
    """Eq. (21) effective energies ``(E~_u, E~_l, E~_ph)``.

    ``E~_u = E_u + gamma_u Delta_cav/Gamma_3``, ``E~_l = E_l - gamma_l Delta_cav/Gamma_3``,
    ``E~_ph = omega_cav - gamma_b Delta_cav/Gamma_3`` with ``Delta_cav = omega_cav - (E_u - E_l)``
    and ``Gamma_3 = gamma_u + gamma_l + gamma_b``. ``E~_u - E~_l = E~_ph`` = Eq. 30, and
    ``E~_u, E~_l`` equal Eq. 14 evaluated at that frequency.
    """
    dcav = omega_cav - (E_u - E_l)
    g3 = gamma_u + gamma_l + gamma_b
    return E_u + gamma_u * dcav / g3, E_l - gamma_l * dcav / g3, omega_cav - gamma_b * dcav / g3


def _occupations(p, occupations):
    if occupations == "bare":
        eu, el = p["E_u"], p["E_l"]
    else:
        eu, el, _ = laser_effective_energies(
            p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"]
        )
    return fermi(eu, p["mu_u"], p["T_u"]), fermi(el, p["mu_l"], p["T_l"])


def _pump_ratio(p, omega, f_u, f_l):
    """Pump ratio ``r = 1/H`` from the real part of Eq. 29 (``> 1``: lasing)."""
    gam = p["gamma_u"] + p["gamma_l"]
    delta = omega - (p["E_u"] - p["E_l"])
    denom = p["gamma_b"] * gam / 4 - (omega - p["omega_cav"]) * delta  # >= gamma_b Gamma/4 > 0
    return jnp.abs(p["g"]) ** 2 * (f_u - f_l) / denom


def _assemble(p, occupations, method, *, omega, intensity, s_uu, s_ll, coherence, rate, f_u, f_l,
              lasing, converged, residual, t_final, energy_current=None) -> LaserResult:  # fmt: skip
    e_u, e_l, e_ph = laser_effective_energies(
        p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"]
    )
    if energy_current is None:
        energy_current = {"u": e_u * rate, "l": -e_l * rate}
    particle = {"u": rate, "l": -rate}
    s_u = entropy_production_rate(energy_current["u"], particle["u"], p["mu_u"], p["T_u"])
    s_l = entropy_production_rate(energy_current["l"], particle["l"], p["mu_l"], p["T_l"])
    return LaserResult(
        lasing=lasing,
        omega=omega,
        intensity=intensity,
        amplitude=jnp.sqrt(intensity),
        threshold=_pump_ratio(p, e_ph, f_u, f_l),
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
        occupations=occupations,
        method=method,
    )


@eqx.filter_jit
def _closed_form_core(p: dict, occupations: str) -> LaserResult:
    gu, gl, gb, g = p["gamma_u"], p["gamma_l"], p["gamma_b"], p["g"]
    gam = gu + gl
    omega = lasing_frequency(p["E_u"], p["E_l"], p["omega_cav"], gu, gl, gb)  # Eq. 30
    delta = omega - (p["E_u"] - p["E_l"])
    f_u, f_l = _occupations(p, occupations)
    r = _pump_ratio(p, omega, f_u, f_l)
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
    return _assemble(
        p, occupations, "closed_form", omega=omega, intensity=intensity, s_uu=s_uu, s_ll=s_ll,
        coherence=coherence, rate=rate, f_u=f_u, f_l=f_l, lasing=lasing,
        converged=ones > 0, residual=0 * ones, t_final=0 * ones,
    )  # fmt: skip


# --------------------------------------------------------------------------- integration


def _rhs(t, y, args):
    """Eqs. (B1, B2, 25, 26) in the frame rotating at ``omega_f``; ``y`` is
    ``(sigma_uu, sigma_ll, Re sigma_ul, Im sigma_ul, Re a, Im a)``."""
    del t
    s_uu, s_ll, s_re, s_im, a_re, a_im = y[0], y[1], y[2], y[3], y[4], y[5]
    s = s_re + 1j * s_im
    a = a_re + 1j * a_im
    g = args["g_re"] + 1j * args["g_im"]
    gu, gl, gb = args["gamma_u"], args["gamma_l"], args["gamma_b"]
    rate = 2 * jnp.imag(jnp.conj(g) * jnp.conj(a) * s)
    d_uu = gu * (args["f_u"] - s_uu) - rate
    d_ll = gl * (args["f_l"] - s_ll) + rate
    d_s = 1j * args["delta_f"] * s + 1j * g * a * (s_uu - s_ll) - 0.5 * (gu + gl) * s
    d_a = 1j * args["detuning_f"] * a - 1j * jnp.conj(g) * s - 0.5 * gb * a
    return jnp.stack([d_uu, d_ll, jnp.real(d_s), jnp.imag(d_s), jnp.real(d_a), jnp.imag(d_a)])


def _phase_rate_and_residual(y, args):
    """Phase rotation rate ``d arg(a)/dt`` and the gauge-invariant residual.

    The residual removes the common rotation ``i delta (sigma_ul, a)`` from the time derivative
    and is made dimensionless with ``gamma_u + gamma_l + gamma_b`` (and ``max(|a|, a0)`` for the
    field), so it vanishes on the lasing circle and at the non-lasing fixed point.
    """
    d = _rhs(0.0, y, args)
    s, a = y[2] + 1j * y[3], y[4] + 1j * y[5]
    ds, da = d[2] + 1j * d[3], d[4] + 1j * d[5]
    a_abs = jnp.abs(a)
    a_safe = jnp.where(a_abs > 0, a_abs, 1.0)
    delta = jnp.imag(jnp.conj(a) * da) / a_safe**2
    g3 = args["gamma_u"] + args["gamma_l"] + args["gamma_b"]
    r_pop = jnp.maximum(jnp.abs(d[0]), jnp.abs(d[1]))
    r_coh = jnp.abs(ds - 1j * delta * s)
    r_amp = jnp.abs(jnp.real(jnp.conj(a) * da)) / a_safe / jnp.maximum(a_abs, args["a0"])
    return delta, jnp.maximum(jnp.maximum(r_pop, r_coh), r_amp) / g3


def _ode_args(p, occupations):
    f_u, f_l = _occupations(p, occupations)
    return {
        "g_re": jnp.real(p["g"]),
        "g_im": jnp.imag(p["g"]),
        "gamma_u": p["gamma_u"],
        "gamma_l": p["gamma_l"],
        "gamma_b": p["gamma_b"],
        "f_u": f_u,
        "f_l": f_l,
        "delta_f": p["omega_frame"] - (p["E_u"] - p["E_l"]),
        "detuning_f": p["omega_frame"] - p["omega_cav"],
        "a0": p["a0"],
    }


def _y0(args):
    zero = jnp.zeros_like(args["f_u"])
    return jnp.stack([args["f_u"], args["f_l"], zero, zero, args["a0"], zero])


@eqx.filter_jit
def _integrate_core(p, occupations, controls, max_steps) -> LaserResult:
    import diffrax

    rtol, atol, steady_tol = controls["rtol"], controls["atol"], controls["steady_tol"]

    args = _ode_args(p, occupations)

    def one(args):
        g3 = args["gamma_u"] + args["gamma_l"] + args["gamma_b"]

        def cond(t, y, args, **kwargs):
            return _phase_rate_and_residual(y, args)[1] < steady_tol

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(_rhs),
            diffrax.Tsit5(),
            t0=0.0,
            t1=controls["t_max"] / g3,
            dt0=None,
            y0=_y0(args),
            args=args,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            event=diffrax.Event(cond),
            saveat=diffrax.SaveAt(t1=True),
            max_steps=max_steps,
            throw=False,
        )
        y = sol.ys[-1]
        delta, res = _phase_rate_and_residual(y, args)
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
    return _assemble(
        p, occupations, "integrate", omega=p["omega_frame"] - delta, intensity=a_abs**2,
        s_uu=y[:, 0], s_ll=y[:, 1], coherence=coherence, rate=rate, f_u=args["f_u"],
        f_l=args["f_l"], lasing=a_abs > p["a0"], converged=res < steady_tol, residual=res,
        t_final=t_final, energy_current=energy_current,
    )  # fmt: skip


def _default_a0(p):
    """Seed ``|a0|`` with ``|g a0|^2 = 1e-8 gamma_u gamma_l``: far below any lasing intensity
    (``|g a|^2 >= (r - 1) gamma_u gamma_l / 4``) and far above rounding."""
    ga = jnp.abs(p["g"])
    return 1e-4 * jnp.sqrt(p["gamma_u"] * p["gamma_l"]) / jnp.where(ga > 0, ga, 1.0)


def _prepare(values, occupations, method=None):
    check_occupations(occupations, LASER_OCCUPATIONS)
    if method is not None and method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    values = {k: v for k, v in values.items() if v is not None}
    check_parameters(values, RULES)
    flat, shape = broadcast_parameters(values, complex_names=("g",))
    flat["g"] = flat["g"].astype(jnp.complex128)
    if "omega_frame" not in flat:
        flat["omega_frame"] = flat["omega_cav"]
    if "a0" not in flat:
        flat["a0"] = _default_a0(flat)
    return flat, shape


def _reshape(tree, shape):
    return jax.tree_util.tree_map(lambda x: x.reshape(shape + x.shape[1:]), tree)


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
    - `throw`: for ``"integrate"``, raise `SteadyStateError` if a point did not reach its steady
      state (e.g. critical slowing down right at threshold); otherwise only flag it in
      ``result.converged``.

    **Returns:** a `LaserResult` (``lasing``, ``omega``, ``intensity``, ``threshold``, ...).
    """
    values = dict(
        E_u=E_u, E_l=E_l, omega_cav=omega_cav, g=g, gamma_u=gamma_u, gamma_l=gamma_l,
        gamma_b=gamma_b, mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l,
    )  # fmt: skip
    if method == "integrate":
        values.update(omega_frame=omega_frame, a0=a0)
    flat, shape = _prepare(values, occupations, method)
    if method == "closed_form":
        return _reshape(_closed_form_core(flat, occupations), shape)
    controls = {k: jnp.asarray(v, jnp.float64) for k, v in
                dict(rtol=rtol, atol=atol, steady_tol=steady_tol, t_max=t_max).items()}  # fmt: skip
    res = _integrate_core(flat, occupations, controls, int(max_steps))
    if throw and is_concrete(res.converged) and not bool(np.all(np.asarray(res.converged))):
        bad = np.flatnonzero(~np.asarray(res.converged))
        raise SteadyStateError(
            f"solve_laser(method='integrate'): {bad.size} of {res.converged.size} points did not "
            f"reach a steady state (largest residual {float(np.max(np.asarray(res.residual))):.3g} > "
            f"steady_tol={steady_tol:g}; first flat index {int(bad[0])}). Close to threshold the "
            "relaxation slows down critically: raise max_steps / t_max, loosen steady_tol, or use "
            "method='closed_form'. Pass throw=False to get the flagged result."
        )
    return _reshape(res, shape)


def laser_trajectory(
    ts,
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
    omega_frame=None,
    a0=None,
    rtol: float = 1e-12,
    atol: float = 1e-20,
    max_steps: int = 200_000,
) -> dict:
    """Time evolution of the semiclassical laser from the seed state (Eqs. B1, B2, 25, 26).

    `ts` is a 1-D array of increasing times >= 0 (units 1/energy). Parameters broadcast as in
    `solve_laser`. Returns a dict of arrays of shape ``broadcast_shape + (len(ts),)``: ``"t"``,
    ``"sigma_uu"``, ``"sigma_ll"``, ``"sigma_ul"`` and ``"a"`` (complex, in the frame rotating
    at `omega_frame`, default ``omega_cav``: ``a(t) = e^{i omega_frame t} <a>(t)``), plus
    ``"omega_frame"`` (broadcast shape).
    """
    ts_np = np.asarray(ts, dtype=float)
    if ts_np.ndim != 1 or ts_np.size < 1 or np.any(np.diff(ts_np) <= 0) or ts_np[0] < 0:
        raise ParameterError("ts must be a 1-D array of strictly increasing times >= 0")
    values = dict(
        E_u=E_u, E_l=E_l, omega_cav=omega_cav, g=g, gamma_u=gamma_u, gamma_l=gamma_l,
        gamma_b=gamma_b, mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l, omega_frame=omega_frame, a0=a0,
    )  # fmt: skip
    flat, shape = _prepare(values, occupations)
    tols = (jnp.asarray(rtol, jnp.float64), jnp.asarray(atol, jnp.float64))
    ys = _trajectory_core(flat, occupations, jnp.asarray(ts_np), tols, int(max_steps))
    out = {
        "t": jnp.broadcast_to(jnp.asarray(ts_np), ys.shape[:1] + ts_np.shape),
        "sigma_uu": ys[..., 0],
        "sigma_ll": ys[..., 1],
        "sigma_ul": ys[..., 2] + 1j * ys[..., 3],
        "a": ys[..., 4] + 1j * ys[..., 5],
    }
    out = _reshape(out, shape)
    out["omega_frame"] = flat["omega_frame"].reshape(shape)
    return out


@eqx.filter_jit
def _trajectory_core(p, occupations, ts, tols, max_steps):
    import diffrax

    rtol, atol = tols

    args = _ode_args(p, occupations)

    def one(args):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(_rhs),
            diffrax.Tsit5(),
            t0=0.0,
            t1=ts[-1],
            dt0=None,
            y0=_y0(args),
            args=args,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            saveat=diffrax.SaveAt(ts=ts),
            max_steps=max_steps,
        )
        return sol.ys  # (len(ts), 6)

    return jax.vmap(one)(args)


# --------------------------------------------------------------------------- L-I curve


class LICurve(eqx.Module):
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
