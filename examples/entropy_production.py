"""Entropy production versus bias with bare and effective occupations (Model A, Eq. 15).

With bare energies in the Fermi functions (Eq. 9) the local master equation predicts negative
entropy production for E_u - E_l < mu_u - mu_l < omega; with the effective energies of Eq. (14)
it never does. Run: ``python examples/entropy_production.py``.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls as jt  # noqa: E402

PARAMS = dict(E_u=1.0, E_l=0.0, omega=1.2, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_l=0.0, T_u=0.05, T_l=0.05)


def compute(quick: bool = False):
    bias = np.linspace(0.7, 1.5, 81 if quick else 401)
    out = {}
    for occ in ("bare", "effective"):
        out[occ] = jt.solve_classical(**dict(PARAMS, mu_u=PARAMS["mu_l"] + bias), occupations=occ)
    return bias, out


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    bias, res = compute(quick)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    for occ, style in (("bare", "C3--"), ("effective", "C0-")):
        ax1.plot(bias, np.asarray(res[occ].rate), style, label=f"{occ} occupations")
        ax2.plot(bias, np.asarray(res[occ].entropy_production), style, label=f"{occ} occupations")
    for ax in (ax1, ax2):
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(PARAMS["E_u"] - PARAMS["E_l"], color="0.5", ls=":", lw=0.8)
        ax.axvline(PARAMS["omega"], color="0.5", ls="-.", lw=0.8)
    ax1.set_ylabel("rate $R$ (per unit time)")
    ax2.set_ylabel(r"entropy production $\dot S$ ($k_B$ per unit time)")
    ax2.set_xlabel(r"bias $\mu_u-\mu_l$ (energy units); dotted: $E_u-E_l$, dash-dotted: $\omega$")
    ax1.set_title(r"Model A, $\omega > E_u-E_l$: bare occupations break the 2nd law", fontsize=10)
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "entropy_production_bias.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    print(main())
