"""Effective energies versus detuning (Model A, Eq. 14).

The energies at which the leads exchange electrons, measured as E~_a = Udot_a / Ndot_a from the
numerical steady state of the classical-field model (`jaxtls.solve_classical`), against the
closed form of Eq. (14). The cavity model (Model B, Eq. 21) is in
``examples/cavity_effective_energies.py``. Run: ``python examples/effective_energies.py``.
Units: hbar = k_B = 1, one energy unit (E_u - E_l = 1).
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls as jt  # noqa: E402

PARAMS = dict(E_u=1.0, E_l=0.0, eps=0.02, gamma_u=0.03, gamma_l=0.05, mu_u=1.3, mu_l=-0.6, T_u=0.05, T_l=0.05)


def compute(quick: bool = False):
    """Detuning grid (in linewidths Gamma = gamma_u + gamma_l) and measured / closed-form energies."""
    gam = PARAMS["gamma_u"] + PARAMS["gamma_l"]
    x = np.linspace(-10, 10, 41 if quick else 201)
    r = jt.solve_classical(**dict(PARAMS, omega=PARAMS["E_u"] - PARAMS["E_l"] + x * gam))
    measured = {
        "u": np.asarray(r.energy_current["u"] / r.particle_current["u"]),
        "l": np.asarray(r.energy_current["l"] / r.particle_current["l"]),
    }
    closed = {k: np.asarray(v) for k, v in r.effective_energy.items()}
    return x, measured, closed, r


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    x, measured, closed, _ = compute(quick)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, closed["u"], "C0-", label=r"$\tilde E_u$, Eq. (14)")
    ax.plot(x, closed["l"], "C1-", label=r"$\tilde E_l$, Eq. (14)")
    step = max(1, len(x) // 20)
    ax.plot(x[::step], measured["u"][::step], "C0o", ms=4, label=r"$\dot U_u/\dot N_u$ (master equation)")
    ax.plot(x[::step], measured["l"][::step], "C1s", ms=4, label=r"$\dot U_l/\dot N_l$ (master equation)")
    ax.axhline(PARAMS["E_u"], color="0.6", lw=0.8, ls=":")
    ax.axhline(PARAMS["E_l"], color="0.6", lw=0.8, ls=":")
    ax.set_xlabel(r"detuning $\Delta/\Gamma$ (linewidths, $\Gamma=\gamma_u+\gamma_l$)")
    ax.set_ylabel("effective energy (energy units)")
    ax.set_title(
        "Model A: energies exchanged with the leads\n"
        rf"$\varepsilon={PARAMS['eps']}$, $\gamma_u={PARAMS['gamma_u']}$, $\gamma_l={PARAMS['gamma_l']}$, "
        rf"$\mu_u={PARAMS['mu_u']}$, $\mu_l={PARAMS['mu_l']}$, $T_u=T_l={PARAMS['T_u']}$",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, "effective_energies.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    print(main())
