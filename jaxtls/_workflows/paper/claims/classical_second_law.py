"""Entropy production of Model A versus bias with bare and effective occupations (Eqs. 9, 15).

With the bare level energies in the Fermi functions (Eq. 9) the local master equation predicts
negative entropy production for ``E_u - E_l < mu_u - mu_l < omega`` (at equal temperatures); with
the effective energies of Eq. (14) it never does: Eq. (15),
``Sdot = R [(E~_l - mu_l)/T_l - (E~_u - mu_u)/T_u] >= 0``. Units: hbar = k_B = 1, one energy unit.
"""

from __future__ import annotations

import numpy as np

from ...._models.classical import classical_closed_form, solve_classical
from ..common import Check, cached_by_mode, new_figure, save_figure
from .classical_energies import eq14

__all__ = ["PARAMS", "compute", "checks", "figure"]

#: parameters (energy units); the bias mu_u - mu_l is swept with mu_l fixed
PARAMS = dict(E_u=1.0, E_l=0.0, omega=1.2, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_l=0.0, T_u=0.05, T_l=0.05)


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """Bias sweep ``mu_u - mu_l`` in [0.7, 1.5] (81 points quick, 401 full).

    **Returns** a dict: ``bias``; ``rate`` and ``entropy_production`` (``{"bare", "effective"}``,
    per unit time, ``k_B`` per unit time) from `solve_classical`; ``eq15`` (Eq. 15 with the
    closed-form rate A8 and the Eq. 14 energies written out here); ``params``.
    """
    p = PARAMS
    bias = np.linspace(0.7, 1.5, 81 if quick else 401)
    mu_u = p["mu_l"] + bias
    rate, sdot, tol = {}, {}, {}
    for occ in ("bare", "effective"):
        r = solve_classical(**p, mu_u=mu_u, occupations=occ)
        rate[occ] = np.asarray(r.rate)
        sdot[occ] = np.asarray(r.entropy_production)
        tol[occ] = np.asarray(r.entropy_production_tolerance)
    e = eq14(p["E_u"], p["E_l"], p["omega"], p["gamma_u"], p["gamma_l"])
    r_cf = np.asarray(classical_closed_form(**p, mu_u=mu_u)["rate"])
    eq15 = r_cf * ((e["l"] - p["mu_l"]) / p["T_l"] - (e["u"] - mu_u) / p["T_u"])
    return dict(params=dict(p), bias=bias, rate=rate, entropy_production=sdot, tolerance=tol, eq15=eq15)


def checks(d: dict) -> list[Check]:
    """Bare: negative somewhere in the window ``E_u - E_l < bias < omega``; effective: equal to
        Eq. 15 and never negative beyond round-off (``entropy_production_tolerance`` of each point:
    a negative value within it is round-off, not a violation)."""
    p, bias = d["params"], d["bias"]
    bare, eff = d["entropy_production"]["bare"], d["entropy_production"]["effective"]
    window = (bias > p["E_u"] - p["E_l"]) & (bias < p["omega"])
    eq15 = float(np.max(np.abs(eff - d["eq15"])) / np.max(np.abs(d["eq15"])))
    return [
        Check("Model A, bare occupations: negative entropy production for E_u-E_l < bias < omega",
              "Eqs. 9, 15", float(bare[window].min()), "< -tolerance",
              bool(np.any((bare < -d["tolerance"]["bare"])[window])),
              f"{int(window.sum())} biases in the window"),
        Check("Model A, effective occupations: entropy production >= 0 at every bias", "Eq. 15",
              float(eff.min()), ">= -tolerance", bool(np.all(eff >= -d["tolerance"]["effective"])),
              f"{bias.size} biases, tolerance <= {float(np.max(d['tolerance']['effective'])):.2g}"),
        Check("Model A, effective occupations: entropy production equals R [(E~_l-mu_l)/T_l - (E~_u-mu_u)/T_u]",
              "Eq. 15", eq15, "rel < 1e-9", eq15 < 1e-9, "relative to the largest |Sdot| of the sweep"),
    ]  # fmt: skip


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``entropy_production_bias.png``: rate and entropy production versus bias, both prescriptions."""
    d = compute(quick)
    p, bias = d["params"], d["bias"]
    fig = new_figure(6, 6)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    for occ, style in (("bare", "C3--"), ("effective", "C0-")):
        ax1.plot(bias, d["rate"][occ], style, label=f"{occ} occupations")
        ax2.plot(bias, d["entropy_production"][occ], style, label=f"{occ} occupations")
    for ax in (ax1, ax2):
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(p["E_u"] - p["E_l"], color="0.5", ls=":", lw=0.8)
        ax.axvline(p["omega"], color="0.5", ls="-.", lw=0.8)
    ax1.set_ylabel("rate $R$ (per unit time)")
    ax2.set_ylabel(r"entropy production $\dot S$ ($k_B$ per unit time)")
    ax2.set_xlabel(r"bias $\mu_u-\mu_l$ (energy units); dotted: $E_u-E_l$, dash-dotted: $\omega$")
    ax1.set_title(r"Model A, $\omega > E_u-E_l$: bare occupations break the 2nd law", fontsize=10)
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return [save_figure(fig, out_dir, "entropy_production_bias.png")]
