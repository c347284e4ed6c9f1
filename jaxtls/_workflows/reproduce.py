"""``jaxtls reproduce``: recompute the paper's claims, check them, write a report with figures.

Each *claim* is a function ``claim(quick) -> list[Check]`` computing numbers with the library and
comparing them with the paper's formulas; each figure comes from one script in ``examples/``
(a ``main(out_dir, quick) -> list[str]`` function), so what the report shows is exactly what a
user can run and adapt. The report is ``DIR/report.md`` with the table of checks and the figures;
the exit code is non-zero when a check fails.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from .._models.bloch import bloch_gain
from .._models.cavity import effective_energies_cavity, solve_cavity
from .._models.classical import classical_closed_form
from .._models.laser import lasing_frequency, solve_laser

__all__ = ["Check", "reproduce", "CLAIMS"]


@dataclasses.dataclass
class Check:
    """One checked claim: ``computed`` must satisfy ``passed`` against ``expected``."""

    claim: str
    equation: str
    computed: float
    expected: str
    passed: bool
    detail: str = ""


def _examples_dir() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "examples")


def load_example(name: str):
    """Import ``examples/<name>.py`` (the figure scripts live beside the package in the repo)."""
    path = os.path.join(_examples_dir(), f"{name}.py")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"example script {path} not found: `jaxtls reproduce` needs the repository checkout "
            "(install with `pip install -e .` from the repository)"
        )
    key = f"jaxtls_examples_{name}"
    if key in sys.modules and getattr(sys.modules[key], "__file__", None) == path:
        # one module per run: its jit-compiled functions (and caches) serve the claim and the figure
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------------------- claims


def claim_effective_energies_classical(quick: bool) -> list[Check]:
    mod = load_example("effective_energies")
    x, measured, closed, r = mod.compute(quick)
    resolved = np.abs(np.asarray(r.particle_current["u"])) > 1e-9
    err = max(np.max(np.abs(measured[a] - closed[a])[resolved]) for a in ("u", "l"))
    gap = np.max(np.abs(closed["u"] - closed["l"] - (mod.PARAMS["E_u"] - mod.PARAMS["E_l"] + x * 0.08)))
    p = dict(mod.PARAMS, omega=mod.PARAMS["E_u"] - mod.PARAMS["E_l"] + x * 0.08)
    c = classical_closed_form(**p)
    rate_err = np.max(np.abs(np.asarray(r.rate) - np.asarray(c["rate"])) / np.abs(np.asarray(c["rate"])))
    flaw = np.max(np.abs(np.asarray(r.first_law_residual)))
    return [
        Check("Model A: Udot_a/Ndot_a equal the effective energies", "Eq. 14", err, "< 1e-10", err < 1e-10),
        Check("Model A: E~_u - E~_l = omega", "Eq. 14", gap, "< 1e-12", gap < 1e-12),
        Check("Model A: master-equation R equals the closed form", "Eq. A8", rate_err, "rel < 1e-10",
              rate_err < 1e-10),
        Check("Model A: first law in the steady state", "Eq. 1", flaw, "< 1e-14", flaw < 1e-14),
    ]  # fmt: skip


def claim_second_law_classical(quick: bool) -> list[Check]:
    mod = load_example("entropy_production")
    bias, res = mod.compute(quick)
    bare = np.asarray(res["bare"].entropy_production)
    eff = np.asarray(res["effective"].entropy_production)
    p = mod.PARAMS
    window = (bias > p["E_u"] - p["E_l"]) & (bias < p["omega"])
    return [
        Check("Model A, bare occupations: negative entropy production for E_u-E_l < bias < omega",
              "Eqs. 9, 15", float(bare[window].min()), "< 0", bool(bare[window].min() < 0)),
        Check("Model A, effective occupations: entropy production >= 0 at every bias", "Eq. 15",
              float(eff.min()), ">= -1e-15", bool(eff.min() >= -1e-15)),
    ]  # fmt: skip


def claim_cavity_flows(quick: bool) -> list[Check]:
    rng = np.random.default_rng(0)
    n = 200 if quick else 2000
    gu, gl, gb = (10 ** rng.uniform(-2, -1, n) for _ in range(3))
    gam = gu + gl + gb
    p = dict(
        E_u=np.ones(n), E_l=np.zeros(n), omega_cav=1 + rng.uniform(-3, 3, n) * gam,
        g=10 ** rng.uniform(-2, 0, n) * gam, gamma_u=gu, gamma_l=gl, gamma_b=gb,
        mu_u=rng.uniform(0, 2, n), mu_l=rng.uniform(-1, 0.5, n), T_u=10 ** rng.uniform(-1.3, -0.5, n),
        T_l=10 ** rng.uniform(-1.3, -0.5, n), T_b=10 ** rng.uniform(-1.3, -0.5, n),
    )  # fmt: skip
    r = solve_cavity(**p, n_max="auto", fock_tol=1e-14)
    rate = np.asarray(r.rate)
    e = {k: np.asarray(v) for k, v in r.effective_energy.items()}
    rel = max(
        np.max(np.abs(np.asarray(r.energy_current["u"]) - e["u"] * rate) / gam),
        np.max(np.abs(np.asarray(r.energy_current["l"]) + e["l"] * rate) / gam),
        np.max(np.abs(np.asarray(r.energy_current["b"]) + e["ph"] * rate) / gam),
    )
    # the figure's detuning sweep: flows Udot_a / Ndot_a against the closed form of Eq. 21
    mod = load_example("cavity_effective_energies")
    _, measured, closed, _ = mod.compute(quick)
    scale = mod.PARAMS["E_u"] - mod.PARAMS["E_l"]
    sweep = max(float(np.max(np.abs(measured[a] - closed[a]) / np.maximum(np.abs(closed[a]), scale)))
                for a in ("u", "l", "ph"))  # fmt: skip
    bracket = e["ph"] / p["T_b"] + (e["l"] - p["mu_l"]) / p["T_l"] - (e["u"] - p["mu_u"]) / p["T_u"]
    worst = float(np.min(rate * bracket / np.maximum(np.abs(rate * bracket), 1e-300)))
    return [
        Check("Model B: Udot_u = E~_u R, Udot_l = -E~_l R, Udot_b = -E~_ph R (per unit Gamma)",
              "Eq. 21", rel, "< 1e-11", rel < 1e-11, f"{n} random points, n_max auto (max {r.n_max})"),
        Check("Model B: E~_u, E~_l, E~_ph = Udot_a/Ndot_a from the flows equal Eq. 21 vs cavity detuning",
              "Eq. 21", sweep, "rel < 1e-9", sweep < 1e-9,
              f"{len(measured['u'])} detunings in [-5, 5] Gamma (relative to max(|E~|, E_u - E_l))"),
        Check("Model B, effective occupations: second law R [E~_ph/T_b + ...] >= 0 (sign)", "Eq. 22",
              worst, "> -1e-12", worst > -1e-12, f"{n} random points"),
    ]  # fmt: skip


def claim_led_solar(quick: bool) -> list[Check]:
    mod = load_example("operation_regions")
    bias, omega, r = mod.compute(quick, T_b=mod.T)
    rate = np.asarray(r.rate)
    e_ph = np.asarray(r.effective_energy["ph"])
    resolved = np.abs(rate) > 1e-12 * np.max(np.abs(rate))
    sign_ok = np.mean(np.sign(rate[resolved]) == np.sign(np.broadcast_to(bias[:, None], rate.shape)[resolved]))
    heat = mod.heat_out_of_leads(r, bias)
    cooling = (rate > 0) & (bias[:, None] < e_ph) & (heat > 0)
    checks = [
        Check(
            "LED (T_b = T): R has the sign of the bias at every resolved grid point",
            "Eq. 22",
            float(sign_ok),
            "= 1",
            bool(sign_ok == 1.0),
            f"{int(resolved.sum())} points",
        ),
        Check(
            "Electroluminescent cooling: emission with mu_u - mu_l < E~_ph extracts heat from the leads",
            "Eq. 21",
            int(cooling.sum()),
            "> 0 points",
            bool(cooling.sum() > 0),
        ),
    ]
    bias, omega, r = mod.compute(quick, T_b=mod.T_HOT)
    rate = np.asarray(r.rate)
    p_el = -rate * bias[:, None]
    u_b = np.asarray(r.energy_current["b"])
    gen = (p_el > 0) & (u_b > 0)
    eff = p_el[gen] / u_b[gen]
    carnot = (mod.T_HOT - mod.T) / mod.T_HOT
    e_ph = np.asarray(r.effective_energy["ph"])
    voc = np.broadcast_to(e_ph * (1 - mod.T / mod.T_HOT), rate.shape)
    below = (bias[:, None] > 0) & (bias[:, None] < voc) & (np.abs(rate) > 1e-12 * np.max(np.abs(rate)))
    checks += [
        Check(
            "Solar cell: efficiency P_el/Udot_b never exceeds Carnot (max ratio)",
            "Sec. III B",
            float(eff.max() / carnot),
            "<= 1",
            bool(eff.max() <= carnot * (1 + 1e-9)),
            f"{int(gen.sum())} generating points",
        ),
        Check(
            "Solar cell: R < 0 for 0 < mu_u - mu_l < E~_ph (1 - T/T_b)",
            "Eq. 22",
            float(np.mean(rate[below] < 0)),
            "= 1",
            bool(np.all(rate[below] < 0)),
        ),
    ]
    return checks


def claim_laser(quick: bool) -> list[Check]:
    rng = np.random.default_rng(3)
    n = 4 if quick else 16
    p = dict(E_u=1.0, E_l=0.0, omega_cav=1.0 + rng.uniform(-0.05, 0.05, n), g=0.05,
             gamma_u=rng.uniform(0.01, 0.03, n), gamma_l=rng.uniform(0.01, 0.03, n),
             gamma_b=rng.uniform(0.002, 0.01, n), mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05)  # fmt: skip
    closed = solve_laser(**p)
    integ = solve_laser(**p, method="integrate")
    eq30 = np.asarray(lasing_frequency(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"]))
    w_err = float(np.max(np.abs(np.asarray(integ.omega) - eq30)))
    i_err = float(np.max(np.abs(np.asarray(integ.intensity) / np.asarray(closed.intensity) - 1)))
    e_ph = np.asarray(effective_energies_cavity(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"],
                                                   p["gamma_l"], p["gamma_b"])[2])  # fmt: skip
    pull = float(np.max(np.abs(eq30 - e_ph)))
    return [
        Check("Laser: integrated lasing frequency equals the pulled frequency", "Eq. 30", w_err, "< 1e-8",
              w_err < 1e-8, f"{n} random lasers above threshold"),
        Check("Laser: lasing frequency equals the photon effective energy E~_ph", "Eqs. 21, 30", pull, "< 1e-13",
              pull < 1e-13),
        Check("Laser: integrated intensity equals the closed form (real part of Eq. 29)", "Eq. 29", i_err,
              "rel < 1e-6", i_err < 1e-6),
        Check("Laser: all of them lase (pump ratio > 1)", "Eq. 29", float(np.min(np.asarray(closed.threshold))),
              "> 1", bool(np.all(np.asarray(closed.lasing)))),
    ]  # fmt: skip


def claim_bloch_gain(quick: bool) -> list[Check]:
    kw = dict(E_u=1.0, E_l=0.0, gamma_u=0.01, gamma_l=0.02, mu_u=0.02, mu_l=0.02, T=0.025)
    below = np.linspace(0.9, 0.995, 20)
    above = np.linspace(1.005, 1.1, 20)
    out = {}
    for variant in ("density_matrix", "effective", "naive"):
        out[variant] = (np.asarray(bloch_gain(below, **kw, variant=variant)),
                        np.asarray(bloch_gain(above, **kw, variant=variant)))  # fmt: skip
    naive = float(max(np.max(np.abs(out["naive"][0])), np.max(np.abs(out["naive"][1]))))
    dm_b, dm_a = out["density_matrix"]
    ef_b, ef_a = out["effective"]
    return [
        Check("Bloch gain, equal occupations: the naive spectrum vanishes", "Sec. V", naive, "= 0", naive == 0.0),
        Check("Bloch gain (Eq. 31): gain below the transition, absorption above", "Eq. 31",
              float(min(dm_b.min(), -dm_a.max())), "> 0", bool(dm_b.min() > 0 and dm_a.max() < 0)),
        Check("Bloch gain with effective energies: gain below, absorption above", "Eq. 14",
              float(min(ef_b.min(), -ef_a.max())), "> 0", bool(ef_b.min() > 0 and ef_a.max() < 0)),
    ]  # fmt: skip


def claim_appendix_c(quick: bool) -> list[Check]:
    mod = load_example("appendix_c")
    d = mod.compute(quick)
    groups = ("detuning_rwa", "detuning", "drive_rwa", "drive", "bias", "random")
    res = {k: np.concatenate([d[g][1][k] for g in groups]) for k in d["detuning"][1]}
    npts = len(res["S"])
    # RWA: the self-consistent fixed point is Eq. 14
    rwa = max(float(np.max(np.abs(d[g][1]["E"] - mod.eq14(d[g][0])))) for g in ("detuning_rwa", "drive_rwa"))
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
    weak = float(np.max(np.abs(r["E"][0] - mod.weak_limit(q))))
    off = float(np.max(np.abs(r["E"][0] - mod.eq14(q)[0])))
    dev = float(np.max(np.abs(d["detuning"][1]["E"] - mod.eq14(d["detuning"][0]))))
    return [
        Check("Appendix C, RWA drive: self-consistent E~_a = Udot_a/Ndot_a equal Eq. 14", "Eqs. 14, C3", rwa,
              "< 1e-10", rwa < 1e-10, f"{n_rwa} points, Floquet |n| <= {mod.N_HARM}"),
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


CLAIMS: list[tuple[str, Callable, str | None]] = [
    ("Effective energies (Model A)", claim_effective_energies_classical, "effective_energies"),
    ("Second law with bare vs effective occupations (Model A)", claim_second_law_classical, "entropy_production"),
    (
        "Flows, effective energies and second law of the quantized cavity (Model B)",
        claim_cavity_flows,
        "cavity_effective_energies",
    ),
    ("LED, electroluminescent cooling and solar cell (Model B)", claim_led_solar, "operation_regions"),
    ("Frequency pulling of a detuned laser (Model C)", claim_laser, "frequency_pulling"),
    ("Laser intensity and L-I curve (Model C)", lambda quick: [], "laser_li_curve"),
    ("Bloch gain of intersubband transitions (Model D)", claim_bloch_gain, "bloch_gain"),
    (
        "Self-consistent effective energies of a driven system beyond the RWA (Appendix C)",
        claim_appendix_c,
        "appendix_c",
    ),
]


def _fmt(x) -> str:
    return f"{x:.3g}" if isinstance(x, (float, np.floating, int)) else str(x)


def reproduce(out: str = "jaxtls-report", quick: bool = False, claims=None) -> int:
    """Run every claim, write ``out/report.md`` and the figures; return the exit code."""
    os.makedirs(out, exist_ok=True)
    claims = CLAIMS if claims is None else claims
    rows: list[Check] = []
    figures: list[tuple[str, str]] = []
    t_start = time.perf_counter()
    for i, (title, fn, example) in enumerate(claims, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(claims)}] {title} ...", flush=True)
        try:
            checks = fn(quick)
        except Exception as err:  # a crash is a failed check, reported, not hidden
            checks = [Check(title, "-", float("nan"), "runs", False, f"{type(err).__name__}: {err}")]
        rows += checks
        if example is not None:
            try:
                for path in load_example(example).main(out_dir=out, quick=quick):
                    figures.append((title, os.path.relpath(path, out)))
            except Exception as err:
                rows.append(Check(f"figure for {title}", "-", float("nan"), "drawn", False, repr(err)))
        print(f"      {sum(c.passed for c in checks)}/{len(checks)} checks passed "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)  # fmt: skip
    failed = [c for c in rows if not c.passed]
    lines = [
        "# jaxtls reproduce: report",
        "",
        f"Mode: {'quick' if quick else 'full'}; {len(rows) - len(failed)}/{len(rows)} checks passed; "
        f"{time.perf_counter() - t_start:.0f} s. Units: hbar = k_B = 1.",
        "",
        "| claim | equation | computed | expected | pass | detail |",
        "|---|---|---|---|---|---|",
    ]
    for c in rows:
        cells = (c.claim, c.equation, _fmt(c.computed), c.expected, "PASS" if c.passed else "FAIL", c.detail)
        lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    lines += ["", "## Figures", ""]
    for title, rel in figures:
        lines += [f"### {title}", "", f"![{title}]({rel})", ""]
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    width = max(len(c.claim) for c in rows)
    print()
    for c in rows:
        status = "PASS" if c.passed else "FAIL"
        print(f"{status}  {c.claim:<{width}}  {c.equation:<10} {_fmt(c.computed):>10}  {c.expected}")
    print(f"\n{len(rows) - len(failed)}/{len(rows)} checks passed; report: {os.path.join(out, 'report.md')}")
    return 1 if failed else 0
