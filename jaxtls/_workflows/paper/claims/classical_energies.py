"""Effective energies of Model A versus detuning (paper Sec. III A, Eq. 14).

The energies at which the leads exchange electrons, measured as ``E~_a = Udot_a / Ndot_a`` from
the numerical steady state of the classical-field model (`solve_classical`, Eq. 5 flows), against
the closed form of Eq. (14), ``E~_u = E_u + gamma_u Delta/Gamma``, ``E~_l = E_l - gamma_l
Delta/Gamma`` (``Delta = omega - (E_u - E_l)``, ``Gamma = gamma_u + gamma_l``), written out here
from the paper. Units: hbar = k_B = 1, one energy unit (``E_u - E_l = 1``).
"""

from __future__ import annotations

import numpy as np

from ...._models.classical import classical_closed_form, solve_classical
from ..common import Check, cached_by_mode, new_figure, save_figure

__all__ = ["PARAMS", "eq14", "compute", "checks", "figure"]

#: parameters of the sweep (energy units); the drive frequency omega is swept
PARAMS = dict(E_u=1.0, E_l=0.0, eps=0.02, gamma_u=0.03, gamma_l=0.05, mu_u=1.3, mu_l=-0.6, T_u=0.05, T_l=0.05)


def eq14(E_u, E_l, omega, gamma_u, gamma_l) -> dict:
    """Eq. (14): ``{"u": E~_u, "l": E~_l}`` (energy units; NumPy broadcasting)."""
    delta = omega - (E_u - E_l)
    gam = gamma_u + gamma_l
    return {"u": E_u + gamma_u * delta / gam, "l": E_l - gamma_l * delta / gam}


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """Detuning sweep ``x = Delta/Gamma`` in [-10, 10] (41 points quick, 201 full).

    **Returns** a dict of NumPy arrays: ``x``, ``omega``, ``measured`` (``{"u", "l"}``:
    ``Udot_a/Ndot_a`` of the master equation), ``closed`` (Eq. 14 written out here),
    ``reported`` (the solver's ``effective_energy``), ``rate`` and ``closed_rate`` (master
    equation and closed form A8), ``particle_current_u``, ``first_law_residual``, and ``params``.
    """
    p = PARAMS
    gam = p["gamma_u"] + p["gamma_l"]
    x = np.linspace(-10, 10, 41 if quick else 201)
    omega = p["E_u"] - p["E_l"] + x * gam
    r = solve_classical(**p, omega=omega)
    return dict(
        params=dict(p),
        x=x,
        omega=omega,
        measured={a: np.asarray(r.energy_current[a]) / np.asarray(r.particle_current[a]) for a in ("u", "l")},
        closed=eq14(p["E_u"], p["E_l"], omega, p["gamma_u"], p["gamma_l"]),
        reported={a: np.asarray(r.effective_energy[a]) for a in ("u", "l")},
        rate=np.asarray(r.rate),
        closed_rate=np.asarray(classical_closed_form(**p, omega=omega)["rate"]),
        particle_current_u=np.asarray(r.particle_current["u"]),
        first_law_residual=np.asarray(r.first_law_residual),
    )


def checks(d: dict) -> list[Check]:
    """Eq. 14 from the flows (where ``|Ndot| > 1e-9``, i.e. the ratio is resolved in float64),
    ``E~_u - E~_l = omega`` from the flows, the reported energies, the rate against A8, and the
    first law (Eq. 1)."""
    resolved = np.abs(d["particle_current_u"]) > 1e-9
    err = max(float(np.max(np.abs(d["measured"][a] - d["closed"][a])[resolved])) for a in ("u", "l"))
    gap = float(np.max(np.abs(d["measured"]["u"] - d["measured"]["l"] - d["omega"])[resolved]))
    rep = max(float(np.max(np.abs(d["reported"][a] - d["closed"][a]))) for a in ("u", "l"))
    rate_err = float(np.max(np.abs(d["rate"] - d["closed_rate"]) / np.abs(d["closed_rate"])))
    flaw = float(np.max(np.abs(d["first_law_residual"])))
    n = f"{int(resolved.sum())} of {resolved.size} detunings"
    return [
        Check("Model A: Udot_a/Ndot_a equal the effective energies", "Eq. 14", err, "< 1e-10", err < 1e-10, n),
        Check("Model A: E~_u - E~_l = omega (from the flows)", "Eq. 14", gap, "< 1e-10", gap < 1e-10, n),
        Check("Model A: reported effective_energy equals Eq. 14", "Eq. 14", rep, "< 1e-13", rep < 1e-13),
        Check("Model A: master-equation R equals the closed form", "Eq. A8", rate_err, "rel < 1e-10",
              rate_err < 1e-10),
        Check("Model A: first law in the steady state", "Eq. 1", flaw, "< 1e-14", flaw < 1e-14),
    ]  # fmt: skip


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``effective_energies.png``: Eq. 14 lines and the measured ``Udot_a/Ndot_a`` markers."""
    d = compute(quick)
    p, x, measured, closed = d["params"], d["x"], d["measured"], d["closed"]
    fig = new_figure(6, 4)
    ax = fig.subplots()
    ax.plot(x, closed["u"], "C0-", label=r"$\tilde E_u$, Eq. (14)")
    ax.plot(x, closed["l"], "C1-", label=r"$\tilde E_l$, Eq. (14)")
    step = max(1, len(x) // 20)
    ax.plot(x[::step], measured["u"][::step], "C0o", ms=4, label=r"$\dot U_u/\dot N_u$ (master equation)")
    ax.plot(x[::step], measured["l"][::step], "C1s", ms=4, label=r"$\dot U_l/\dot N_l$ (master equation)")
    ax.axhline(p["E_u"], color="0.6", lw=0.8, ls=":")
    ax.axhline(p["E_l"], color="0.6", lw=0.8, ls=":")
    ax.set_xlabel(r"detuning $\Delta/\Gamma$ (linewidths, $\Gamma=\gamma_u+\gamma_l$)")
    ax.set_ylabel("effective energy (energy units)")
    ax.set_title(
        "Model A: energies exchanged with the leads\n"
        rf"$\varepsilon={p['eps']}$, $\gamma_u={p['gamma_u']}$, $\gamma_l={p['gamma_l']}$, "
        rf"$\mu_u={p['mu_u']}$, $\mu_l={p['mu_l']}$, $T_u=T_l={p['T_u']}$",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [save_figure(fig, out_dir, "effective_energies.png")]
