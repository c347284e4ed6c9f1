"""Figures for Models C and D: frequency pulling, L-I curve, Bloch gain.

Each ``*_figure(out_dir, quick=False)`` computes its data with the public solvers, writes PNG
files into `out_dir` and returns their paths. Matplotlib is used through its object-oriented
API with the Agg canvas (no pyplot, no global backend switch). Units: hbar = k_B = 1, all
energies, frequencies, rates and temperatures in one "energy unit"; with the transition energy
``E_u - E_l = 1`` the axes read directly in units of the transition energy.
"""

from __future__ import annotations

import os

import numpy as np

from .._models.bloch import bloch_gain, subband_density
from .._models.laser import solve_laser
from .._models.laser_li import laser_li_curve

__all__ = ["frequency_pulling_figure", "li_curve_figure", "bloch_gain_figure"]

LASER = dict(E_u=1.0, E_l=0.0, g=0.05, gamma_u=0.01, gamma_l=0.02, mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05)
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _figure(ncols, width=11.0, height=4.3):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _save(fig, out_dir, name) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=130)
    return path


def frequency_pulling_figure(out_dir=".", quick: bool = False) -> list[str]:
    """Lasing frequency (Eq. 30) and intensity versus cavity frequency for several cavity loss
    rates ``gamma_b``: closed-form lines, ODE-integration markers (phase rotation of ``a``)."""
    gammas_b = (0.005, 0.015, 0.03, 0.06)
    e0 = LASER["E_u"] - LASER["E_l"]
    dcav = np.linspace(-0.16, 0.16, 81 if quick else 321)
    dmark = np.linspace(-0.08, 0.08, 5 if quick else 9)  # all lasing with r > 1.3
    gb = np.asarray(gammas_b)[:, None]
    line = solve_laser(**LASER, omega_cav=e0 + dcav[None, :], gamma_b=gb)
    mark = solve_laser(**LASER, omega_cav=e0 + dmark[None, :], gamma_b=gb, method="integrate", throw=False)
    gam = LASER["gamma_u"] + LASER["gamma_l"]

    fig, (ax1, ax2) = _figure(2)
    ax1.plot(dcav, dcav, color="0.6", ls=":", lw=1, label=r"no pulling, $\omega=\omega_\mathrm{cav}$")
    ax1.axhline(0.0, color="0.6", ls="--", lw=1, label=r"transition, $\omega=E_u-E_l$")
    for i, (g_b, c) in enumerate(zip(gammas_b, COLORS, strict=False)):
        lasing = np.asarray(line.lasing[i])
        w = np.where(lasing, np.asarray(line.omega[i]) - e0, np.nan)
        intensity = np.where(lasing, np.asarray(line.intensity[i]), np.nan)
        label = rf"$\gamma_b={g_b:g}$ ($\gamma_b/\Gamma={g_b / gam:.2g}$)"
        ax1.plot(dcav, w, color=c, label=label + ", Eq. 30")
        ax2.plot(dcav, intensity, color=c, label=label + ", Eq. 29")
        ok = np.asarray(mark.lasing[i]) & np.asarray(mark.converged[i])
        ax1.plot(dmark[ok], np.asarray(mark.omega[i])[ok] - e0, "o", color=c, mfc="none", ms=6)
        ax2.plot(dmark[ok], np.asarray(mark.intensity[i])[ok], "o", color=c, mfc="none", ms=6)
    ax1.plot([], [], "o", color="k", mfc="none", label="integrated ODE (phase of $a$)")
    ax2.plot([], [], "o", color="k", mfc="none", label="integrated ODE")
    ax1.set_xlabel(r"cavity detuning $\omega_\mathrm{cav}-(E_u-E_l)$  [energy units]")
    ax1.set_ylabel(r"lasing frequency $\omega-(E_u-E_l)$  [energy units]")
    ax1.set_title("(a) frequency pulling")
    ax1.legend(fontsize=7.5, loc="upper left")
    ax2.set_xlabel(r"cavity detuning $\omega_\mathrm{cav}-(E_u-E_l)$  [energy units]")
    ax2.set_ylabel(r"photon number $|a|^2$ of the coherent field")
    ax2.set_title("(b) intensity (zero below threshold)")
    ax2.legend(fontsize=7.5, loc="upper left")
    ax2.set_ylim(0, None)
    fig.suptitle(
        rf"Semiclassical laser: $E_u-E_l=1$, $\gamma_u={LASER['gamma_u']}$, $\gamma_l={LASER['gamma_l']}$, "
        rf"$g={LASER['g']}$, $\mu_u={LASER['mu_u']}$, $\mu_l={LASER['mu_l']}$, $T={LASER['T_u']}$ "
        "(effective occupations)",
        fontsize=9,
    )
    return [_save(fig, out_dir, "frequency_pulling.png")]


def li_curve_figure(out_dir=".", quick: bool = False) -> list[str]:
    """Photon output power ``gamma_b omega |a|^2`` versus the pump (chemical potential of the
    injecting lead) for several temperatures, and versus the pump ratio of Eq. 29."""
    base = dict(LASER, g=0.015, omega_cav=1.01, gamma_b=0.005)
    del base["mu_u"]
    temps = (0.01, 0.025, 0.05)
    mu = np.linspace(0.7, 1.3, 121 if quick else 601)
    mu_mark = np.linspace(0.75, 1.25, 6 if quick else 11)

    fig, (ax1, ax2) = _figure(2)
    for t, c in zip(temps, COLORS, strict=False):
        li = laser_li_curve(mu, pump_name="mu_u", **dict(base, T_u=t, T_l=t))
        ax1.plot(mu, np.asarray(li.output_power) * 1e6, color=c, label=rf"$T={t:g}$ (Eq. 29)")
        thr = float(li.pump_at_threshold)
        if np.isfinite(thr):
            ax1.axvline(thr, color=c, ls=":", lw=1)
        ax2.plot(np.asarray(li.threshold), np.asarray(li.output_power) * 1e6, color=c, lw=3 if t == temps[0] else 1.5,
                 label=rf"$T={t:g}$")  # fmt: skip
    gam = base["gamma_u"] + base["gamma_l"]
    w = float(li.omega[0])
    x_per_r = base["gamma_u"] * base["gamma_l"] * (gam**2 / 4 + (w - 1.0) ** 2) / gam**2 / base["g"] ** 2
    r = np.linspace(1.0, float(np.max(li.threshold)), 50)
    ax2.plot(r, base["gamma_b"] * w * x_per_r * (r - 1) * 1e6, "k--", lw=1,
             label=r"$\gamma_b\omega\,\gamma_u\gamma_l(\Gamma^2/4+\Delta^2)(r-1)/(\Gamma^2|g|^2)$")  # fmt: skip
    mid = temps[1]
    num = laser_li_curve(mu_mark, pump_name="mu_u", method="integrate", throw=False, **dict(base, T_u=mid, T_l=mid))
    ax1.plot(mu_mark, np.asarray(num.output_power) * 1e6, "o", color=COLORS[1], mfc="none",
             label=rf"$T={mid:g}$, integrated ODE")  # fmt: skip
    ax1.plot([], [], ":", color="k", lw=1, label="threshold")
    ax1.set_xlabel(r"pump: chemical potential $\mu_u$ of the injecting lead  [energy units]")
    ax1.set_ylabel(r"output power $P_\mathrm{out}=\gamma_b\,\omega\,|a|^2$  [$10^{-6}$ energy$^2/\hbar$]")
    ax1.set_title(rf"(a) L-I curve ($\mu_l={base['mu_l']}$, $E_u-E_l=1$)")
    ax1.legend(fontsize=8, loc="upper left")
    ax2.axvline(1.0, color="0.5", ls=":", lw=1, label="threshold $r=1$")
    ax2.set_xlabel(r"pump ratio $r$ (real part of Eq. 29; lasing for $r>1$)")
    ax2.set_ylabel(r"output power $P_\mathrm{out}$  [$10^{-6}$ energy$^2/\hbar$]")
    ax2.set_title(r"(b) universal linear law $P_\mathrm{out}\propto r-1$")
    ax2.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        rf"Semiclassical laser L-I: $g={base['g']}$, $\omega_\mathrm{{cav}}={base['omega_cav']}$, "
        rf"$\gamma_u={base['gamma_u']}$, $\gamma_l={base['gamma_l']}$, $\gamma_b={base['gamma_b']}$ "
        "(effective occupations)",
        fontsize=9,
    )
    return [_save(fig, out_dir, "laser_li_curve.png")]


def bloch_gain_figure(out_dir=".", quick: bool = False) -> list[str]:
    """Gain spectra ``G(omega)`` for equal and inverted subband occupations: Eq. 31 (density
    matrix), effective energies, and the naive ``f_u(E_k) - f_l(E_k)``."""
    base = dict(E_u=1.0, E_l=0.0, gamma_u=0.02, gamma_l=0.04, T=0.05)
    cases = (
        ("(a) equal occupations", dict(mu_u=0.1, mu_l=0.1)),
        ("(b) inverted occupations", dict(mu_u=0.15, mu_l=-0.05)),
    )
    delta = np.linspace(-0.4, 0.4, 321 if quick else 1601)
    dmark = np.linspace(-0.36, 0.36, 9 if quick else 19)
    styles = {
        "density_matrix": dict(color="tab:blue", ls="-", label="Eq. 31 (density matrix)"),
        "effective": dict(color="tab:red", ls="--", label=r"effective energies (Eq. 14 per $k$)"),
        "naive": dict(color="0.3", ls=":", label=r"naive $f_u(E_k)-f_l(E_k)$"),
    }
    fig, axes = _figure(2)
    for ax, (title, occ) in zip(axes, cases, strict=True):
        p = dict(base, **occ)
        for variant, st in styles.items():
            ax.plot(delta, np.asarray(bloch_gain(1.0 + delta, **p, variant=variant)), lw=1.8, **st)
        gq = bloch_gain(1.0 + dmark, **p, method="quadrature")
        ax.plot(dmark, np.asarray(gq), "o", color="tab:blue", mfc="none", ms=5,
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
        rf"Intersubband gain: $E_u-E_l=1$, $\gamma_u={base['gamma_u']}$, $\gamma_l={base['gamma_l']}$, "
        rf"$T={base['T']}$ (Fermi subbands, $\mu$ from each subband bottom)",
        fontsize=9,
    )
    return [_save(fig, out_dir, "bloch_gain.png")]
