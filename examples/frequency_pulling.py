"""Frequency pulling: lasing frequency versus cavity frequency for several cavity losses (Eq. 30).

Closed-form lines and ODE-integration markers (the lasing frequency from the phase rotation of
the field a) of the semiclassical laser (`jaxtls.solve_laser`); the lasing frequency is the
photon effective energy E~_ph of Eq. 21.

The computation, its checks and the figure are `jaxtls.paper.frequency_pulling` (the code
`jaxtls reproduce` runs, so the numbers are the report's). Run ``python
examples/frequency_pulling.py [--out-dir DIR] [--quick]``: prints integrated against closed-form
lasing frequencies and the checks, writes the figure(s) and prints their paths. Units: hbar =
k_B = 1, one energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.frequency_pulling(quick)
    q = d["random"]
    for w_ode, w_cf in zip(q["integrated"]["omega"], q["closed"]["omega"], strict=True):
        print(f"lasing frequency: integrated {w_ode:.12f}, Eq. 30 {w_cf:.12f}")
    for check in jt.paper.frequency_pulling_checks(d):
        print(check)
    return jt.paper.frequency_pulling_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
