"""Flows, effective energies and second law of the quantized cavity (Model B, Eqs. 21, 22).

In every steady state of the Jaynes-Cummings model with local leads and a bosonic bath,
``Udot_u = E~_u R``, ``Udot_l = -E~_l R``, ``Udot_b = -E~_ph R`` exactly (any Fock cutoff), with
Eq. (21): ``E~_u = E_u + gamma_u Delta_cav/Gamma``, ``E~_l = E_l - gamma_l Delta_cav/Gamma``,
``E~_ph = omega_cav - gamma_b Delta_cav/Gamma`` (``Delta_cav = omega_cav - (E_u - E_l)``,
``Gamma = gamma_u + gamma_l + gamma_b``). Checked on random points and along a cavity-detuning
sweep (the figure), together with the sign of the second law, Eq. (22). Units: hbar = k_B = 1.
"""

from __future__ import annotations

import numpy as np

from ...._models.cavity import solve_cavity
from ..common import Check, cached_by_mode, new_figure, save_figure

__all__ = ["PARAMS", "eq21", "compute", "checks", "figure"]

#: parameters of the detuning sweep (energy units); omega_cav is swept
PARAMS = dict(E_u=1.0, E_l=0.0, g=0.02, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02, mu_u=1.3, mu_l=-0.6,
              T_u=0.05, T_l=0.05, T_b=0.05)  # fmt: skip


def eq21(E_u, E_l, omega_cav, gamma_u, gamma_l, gamma_b) -> dict:
    """Eq. (21): ``{"u": E~_u, "l": E~_l, "ph": E~_ph}`` (energy units; NumPy broadcasting)."""
    dcav = omega_cav - (E_u - E_l)
    gam = gamma_u + gamma_l + gamma_b
    return {"u": E_u + gamma_u * dcav / gam, "l": E_l - gamma_l * dcav / gam, "ph": omega_cav - gamma_b * dcav / gam}


def _random_points(n: int) -> dict:
    rng = np.random.default_rng(0)
    gu, gl, gb = (10 ** rng.uniform(-2, -1, n) for _ in range(3))
    gam = gu + gl + gb
    return dict(
        E_u=np.ones(n), E_l=np.zeros(n), omega_cav=1 + rng.uniform(-3, 3, n) * gam,
        g=10 ** rng.uniform(-2, 0, n) * gam, gamma_u=gu, gamma_l=gl, gamma_b=gb,
        mu_u=rng.uniform(0, 2, n), mu_l=rng.uniform(-1, 0.5, n), T_u=10 ** rng.uniform(-1.3, -0.5, n),
        T_l=10 ** rng.uniform(-1.3, -0.5, n), T_b=10 ** rng.uniform(-1.3, -0.5, n),
    )  # fmt: skip


def _flows(r) -> dict:
    return dict(
        rate=np.asarray(r.rate),
        energy_current={k: np.asarray(v) for k, v in r.energy_current.items()},
        particle_current={k: np.asarray(v) for k, v in r.particle_current.items()},
    )


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """Random points (200 quick, 2000 full; ``n_max="auto"`` with ``P(n_max) <= 1e-14``) and the
    detuning sweep ``x = Delta_cav/Gamma`` in [-5, 5] (41 / 201 points).

    **Returns** a dict: ``random`` (``params``, ``rate``, ``energy_current``,
    ``particle_current``, ``n_max``) and ``sweep`` (``x``, ``omega_cav``, ``measured`` =
    ``Udot_a/Ndot_a`` for ``"u", "l"`` and ``Udot_b/Ndot_b`` for ``"ph"``, ``closed`` = Eq. 21,
    ``rate``), and ``params`` (the sweep's).
    """
    p = _random_points(200 if quick else 2000)
    r = solve_cavity(**p, n_max="auto", fock_tol=1e-14)
    random = dict(params=p, n_max=int(r.n_max), **_flows(r))
    gam = PARAMS["gamma_u"] + PARAMS["gamma_l"] + PARAMS["gamma_b"]
    x = np.linspace(-5, 5, 41 if quick else 201)
    omega_cav = PARAMS["E_u"] - PARAMS["E_l"] + x * gam
    s = dict(PARAMS, omega_cav=omega_cav)
    f = _flows(solve_cavity(**s, n_max="auto", fock_tol=1e-12))
    measured = {
        "u": f["energy_current"]["u"] / f["particle_current"]["u"],
        "l": f["energy_current"]["l"] / f["particle_current"]["l"],
        "ph": f["energy_current"]["b"] / f["particle_current"]["b"],
    }
    closed = eq21(PARAMS["E_u"], PARAMS["E_l"], omega_cav, PARAMS["gamma_u"], PARAMS["gamma_l"], PARAMS["gamma_b"])
    sweep = dict(x=x, omega_cav=omega_cav, measured=measured, closed=closed, rate=f["rate"])
    return dict(params=dict(PARAMS), random=random, sweep=sweep)


def checks(d: dict) -> list[Check]:
    """Eq. 21 on random points (per unit Gamma) and along the sweep (relative to
    ``max(|E~|, E_u - E_l)``); Eq. 22: ``R x bracket >= 0`` with effective energies."""
    q = d["random"]
    p, rate = q["params"], q["rate"]
    gam = p["gamma_u"] + p["gamma_l"] + p["gamma_b"]
    e = eq21(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    u = q["energy_current"]
    rel = max(
        float(np.max(np.abs(u["u"] - e["u"] * rate) / gam)),
        float(np.max(np.abs(u["l"] + e["l"] * rate) / gam)),
        float(np.max(np.abs(u["b"] + e["ph"] * rate) / gam)),
    )
    s = d["sweep"]
    scale = d["params"]["E_u"] - d["params"]["E_l"]
    sweep = max(float(np.max(np.abs(s["measured"][a] - s["closed"][a]) / np.maximum(np.abs(s["closed"][a]), scale)))
                for a in ("u", "l", "ph"))  # fmt: skip
    bracket = e["ph"] / p["T_b"] + (e["l"] - p["mu_l"]) / p["T_l"] - (e["u"] - p["mu_u"]) / p["T_u"]
    worst = float(np.min(rate * bracket / np.maximum(np.abs(rate * bracket), 1e-300)))
    n = rate.size
    return [
        Check("Model B: Udot_u = E~_u R, Udot_l = -E~_l R, Udot_b = -E~_ph R (per unit Gamma)",
              "Eq. 21", rel, "< 1e-11", rel < 1e-11, f"{n} random points, n_max auto (max {q['n_max']})"),
        Check("Model B: E~_u, E~_l, E~_ph = Udot_a/Ndot_a from the flows equal Eq. 21 vs cavity detuning",
              "Eq. 21", sweep, "rel < 1e-9", sweep < 1e-9,
              f"{s['x'].size} detunings in [-5, 5] Gamma (relative to max(|E~|, E_u - E_l))"),
        Check("Model B, effective occupations: second law R [E~_ph/T_b + ...] >= 0 (sign)", "Eq. 22",
              worst, "> -1e-12", worst > -1e-12, f"{n} random points"),
    ]  # fmt: skip


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``cavity_effective_energies.png``: Eq. 21 lines and flow-ratio markers versus detuning,
    and the shifts from the bare values."""
    d = compute(quick)
    p, s = d["params"], d["sweep"]
    measured, closed = s["measured"], s["closed"]
    delta = s["omega_cav"] - (p["E_u"] - p["E_l"])
    bare = {"u": p["E_u"] + 0 * delta, "l": p["E_l"] + 0 * delta, "ph": s["omega_cav"]}
    step = max(1, len(delta) // 20)
    styles = {"u": ("C0", "o", r"\tilde E_u"), "l": ("C1", "s", r"\tilde E_l"), "ph": ("C2", "^", r"\tilde E_{ph}")}
    fig = new_figure(10.5, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
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
        rf"$g={p['g']}$, $\gamma_u={p['gamma_u']}$, $\gamma_l={p['gamma_l']}$, $\gamma_b={p['gamma_b']}$" "\n"
        rf"$\mu_u={p['mu_u']}$, $\mu_l={p['mu_l']}$, $T_u=T_l=T_b={p['T_u']}$",
        transform=ax2.transAxes, fontsize=7.5, va="bottom",
    )  # fmt: skip
    fig.tight_layout()
    return [save_figure(fig, out_dir, "cavity_effective_energies.png")]
