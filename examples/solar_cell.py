"""Solar cell driven by a hot bosonic bath: maximum power and efficiency versus Carnot (Model B).

The cavity mode is in contact with a hot bath (the "sun", T_b) and the two-level absorber with
cold leads (T_u = T_l = T). Absorbed photons pump electrons from l to u (R < 0) against the
bias, delivering the electrical power

    P_el = -R (mu_u - mu_l)          (= -(mu_u Ndot_u + mu_l Ndot_l), `jaxtls.electrical_power`),

which is maximised here over mu_u, mu_l and the cavity frequency omega_cav. The efficiency is
the electrical power per energy taken from the hot bath,

    eta = P_el / Udot_b = (mu_u - mu_l) / E~_ph          (`jaxtls.efficiency`; Eq. 21),

and the second law (Eq. 22) bounds it by Carnot, eta <= eta_C = 1 - T/T_b (PHYSICS.md,
"Consequences"). The example checks this along the whole optimisation path and compares the
efficiency at maximum power with Carnot and with the Curzon-Ahlborn value 1 - sqrt(T/T_b).

Run ``python examples/solar_cell.py [--out-dir DIR] [--quick]``. Units: hbar = k_B = 1, energies
in units of the transition energy E_u - E_l = 1 (1 eV gap: T = 0.03 is 350 K, T_b = 0.6 is 7000 K).
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxtls as jt  # noqa: E402

T, T_B = 0.03, 0.6
PARAMS = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.05, g=0.05, gamma_u=0.03, gamma_l=0.03, gamma_b=0.03,
    mu_u=0.55, mu_l=0.45, T_u=T, T_l=T, T_b=T_B,
)  # fmt: skip
FREE = ("mu_u", "mu_l", "omega_cav")
BOUNDS = {"mu_u": (-0.5, 1.5), "mu_l": (-0.5, 1.5), "omega_cav": (0.8, 1.2)}
N_MAX = 16
CARNOT = 1.0 - T / T_B


def run(quick: bool = False, progress: bool = True):
    """Maximise the electrical power; returns the `OptimizeResult`."""
    return jt.optimize(
        "cavity", jt.electrical_power, PARAMS, free=FREE, bounds=BOUNDS, maximize=True,
        steps=200 if quick else 400, progress=progress, n_max=N_MAX,
    )  # fmt: skip


def path_efficiency(opt) -> tuple[np.ndarray, np.ndarray]:
    """Electrical power and efficiency at every iterate of the optimisation (one batched solve)."""
    p = dict(PARAMS)
    p.update({k: np.asarray(v) for k, v in opt.param_history.items()})
    res = jt.solve_cavity(**p, n_max=N_MAX)
    return np.asarray(jt.electrical_power(res, p)), np.asarray(jt.efficiency(res, p))


def summary(opt) -> dict:
    p = {k: float(v) for k, v in opt.params.items()}
    r = opt.result
    return dict(
        bias=p["mu_u"] - p["mu_l"],
        mu_u=p["mu_u"],
        mu_l=p["mu_l"],
        omega_cav=p["omega_cav"],
        E_ph=float(r.effective_energy["ph"]),
        rate=float(r.rate),
        power=float(opt.value),
        heat_in=float(r.energy_current["b"]),
        efficiency=float(jt.efficiency(r, opt.params)),
        carnot=CARNOT,
        curzon_ahlborn=1.0 - np.sqrt(T / T_B),
        initial=float(opt.history[0]),
        grad_norm=float(opt.grad_norm),
        max_grad_norm=float(np.max(opt.grad_norm_history)),
    )


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Optimise, print the key numbers and write the figures; returns the PNG paths."""
    os.makedirs(out_dir, exist_ok=True)
    opt = run(quick)
    s = summary(opt)
    p_path, eta_path = path_efficiency(opt)
    print(f"Solar cell (cavity model, T_u = T_l = {T:g}, T_b = {T_B:g}):")
    print(f"  max P_el = {s['power']:.5e} (start {s['initial']:.3e}) at mu_u = {s['mu_u']:.4f}, mu_l = {s['mu_l']:.4f}, "
          f"omega_cav = {s['omega_cav']:.4f}; R = {s['rate']:.4e}")  # fmt: skip
    print(f"  efficiency at max power P_el/Udot_b = {s['efficiency']:.4f} (= (mu_u-mu_l)/E~_ph = "
          f"{s['bias'] / s['E_ph']:.4f}); Carnot {s['carnot']:.4f}, Curzon-Ahlborn {s['curzon_ahlborn']:.4f}")  # fmt: skip
    print(f"  max efficiency along the optimisation path {np.nanmax(eta_path):.4f} <= Carnot: "
          f"{bool(np.nanmax(eta_path) <= CARNOT)}")  # fmt: skip
    print(f"  gradient norm max {s['max_grad_norm']:.2e} -> final {s['grad_norm']:.2e}")

    # power and efficiency versus bias at the optimal mu centre and cavity frequency
    centre = 0.5 * (s["mu_u"] + s["mu_l"])
    bias = np.linspace(0.0, 1.0, 101 if quick else 401)
    line = dict(PARAMS, mu_u=centre + bias / 2, mu_l=centre - bias / 2, omega_cav=s["omega_cav"])
    res = jt.solve_cavity(**line, n_max=N_MAX)
    p_el = np.asarray(jt.electrical_power(res, line))
    eta = np.asarray(jt.efficiency(res, line))
    solar = np.asarray(res.rate) < 0

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    ax = axes[0]
    ax.plot(bias, p_el, "C0-", label=r"$P_{el}=-R(\mu_u-\mu_l)$")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(s["bias"], color="g", lw=0.8, label="optimum")
    ax.axvline(s["E_ph"] * CARNOT, color="k", ls=":", lw=0.8, label=r"stall $\tilde E_{ph}(1-T/T_b)$")
    ax.set_xlabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax.set_ylabel(r"electrical power $P_{el}$ (energy / time)")
    ax.set_title("power versus bias at the optimal centre and $\\omega_{cav}$", fontsize=10)
    ax.set_ylim(min(-0.2 * p_el.max(), p_el.min()), 1.15 * p_el.max())
    ax.legend(fontsize=8)

    ax = axes[1]
    ax.plot(bias[solar], eta[solar], "C1-", label=r"$\eta=P_{el}/\dot U_b$ (where $R<0$)")
    ax.axhline(CARNOT, color="k", ls="--", lw=0.8, label=rf"Carnot $1-T/T_b$ = {CARNOT:.3f}")
    ax.axhline(s["curzon_ahlborn"], color="0.5", ls=":", lw=0.8, label=r"Curzon-Ahlborn $1-\sqrt{T/T_b}$")
    ax.plot(s["bias"], s["efficiency"], "g*", ms=12, label=f"at max power: {s['efficiency']:.3f}")
    ax.set_xlabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax.set_ylabel(r"efficiency $\eta$ (dimensionless)")
    ax.set_title("efficiency against the Carnot bound", fontsize=10)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper left")

    ax = axes[2]
    steps = np.arange(len(p_path))
    ax.plot(steps, p_path / np.max(p_path), "C0-", label=r"$P_{el}/\max P_{el}$")
    ax.plot(steps, eta_path, "C1-", label=r"efficiency $\eta$")
    ax.axhline(CARNOT, color="k", ls="--", lw=0.8, label="Carnot")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("normalised power, efficiency (dimensionless)")
    ax.set_title("along the optimisation path", fontsize=10)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    out = os.path.join(out_dir, "solar_cell.png")
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return [out]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="fewer steps and points")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
