"""Bloch (dispersive) gain of intersubband transitions for equal and inverted occupations (Eq. 31).

Gain spectra G(omega) of `jaxtls.bloch_gain` from Eq. 31 (density matrix), from the effective
energies of Eq. 14 per lateral state, and from the naive f_u(E_k) - f_l(E_k), which gives no
gain at all for equal occupations.

The computation, its checks and the figure are `jaxtls.paper.bloch_spectra` (the code `jaxtls
reproduce` runs, so the numbers are the report's). Run ``python examples/bloch_gain.py [--out-
dir DIR] [--quick]``: prints the peak gain of each variant and the checks, writes the figure(s)
and prints their paths. Units: hbar = k_B = 1, one energy unit (the transition energy E_u - E_l
= 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.bloch_spectra(quick)
    for variant, g in d["spectra"][0].items():
        i = g.argmax()
        print(f"equal occupations, {variant:>14}: peak gain {g[i]:.4e} at detuning {d['detuning'][i]:+.3f}")
    for check in jt.paper.bloch_spectra_checks(d):
        print(check)
    return jt.paper.bloch_spectra_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
