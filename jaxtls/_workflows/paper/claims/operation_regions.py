"""LED, electroluminescent cooler and solar cell: operation regions of the cavity model (Model B).

For equal lead temperatures ``T_u = T_l = T`` the second law (Eq. 22) fixes the sign of the rate,
``R ~ sign(mu_u - mu_l - E~_ph (1 - T/T_b))`` (paper Sec. III B). Two maps over the bias
``mu_u - mu_l`` and the cavity frequency ``omega_cav``:

- LED (``T_b = T``): ``R > 0`` for any positive bias, also *below* the photon energy ``E~_ph``;
  there the heat current out of the leads, ``J = sum_a (Udot_a - mu_a Ndot_a) = (E~_ph - (mu_u -
  mu_l)) R``, is positive (electroluminescent cooling of the electronic reservoirs).
- Solar cell (hot bath, ``T_b > T``): ``R < 0`` for ``0 < mu_u - mu_l < E~_ph (1 - T/T_b)``; the
  electrical power ``P_el = -R (mu_u - mu_l)`` never exceeds the Carnot fraction ``(T_b - T)/T_b``
  of the heat ``Udot_b`` taken from the bath.

Units: hbar = k_B = 1, one energy unit (``E_u - E_l = 1``).
"""

from __future__ import annotations

import numpy as np

from ...._models.cavity import solve_cavity
from ..common import Check, cached_by_mode, new_figure, save_figure

__all__ = ["COMMON", "T", "T_HOT", "compute", "checks", "figure"]

#: parameters shared by both maps (energy units)
COMMON = dict(E_u=1.0, E_l=0.0, g=0.02, gamma_u=0.02, gamma_l=0.02, gamma_b=0.01, mu_l=0.0)
T = 0.05  #: lead temperature (and the bath's for the LED map)
T_HOT = 0.4  #: bath temperature of the solar-cell map


def _map(quick: bool, T_b: float) -> dict:
    bias = np.linspace(-0.2, 1.3, 61 if quick else 241)
    omega = np.linspace(0.9, 1.1, 21 if quick else 81)
    r = solve_cavity(**COMMON, mu_u=COMMON["mu_l"] + bias[:, None], omega_cav=omega[None, :], T_u=T, T_l=T,
                     T_b=T_b, n_max="auto", fock_tol=1e-10)  # fmt: skip
    mu_u = COMMON["mu_l"] + bias[:, None]
    u, n = r.energy_current, r.particle_current
    heat = (np.asarray(u["u"]) - mu_u * np.asarray(n["u"])) + (np.asarray(u["l"]) - COMMON["mu_l"] * np.asarray(n["l"]))
    return dict(
        T_b=T_b, bias=bias, omega_cav=omega, rate=np.asarray(r.rate), E_ph=np.asarray(r.effective_energy["ph"]),
        heat_bath=np.asarray(u["b"]), heat_leads=heat,
    )  # fmt: skip


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """The two maps, bias in [-0.2, 1.3] x omega_cav in [0.9, 1.1] (61 x 21 quick, 241 x 81 full).

    **Returns** ``{"led": map, "solar": map}``, each a dict with ``T_b``, ``bias``, ``omega_cav``,
    and on the grid: ``rate``, ``E_ph`` (Eq. 21), ``heat_bath`` (``Udot_b``) and ``heat_leads``
    (``J``, heat out of the two leads into the system).
    """
    return dict(led=_map(quick, T), solar=_map(quick, T_HOT))


def checks(d: dict) -> list[Check]:
    """LED: sign of R equals sign of the bias where resolved; cooling points exist. Solar cell:
    efficiency <= Carnot; R < 0 below the open-circuit bias ``E~_ph (1 - T/T_b)``."""
    m = d["led"]
    rate, bias = m["rate"], m["bias"][:, None]
    resolved = np.abs(rate) > 1e-12 * np.max(np.abs(rate))
    sign_ok = float(np.mean(np.sign(rate[resolved]) == np.sign(np.broadcast_to(bias, rate.shape)[resolved])))
    cooling = (rate > 0) & (bias < m["E_ph"]) & (m["heat_leads"] > 0)
    out = [
        Check("LED (T_b = T): R has the sign of the bias at every resolved grid point", "Eq. 22", sign_ok, "= 1",
              sign_ok == 1.0, f"{int(resolved.sum())} points"),
        Check("Electroluminescent cooling: emission with mu_u - mu_l < E~_ph extracts heat from the leads",
              "Eq. 21", int(cooling.sum()), "> 0 points", bool(cooling.sum() > 0)),
    ]  # fmt: skip
    m = d["solar"]
    rate, bias = m["rate"], m["bias"][:, None]
    p_el = -rate * bias
    gen = (p_el > 0) & (m["heat_bath"] > 0)
    eff = p_el[gen] / m["heat_bath"][gen]
    carnot = (T_HOT - T) / T_HOT
    voc = np.broadcast_to(m["E_ph"] * (1 - T / T_HOT), rate.shape)
    below = (bias > 0) & (bias < voc) & (np.abs(rate) > 1e-12 * np.max(np.abs(rate)))
    out += [
        Check("Solar cell: efficiency P_el/Udot_b never exceeds Carnot (max ratio)", "Sec. III B",
              float(eff.max() / carnot), "<= 1", bool(eff.max() <= carnot * (1 + 1e-9)),
              f"{int(gen.sum())} generating points"),
        Check("Solar cell: R < 0 for 0 < mu_u - mu_l < E~_ph (1 - T/T_b)", "Eq. 22", float(np.mean(rate[below] < 0)),
              "= 1", bool(np.all(rate[below] < 0)), f"{int(below.sum())} points"),
    ]  # fmt: skip
    return out


def _led_figure(m, out_dir) -> str:
    rate, bias, omega = m["rate"], m["bias"], m["omega_cav"]
    fig = new_figure(6.4, 4.2)
    ax = fig.subplots()
    lim = np.max(np.abs(rate))
    im = ax.pcolormesh(omega, bias, rate, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="auto")
    fig.colorbar(im, ax=ax, label="rate $R$ (per unit time; > 0: emission)")
    cool = (m["heat_leads"] > 0) & (rate > 1e-3 * lim)
    ax.contourf(omega, bias, cool.astype(float), levels=[0.5, 1.5], colors="none", hatches=["///"])
    ax.plot(omega, m["E_ph"][0], "k--", lw=1, label=r"$\mu_u-\mu_l=\tilde E_{ph}$ (Eq. 21)")
    ax.plot([], [], " ", label="hatched: emission with cooling of the leads")
    ax.set_xlabel(r"cavity frequency $\omega_{cav}$ (energy units)")
    ax.set_ylabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax.set_title(f"LED, $T_u=T_l=T_b={T}$", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, out_dir, "led_cooling_region.png")


def _solar_figure(m, out_dir) -> str:
    rate, bias, omega, u_b = m["rate"], m["bias"], m["omega_cav"], m["heat_bath"]
    p_el = -rate * bias[:, None]
    eff = np.where((p_el > 0) & (u_b > 0), p_el / np.where(u_b > 0, u_b, 1.0), np.nan)
    carnot = (T_HOT - T) / T_HOT
    fig = new_figure(10, 4)
    ax1, ax2 = fig.subplots(1, 2)
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
    ax2.plot(omega, m["E_ph"][0] * (1 - T / T_HOT), "r--", lw=1.2,
             label=r"$\tilde E_{ph}(1-T/T_b)$: open-circuit bias")  # fmt: skip
    ax2.set_xlabel(r"cavity frequency $\omega_{cav}$ (energy units)")
    ax2.set_ylabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax2.set_ylim(0, bias.max())
    ax2.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return save_figure(fig, out_dir, "solar_cell_carnot.png")


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``led_cooling_region.png`` (rate map, cooling region hatched) and ``solar_cell_carnot.png``
    (power and efficiency against Carnot)."""
    d = compute(quick)
    return [_led_figure(d["led"], out_dir), _solar_figure(d["solar"], out_dir)]
