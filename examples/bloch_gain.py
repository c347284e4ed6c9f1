"""Bloch (dispersive) gain of intersubband transitions for equal and inverted occupations (Eq. 31).

Run `python examples/bloch_gain.py [--out-dir DIR] [--quick]`; writes PNG figures and prints their
paths. `main(out_dir, quick)` is what `jaxtls reproduce` calls. Units: hbar = k_B = 1, one
energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

from jaxtls._workflows.figures_laser import bloch_gain_figure


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Write the figure(s) into `out_dir` and return their paths."""
    return bloch_gain_figure(out_dir, quick=quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="fewer points (seconds)")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
