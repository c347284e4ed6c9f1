"""Frequency pulling of a detuned semiclassical laser (Model C, paper Sec. IV, Eq. 30).

The lasing frequency ``omega = [(gamma_u + gamma_l) omega_cav + gamma_b (E_u - E_l)] / (gamma_u +
gamma_l + gamma_b)`` (Eq. 30) lies between the cavity and the transition frequency and equals
the photon effective energy ``E~_ph`` of the quantum model (Eq. 21). Checked on random lasers
against the integrated equations of motion (B1, B2, 25, 26; the frequency from the rotation of
the phase of ``a``), which also give the intensity of the real part of Eq. 29. The figure sweeps
the cavity frequency for several cavity losses. Units: hbar = k_B = 1, one energy unit.
"""

from __future__ import annotations

import numpy as np

from ...._models.laser import solve_laser
from ..common import Check, cached_by_mode, new_figure, save_figure

__all__ = ["LASER", "GAMMAS_B", "eq30", "compute", "checks", "figure"]

#: laser parameters of the figure (energy units); omega_cav and gamma_b vary
LASER = dict(E_u=1.0, E_l=0.0, g=0.05, gamma_u=0.01, gamma_l=0.02, mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05)
GAMMAS_B = (0.005, 0.015, 0.03, 0.06)  #: cavity loss rates of the figure
COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def eq30(E_u, E_l, omega_cav, gamma_u, gamma_l, gamma_b):
    """Eq. (30): the pulled lasing frequency (energy units; NumPy broadcasting)."""
    gam = gamma_u + gamma_l
    return (gam * omega_cav + gamma_b * (E_u - E_l)) / (gam + gamma_b)


def _random_lasers(n: int) -> dict:
    rng = np.random.default_rng(3)
    return dict(E_u=1.0, E_l=0.0, omega_cav=1.0 + rng.uniform(-0.05, 0.05, n), g=0.05,
                gamma_u=rng.uniform(0.01, 0.03, n), gamma_l=rng.uniform(0.01, 0.03, n),
                gamma_b=rng.uniform(0.002, 0.01, n), mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05)  # fmt: skip


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """Random lasers (4 quick, 16 full) solved in closed form and by integration, and the
    figure's sweeps (cavity detuning in [-0.16, 0.16], 81 / 321 points closed form, 5 / 9
    integrated in [-0.08, 0.08]) for each of `GAMMAS_B`.

    **Returns** a dict: ``random`` (``params``, ``closed`` and ``integrated``: dicts of
    ``omega``, ``intensity``, ``lasing``, ``threshold``, and ``E_ph``, the closed-form
    solution's ``effective_energy["ph"]``), ``line`` / ``mark`` (``detuning`` and arrays of shape
    ``(len(GAMMAS_B), n)``: ``omega``, ``intensity``, ``lasing``, ``converged``).
    """
    p = _random_lasers(4 if quick else 16)

    def fields(res):
        return {k: np.asarray(getattr(res, k)) for k in ("omega", "intensity", "lasing", "threshold", "converged")}

    closed = solve_laser(**p)
    random = dict(params=p, closed=fields(closed), integrated=fields(solve_laser(**p, method="integrate")),
                  E_ph=np.asarray(closed.effective_energy["ph"]))  # fmt: skip
    e0 = LASER["E_u"] - LASER["E_l"]
    gb = np.asarray(GAMMAS_B)[:, None]
    dcav = np.linspace(-0.16, 0.16, 81 if quick else 321)
    dmark = np.linspace(-0.08, 0.08, 5 if quick else 9)  # all lasing with r > 1.3
    line = dict(detuning=dcav, **fields(solve_laser(**LASER, omega_cav=e0 + dcav[None, :], gamma_b=gb)))
    mark = solve_laser(**LASER, omega_cav=e0 + dmark[None, :], gamma_b=gb, method="integrate", throw=False)
    return dict(params=dict(LASER), random=random, line=line, mark=dict(detuning=dmark, **fields(mark)))


def checks(d: dict) -> list[Check]:
    """Integrated frequency against Eq. 30; Eq. 30 against ``E~_ph``; integrated intensity
    against the closed form; every random laser above threshold."""
    q = d["random"]
    p, closed, integ = q["params"], q["closed"], q["integrated"]
    w30 = eq30(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    w_err = float(np.max(np.abs(integ["omega"] - w30)))
    pull = float(np.max(np.abs(w30 - q["E_ph"])))
    i_err = float(np.max(np.abs(integ["intensity"] / closed["intensity"] - 1)))
    n = w30.size
    return [
        Check("Laser: integrated lasing frequency equals the pulled frequency", "Eq. 30", w_err, "< 1e-8",
              w_err < 1e-8, f"{n} random lasers above threshold"),
        Check("Laser: lasing frequency equals the photon effective energy E~_ph", "Eqs. 21, 30", pull, "< 1e-13",
              pull < 1e-13),
        Check("Laser: integrated intensity equals the closed form (real part of Eq. 29)", "Eq. 29", i_err,
              "rel < 1e-6", i_err < 1e-6),
        Check("Laser: all of them lase (pump ratio > 1)", "Eq. 29", float(np.min(closed["threshold"])),
              "> 1", bool(np.all(closed["lasing"]) and np.all(integ["lasing"]))),
    ]  # fmt: skip


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``frequency_pulling.png``: (a) lasing frequency, (b) intensity versus cavity detuning;
    closed-form lines (Eqs. 29, 30), integrated-ODE markers."""
    d = compute(quick)
    line, mark = d["line"], d["mark"]
    e0 = LASER["E_u"] - LASER["E_l"]
    dcav, dmark = line["detuning"], mark["detuning"]
    gam = LASER["gamma_u"] + LASER["gamma_l"]
    fig = new_figure(11.0, 4.3, layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(dcav, dcav, color="0.6", ls=":", lw=1, label=r"no pulling, $\omega=\omega_\mathrm{cav}$")
    ax1.axhline(0.0, color="0.6", ls="--", lw=1, label=r"transition, $\omega=E_u-E_l$")
    for i, (g_b, c) in enumerate(zip(GAMMAS_B, COLORS, strict=False)):
        lasing = line["lasing"][i]
        label = rf"$\gamma_b={g_b:g}$ ($\gamma_b/\Gamma={g_b / gam:.2g}$)"
        ax1.plot(dcav, np.where(lasing, line["omega"][i] - e0, np.nan), color=c, label=label + ", Eq. 30")
        ax2.plot(dcav, np.where(lasing, line["intensity"][i], np.nan), color=c, label=label + ", Eq. 29")
        ok = mark["lasing"][i] & mark["converged"][i]
        ax1.plot(dmark[ok], mark["omega"][i][ok] - e0, "o", color=c, mfc="none", ms=6)
        ax2.plot(dmark[ok], mark["intensity"][i][ok], "o", color=c, mfc="none", ms=6)
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
    return [save_figure(fig, out_dir, "frequency_pulling.png", dpi=130)]
