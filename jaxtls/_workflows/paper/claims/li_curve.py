"""Laser intensity and L-I curve of the semiclassical laser (Model C, paper Sec. IV, Eq. 29).

The real part of Eq. (29) fixes the saturation factor ``H(|g a|^2) = 1/r`` with the *pump ratio*

    r = |g|^2 (f_u - f_l) / D,   D = gamma_b Gamma/4 - (omega - omega_cav) Delta,

``Gamma = gamma_u + gamma_l``, ``Delta = omega - (E_u - E_l)``, ``omega`` from Eq. 30 and ``f_a``
the Fermi functions at the effective energies of Eq. 21. The laser oscillates iff ``r > 1``,
and then ``|g a|^2 = (r - 1) X`` with ``X = gamma_u gamma_l (Gamma^2/4 + Delta^2) / Gamma^2``
(PHYSICS.md, Model C): the intensity grows *linearly in the pump ratio* above threshold. With
the injecting lead's chemical potential ``mu_u`` as the pump, the threshold is, in closed form,

    mu_u* = E~_u + T_u ln(f* / (1 - f*)),   f* = f_l(E~_l) + D / |g|^2.

Checks (tolerances from the physics, see `checks`): that threshold against the root of the
solver's pump ratio; the onset of the integrated equations of motion (B1, B2, 25, 26) at it;
the linear law and the photon balance ``gamma_b |a|^2 = R`` of the integrated dynamics; and,
far above threshold, the semiclassical ``|a|^2`` against the mean photon number ``<a^+ a>`` of
the quantized cavity (Model B, `solve_cavity`) with the same parameters. Units: hbar = k_B = 1.
"""

from __future__ import annotations

import numpy as np

from ...._models.cavity import solve_cavity
from ...._models.laser import solve_laser
from ...._models.laser_li import laser_li_curve
from ..common import Check, cached_by_mode, new_figure, save_figure
from .cavity_energies import eq21
from .frequency_pulling import COLORS, LASER, eq30

__all__ = ["BASE", "TEMPERATURES", "FAR", "pump_ratio", "threshold_pump", "compute", "checks", "figure"]

#: L-I parameters (energy units): the pump is mu_u, at the lead temperatures `TEMPERATURES`
BASE = {k: v for k, v in dict(LASER, g=0.015, omega_cav=1.01, gamma_b=0.005).items() if k != "mu_u"}
TEMPERATURES = (0.01, 0.025, 0.05)
#: far above threshold (pump ratio 6-10, 34-175 photons); (g, gamma_b) pairs vary
FAR = dict(E_u=1.0, E_l=0.0, omega_cav=1.0, gamma_u=0.02, gamma_l=0.02, mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05)
FAR_QUICK = ((0.005, 2.5e-4), (0.003, 1e-4))
FAR_FULL = FAR_QUICK + ((0.002, 5e-5), (0.004, 2.5e-4))
DELTA_MU = 1e-3  #: distance of the integrated points from the threshold (energy units)


def _fermi(e, mu, t):
    return 0.5 * (1.0 - np.tanh((e - mu) / (2.0 * t)))


def _pieces(p):
    gam = p["gamma_u"] + p["gamma_l"]
    w = eq30(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    delta = w - (p["E_u"] - p["E_l"])
    d = p["gamma_b"] * gam / 4 - (w - p["omega_cav"]) * delta
    x = p["gamma_u"] * p["gamma_l"] * (gam**2 / 4 + delta**2) / gam**2
    e = eq21(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    return e, d, x, w


def pump_ratio(p: dict):
    """Closed form of the real part of Eq. 29: ``(r, X)`` with the pump ratio ``r`` and
    ``X = |g a|^2 / (r - 1)`` (energy^2) for the parameters `p` (effective occupations)."""
    e, d, x, _ = _pieces(p)
    f_u, f_l = _fermi(e["u"], p["mu_u"], p["T_u"]), _fermi(e["l"], p["mu_l"], p["T_l"])
    r = np.abs(p["g"]) ** 2 * (f_u - f_l) / d
    return r, np.broadcast_to(x, np.shape(r))


def threshold_pump(p: dict):
    """``mu_u*`` where ``r = 1`` (module docstring); NaN where no ``mu_u`` reaches threshold."""
    e, d, _, _ = _pieces(p)
    f_star = _fermi(e["l"], p["mu_l"], p["T_l"]) + d / np.abs(p["g"]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((f_star > 0) & (f_star < 1), e["u"] + p["T_u"] * np.log(f_star / (1 - f_star)), np.nan)


def _root_of_solver_ratio(p: dict, lo: float, hi: float, steps: int = 60):
    """Bisection (batched over the temperatures) for ``solve_laser(...).threshold = 1`` in
    ``mu_u``; the pump ratio increases with ``mu_u`` (through ``f_u``)."""
    lo = np.full(np.shape(p["T_u"]), lo)
    hi = np.full(np.shape(p["T_u"]), hi)
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        up = np.asarray(solve_laser(**p, mu_u=mid).threshold) > 1
        lo, hi = np.where(up, lo, mid), np.where(up, mid, hi)
    return 0.5 * (lo + hi)


def _ode(p: dict) -> dict:
    res = solve_laser(**p, method="integrate", throw=False)
    keys = ("intensity", "rate", "lasing", "converged", "threshold")
    return {k: np.asarray(getattr(res, k)) for k in keys}


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """L-I curves (``mu_u`` in [0.7, 1.3], 121 points quick, 601 full) at `TEMPERATURES`, the
    threshold two ways, integrated points (at ``mu_u* -+ DELTA_MU`` for each temperature, and
    6 / 11 pumps in [0.75, 1.25] at ``T = 0.025``) and the far-above-threshold comparison
    (`FAR` with 2 / 4 ``(g, gamma_b)`` pairs).

    **Returns** a dict: ``mu``, ``temperatures``, ``curve`` (``output_power``, ``threshold``,
    ``omega``, shape ``(3, len(mu))``), ``threshold_closed`` and ``threshold_solver`` (per
    temperature), ``bracket`` (``below`` / ``above``: integrated results; ``above`` also ``r``
    and ``X`` from `pump_ratio`), ``marks`` (``mu``, the integrated results, ``r`` and ``X``),
    ``far`` (``g``, ``gamma_b``, ``semiclassical`` ``|a|^2``, ``quantum`` ``<a^+ a>``,
    ``n_max``, ``fock_tail``).
    """
    temps = np.asarray(TEMPERATURES)
    mu = np.linspace(0.7, 1.3, 121 if quick else 601)
    pt = dict(BASE, T_u=temps, T_l=temps)
    li = laser_li_curve(mu[None, :], pump_name="mu_u", **dict(BASE, T_u=temps[:, None], T_l=temps[:, None]))
    curve = {k: np.asarray(getattr(li, k)) for k in ("output_power", "threshold", "omega")}
    mu_star = threshold_pump(dict(pt, mu_u=0.0))
    root = _root_of_solver_ratio(pt, float(mu[0]), float(mu[-1]))
    bracket = {"below": _ode(dict(pt, mu_u=mu_star - DELTA_MU)), "above": _ode(dict(pt, mu_u=mu_star + DELTA_MU))}
    bracket["above"]["r"], bracket["above"]["X"] = pump_ratio(dict(pt, mu_u=mu_star + DELTA_MU))
    t_mid = TEMPERATURES[1]
    mu_mark = np.linspace(0.75, 1.25, 6 if quick else 11)
    pm = dict(BASE, T_u=t_mid, T_l=t_mid, mu_u=mu_mark)
    r_mark, x_mark = pump_ratio(pm)
    marks = dict(mu=mu_mark, T=t_mid, r=r_mark, X=x_mark, **_ode(pm))
    pairs = np.asarray(FAR_QUICK if quick else FAR_FULL)
    pf = dict(FAR, g=pairs[:, 0], gamma_b=pairs[:, 1])
    n_sc = np.asarray(solve_laser(**pf).intensity)
    n_max = int(np.max(n_sc) + 8 * np.sqrt(np.max(n_sc)) + 16)  # P(n_max) checked by solve_cavity (fock_tol)
    cav = solve_cavity(**pf, T_b=FAR["T_u"], n_max=n_max, fock_tol=1e-12)
    far = dict(g=pairs[:, 0], gamma_b=pairs[:, 1], semiclassical=n_sc, quantum=np.asarray(cav.populations["ph"]),
               n_max=n_max, fock_tail=np.asarray(cav.fock_tail))  # fmt: skip
    return dict(params=dict(BASE), mu=mu, temperatures=temps, curve=curve, threshold_closed=mu_star,
                threshold_solver=root, bracket=bracket, marks=marks, far=far)  # fmt: skip


def checks(d: dict) -> list[Check]:
    """The L-I checks, with their tolerances:

    - threshold: the bisection root of the solver's pump ratio is exact up to rounding of
      ``r`` (~1e-16 relative; ``dr/dmu_u`` is of order 1/T), so it must equal the closed form to
      1e-10 energy units; a threshold formula wrong by a relative 1e-3 would miss it by > 1e-4;
    - onset: ``DELTA_MU = 1e-3`` below the closed-form threshold the integrated field decays
      (from its seed amplitude, by more than 1e12 in intensity relative to the point above),
      ``DELTA_MU`` above it lases; a threshold wrong by more than 1e-3 flips one of them;
    - linear law: the integration stops at a residual of 1e-10 per unit rate (``steady_tol``),
      which leaves relative errors of at most ~1e-7 in ``|a|^2`` down to ``r - 1 ~ 0.015``:
      tolerance 1e-6 relative, also for the photon balance ``gamma_b |a|^2 = R`` (Eq. 26);
    - quantum versus semiclassical: Eq. 24 replaces ``<a^+ a>`` by ``|<a>|^2`` and drops
      spontaneous emission into the mode. Far above threshold the photon distribution is a peak
      of width ~sqrt(n) about ``|a|^2`` and spontaneous emission adds of the order of one photon
      (the spontaneous-emission factor ``sigma_uu / (sigma_uu - sigma_ll)`` is ~1 at full
      inversion), so the two must agree to within one photon (a relative ``1/|a|^2``: 3 % at 34
      photons, 0.6 % at 175) while ``|a|^2`` itself is tens to hundreds.
    """
    temps = ", ".join(f"{t:g}" for t in d["temperatures"])
    thr = float(np.max(np.abs(d["threshold_solver"] - d["threshold_closed"])))
    stars = ", ".join(f"{m:.6f}" for m in d["threshold_closed"])
    lo, hi = d["bracket"]["below"], d["bracket"]["above"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.max(lo["intensity"] / hi["intensity"]))
    onset = bool(ratio < 1e-12 and np.all(hi["lasing"]) and not np.any(lo["lasing"])
                 and np.all(lo["converged"]) and np.all(hi["converged"]))  # fmt: skip
    m = d["marks"]
    on = m["r"] > 1
    pts_i = np.concatenate([m["intensity"][on], hi["intensity"]])
    r = np.concatenate([m["r"][on], hi["r"]])
    law = (r - 1) * np.concatenate([m["X"][on], hi["X"]]) / abs(d["params"]["g"]) ** 2
    lin = float(np.max(np.abs(pts_i / law - 1)))
    conv = bool(np.all(m["converged"]) and np.all(m["lasing"] == on))
    flux = np.concatenate([d["params"]["gamma_b"] * m["intensity"][on], d["params"]["gamma_b"] * hi["intensity"]])
    cur = np.concatenate([m["rate"][on], hi["rate"]])
    bal = float(np.max(np.abs(flux / cur - 1)))
    f = d["far"]
    dn = np.abs(f["quantum"] - f["semiclassical"])
    n_txt = ", ".join(f"{n:.0f}" for n in f["semiclassical"])
    tail = float(np.max(f["fock_tail"]))
    return [
        Check("L-I: pump at threshold (solver's pump ratio = 1) equals the closed form mu_u* = "
              "E~_u + T ln(f*/(1-f*)), f* = f_l + D/|g|^2", "Eqs. 21, 29", thr, "< 1e-10", thr < 1e-10,
              f"T = {temps}: mu_u* = {stars} (energy units)"),
        Check(f"L-I: integrated dynamics decay at mu_u* - {DELTA_MU:g} and lase at mu_u* + {DELTA_MU:g}",
              "Eqs. B1, B2, 25, 26", ratio, "|a|^2 ratio < 1e-12", onset,
              f"T = {temps}; all converged: {bool(np.all(lo['converged']) and np.all(hi['converged']))}"),
        Check("L-I: above threshold |a|^2 = (r - 1) gamma_u gamma_l (Gamma^2/4 + Delta^2)/(Gamma^2 |g|^2): linear "
              "in the pump ratio (integrated ODE)", "Eq. 29", lin, "rel < 1e-6", lin < 1e-6 and conv,
              f"{pts_i.size} lasing points, r - 1 = {float(np.min(r)) - 1:.2g} ... {float(np.max(r)) - 1:.2g}"),
        Check("L-I: photon balance gamma_b |a|^2 = R (integrated ODE)", "Eq. 26", bal, "rel < 1e-6", bal < 1e-6,
              "photon flux out of the cavity equals the electron current"),
        Check("L-I far above threshold: semiclassical |a|^2 equals <a^+ a> of the quantized cavity within one "
              "photon", "Eq. 24 vs Model B", float(np.max(dn)), "< 1 photon", bool(np.max(dn) < 1 and tail <= 1e-12),
              f"|a|^2 = {n_txt}; relative {float(np.max(dn / f['semiclassical'])):.2g}; n_max = {f['n_max']}, "
              f"P(n_max) = {tail:.1g}"),
    ]  # fmt: skip


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``laser_li_curve.png``: (a) output power ``gamma_b omega |a|^2`` versus the pump ``mu_u``
    at three temperatures (closed-form thresholds dotted, integrated markers), (b) versus the
    pump ratio with the linear law."""
    d = compute(quick)
    p, mu, curve, m = d["params"], d["mu"], d["curve"], d["marks"]
    fig = new_figure(11.0, 4.3, layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    for i, (t, c) in enumerate(zip(TEMPERATURES, COLORS, strict=False)):
        ax1.plot(mu, curve["output_power"][i] * 1e6, color=c, label=rf"$T={t:g}$ (Eq. 29)")
        if np.isfinite(d["threshold_closed"][i]):
            ax1.axvline(d["threshold_closed"][i], color=c, ls=":", lw=1)
        ax2.plot(curve["threshold"][i], curve["output_power"][i] * 1e6, color=c, lw=3 if i == 0 else 1.5,
                 label=rf"$T={t:g}$")  # fmt: skip
    gam = p["gamma_u"] + p["gamma_l"]
    w = float(curve["omega"][0, 0])
    x_per_r = p["gamma_u"] * p["gamma_l"] * (gam**2 / 4 + (w - 1.0) ** 2) / gam**2 / p["g"] ** 2
    r = np.linspace(1.0, float(np.max(curve["threshold"])), 50)
    ax2.plot(r, p["gamma_b"] * w * x_per_r * (r - 1) * 1e6, "k--", lw=1,
             label=r"$\gamma_b\omega\,\gamma_u\gamma_l(\Gamma^2/4+\Delta^2)(r-1)/(\Gamma^2|g|^2)$")  # fmt: skip
    ax1.plot(m["mu"], p["gamma_b"] * w * m["intensity"] * 1e6, "o", color=COLORS[1], mfc="none",
             label=rf"$T={m['T']:g}$, integrated ODE")  # fmt: skip
    ax1.plot([], [], ":", color="k", lw=1, label="threshold (closed form)")
    ax1.set_xlabel(r"pump: chemical potential $\mu_u$ of the injecting lead  [energy units]")
    ax1.set_ylabel(r"output power $P_\mathrm{out}=\gamma_b\,\omega\,|a|^2$  [$10^{-6}$ energy$^2/\hbar$]")
    ax1.set_title(rf"(a) L-I curve ($\mu_l={p['mu_l']}$, $E_u-E_l=1$)")
    ax1.legend(fontsize=8, loc="upper left")
    ax2.axvline(1.0, color="0.5", ls=":", lw=1, label="threshold $r=1$")
    ax2.set_xlabel(r"pump ratio $r$ (real part of Eq. 29; lasing for $r>1$)")
    ax2.set_ylabel(r"output power $P_\mathrm{out}$  [$10^{-6}$ energy$^2/\hbar$]")
    ax2.set_title(r"(b) universal linear law $P_\mathrm{out}\propto r-1$")
    ax2.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        rf"Semiclassical laser L-I: $g={p['g']}$, $\omega_\mathrm{{cav}}={p['omega_cav']}$, "
        rf"$\gamma_u={p['gamma_u']}$, $\gamma_l={p['gamma_l']}$, $\gamma_b={p['gamma_b']}$ "
        "(effective occupations)",
        fontsize=9,
    )
    return [save_figure(fig, out_dir, "laser_li_curve.png", dpi=130)]
