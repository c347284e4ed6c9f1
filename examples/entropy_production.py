"""Entropy production versus bias with bare and effective occupations (Model A, Eq. 15).

With bare energies in the Fermi functions (Eq. 9) the local master equation predicts negative
entropy production for E_u - E_l < mu_u - mu_l < omega; with the effective energies of Eq. (14)
it never does.

The computation, its checks and the figure are `jaxtls.paper.classical_second_law` (the code
`jaxtls reproduce` runs, so the numbers are the report's). Run ``python
examples/entropy_production.py [--out-dir DIR] [--quick]``: prints the lowest entropy production
of each prescription and the checks, writes the figure(s) and prints their paths. Units: hbar =
k_B = 1, one energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.classical_second_law(quick)
    for occ, sdot in d["entropy_production"].items():
        i = sdot.argmin()
        print(f"{occ:>9} occupations: lowest Sdot = {sdot[i]:+.4e} at mu_u - mu_l = {d['bias'][i]:.3f}")
    for check in jt.paper.classical_second_law_checks(d):
        print(check)
    return jt.paper.classical_second_law_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
