"""L-I curve of the semiclassical laser: photon output power gamma_b omega |a|^2 versus pump.

The pump is the chemical potential mu_u of the injecting lead (`jaxtls.laser_li_curve`). Above
the threshold of the pump ratio r (real part of Eq. 29) the intensity grows linearly in r; far
above it the semiclassical |a|^2 agrees with the mean photon number of the quantized cavity
(`jaxtls.solve_cavity`) to within one photon.

The computation, its checks and the figure are `jaxtls.paper.li_curve` (the code `jaxtls
reproduce` runs, so the numbers are the report's). Run ``python examples/laser_li_curve.py
[--out-dir DIR] [--quick]``: prints the thresholds and the semiclassical against the quantum
photon numbers and the checks, writes the figure(s) and prints their paths. Units: hbar = k_B =
1, one energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.li_curve(quick)
    for t, mu in zip(d["temperatures"], d["threshold_closed"], strict=True):
        print(f"T = {t:g}: threshold mu_u* = {mu:.9f}")
    far = d["far"]
    for n_sc, n_q in zip(far["semiclassical"], far["quantum"], strict=True):
        print(f"far above threshold: |a|^2 = {n_sc:.4f}, quantum <a^+ a> = {n_q:.4f}")
    for check in jt.paper.li_curve_checks(d):
        print(check)
    return jt.paper.li_curve_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
