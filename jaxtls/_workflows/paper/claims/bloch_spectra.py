"""Bloch (dispersive) gain of intersubband transitions (Model D, paper Sec. V, Eq. 31).

Per lateral state ``E_k`` (k conserved, unit density of states), Eq. (31):
``R(E_k)/|eps|^2 = Gamma/(Delta^2 + Gamma^2/4) {gamma_l [f_u(E_k) - f_l(E_k - Delta)] + gamma_u
[f_u(E_k + Delta) - f_l(E_k)]} / Gamma``, summed over ``E_k >= 0`` into the gain ``G(omega)``
(`bloch_gain`). For equal subband occupations the naive ``f_u(E_k) - f_l(E_k)`` gives no gain at
all, whereas Eq. 31 and the effective energies of Eq. 14 give dispersive gain: gain below the
transition energy, absorption above. Checked also against an independent adaptive quadrature
(SciPy ``quad``) of the integrands written out here. Units: hbar = k_B = 1, one energy unit.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import quad

from ...._models.bloch import bloch_gain, subband_density
from ..common import Check, cached_by_mode, new_figure, save_figure

__all__ = ["CHECK_PARAMS", "FIGURE_PARAMS", "CASES", "VARIANTS", "eq31_quad", "compute", "checks", "figure"]

VARIANTS = ("density_matrix", "effective", "naive")
#: equal occupations for the sign checks (energy units)
CHECK_PARAMS = dict(E_u=1.0, E_l=0.0, gamma_u=0.01, gamma_l=0.02, mu_u=0.02, mu_l=0.02, T=0.025)
#: the figure: equal and inverted occupations
FIGURE_PARAMS = dict(E_u=1.0, E_l=0.0, gamma_u=0.02, gamma_l=0.04, T=0.05)
CASES = (("(a) equal occupations", dict(mu_u=0.1, mu_l=0.1)), ("(b) inverted occupations", dict(mu_u=0.15, mu_l=-0.05)))


def _fermi(e, mu, t):
    return 0.5 * (1.0 - np.tanh((e - mu) / (2.0 * t)))


def eq31_quad(omega: float, p: dict, variant: str) -> float:
    """``G(omega)`` by adaptive quadrature (SciPy ``quad`` on ``[0, inf)``) of the integrand of
    Eq. 31 (``"density_matrix"``), of its effective-energy or naive form; one scalar ``omega``."""
    gu, gl, t = p["gamma_u"], p["gamma_l"], p["T"]
    gam = gu + gl
    delta = omega - (p["E_u"] - p["E_l"])
    lor = gam / (delta**2 + gam**2 / 4)

    def f_u(e):
        return _fermi(e, p["mu_u"], t)

    def f_l(e):
        return _fermi(e, p["mu_l"], t)

    if variant == "density_matrix":
        integrand = lambda e: lor * (gl * (f_u(e) - f_l(e - delta)) + gu * (f_u(e + delta) - f_l(e))) / gam
    elif variant == "effective":
        integrand = lambda e: lor * (f_u(e + gu * delta / gam) - f_l(e - gl * delta / gam))
    elif variant == "naive":
        integrand = lambda e: lor * (f_u(e) - f_l(e))
    else:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return quad(integrand, 0.0, np.inf, epsabs=1e-15, epsrel=1e-13, limit=400)[0]


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """Gain below ([0.9, 0.995]) and above ([1.005, 1.1]) the transition for `CHECK_PARAMS`
    (20 points each), the figure's spectra (detuning in [-0.4, 0.4], 321 / 1601 points) for
    `CASES`, and the SciPy-quadrature reference at 9 / 19 detunings in [-0.36, 0.36].

    **Returns** a dict: ``below``, ``above`` (``{variant: G}``), ``detuning``, ``spectra``
    (``[case][variant] -> G``), ``marks`` (detunings), ``quadrature`` (``[case][variant] -> G``
    by `eq31_quad`), ``library_quadrature`` (``[case] -> G`` by ``bloch_gain(method=
    "quadrature")``), ``closed_at_marks`` (``[case][variant] -> G``).
    """
    below = np.linspace(0.9, 0.995, 20)
    above = np.linspace(1.005, 1.1, 20)
    kw = CHECK_PARAMS
    sign = {v: (np.asarray(bloch_gain(below, **kw, variant=v)), np.asarray(bloch_gain(above, **kw, variant=v)))
            for v in VARIANTS}  # fmt: skip
    delta = np.linspace(-0.4, 0.4, 321 if quick else 1601)
    dmark = np.linspace(-0.36, 0.36, 9 if quick else 19)
    spectra, quadr, lib_q, at_marks = [], [], [], []
    for _, occ in CASES:
        p = dict(FIGURE_PARAMS, **occ)
        spectra.append({v: np.asarray(bloch_gain(1.0 + delta, **p, variant=v)) for v in VARIANTS})
        at_marks.append({v: np.asarray(bloch_gain(1.0 + dmark, **p, variant=v)) for v in VARIANTS})
        quadr.append({v: np.array([eq31_quad(1.0 + x, p, v) for x in dmark]) for v in VARIANTS})
        lib_q.append(np.asarray(bloch_gain(1.0 + dmark, **p, method="quadrature")))
    return dict(below={v: s[0] for v, s in sign.items()}, above={v: s[1] for v, s in sign.items()},
                detuning=delta, spectra=spectra, marks=dmark, quadrature=quadr, library_quadrature=lib_q,
                closed_at_marks=at_marks)  # fmt: skip


def checks(d: dict) -> list[Check]:
    """Naive spectrum zero for equal occupations; sign structure of Eq. 31 and of the effective
    version; the closed form against SciPy quadrature (relative to the largest ``|G|`` of each
    case: ``quad`` is asked for 1e-13 relative, the closed form is exact up to rounding)."""
    below, above = d["below"], d["above"]
    naive = float(max(np.max(np.abs(below["naive"])), np.max(np.abs(above["naive"]))))
    dm_b, dm_a, ef_b, ef_a = below["density_matrix"], above["density_matrix"], below["effective"], above["effective"]
    ref = 0.0
    for closed, quadr in zip(d["closed_at_marks"], d["quadrature"], strict=True):
        scale = max(float(np.max(np.abs(quadr[v]))) for v in VARIANTS)
        ref = max(ref, max(float(np.max(np.abs(closed[v] - quadr[v]))) for v in VARIANTS) / scale)
    return [
        Check("Bloch gain, equal occupations: the naive spectrum vanishes", "Sec. V", naive, "= 0", naive == 0.0),
        Check("Bloch gain (Eq. 31): gain below the transition, absorption above", "Eq. 31",
              float(min(dm_b.min(), -dm_a.max())), "> 0", bool(dm_b.min() > 0 and dm_a.max() < 0)),
        Check("Bloch gain with effective energies: gain below, absorption above", "Eq. 14",
              float(min(ef_b.min(), -ef_a.max())), "> 0", bool(ef_b.min() > 0 and ef_a.max() < 0)),
        Check("Bloch gain: closed-form G(omega) equals SciPy quadrature of the integrands (3 variants, 2 cases)",
              "Eq. 31", ref, "rel < 1e-9", ref < 1e-9, f"{d['marks'].size} detunings per spectrum"),
    ]  # fmt: skip


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``bloch_gain.png``: spectra of the three variants for equal and inverted occupations, with
    the library's Gauss-Legendre quadrature as markers."""
    d = compute(quick)
    delta, dmark = d["detuning"], d["marks"]
    styles = {
        "density_matrix": dict(color="tab:blue", ls="-", label="Eq. 31 (density matrix)"),
        "effective": dict(color="tab:red", ls="--", label=r"effective energies (Eq. 14 per $k$)"),
        "naive": dict(color="0.3", ls=":", label=r"naive $f_u(E_k)-f_l(E_k)$"),
    }
    fig = new_figure(11.0, 4.3, layout="constrained")
    axes = fig.subplots(1, 2)
    for i, (ax, (title, occ)) in enumerate(zip(axes, CASES, strict=True)):
        p = dict(FIGURE_PARAMS, **occ)
        for variant, st in styles.items():
            ax.plot(delta, d["spectra"][i][variant], lw=1.8, **st)
        ax.plot(dmark, d["library_quadrature"][i], "o", color="tab:blue", mfc="none", ms=5,
                label="Eq. 31, Gauss-Legendre in $E_k$")  # fmt: skip
        ax.axhline(0.0, color="0.7", lw=0.8)
        ax.axvline(0.0, color="0.7", lw=0.8)
        n_u = float(subband_density(p["mu_u"], p["T"]))
        n_l = float(subband_density(p["mu_l"], p["T"]))
        ax.set_title(rf"{title}: $\mu_u={p['mu_u']}$, $\mu_l={p['mu_l']}$, $N_u-N_l={n_u - n_l:.3f}$", fontsize=9)
        ax.set_xlabel(r"detuning $\omega-(E_u-E_l)$  [energy units]")
        ax.set_ylabel(r"gain $G(\omega)=\int_0^\infty dE_k\,R(E_k)/|\varepsilon|^2$  [unit DOS]")
        ax.text(0.03, 0.95, "gain > 0\nabsorption < 0", transform=ax.transAxes, fontsize=8, color="0.4", va="top")
        ax.legend(fontsize=7.5, loc="upper right")
    fig.suptitle(
        rf"Intersubband gain: $E_u-E_l=1$, $\gamma_u={FIGURE_PARAMS['gamma_u']}$, "
        rf"$\gamma_l={FIGURE_PARAMS['gamma_l']}$, $T={FIGURE_PARAMS['T']}$ (Fermi subbands, $\mu$ from each "
        "subband bottom)",
        fontsize=9,
    )
    return [save_figure(fig, out_dir, "bloch_gain.png", dpi=130)]
