"""Appendix C: self-consistent effective energies of a driven two-level system beyond the RWA.

The two-level system of Model A, driven by a real field without the rotating-wave approximation,

    H_S(t) = E_u n_u + E_l n_l + 2 eps cos(omega t) (c_u^+ c_l + c_l^+ c_u),

with the local leads of Eq. (8), has a periodic (not a stationary) steady state. Appendix C
evaluates each lead's Fermi function at the effective energy of the particles it exchanges,
E~_a = Udot_a^av / Ndot_a^av (Eq. C3, period averages), self-consistently: a fixed point
E~ = E~(f(E~)), solved with `self_consistent_steady_state` on the Floquet harmonics of the
lab-frame master equation (`FloquetHarmonics`). The same code with the counter-rotating term
switched off (drive eps c_u^+ c_l e^{-i omega t} + h.c.) is the RWA, where the fixed point must
reproduce Eq. (14).

Beyond the RWA the effective energies differ from Eq. (14) even for a weak drive: the
counter-rotating term drives a second channel (an electron goes from u to l *absorbing* omega,
detuning omega + E_u - E_l), whose exchange energies are those of Eq. (14) with u and l
exchanged; for weak drive each lead's E~_a is the rate-weighted average over the two channels
(`weak_drive_limit`; its eps -> 0 value `weak_limit`). Stronger drives add saturation and
Bloch-Siegert shifts.

All points (detuning and drive sweeps, RWA and beyond, a bias sweep and a random sample for the
second law) are solved in one `jax.vmap`-ed, jit-compiled call, so the (slow) compilation happens
once. The root finder is `optimistix.Newton`: for this two-level system it converges in 2-3 steps
and compiles about three times faster than the default Levenberg-Marquardt; convergence is
checked (`converged`, `effective_energy_residual`) rather than assumed. Units: hbar = k_B = 1,
one energy unit (E_u - E_l = 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ...._models.classical import classical_closed_form
from ...._models.floquet import FloquetHarmonics, periodic_steady_state
from ...._models.selfconsistent import self_consistent_steady_state
from ...._models.system import FermionicSystem, Lead
from ..common import Check, cached_by_mode, new_figure, save_figure
from .classical_energies import eq14

__all__ = ["BASE", "SWEEP", "BIAS", "N_HARM", "build_system", "solve_batch", "rwa_energies", "weak_drive_limit",
           "weak_limit", "compute", "checks", "figure"]  # fmt: skip

#: common parameters (energy units); leads "u" on level 0, "l" on level 1
BASE = dict(E_u=1.0, E_l=0.0, gamma_u=0.03, gamma_l=0.05, T_u=0.05, T_l=0.05)
GAMMA = BASE["gamma_u"] + BASE["gamma_l"]
#: detuning and drive-strength sweeps: strongly biased leads (R > 0 everywhere)
SWEEP = dict(BASE, mu_u=1.5, mu_l=-0.5)
EPS_DETUNING = 0.1  # drive amplitude of the detuning sweep
DELTA_EPS = 0.2  # detuning of the drive-strength sweep
#: bias sweep (as in examples/entropy_production.py): omega > E_u - E_l, equal temperatures
BIAS = dict(BASE, omega=1.2, eps=0.05, mu_l=0.0)
N_HARM = 12  # Floquet harmonics |n| <= N_HARM (the tail is checked)
NAMES = ("E_u", "E_l", "omega", "eps", "eps_cr", "gamma_u", "gamma_l", "mu_u", "mu_l", "T_u", "T_l")
SOLVER = optx.Newton(rtol=1e-12, atol=1e-12)


def build_system(q) -> FermionicSystem:
    """The driven two-level system for one parameter point ``q`` (dict of scalars).

    ``eps_cr`` is the counter-rotating amplitude: ``eps_cr = eps`` is the real drive
    ``2 eps cos(omega t) (c_u^+ c_l + h.c.)``, ``eps_cr = 0`` the RWA drive of Model A."""
    h = jnp.diag(jnp.stack([q["E_u"], q["E_l"]])).astype(jnp.complex128)
    # H(t) = H_1 e^{-i omega t} + H_1^+ e^{i omega t} with H_1 = eps c_u^+ c_l + eps_cr c_l^+ c_u
    h1 = jnp.zeros((2, 2), jnp.complex128).at[0, 1].set(q["eps"]).at[1, 0].set(q["eps_cr"])
    leads = [
        Lead(0, q["mu_u"], q["T_u"], q["gamma_u"], name="u"),
        Lead(1, q["mu_l"], q["T_l"], q["gamma_l"], name="l"),
    ]
    return FermionicSystem(h, leads, drive={1: h1}, omega=q["omega"])


@jax.jit
def solve_batch(q):
    """Self-consistent and bare periodic steady states for a batch of points (dict of 1-D arrays)."""

    def one(x):
        system = build_system(x)
        method = FloquetHarmonics(N_HARM)
        sc = self_consistent_steady_state(system, method=method, solver=SOLVER, throw=False)
        bare = periodic_steady_state(system, method=method, throw=False)
        return dict(
            E=sc.effective_energy, U=sc.energy_current, N=sc.particle_current, P=sc.power,
            S=sc.entropy_production, first_law=sc.first_law_residual, fp_residual=sc.effective_energy_residual,
            converged=sc.converged, ok=sc.steady_state.diagnostics.ok,
            tail=sc.steady_state.diagnostics.harmonic_tail, S_bare=bare.entropy_production,
            ok_bare=bare.diagnostics.ok, N_bare=bare.particle_current,
        )  # fmt: skip

    return jax.vmap(one)(q)


def _points(base, n, **arrays):
    out = {k: np.full(n, float(base[k])) for k in NAMES if k in base}
    out.update({k: np.broadcast_to(np.asarray(v, float), (n,)).copy() for k, v in arrays.items()})
    return out


def _random_sample(n: int, seed: int = 7):
    """Random points of the beyond-RWA model (energy units) for the second-law check."""
    rng = np.random.default_rng(seed)
    eps = rng.uniform(0.01, 0.2, n)
    return dict(
        E_u=rng.uniform(0.8, 1.2, n), E_l=rng.uniform(-0.2, 0.2, n), omega=rng.uniform(0.6, 1.5, n), eps=eps,
        eps_cr=eps, gamma_u=rng.uniform(0.02, 0.3, n), gamma_l=rng.uniform(0.02, 0.3, n),
        mu_u=rng.uniform(-0.5, 1.5, n), mu_l=rng.uniform(-0.5, 1.5, n), T_u=rng.uniform(0.02, 0.5, n),
        T_l=rng.uniform(0.02, 0.5, n),
    )  # fmt: skip


def rwa_energies(q):
    """Eq. (14) for the points ``q`` (dict of 1-D arrays): ``(n, 2)`` array of ``E~_u, E~_l``."""
    e = eq14(q["E_u"], q["E_l"], q["omega"], q["gamma_u"], q["gamma_l"])
    return np.stack([np.asarray(e["u"]), np.asarray(e["l"])], -1)


@cached_by_mode
def compute(quick: bool = False) -> dict:
    """Solve every group of points in one batched call; returns ``{group: (params, results)}``
    with NumPy arrays (results: see `solve_batch`)."""
    n_det, n_eps, n_bias, n_rand = (11, 8, 25, 16) if quick else (41, 30, 81, 200)
    delta = np.linspace(-0.5, 0.5, n_det)
    eps = np.linspace(0.01, 0.3, n_eps)
    bias = np.linspace(0.7, 1.5, n_bias)
    omega_det = SWEEP["E_u"] - SWEEP["E_l"] + delta
    omega_eps = SWEEP["E_u"] - SWEEP["E_l"] + DELTA_EPS
    groups = {
        "detuning_rwa": _points(SWEEP, n_det, omega=omega_det, eps=EPS_DETUNING, eps_cr=0.0),
        "detuning": _points(SWEEP, n_det, omega=omega_det, eps=EPS_DETUNING, eps_cr=EPS_DETUNING),
        "drive_rwa": _points(SWEEP, n_eps, omega=omega_eps, eps=eps, eps_cr=0.0),
        "drive": _points(SWEEP, n_eps, omega=omega_eps, eps=eps, eps_cr=eps),
        "bias": _points(BIAS, n_bias, mu_u=BIAS["mu_l"] + bias, eps_cr=BIAS["eps"]),
        "random": _random_sample(n_rand),
    }
    flat = {k: jnp.asarray(np.concatenate([g[k] for g in groups.values()])) for k in NAMES}
    res = {k: np.asarray(v) for k, v in solve_batch(flat).items()}
    out, start = {}, 0
    for name, g in groups.items():
        n = len(g["omega"])
        out[name] = (g, {k: v[start : start + n] for k, v in res.items()})
        start += n
    out["axes"] = dict(delta=delta, eps=eps, bias=bias)
    return out


def weak_drive_limit(q):
    """Weak-drive effective energies beyond the RWA: the co-rotating process (Model A, Eq. 14)
    and the counter-rotating one (Model A with the roles of u and l exchanged, detuning
    ``omega + E_u - E_l``) carry electrons between the leads independently; each lead's
    ``E~_a`` is their rate-weighted average. Exact to ``O(eps^2)``; ``(n, 2)`` array."""
    p = {k: q[k] for k in NAMES if k != "eps_cr"}
    co = classical_closed_form(**p)
    swap = dict(p, E_u=p["E_l"], E_l=p["E_u"], gamma_u=p["gamma_l"], gamma_l=p["gamma_u"], mu_u=p["mu_l"],
                mu_l=p["mu_u"], T_u=p["T_l"], T_l=p["T_u"])  # fmt: skip
    cr = classical_closed_form(**swap)
    r1, r2 = np.asarray(co["rate"]), -np.asarray(cr["rate"])  # both: electrons from lead u to lead l
    e1 = np.stack([np.asarray(co["effective_energy"]["u"]), np.asarray(co["effective_energy"]["l"])], -1)
    e2 = np.stack([np.asarray(cr["effective_energy"]["l"]), np.asarray(cr["effective_energy"]["u"])], -1)
    return (r1[:, None] * e1 + r2[:, None] * e2) / (r1 + r2)[:, None]


def weak_limit(q, eps: float = 1e-5):
    """``eps -> 0`` limit of `weak_drive_limit` for the (eps-independent) other parameters of
    the first point of ``q``; ``(2,)`` array."""
    one = {k: np.asarray(q[k][:1], float) for k in NAMES}
    one["eps"] = np.array([eps])
    return weak_drive_limit(one)[0]


def _style_legend(ax, loc, weak=False):
    from matplotlib.lines import Line2D

    k = "0.3"
    handles = [
        Line2D([], [], color=k, ls="-", label="Eq. (14) (RWA closed form)"),
        Line2D([], [], color=k, ls="none", marker="o", mfc="none", ms=7, label="self-consistent, RWA drive"),
        Line2D(
            [], [], color=k, ls="--", marker="s", ms=3.5, label=r"self-consistent, $2\varepsilon\cos\omega t$ drive"
        ),
    ]
    if weak:
        handles.append(
            Line2D([], [], color=k, ls=":", lw=1.5, label=r"$\varepsilon\to 0$ limit, co- + counter-rotating")
        )
    handles += [
        Line2D([], [], color="C0", lw=6, label=r"$\tilde E_u-E_u$"),
        Line2D([], [], color="C1", lw=6, label=r"$\tilde E_l-E_l$"),
    ]
    ax.legend(handles=handles, fontsize=7.5, loc=loc)


def checks(d: dict) -> list[Check]:
    """RWA fixed point = Eq. 14 (1e-10); every fixed point converged with a harmonic tail below
    1e-10; fixed-point residual and period-averaged first law (1e-13, energy per unit time);
    beyond the RWA: self-consistent entropy production >= 0 (round-off 1e-13), bare < -1e-8
    somewhere; weak drive: the two-channel limit (1e-3, the O(eps^2) remainder at eps = 0.01)."""
    groups = ("detuning_rwa", "detuning", "drive_rwa", "drive", "bias", "random")
    res = {k: np.concatenate([d[g][1][k] for g in groups]) for k in d["detuning"][1]}
    npts = len(res["S"])
    # RWA: the self-consistent fixed point is Eq. 14
    rwa = max(float(np.max(np.abs(d[g][1]["E"] - rwa_energies(d[g][0])))) for g in ("detuning_rwa", "drive_rwa"))
    n_rwa = len(d["detuning_rwa"][0]["eps"]) + len(d["drive_rwa"][0]["eps"])
    # trust: every fixed point converged, every periodic state passed its checks
    trusted = bool(np.all(res["converged"]) and np.all(res["ok"]) and np.all(res["ok_bare"]))
    tail = float(np.max(res["tail"]))
    fp = float(np.max(res["fp_residual"]))
    flaw = float(np.max(np.abs(res["first_law"])))
    # second law beyond the RWA: self-consistent >= 0 everywhere, bare < 0 somewhere
    beyond = ("detuning", "drive", "bias", "random")
    s_sc = min(float(np.min(d[g][1]["S"])) for g in beyond)
    s_bare = min(float(np.min(d[g][1]["S_bare"])) for g in beyond)
    n_beyond = sum(len(d[g][1]["S"]) for g in beyond)
    n_neg = sum(int(np.sum(d[g][1]["S_bare"] < -1e-8)) for g in beyond)
    # weak drive beyond the RWA: co- plus counter-rotating channel, each with its Eq. 14 energies
    q, r = d["drive"]
    weak = float(np.max(np.abs(r["E"][0] - weak_limit(q))))
    off = float(np.max(np.abs(r["E"][0] - rwa_energies(q)[0])))
    dev = float(np.max(np.abs(d["detuning"][1]["E"] - rwa_energies(d["detuning"][0]))))
    return [
        Check("Appendix C, RWA drive: self-consistent E~_a = Udot_a/Ndot_a equal Eq. 14", "Eqs. 14, C3", rwa,
              "< 1e-10", rwa < 1e-10, f"{n_rwa} points, Floquet |n| <= {N_HARM}"),
        Check("Appendix C: every fixed point converged and passed the steady-state checks (harmonic tail)",
              "Eqs. C1-C3", tail, "< 1e-10", trusted and tail < 1e-10, f"{npts} points, Newton"),
        Check("Appendix C: fixed-point residual max_a |Udot_a - E~_a Ndot_a|", "Eq. C3", fp, "< 1e-13",
              fp < 1e-13, "energy units per unit time"),
        Check("Appendix C: period-averaged first law sum_a Udot_a + P = 0", "Eq. 1", flaw, "< 1e-13", flaw < 1e-13),
        Check("Appendix C, 2 eps cos(omega t) drive, self-consistent: entropy production >= 0", "App. C",
              s_sc, ">= -1e-13", s_sc >= -1e-13,
              f"{n_beyond} points ({len(d['random'][1]['S'])} random, bias and drive sweeps)"),
        Check("Appendix C, 2 eps cos(omega t) drive, bare occupations: negative entropy production", "Eqs. 9, C3",
              s_bare, "< -1e-8", s_bare < -1e-8, f"{n_neg} of {n_beyond} points below -1e-8"),
        Check("Appendix C beyond RWA, weak drive: E~_a = rate-weighted Eq. 14 of co- and counter-rotating channels",
              "Eqs. 14, C3", weak, "< 1e-3", weak < 1e-3,
              f"eps = {q['eps'][0]:g}; Eq. 14 alone is off by {off:.2g} (max over detuning sweep: {dev:.2g})"),
    ]  # fmt: skip


def figure(out_dir=".", quick: bool = False) -> list[str]:
    """``appendix_c_effective_energies.png``: (a) effective-energy shifts versus detuning, (b) versus
    drive strength, both against Eq. 14, (c) period-averaged entropy production versus bias."""
    d = compute(quick)
    ax_vals = d["axes"]
    fig = new_figure(14, 4.5)
    axs = fig.subplots(1, 3)
    colors = ("C0", "C1")
    for col, (group, x, xlabel) in enumerate(
        (("detuning", ax_vals["delta"], r"detuning $\Delta=\omega-(E_u-E_l)$ (energy units)"),
         ("drive", ax_vals["eps"], r"drive amplitude $\varepsilon$ (energy units)"))
    ):  # fmt: skip
        ax = axs[col]
        q, r = d[group]
        _, r_rwa = d[group + "_rwa"]
        closed = rwa_energies(q)
        bare = np.stack([q["E_u"], q["E_l"]], -1)
        for i in range(2):
            c = colors[i]
            ax.plot(x, closed[:, i] - bare[:, i], color=c, ls="-")
            ax.plot(x, r_rwa["E"][:, i] - bare[:, i], color=c, ls="none", marker="o", mfc="none", ms=7)
            ax.plot(x, r["E"][:, i] - bare[:, i], color=c, ls="--", marker="s", ms=3.5)
            if group == "drive":
                ax.axhline(float(weak_limit(q)[i] - bare[0, i]), color=c, ls=":", lw=1.5)
        ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"effective-energy shift $\tilde E_a-E_a$ (energy units)")
    axs[0].set_ylim(top=axs[0].get_ylim()[1] + 0.35 * np.ptp(axs[0].get_ylim()))
    _style_legend(axs[0], "upper right")
    _style_legend(axs[1], "center left", weak=True)
    axs[0].set_title(rf"(a) vs detuning, $\varepsilon={EPS_DETUNING}$", fontsize=10)
    axs[1].set_title(rf"(b) vs drive strength, $\Delta={DELTA_EPS}$", fontsize=10)
    q, r = d["bias"]
    bias = ax_vals["bias"]
    ax = axs[2]
    ax.plot(bias, r["S_bare"], "C3--", label="bare occupations (Eq. 9)")
    ax.plot(bias, r["S"], "C0-", label=r"self-consistent $\tilde E_a$ (App. C)")
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(BIAS["E_u"] - BIAS["E_l"], color="0.5", ls=":", lw=0.8, label=r"$E_u-E_l$")
    ax.axvline(BIAS["omega"], color="0.5", ls="-.", lw=0.8, label=r"$\omega$")
    ax.set_xlabel(r"bias $\mu_u-\mu_l$ (energy units)")
    ax.set_ylabel(r"period-averaged $\dot S$ ($k_B$ per unit time)")
    ax.set_title(rf"(c) 2nd law beyond RWA, $\omega={BIAS['omega']}$, $\varepsilon={BIAS['eps']}$", fontsize=10)
    ax.legend(fontsize=7.5)
    fig.suptitle(
        rf"Appendix C: driven two-level system, $\gamma_u={BASE['gamma_u']}$, $\gamma_l={BASE['gamma_l']}$, "
        rf"$T_u=T_l={BASE['T_u']}$; (a, b) $\mu_u={SWEEP['mu_u']}$, $\mu_l={SWEEP['mu_l']}$",
        fontsize=10,
    )
    fig.tight_layout()
    return [save_figure(fig, out_dir, "appendix_c_effective_energies.png")]
