"""LED, electroluminescent cooler and solar cell: operation regions of the cavity model (Model B).

For equal lead temperatures T_u = T_l = T the second law (Eq. 22) fixes the sign of the rate,
R ~ sign(mu_u - mu_l - E~_ph (1 - T/T_b)). Two maps over the bias mu_u - mu_l and the cavity
frequency omega_cav: an LED (T_b = T) that emits also below the photon energy and then cools
its leads, and a solar cell (hot bath T_b) whose efficiency never exceeds Carnot. The optimised
devices are in ``examples/led_cooling.py`` and ``examples/solar_cell.py``.

The computation, its checks and the figure are `jaxtls.paper.operation_regions` (the code
`jaxtls reproduce` runs, so the numbers are the report's). Run ``python
examples/operation_regions.py [--out-dir DIR] [--quick]``: prints the largest lead cooling and
the best efficiency and the checks, writes the figure(s) and prints their paths. Units: hbar =
k_B = 1, one energy unit (the transition energy E_u - E_l = 1).
"""

from __future__ import annotations

import argparse

import jaxtls as jt


def main(out_dir: str = ".", quick: bool = False) -> list[str]:
    """Compute, print the key numbers and the checks, write the figure(s); returns the PNG paths."""
    d = jt.paper.operation_regions(quick)
    led, solar = d["led"], d["solar"]
    print(f"LED: largest heat current out of the leads {led['heat_leads'].max():.4e} (energy per unit time)")
    p_el = -solar["rate"] * solar["bias"][:, None]
    gen = (p_el > 0) & (solar["heat_bath"] > 0)
    print(f"solar cell (T_b = {solar['T_b']:g}): best efficiency {(p_el[gen] / solar['heat_bath'][gen]).max():.4f}")
    for check in jt.paper.operation_regions_checks(d):
        print(check)
    return jt.paper.operation_regions_figure(out_dir, quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=".", help="directory for the PNG files")
    parser.add_argument("--quick", action="store_true", help="the small grids of `jaxtls reproduce --quick`")
    args = parser.parse_args()
    for path in main(args.out_dir, quick=args.quick):
        print(path)
