"""Effective energies versus detuning (Model A, Eq. 14).

The energies at which the leads exchange electrons, measured as E~_a = Udot_a / Ndot_a from the
numerical steady state of the classical-field model (`jaxtls.solve_classical`), against the
closed form of Eq. (14), E~_u = E_u + gamma_u Delta/Gamma, E~_l = E_l - gamma_l Delta/Gamma. The
cavity model (Model B, Eq. 21) is in ``examples/cavity_effective_energies.py``.

The computation, its checks and the figure are `jaxtls.paper.classical_energies` (the code
`jaxtls reproduce` runs, so the numbers are the report's). Run ``python
examples/effective_energies.py [--out-dir DIR] [--quick]``: prints the energies at the largest
detuning and the checks, writes the figure(s) and prints their paths. Units: hbar = k_B = 1, one
energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.classical_energies(quick)
    x, meas, closed = d["x"], d["measured"], d["closed"]
    print(
        f"Delta/Gamma = {x[-1]:g}: Udot_u/Ndot_u = {meas['u'][-1]:.12f} (Eq. 14: {closed['u'][-1]:.12f}), "
        f"Udot_l/Ndot_l = {meas['l'][-1]:.12f} (Eq. 14: {closed['l'][-1]:.12f})"
    )
    for check in jt.paper.classical_energies_checks(d):
        print(check)
    return jt.paper.classical_energies_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
