"""Model C equations: Eqs. (B1, B2, 25, 26) of the semiclassical laser, their closed-form steady
state quantities (Eqs. 21, 29, 30) and the linear stability of a steady state.

See `jaxtls._models.laser` for the physics and the conventions (hbar = k_B = 1). The state is
``y = (sigma_uu, sigma_ll, Re sigma_ul, Im sigma_ul, Re a, Im a)`` in a frame rotating at
``omega_f`` (``args["delta_f"] = omega_f - (E_u - E_l)``, ``args["detuning_f"] = omega_f -
omega_cav``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._engine.checks import (
    ParameterError,
    broadcast_parameters,
    check_int,
    check_occupations,
    check_parameters,
    check_tolerance,
)
from .._engine.thermo import fermi

__all__ = ["PARAMETERS", "RULES", "lasing_frequency", "laser_effective_energies", "linear_stability"]


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


RULES_TEXT = {"real": "a finite real number", "complex": "a finite number", "positive": "a finite number > 0"}
METHODS = ("closed_form", "integrate")


LASER_OCCUPATIONS = ("bare", "effective", "self_consistent")


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


def occupations_used(p, occupations):
    if occupations == "bare":
        eu, el = p["E_u"], p["E_l"]
    else:
        eu, el, _ = laser_effective_energies(
            p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"]
        )
    return fermi(eu, p["mu_u"], p["T_u"]), fermi(el, p["mu_l"], p["T_l"])


def pump_ratio(p, omega, f_u, f_l):
    """Pump ratio ``r = 1/H`` from the real part of Eq. 29 (``> 1``: lasing)."""
    gam = p["gamma_u"] + p["gamma_l"]
    delta = omega - (p["E_u"] - p["E_l"])
    denom = p["gamma_b"] * gam / 4 - (omega - p["omega_cav"]) * delta  # >= gamma_b Gamma/4 > 0
    return jnp.abs(p["g"]) ** 2 * (f_u - f_l) / denom


def rhs(t, y, args):
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


def phase_rate_and_residual(y, args):
    """Phase rotation rate ``d arg(a)/dt`` and the gauge-invariant residual.

    The residual removes the common rotation ``i delta (sigma_ul, a)`` from the time derivative
    and is made dimensionless with ``gamma_u + gamma_l + gamma_b`` (and ``max(|a|, a0)`` for the
    field), so it vanishes on the lasing circle and at the non-lasing fixed point.
    """
    d = rhs(0.0, y, args)
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


def ode_args(p, occupations):
    f_u, f_l = occupations_used(p, occupations)
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


def seed_state(args):
    zero = jnp.zeros_like(args["f_u"])
    return jnp.stack([args["f_u"], args["f_l"], zero, zero, args["a0"], zero])


def default_seed(p):
    """Seed ``|a0|`` with ``|g a0|^2 = 1e-8 gamma_u gamma_l``: far below any lasing intensity
    (``|g a|^2 >= (r - 1) gamma_u gamma_l / 4``) and far above rounding."""
    ga = jnp.abs(p["g"])
    return 1e-4 * jnp.sqrt(p["gamma_u"] * p["gamma_l"]) / jnp.where(ga > 0, ga, 1.0)


#: optional arguments: ``None`` selects their default
OPTIONAL = ("omega_frame", "a0")


def prepare(values, occupations, method=None):
    """Check and broadcast the parameters (`ParameterError` naming the first bad one)."""
    check_occupations(occupations, LASER_OCCUPATIONS)
    if method is not None and method not in METHODS:
        raise ParameterError(f"method must be one of {', '.join(map(repr, METHODS))}; got {method!r}")
    for name, v in values.items():
        if v is None and name not in OPTIONAL:
            raise ParameterError(f"{name} is required: {RULES_TEXT[RULES[name]]}, got None")
    values = {k: v for k, v in values.items() if v is not None}
    check_parameters(values, RULES)
    flat, shape = broadcast_parameters(values, complex_names=("g",))
    flat["g"] = flat["g"].astype(jnp.complex128)
    if "omega_frame" not in flat:
        flat["omega_frame"] = flat["omega_cav"]
    if "a0" not in flat:
        flat["a0"] = default_seed(flat)
    return flat, shape


def reshape(tree, shape):
    return jax.tree_util.tree_map(lambda x: x.reshape(shape + x.shape[1:]), tree)


def check_controls(rtol, atol, steady_tol, t_max, max_steps) -> None:
    """Integration controls of ``method="integrate"`` (`ParameterError` naming a bad one):
    `rtol`, `steady_tol`, `t_max` finite > 0, `atol` finite >= 0, `max_steps` an integer >= 1."""
    check_tolerance("rtol", rtol)
    check_tolerance("atol", atol, strict=False)
    check_tolerance("steady_tol", steady_tol)
    check_tolerance("t_max", t_max)
    check_int("max_steps", max_steps, 1)


def linear_stability(y, args, lasing):
    """Linear stability of steady states of Eqs. (B1, B2, 25, 26).

    `y` ``(N, 6)`` are steady states in the frame rotating at their own oscillation frequency
    (`args` built with ``omega_frame`` = that frequency, so ``rhs(y) = 0``), `lasing` ``(N,)``
    whether the field is non-zero. The Jacobian of the equations of motion at ``y`` has, for a
    lasing state, one neutral eigenvalue 0 from the phase symmetry ``(sigma_ul, a) -> e^{i phi}
    (sigma_ul, a)`` (a rotation along the lasing circle, not a perturbation of the state); it is
    removed (the eigenvalue of smallest modulus). **Returns** ``(growth_rate, frequency)``: the
    largest real part of the remaining eigenvalues (energy units: the growth rate of the least
    stable perturbation; > 0 means the steady state is unstable and the laser pulsates, e.g. the
    Lorenz-Haken instability of a bad-cavity laser far above threshold) and the imaginary part
    of that eigenvalue (its oscillation frequency in the rotating frame). Not differentiated.
    """
    jac = jax.vmap(jax.jacfwd(lambda z, a: rhs(0.0, z, a)))(y, args)  # (N, 6, 6)
    jac = jax.lax.stop_gradient(jac)
    finite = jnp.all(jnp.isfinite(jac), axis=(1, 2))
    ev = jnp.linalg.eigvals(jnp.where(finite[:, None, None], jac, 0.0))  # one batched LAPACK call
    neutral = jnp.argmin(jnp.abs(ev), axis=-1)
    drop = jnp.asarray(lasing)[:, None] & (jnp.arange(ev.shape[-1]) == neutral[:, None])
    re = jnp.where(drop, -jnp.inf, ev.real)
    k = jnp.argmax(re, axis=-1)
    growth = jnp.take_along_axis(re, k[:, None], axis=-1)[:, 0]
    freq = jnp.take_along_axis(ev.imag, k[:, None], axis=-1)[:, 0]
    return jnp.where(finite, growth, jnp.nan), jnp.where(finite, freq, jnp.nan)


def stability_tolerance(args):
    """Growth rates below ``1e-9 (gamma_u + gamma_l + gamma_b)`` count as neutral (rounding of a
    6 x 6 eigenvalue problem whose entries are of that size)."""
    return 1e-9 * (args["gamma_u"] + args["gamma_l"] + args["gamma_b"])
