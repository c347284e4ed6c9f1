"""The ``jaxtls`` command line.

Commands:

- ``jaxtls solve classical|cavity --E_u 1.0 ... [--json]``: one steady state (Model A / B).
- ``jaxtls reproduce [--quick] [--out DIR]``: recompute the paper's results, write a report
  with figures, exit non-zero if a check fails.
- ``jaxtls scan FILE.toml``: run or resume a parameter scan described in a TOML file.
- ``jaxtls plot STORE --output NAME [--out FILE]``: draw a 1-D curve or 2-D map from a store.
"""

from __future__ import annotations

import argparse
import json
import sys

from .._models.cavity import solve_cavity
from .._models.classical import solve_classical

MODEL_PARAMETERS = {
    "classical": ("E_u", "E_l", "omega", "eps", "gamma_u", "gamma_l", "mu_u", "mu_l", "T_u", "T_l"),
    "cavity": (
        "E_u", "E_l", "omega_cav", "g", "gamma_u", "gamma_l", "gamma_b",
        "mu_u", "mu_l", "T_u", "T_l", "T_b",
    ),
}  # fmt: skip
EXAMPLE = {
    "E_u": 1.0, "E_l": 0.0, "omega": 1.1, "eps": 0.05, "omega_cav": 1.2, "g": 0.05,
    "gamma_u": 0.03, "gamma_l": 0.05, "gamma_b": 0.02, "mu_u": 0.9, "mu_l": 0.1,
    "T_u": 0.02, "T_l": 0.02, "T_b": 0.05,
}  # fmt: skip


def _number(text: str):
    """A real or complex number (``0.05`` or ``0.05+0.01j``)."""
    try:
        return float(text)
    except ValueError:
        try:
            return complex(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err


def _n_max(text: str):
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"n_max must be an integer >= 1 or 'auto', got {text!r}") from err


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxtls",
        description="Quantum thermodynamics of light-matter transitions (hbar = k_B = 1).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    solve = sub.add_parser("solve", help="solve one model's steady state and print its flows")
    models = solve.add_subparsers(dest="model", metavar="MODEL")
    models.required = True
    for name, params in MODEL_PARAMETERS.items():
        desc = "classical field in the RWA (Model A)" if name == "classical" else "quantized cavity (Model B)"
        mp = models.add_parser(name, help=desc, description=f"Steady state of the {desc}.")
        for p in params:
            mp.add_argument(f"--{p}", type=_number, required=True, metavar="X", help=f"{p} (energy units)")
        mp.add_argument(
            "--occupations", choices=["bare", "effective"], default="effective",
            help="lead occupation prescription (default: effective, Eqs. 14/21)",
        )  # fmt: skip
        if name == "cavity":
            mp.add_argument("--n_max", type=_n_max, default=30, help="photon cutoff or 'auto' (default 30)")
        mp.add_argument("--json", action="store_true", help="print one JSON object")

    rep = sub.add_parser("reproduce", help="recompute the paper's results and write a checked report")
    rep.add_argument("--quick", action="store_true", help="smaller grids (under 2 minutes on 2 CPU cores)")
    rep.add_argument("--out", default="jaxtls-report", help="output folder (default jaxtls-report/)")

    sc = sub.add_parser("scan", help="run or resume a parameter scan described in a TOML file")
    sc.add_argument("file", help="scan definition (TOML)")
    sc.add_argument("--no-progress", action="store_true", help="no progress bar")
    sc.add_argument("--overwrite", action="store_true", help="discard an existing store and start again")
    sc.add_argument(
        "--recompute-corrupted",
        action="store_true",
        help="recompute finished chunks that fail their checksum (default: refuse with a list of them)",
    )

    pl = sub.add_parser("plot", help="plot an output of a scan store (1-D curve or 2-D map)")
    pl.add_argument("store", help="path of the scan store (.zarr)")
    pl.add_argument("--output", required=True, help="output variable to plot, e.g. rate")
    pl.add_argument("--out", default=None, help="figure file (.png or .pdf); default STORE-OUTPUT.png")
    pl.add_argument("--x", default=None, help="dimension on the x axis")
    pl.add_argument("--y", default=None, help="dimension on the y axis (2-D map)")
    pl.add_argument(
        "--sel",
        action="append",
        default=None,
        metavar="NAME=VALUE",
        help="select a value of another dimension (repeatable)",
    )
    return parser


def _solve(args) -> int:
    import numpy as np

    params = {p: getattr(args, p) for p in MODEL_PARAMETERS[args.model]}
    if args.model == "classical":
        res = solve_classical(**params, occupations=args.occupations)
    else:
        res = solve_cavity(**params, occupations=args.occupations, n_max=args.n_max)
    out = res.to_dict()
    if args.json:
        print(json.dumps(out))
        return 0
    width = max(len(k) for k in out)
    for key, val in out.items():
        if isinstance(val, dict):
            val = ", ".join(f"{k}={np.asarray(v)!s}" for k, v in val.items())
        print(f"{key:<{width}}  {val}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "solve":
            return _solve(args)
        if args.command == "reproduce":
            from .reproduce import reproduce

            return reproduce(out=args.out, quick=args.quick)
        if args.command == "scan":
            from .scan import scan_from_toml

            try:
                ds = scan_from_toml(
                    args.file,
                    progress=not args.no_progress,
                    overwrite=args.overwrite,
                    recompute_corrupted=True if args.recompute_corrupted else None,
                )
            except KeyboardInterrupt:
                print("jaxtls: interrupted; rerun the same command to resume", file=sys.stderr)
                return 130
            print(ds)
            return 0
        if args.command == "plot":
            from .plot import plot_store

            path = plot_store(args.store, args.output, args.out, x=args.x, y=args.y, sel=args.sel)
            print(path)
            return 0
    except (ValueError, OSError) as err:
        print(f"jaxtls: error: {err}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
