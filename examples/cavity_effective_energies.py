"""Effective energies of the quantized cavity model versus cavity detuning (Model B, Eq. 21).

The energies at which the leads exchange electrons and the bath exchanges photons, measured from
the flows of the numerical Jaynes-Cummings steady state (`jaxtls.solve_cavity`),
E~_u = Udot_u/Ndot_u, E~_l = Udot_l/Ndot_l, E~_ph = Udot_b/Ndot_b, against Eq. (21):
E~_u = E_u + gamma_u Delta_cav/Gamma, E~_l = E_l - gamma_l Delta_cav/Gamma,
E~_ph = omega_cav - gamma_b Delta_cav/Gamma, Gamma = gamma_u + gamma_l + gamma_b; plus the same
identities and the sign of the second law (Eq. 22) on random parameter points.

The computation, its checks and the figure are `jaxtls.paper.cavity_energies` (the code `jaxtls
reproduce` runs, so the numbers are the report's). Run ``python
examples/cavity_effective_energies.py [--out-dir DIR] [--quick]``: prints the energies at the
largest detuning and the checks, writes the figure(s) and prints their paths. Units: hbar = k_B
= 1, one energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.cavity_energies(quick)
    s = d["sweep"]
    for a in ("u", "l", "ph"):
        print(
            f"E~_{a}: from the flows {s['measured'][a][-1]:.12f}, Eq. 21 {s['closed'][a][-1]:.12f} "
            f"(Delta_cav/Gamma = {s['x'][-1]:g})"
        )
    for check in jt.paper.cavity_energies_checks(d):
        print(check)
    return jt.paper.cavity_energies_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
