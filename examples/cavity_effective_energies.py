"""Effective energies of the quantized cavity model versus cavity detuning (Model B, Eq. 21).

The energies at which the leads exchange electrons and the bath exchanges photons, measured from
the flows of the numerical Jaynes-Cummings steady state (`jaxtls.solve_cavity`),

    E~_u = Udot_u / Ndot_u,   E~_l = Udot_l / Ndot_l,   E~_ph = Udot_b / Ndot_b,

against the closed form of Eq. (21) (`jaxtls.effective_energies_cavity`):
E~_u = E_u + gamma_u Delta_cav/Gamma, E~_l = E_l - gamma_l Delta_cav/Gamma,
E~_ph = omega_cav - gamma_b Delta_cav/Gamma, Gamma = gamma_u + gamma_l + gamma_b.

Run: ``python examples/cavity_effective_energies.py [--out-dir DIR] [--quick]``. Units:
hbar = k_B = 1, one energy unit (E_u - E_l = 1).
"""

from __future__ import annotations

import argparse
import functools
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls as jt  # noqa: E402

PARAMS = dict(E_u=1.0, E_l=0.0, g=0.02, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02, mu_u=1.3, mu_l=-0.6,
              T_u=0.05, T_l=0.05, T_b=0.05)  # fmt: skip
GAMMA = PARAMS["gamma_u"] + PARAMS["gamma_l"] + PARAMS["gamma_b"]


@functools.lru_cache(maxsize=2)
def compute(quick: bool = False):
    """Detuning grid ``x = Delta_cav / Gamma`` and the measured / closed-form effective energies
    (dicts with ``"u"``, ``"l"``, ``"ph"``), plus the `solve_cavity` result."""
    x = np.linspace(-5, 5, 41 if quick else 201)
    omega_cav = PARAMS["E_u"] - PARAMS["E_l"] + x * GAMMA
    p = dict(PARAMS, omega_cav=omega_cav)
    r = jt.solve_cavity(**p, n_max="auto", fock_tol=1e-12)
    measured = {
        "u": np.asarray(r.energy_current["u"]) / np.asarray(r.particle_current["u"]),
        "l": np.asarray(r.energy_current["l"]) / np.asarray(r.particle_current["l"]),
        "ph": np.asarray(r.energy_current["b"]) / np.asarray(r.particle_current["b"]),
    }
    e_u, e_l, e_ph = jt.effective_energies_cavity(
        PARAMS["E_u"], PARAMS["E_l"], omega_cav, PARAMS["gamma_u"], PARAMS["gamma_l"], PARAMS["gamma_b"]
    )
    closed = {"u": np.asarray(e_u), "l": np.asarray(e_l), "ph": np.asarray(e_ph)}
    return x, measured, closed, r


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Write ``cavity_effective_energies.png`` into `out_dir` and return its path."""
    x, measured, closed, _ = compute(quick)
    delta = x * GAMMA
    bare = {"u": PARAMS["E_u"] + 0 * x, "l": PARAMS["E_l"] + 0 * x, "ph": PARAMS["E_u"] - PARAMS["E_l"] + delta}
    step = max(1, len(x) // 20)
    styles = {"u": ("C0", "o", r"\tilde E_u"), "l": ("C1", "s", r"\tilde E_l"), "ph": ("C2", "^", r"\tilde E_{ph}")}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.2))
    for a, (col, mk, sym) in styles.items():
        ax1.plot(delta, closed[a], color=col, ls="-", label=rf"${sym}$, Eq. (21)")
        ax1.plot(delta[::step], measured[a][::step], color=col, ls="none", marker=mk, ms=4, mfc="none",
                 label=rf"${sym}$ from flows $\dot U/\dot N$")  # fmt: skip
        ax2.plot(delta, closed[a] - bare[a], color=col, ls="-")
        ax2.plot(delta[::step], (measured[a] - bare[a])[::step], color=col, ls="none", marker=mk, ms=4, mfc="none")
    ax1.set_xlabel(r"cavity detuning $\Delta_{cav}=\omega_{cav}-(E_u-E_l)$ (energy units)")
    ax1.set_ylabel("effective energy (energy units)")
    ax1.set_title("Model B: energies exchanged with leads and bath", fontsize=10)
    ax1.legend(fontsize=7.5, ncol=2, loc="center right")
    ax2.axhline(0, color="k", lw=0.6)
    ax2.set_xlabel(r"cavity detuning $\Delta_{cav}$ (energy units)")
    ax2.set_ylabel("shift from bare value (energy units)")
    ax2.set_title(
        r"$\tilde E_u-E_u$, $\tilde E_l-E_l$, $\tilde E_{ph}-\omega_{cav}$: slopes "
        r"$\gamma_u/\Gamma$, $-\gamma_l/\Gamma$, $-\gamma_b/\Gamma$",
        fontsize=9,
    )
    ax2.text(
        0.02, 0.03,
        rf"$g={PARAMS['g']}$, $\gamma_u={PARAMS['gamma_u']}$, $\gamma_l={PARAMS['gamma_l']}$, "
        rf"$\gamma_b={PARAMS['gamma_b']}$" "\n"
        rf"$\mu_u={PARAMS['mu_u']}$, $\mu_l={PARAMS['mu_l']}$, $T_u=T_l=T_b={PARAMS['T_u']}$",
        transform=ax2.transAxes, fontsize=7.5, va="bottom",
    )  # fmt: skip
    fig.tight_layout()
    path = os.path.join(out_dir, "cavity_effective_energies.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="fewer points (seconds)")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
