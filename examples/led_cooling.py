"""LED as an optical cooler: electroluminescent cooling in the cavity model (Model B).

A forward-biased two-level emitter (leads u, l at the lattice temperature T) emits photons into
a cavity whose losses go to a bath at the same temperature (T_b = T). Every photon carries
away E~_ph (Eq. 21) while the leads supply only mu_u - mu_l of electrical work per transition,
so for 0 < mu_u - mu_l < E~_ph the leads *lose* heat: the LED cools its electronic reservoirs
(paper Sec. III B; PHYSICS.md "Consequences").

Objective (maximised over the bias mu_u - mu_l, with mu_l fixed, and the cavity frequency,
i.e. the detuning Delta_cav = omega_cav - (E_u - E_l)):

    J = (Udot_u - mu_u Ndot_u) + (Udot_l - mu_l Ndot_l) = R (E~_ph - (mu_u - mu_l)),

the heat current taken *out of* the two electronic leads (jaxtls currents are into the system,
Eq. 5, so heat leaving lead a and entering the system is Udot_a - mu_a Ndot_a; J > 0 is
cooling). `jaxtls.lead_heat` computes it. The optimum lies at mu_u - mu_l < E~_ph.

Run ``python examples/led_cooling.py [--out-dir DIR] [--quick]``. Units: hbar = k_B = 1, energies
in units of the transition energy E_u - E_l = 1 (e.g. 1 eV: T = 0.05 is 580 K).
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls as jt  # noqa: E402

T = 0.05
PARAMS = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.1, g=0.05, gamma_u=0.03, gamma_l=0.03, gamma_b=0.03,
    mu_u=0.5, mu_l=0.04, T_u=T, T_l=T, T_b=T,
)  # fmt: skip
FREE = ("mu_u", "omega_cav")
BOUNDS = {"mu_u": (0.05, 1.6), "omega_cav": (0.8, 1.2)}
N_MAX = 16


def run(quick: bool = False, progress: bool = True):
    """Maximise the lead heat extraction; returns the `OptimizeResult`."""
    return jt.optimize(
        "cavity", jt.lead_heat, PARAMS, free=FREE, bounds=BOUNDS, maximize=True,
        steps=200 if quick else 400, progress=progress, n_max=N_MAX,
    )  # fmt: skip


def summary(opt) -> dict:
    p = {k: float(v) for k, v in opt.params.items()}
    r = opt.result
    return dict(
        bias=p["mu_u"] - p["mu_l"],
        detuning=p["omega_cav"] - (p["E_u"] - p["E_l"]),
        E_ph=float(r.effective_energy["ph"]),
        rate=float(r.rate),
        cooling=float(opt.value),
        electrical_power=-float(r.rate) * (p["mu_u"] - p["mu_l"]),
        cop=float(opt.value) / (float(r.rate) * (p["mu_u"] - p["mu_l"])),
        initial=float(opt.history[0]),
        grad_norm=float(opt.grad_norm),
        initial_grad_norm=float(opt.initial_grad_norm),
    )


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Optimise, print the key numbers and write the figures; returns the PNG paths."""
    os.makedirs(out_dir, exist_ok=True)
    opt = run(quick)
    s = summary(opt)
    print(f"LED cooling (cavity model, T_u = T_l = T_b = {T:.3g}):")
    print(f"  optimum bias mu_u - mu_l = {s['bias']:.5f}, detuning Delta_cav = {s['detuning']:+.2e}")
    print(f"  E~_ph = {s['E_ph']:.5f}  ->  bias < E~_ph: {s['bias'] < s['E_ph']} (electroluminescent cooling)")
    print(f"  heat out of the leads J = {s['cooling']:.4e} (start {s['initial']:.3e}), rate R = {s['rate']:.4e}")
    print(
        f"  electrical power in = {-s['electrical_power']:.4e}, coefficient of performance J/(R dmu) = {s['cop']:.4f}"
    )
    print(f"  gradient norm {s['initial_grad_norm']:.2e} -> {s['grad_norm']:.2e}")

    # map of J over (bias, detuning) at the optimum's mu_l
    nb, nd = (61, 41) if quick else (141, 81)
    bias = np.linspace(0.55, 1.15, nb)
    det = np.linspace(-0.2, 0.2, nd)
    bb, dd = np.meshgrid(bias, det, indexing="ij")
    grid = dict(PARAMS, mu_u=PARAMS["mu_l"] + bb, omega_cav=1.0 + dd)
    res = jt.solve_cavity(**grid, n_max=N_MAX)
    heat = np.asarray(jt.lead_heat(res, grid))
    e_ph = np.asarray(res.effective_energy["ph"])

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    ax = axes[0]
    norm = matplotlib.colors.TwoSlopeNorm(vmin=heat.min(), vcenter=0.0, vmax=heat.max())
    im = ax.pcolormesh(dd, bb, heat, cmap="RdBu_r", norm=norm, shading="auto")
    fig.colorbar(im, ax=ax, label="heat out of the leads $J$ (energy / time)")
    ax.plot(det, e_ph[0], "k--", lw=1.0, label=r"$\mu_u-\mu_l=\tilde E_{ph}$ ($J=0$)")
    path_b = np.asarray(opt.param_history["mu_u"]) - PARAMS["mu_l"]
    path_d = np.asarray(opt.param_history["omega_cav"]) - 1.0
    inside = (path_b >= bias[0]) & (path_b <= bias[-1])
    ax.plot(path_d[inside], path_b[inside], "g.-", ms=2, lw=0.8, label="Adam path")
    ax.plot(s["detuning"], s["bias"], "g*", ms=12, label="optimum")
    ax.set_xlabel(r"detuning $\Delta_{cav}=\omega_{cav}-(E_u-E_l)$ (energy units)")
    ax.set_ylabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax.set_title("heat out of the leads (red: leads cooled, blue: heated)", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")

    ax = axes[1]
    line = dict(PARAMS, mu_u=PARAMS["mu_l"] + bias, omega_cav=float(opt.params["omega_cav"]))
    rl = jt.solve_cavity(**line, n_max=N_MAX)
    ax.plot(bias, np.asarray(jt.lead_heat(rl, line)), "C3-", label="heat out of the leads $J$")
    ax.plot(bias, np.asarray(rl.rate) * bias, "C0--", label=r"electrical power in $R(\mu_u-\mu_l)$")
    ax.axvline(s["E_ph"], color="k", ls=":", lw=0.8, label=r"$\tilde E_{ph}$")
    ax.axvline(s["bias"], color="g", ls="-", lw=0.8, label="optimum bias")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax.set_ylabel("power (energy / time)")
    ax.set_title("at the optimal detuning: cooling below $\\tilde E_{ph}$", fontsize=10)
    ax.legend(fontsize=8)

    ax = axes[2]
    ax.semilogy(np.arange(len(opt.history)), np.maximum(np.asarray(opt.history), 1e-30), "C3-", label="$J$")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("heat out of the leads $J$ (energy / time)")
    ax.set_title("convergence (Adam, implicit gradients)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = os.path.join(out_dir, "led_cooling.png")
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return [out]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="fewer steps and grid points")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
