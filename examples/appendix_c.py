"""Appendix C: self-consistent effective energies of a driven two-level system beyond the RWA.

The two-level system of Model A driven by a real field, H_S(t) = E_u n_u + E_l n_l +
2 eps cos(omega t) (c_u^+ c_l + c_l^+ c_u), with local leads (Eq. 8), built as a
`jaxtls.FermionicSystem`. Each lead's Fermi function is evaluated at E~_a = Udot_a^av/Ndot_a^av
(Eq. C3), solved to a fixed point with `jaxtls.self_consistent_steady_state` on the Floquet
harmonics (`jaxtls.FloquetHarmonics`). With the counter-rotating term switched off the fixed
point reproduces Eq. (14); beyond the RWA the self-consistent entropy production stays >= 0
while the bare one does not.

The computation, its checks and the figure are `jaxtls.paper.appendix_c` (the code `jaxtls
reproduce` runs, so the numbers are the report's). Run ``python examples/appendix_c.py [--out-
dir DIR] [--quick]``: prints the lowest entropy production of each prescription and the checks,
writes the figure(s) and prints their paths. Units: hbar = k_B = 1, one energy unit (the
transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.appendix_c(quick)
    _, r = d["bias"]
    print(f"bias sweep: lowest Sdot self-consistent {r['S'].min():+.4e}, bare {r['S_bare'].min():+.4e}")
    for check in jt.paper.appendix_c_checks(d):
        print(check)
    return jt.paper.appendix_c_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
