"""Model D: Bloch (dispersive) gain of intersubband transitions (paper Sec. V).

Two subbands u, l with a common lateral kinetic energy ``E_k >= 0`` (k is conserved by the
optical transition), constant 2D density of states set to one (per energy unit), and
occupations ``f_a(E) = 1/(exp((E - mu_a)/T) + 1)`` (or Boltzmann ``exp(-(E - mu_a)/T)``) of the
kinetic energy measured from each subband bottom. ``Delta = omega - (E_u - E_l)``,
``Gamma = gamma_u + gamma_l``, ``L(Delta) = Gamma/(Delta^2 + Gamma^2/4)`` (weight ``int L = 2 pi``).
The weak-field net emission rate per state and per ``|eps|^2`` is (hbar = k_B = 1)

- ``"density_matrix"`` (Eq. 31):
  ``L(Delta) {gamma_l [f_u(E) - f_l(E - Delta)] + gamma_u [f_u(E + Delta) - f_l(E)]} / Gamma``;
- ``"effective"`` (Eq. 14 energies per k): ``L(Delta) [f_u(E + gamma_u Delta/Gamma) - f_l(E - gamma_l Delta/Gamma)]``;
- ``"naive"``: ``L(Delta) [f_u(E) - f_l(E)]`` (Model A's ``R/|eps|^2`` with ``H -> 1``).

`bloch_gain` returns ``G(omega) = int_0^inf dE R(E)/|eps|^2`` (positive = gain). The occupation
functions are evaluated at whatever argument the formula gives -- Eq. 31 samples energies below
the subband bottom, where the Fermi function tends to one.

**Closed form.** Every term is ``int_0^inf f(E + s) dE = int_s^inf f(x) dx =: F(s)`` with
``F(s) = T ln(1 + exp((mu - s)/T))`` (Fermi) or ``T exp((mu - s)/T)`` (Boltzmann), so

- ``G_DM = L {gamma_l [F_u(0) - F_l(-Delta)] + gamma_u [F_u(Delta) - F_l(0)]} / Gamma``,
- ``G_eff = L [F_u(gamma_u Delta/Gamma) - F_l(-gamma_l Delta/Gamma)]``,
- ``G_naive = L [N_u - N_l]`` with the sheet densities ``N_a = F_a(0)`` (`subband_density`).

`method="quadrature"` integrates the k-resolved rate numerically instead (composite
Gauss-Legendre on ``[0, E_max]`` with panels no wider than ``2 T``, ``E_max`` beyond the last
occupation step by ``40 T``), with every panel also integrated as two halves: the summed
per-panel differences, a bound on the neglected tail and a rounding term make the error
estimate. It does not use the antiderivative, so it is an independent check of the closed form.

**Properties** (derived here, tested in `tests/test_bloch.py`; ``a = gamma_u/Gamma``,
``b = gamma_l/Gamma``, ``F' = -f``):

- Equal occupations (``mu_u = mu_l``): ``G_naive = 0``; ``G_DM`` and ``G_eff`` are positive
  (gain) for ``omega < E_u - E_l`` and negative above, ``G ~ -f(0) Delta L(Delta)`` near the
  line centre.
- DM versus effective, any occupations: expanding ``F`` around 0 the two agree to first order
  in ``Delta``, ``G_DM - G_eff = L a b (F_u''(0) - F_l''(0)) Delta^2/2 + O(Delta^3)``; for equal
  occupations they agree through second order, ``G_DM - G_eff = L F'''(0) a b Delta^3/2 +
  O(Delta^4)``, a relative difference of order ``a b (Delta/T)^2``. For ``gamma_u = gamma_l``
  and equal occupations both spectra are exactly odd in ``Delta``.
- Tails: the Fermi functions below the subband bottom (which tend to one) give ``1/|Delta|``
  tails, ``G -> gamma_u/|Delta|`` for ``Delta -> -inf`` and ``G -> -gamma_l/Delta`` for
  ``Delta -> +inf`` (DM and effective), so the frequency integral converges only over a window.
- Sum rule: over the window ``|Delta| < W`` and to second order in the rates

      int G dDelta = 4 atan(2W/Gamma) (N_u - N_l)                   [-> 2 pi (N_u - N_l)]
                     + gamma_u A_u(W_u) - gamma_l A_l(W_l)          [first order]
                     - (pi/4) (c_u F_u''(0) - c_l F_l''(0))         [second order]

  with ``A_a(W) = int_{-W}^{W} [F_a(D) - N_a + f_a(0) D] / D^2 dD`` (finite; it grows like
  ``ln W``), ``W_u = W_l = W``, ``c_a = Gamma gamma_a`` (DM) or ``W_u = a W``, ``W_l = b W``,
  ``c_a = gamma_a^2`` (effective). So the area tends to ``2 pi (N_u - N_l)`` as the broadening
  vanishes (all variants: the Lorentzian carries the weight ``2 pi`` and the energy shifts of the
  occupations only move spectral weight), zero for equal occupations: Bloch gain borrows its
  area from the absorption on the other side of the line. ``G_naive`` obeys the zeroth-order
  line exactly at any broadening.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.checks import (
    ParameterError,
    broadcast_parameters,
    check_flag,
    check_int,
    check_parameters,
    is_concrete,
)

__all__ = ["bloch_gain", "bloch_rate_k", "subband_density", "subband_integral"]

VARIANTS = ("density_matrix", "effective", "naive")
DISTRIBUTIONS = ("fermi", "boltzmann")
METHODS = ("closed_form", "quadrature")
#: largest quadrature controls accepted: 2 * MAX_PANELS * MAX_ORDER nodes per point at most
MAX_PANELS, MAX_ORDER = 65536, 512
RULES = {
    "omega": "real",
    "E_u": "real",
    "E_l": "real",
    "gamma_u": "positive",
    "gamma_l": "positive",
    "mu_u": "real",
    "mu_l": "real",
    "T": "positive",
}
_TAIL = 40.0  # E_max lies this many T beyond the last occupation step


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ParameterError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")


def _occupation(x, mu, T, distribution):
    """Subband occupation of kinetic energy ``x`` (any real ``x``)."""
    if distribution == "fermi":
        return jax.nn.sigmoid(-(x - mu) / T)
    return jnp.exp(-(x - mu) / T)


def subband_integral(shift, mu, T, distribution: str = "fermi"):
    """``F(s) = int_0^inf f(E + s) dE``: ``T ln(1 + e^{(mu - s)/T})`` (Fermi, evaluated as a
    softplus: no overflow) or ``T e^{(mu - s)/T}`` (Boltzmann). Unit density of states."""
    _check_choice("distribution", distribution, DISTRIBUTIONS)
    if distribution == "fermi":
        return T * jax.nn.softplus((mu - shift) / T)
    return T * jnp.exp((mu - shift) / T)


def subband_density(mu, T, distribution: str = "fermi"):
    """Sheet density ``N = int_0^inf f(E) dE`` of a subband with unit density of states."""
    return subband_integral(0.0, mu, T, distribution)


def _shifts(delta, gu, gl, variant):
    """``(coefficient, subband, shift)`` triples: ``R/|eps|^2 = L * sum c f_sub(E + shift)``."""
    gam = gu + gl
    if variant == "density_matrix":
        return [
            (gl / gam, "u", 0.0 * delta),
            (-gl / gam, "l", -delta),
            (gu / gam, "u", delta),
            (-gu / gam, "l", 0.0 * delta),
        ]
    if variant == "effective":
        return [(1.0 + 0.0 * delta, "u", gu * delta / gam), (-1.0 + 0.0 * delta, "l", -gl * delta / gam)]
    return [(1.0 + 0.0 * delta, "u", 0.0 * delta), (-1.0 + 0.0 * delta, "l", 0.0 * delta)]


def _lorentzian(delta, gam):
    return gam / (delta**2 + gam**2 / 4)


def bloch_rate_k(E_k, omega, *, E_u, E_l, gamma_u, gamma_l, mu_u, mu_l, T,
                 variant: str = "density_matrix", distribution: str = "fermi"):  # fmt: skip
    """k-resolved weak-field rate ``R(E_k)/|eps|^2`` (Eq. 31 and variants; see module doc).

    All arguments broadcast together (no validation: this is the integrand of `bloch_gain`).
    """
    _check_choice("variant", variant, VARIANTS)
    _check_choice("distribution", distribution, DISTRIBUTIONS)
    delta = omega - (E_u - E_l)
    mus = {"u": mu_u, "l": mu_l}
    total = 0.0
    for c, sub, s in _shifts(delta, gamma_u, gamma_l, variant):
        total = total + c * _occupation(E_k + s, mus[sub], T, distribution)
    return _lorentzian(delta, gamma_u + gamma_l) * total


@functools.partial(jax.jit, static_argnames=("variant", "distribution"))
def _closed_form(p, variant, distribution):
    delta = p["omega"] - (p["E_u"] - p["E_l"])
    mus = {"u": p["mu_u"], "l": p["mu_l"]}
    lor = _lorentzian(delta, p["gamma_u"] + p["gamma_l"])
    total, scale = 0.0, 0.0
    for c, sub, s in _shifts(delta, p["gamma_u"], p["gamma_l"], variant):
        term = c * subband_integral(s, mus[sub], p["T"], distribution)
        total, scale = total + term, scale + jnp.abs(term)
    eps = jnp.finfo(jnp.float64).eps
    return lor * total, 8 * eps * lor * scale


def _gauss_legendre(order):
    x, w = np.polynomial.legendre.leggauss(order)
    return jnp.asarray(x), jnp.asarray(w)


@functools.partial(jax.jit, static_argnames=("variant", "distribution", "panels", "order"))
def _quadrature(p, variant, distribution, panels, order):
    delta = p["omega"] - (p["E_u"] - p["E_l"])
    terms = _shifts(delta, p["gamma_u"], p["gamma_l"], variant)
    mus = {"u": p["mu_u"], "l": p["mu_l"]}
    steps = jnp.stack([mus[sub] - s for _, sub, s in terms])  # where each occupation steps
    e_max = jnp.maximum(jnp.max(steps, axis=0), 0.0) + _TAIL * p["T"]
    x, w = _gauss_legendre(order)

    def panel_integrals(n):
        """Gauss-Legendre integral of each of ``n`` equal panels, and of ``|integrand|``."""
        h = e_max / n  # (N,)
        left = jnp.arange(n)[None, :] * h[:, None]  # (N, n)
        nodes = left[..., None] + 0.5 * h[:, None, None] * (x + 1.0)  # (N, n, order)
        weights = 0.5 * h[:, None, None] * w
        integrand = bloch_rate_k(
            nodes, p["omega"][:, None, None], E_u=p["E_u"][:, None, None], E_l=p["E_l"][:, None, None],
            gamma_u=p["gamma_u"][:, None, None], gamma_l=p["gamma_l"][:, None, None],
            mu_u=p["mu_u"][:, None, None], mu_l=p["mu_l"][:, None, None], T=p["T"][:, None, None],
            variant=variant, distribution=distribution,
        )  # fmt: skip
        return jnp.sum(integrand * weights, axis=2), jnp.sum(jnp.abs(integrand) * weights, axis=(1, 2))

    coarse, _ = panel_integrals(panels)  # (N, panels)
    fine, magnitude = panel_integrals(2 * panels)  # (N, 2 panels)
    fine = fine.reshape(fine.shape[0], panels, 2).sum(axis=2)
    # local error estimates summed in absolute value (no accidental cancellation between panels)
    local = jnp.sum(jnp.abs(fine - coarse), axis=1)
    rounding = 64 * jnp.finfo(jnp.float64).eps * magnitude
    # neglected tail int_{E_max}^inf: every occupation is below its Boltzmann tail there
    lor = _lorentzian(delta, p["gamma_u"] + p["gamma_l"])
    tail = sum(jnp.abs(c) * p["T"] * jnp.exp(-(e_max + s - mus[sub]) / p["T"]) for c, sub, s in terms)
    return jnp.sum(fine, axis=1), local + lor * tail + rounding


def bloch_gain(
    omega,
    *,
    E_u,
    E_l,
    gamma_u,
    gamma_l,
    mu_u,
    mu_l,
    T,
    variant: str = "density_matrix",
    distribution: str = "fermi",
    method: str = "closed_form",
    return_error: bool = False,
    panels: int | None = None,
    order: int = 16,
):
    """Weak-field gain spectrum of an intersubband transition (Sec. V, Eq. 31).

    ``G(omega) = int_0^inf dE_k R(E_k)/|eps|^2`` with unit density of states: the net emission
    rate per unit ``|eps|^2`` summed over the subband states; positive means gain.

    **Arguments** (hbar = k_B = 1; floats or arrays that broadcast together, the result has the
    broadcast shape):

    - `omega`: photon frequency; ``Delta = omega - (E_u - E_l)``.
    - `E_u`, `E_l`: subband bottoms; `gamma_u`, `gamma_l` (> 0): scattering rates of the
      subbands (their sum is the Lorentzian FWHM).
    - `mu_u`, `mu_l`: chemical potentials measured from each subband bottom; `T` (> 0):
      temperature of both subbands.
    - `variant`: ``"density_matrix"`` (Eq. 31), ``"effective"`` (occupations at the Eq. 14
      energies ``E_k + gamma_u Delta/Gamma`` and ``E_k - gamma_l Delta/Gamma``) or ``"naive"``
      (``f_u(E_k) - f_l(E_k)``).
    - `distribution`: ``"fermi"`` or ``"boltzmann"`` (non-degenerate limit; it grows without
      bound below the subband bottom, so keep ``|Delta|`` within tens of ``T``).
    - `method`: ``"closed_form"`` (exact antiderivative, default) or ``"quadrature"``
      (composite Gauss-Legendre, see the module docstring).
    - `return_error`: also return an error estimate (rounding bound for the closed form).
    - `panels`, `order`: quadrature panels on ``[0, E_max]`` (an integer between 1 and
      `MAX_PANELS`; default: enough for panel widths <= 2 T, between 16 and 4096) and
      Gauss-Legendre nodes per panel (an integer between 1 and `MAX_ORDER`), checked for
      either `method`.

    **Returns:** ``G`` (float64 array of the broadcast shape), or ``(G, error)``.
    """
    _check_choice("variant", variant, VARIANTS)
    _check_choice("distribution", distribution, DISTRIBUTIONS)
    _check_choice("method", method, METHODS)
    check_flag("return_error", return_error)
    if panels is not None:
        check_int("panels", panels, 1, MAX_PANELS)
    check_int("order", order, 1, MAX_ORDER)
    values = dict(omega=omega, E_u=E_u, E_l=E_l, gamma_u=gamma_u, gamma_l=gamma_l, mu_u=mu_u, mu_l=mu_l, T=T)
    check_parameters(values, RULES)
    flat, shape = broadcast_parameters(values)
    if method == "closed_form":
        value, err = _closed_form(flat, variant, distribution)
    else:
        if panels is None:
            panels = _default_panels(flat, variant)
        value, err = _quadrature(flat, variant, distribution, int(panels), int(order))
    value, err = value.reshape(shape), err.reshape(shape)
    return (value, err) if return_error else value


def _default_panels(flat, variant) -> int:
    if not all(is_concrete(v) for v in flat.values()):
        return 512
    p = {k: np.asarray(v) for k, v in flat.items()}
    delta = p["omega"] - (p["E_u"] - p["E_l"])
    gam = p["gamma_u"] + p["gamma_l"]
    reach = np.abs(delta) * (1.0 if variant == "density_matrix" else np.maximum(p["gamma_u"], p["gamma_l"]) / gam)
    e_max = np.maximum(np.maximum(p["mu_u"], p["mu_l"]) + reach, 0.0) + _TAIL * p["T"]
    return int(np.clip(np.ceil(np.max(e_max / (2 * p["T"]))), 16, 4096))
