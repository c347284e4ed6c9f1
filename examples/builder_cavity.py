"""The paper's Model B (Sec. III B, Jaynes-Cummings with two leads and a cavity bath) rebuilt
with the model builder (`jt.Space`, `jt.System`, `jt.Bath`) and checked against the hard-coded
solver `jaxtls.solve_cavity` (bare occupations, Eq. 9).

Run ``python examples/builder_cavity.py [--n-max N]``: prints the audit of every reservoir
(particle and energy currents, effective energies ``Udot/Ndot``, which equal Eq. 21 whatever the
occupations) and the largest relative difference to `solve_cavity`. Units: hbar = k_B = 1, one
energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt
from jaxtls import dag

PARAMS = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.03, g=0.04, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02,
    mu_u=0.9, mu_l=0.1, T_u=0.08, T_l=0.06, T_b=0.3,
)  # fmt: skip


def build(p: dict, n_max: int) -> jt.System:
    """Model B as a `jt.System`: H = E_u n_u + E_l n_l + omega_cav a^+ a + (g c_u^+ c_l a + h.c.),
    leads on u and l (Eq. 8), a thermal bath on the mode (Eq. 17)."""
    space = jt.Space(fermions=["u", "l"], bosons={"a": n_max})
    u, l, a = space.annihilators()
    return jt.System(
        space,
        hamiltonian=[
            (p["E_u"], dag(u) @ u),
            (p["E_l"], dag(l) @ l),
            (p["omega_cav"], dag(a) @ a),
            (p["g"], dag(u) @ l @ a, "hc"),
        ],  # fmt: skip
        leads=[
            jt.Lead("u", p["mu_u"], p["T_u"], p["gamma_u"], name="u"),
            jt.Lead("l", p["mu_l"], p["T_l"], p["gamma_l"], name="l"),
        ],  # fmt: skip
        baths=[jt.Bath(a, p["T_b"], p["gamma_b"], name="b")],
    )


def main(n_max: int = 20, p: dict | None = None) -> float:
    """Solve, print the audit; returns the largest relative difference to `solve_cavity`."""
    p = PARAMS if p is None else p
    system = build(p, n_max)
    r = jt.steady_state(system, occupations="bare")
    a = system.space.annihilators()[2]
    c = jt.solve_cavity(**p, n_max=n_max, occupations="bare")
    worst = 0.0
    for k, kc in (("u", "u"), ("l", "l"), ("b", "ph")):
        print(
            f"{k}: Ndot = {float(r.particle_current[k]):+.12e}, Udot = {float(r.energy_current[k]):+.12e}, "
            f"Udot/Ndot = {float(r.effective_energy[k]):.12f} (Eq. 21: {float(c.effective_energy[kc]):.12f})"
        )
        for x, y in ((r.particle_current[k], c.particle_current[k]), (r.energy_current[k], c.energy_current[k])):
            worst = max(worst, abs(float(x) - float(y)) / abs(float(y)))
    photons = float(r.expect(dag(a) @ a))
    worst = max(worst, abs(photons - float(c.populations["ph"])) / float(c.populations["ph"]))
    print(f"<a^+ a> = {photons:.12f}, entropy production {float(r.entropy_production):.6e} "
          f"(+- {float(r.entropy_production_tolerance):.1e}), first-law residual {float(r.first_law_residual):.1e}")  # fmt: skip
    print(f"largest relative difference to solve_cavity: {worst:.1e}")
    return worst


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-max", type=int, default=20, help="photon cutoff")
    main(parser.parse_args().n_max)
