"""LED, electroluminescent cooler and solar cell: operation regions of the cavity model (Model B).

For equal lead temperatures T_u = T_l = T the second law (Eq. 22) fixes the sign of the rate,
R ~ sign(mu_u - mu_l - E~_ph (1 - T/T_b)). Two maps over the bias mu_u - mu_l and the cavity
frequency omega_cav:

- LED (T_b = T): R > 0 for any positive bias, also *below* the photon energy E~_ph: there the
  heat current out of the leads, J = (E~_ph - (mu_u - mu_l)) R, is positive (electroluminescent
  cooling of the electronic reservoirs).
- Solar cell (hot bath, T_b > T): R < 0 for 0 < mu_u - mu_l < E~_ph (1 - T/T_b); the electrical
  power P_el = -R (mu_u - mu_l) never exceeds the Carnot fraction (T_b - T)/T_b of the heat Udot_b
  taken from the bath.

Run: ``python examples/operation_regions.py``.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import jaxtls as jt

COMMON = dict(E_u=1.0, E_l=0.0, g=0.02, gamma_u=0.02, gamma_l=0.02, gamma_b=0.01, mu_l=0.0)
T = 0.05
T_HOT = 0.4


def compute(quick: bool = False, T_b: float = T):
    bias = np.linspace(-0.2, 1.3, 61 if quick else 241)
    omega = np.linspace(0.9, 1.1, 21 if quick else 81)
    r = jt.solve_cavity(**COMMON, mu_u=bias[:, None], omega_cav=omega[None, :], T_u=T, T_l=T, T_b=T_b,
                        n_max="auto", fock_tol=1e-10)  # fmt: skip
    return bias, omega, r


def heat_out_of_leads(r, bias):
    """J = sum_{a = u, l} (Udot_a - mu_a Ndot_a): heat current from the leads into the system."""
    mu_u = bias[:, None] + COMMON["mu_l"]
    return (np.asarray(r.energy_current["u"]) - mu_u * np.asarray(r.particle_current["u"])
            + np.asarray(r.energy_current["l"]) - COMMON["mu_l"] * np.asarray(r.particle_current["l"]))  # fmt: skip


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    paths = []
    # LED / cooler
    bias, omega, r = compute(quick, T_b=T)
    rate = np.asarray(r.rate)
    e_ph = np.asarray(r.effective_energy["ph"])
    heat = heat_out_of_leads(r, bias)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    lim = np.max(np.abs(rate))
    im = ax.pcolormesh(omega, bias, rate, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
    fig.colorbar(im, ax=ax, label="rate $R$ (per unit time; > 0: emission)")
    cool = (heat > 0) & (rate > 1e-3 * lim)
    ax.contourf(omega, bias, cool.astype(float), levels=[0.5, 1.5], colors="none", hatches=["///"])
    ax.plot(omega, e_ph[0], "k--", lw=1, label=r"$\mu_u-\mu_l=\tilde E_{ph}$ (Eq. 21)")
    ax.plot([], [], " ", label="hatched: emission with cooling of the leads")
    ax.set_xlabel(r"cavity frequency $\omega_{cav}$ (energy units)")
    ax.set_ylabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax.set_title(f"LED, $T_u=T_l=T_b={T}$", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "led_cooling_region.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    # solar cell
    bias, omega, r = compute(quick, T_b=T_HOT)
    rate = np.asarray(r.rate)
    p_el = -rate * bias[:, None]
    u_b = np.asarray(r.energy_current["b"])
    eff = np.where((p_el > 0) & (u_b > 0), p_el / np.where(u_b > 0, u_b, 1.0), np.nan)
    carnot = (T_HOT - T) / T_HOT
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    j = len(omega) // 2
    ax1.plot(bias, p_el[:, j], "C0-", label=r"$P_{el}=-R(\mu_u-\mu_l)$")
    ax1.plot(bias, carnot * u_b[:, j], "C3--", label=r"Carnot $\dot U_b (T_b-T)/T_b$")
    ax1.axhline(0, color="k", lw=0.6)
    ax1.set_xlabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax1.set_ylabel("power (energy units per unit time)")
    ax1.set_title(rf"solar cell, $\omega_{{cav}}={omega[j]:.2f}$, $T_b={T_HOT}$, $T={T}$", fontsize=10)
    ax1.set_ylim(-0.2 * np.nanmax(p_el[:, j]), 1.6 * np.nanmax(p_el[:, j]))
    ax1.legend(fontsize=8)
    im = ax2.pcolormesh(omega, bias, eff / carnot, shading="auto", vmin=0, vmax=1, cmap="viridis")
    fig.colorbar(im, ax=ax2, label=r"efficiency / Carnot, $P_{el}/(\dot U_b\,\eta_C)$")
    ax2.plot(omega, np.asarray(r.effective_energy["ph"])[0] * (1 - T / T_HOT), "r--", lw=1.2,
             label=r"$\tilde E_{ph}(1-T/T_b)$: open-circuit bias")  # fmt: skip
    ax2.set_xlabel(r"cavity frequency $\omega_{cav}$ (energy units)")
    ax2.set_ylabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax2.set_ylim(0, bias.max())
    ax2.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "solar_cell_carnot.png"))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


if __name__ == "__main__":
    print(main())
