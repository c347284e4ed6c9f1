"""The ``jaxtls`` command line.

Commands:

- ``jaxtls solve MODEL --E_u 1.0 ... [--json]``: one steady state of any registered model
  (``classical``: Model A, ``cavity``: Model B, or one added with `jaxtls.register_model`);
  its parameters and command-line options come from its `ModelSpec`.
- ``jaxtls reproduce [--quick] [--out DIR]``: recompute the paper's results, write a report
  with figures, exit non-zero if a check fails.
- ``jaxtls scan [--allow-import] FILE.toml``: run or resume a parameter scan described in a TOML
  file (``--allow-import`` lets it name ``model = "package.module:function"``).
- ``jaxtls plot STORE --output NAME [--out FILE]``: draw a 1-D curve or 2-D map from a store.

Errors are one line on stderr, never a traceback: ``jaxtls: error: ...`` with exit code 2 for
bad input (usage, parameters, files, stores, outputs), 1 for a computation that failed its
checks (``SteadyStateError``, ...) or an internal error (``JAXTLS_TRACEBACK=1`` re-raises it with
its traceback); Ctrl-C exits with 130 (``jaxtls scan``: rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .._models.registry import ModelSpec, available_fields, get_field, registered_models
from .scan.metadata import PARAMETER_DESCRIPTIONS


class _UsageError(Exception):
    """A command line argparse refuses (one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors as `_UsageError` (``main`` prints one line) instead of usage text
    and `SystemExit`; ``--help`` still prints the help and exits 0. Options are never
    abbreviated (``--overwrit`` is an error, not ``--overwrite``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        where = "" if self.prog == "jaxtls" else f"{self.prog}: "
        raise _UsageError(f"{where}{message} (see '{self.prog} --help')")


def _one_line(err: BaseException, limit: int = 2000) -> str:
    """An exception's message on one line (multi-line messages joined with spaces; an `OSError`
    without its ``[Errno n]`` prefix)."""
    text = str(err)
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror + (f": {err.filename!r}" if err.filename else "")
    text = " ".join(text.split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _units(spec: ModelSpec, name: str) -> str:
    return spec.units.get(name, "energy units")


def _number(text: str):
    """A real or complex number (``0.05`` or ``0.05+0.01j``)."""
    try:
        return float(text)
    except ValueError:
        try:
            return complex(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from err


def _parser(option):
    """argparse type of a static option: its `parse`, with a one-line error."""

    def parse(text: str):
        try:
            return option.parse(text)
        except (ValueError, TypeError) as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    parse.__name__ = option.name
    return parse


def _plain(result) -> dict:
    """A result without ``to_dict()``: every array field (dotted names) as floats / lists."""
    import numpy as np

    out = {}
    for name in available_fields(result):
        a = np.asarray(get_field(result, name))
        out[name] = np.stack([a.real, a.imag], axis=-1).tolist() if np.iscomplexobj(a) else a.tolist()
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxtls",
        description="Quantum thermodynamics of light-matter transitions (hbar = k_B = 1).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    solve = sub.add_parser("solve", help="solve one model's steady state and print its flows")
    models = solve.add_subparsers(dest="model", metavar="MODEL")
    models.required = True
    for name, spec in registered_models().items():
        if spec.parameters is None:
            continue  # parameters unknown: not on the command line
        desc = spec.description or f"model {name!r}"
        mp = models.add_parser(name, help=desc, description=f"Steady state of the {desc}.")
        for p in spec.parameters:
            what = PARAMETER_DESCRIPTIONS.get(p, p)
            mp.add_argument(f"--{p}", type=_number, required=True, metavar="X", help=f"{what} ({_units(spec, p)})")
        for option in spec.static or ():
            if option.parse is None:
                continue
            mp.add_argument(
                f"--{option.name}",
                type=_parser(option),
                choices=option.choices,
                default=option.default,
                help=option.help or option.name,
            )
        mp.add_argument("--json", action="store_true", help="print one JSON object")

    rep = sub.add_parser("reproduce", help="recompute the paper's results and write a checked report")
    rep.add_argument("--quick", action="store_true", help="smaller grids (under 2 minutes on 2 CPU cores)")
    rep.add_argument("--out", default="jaxtls-report", help="output folder (default jaxtls-report/)")

    sc = sub.add_parser("scan", help="run or resume a parameter scan described in a TOML file")
    sc.add_argument("file", help="scan definition (TOML)")
    sc.add_argument("--no-progress", action="store_true", help="no progress bar")
    sc.add_argument("--overwrite", action="store_true", help="discard an existing store and start again")
    sc.add_argument(
        "--allow-import",
        action="store_true",
        help='let the file name model = "package.module:function" (imports and runs that code; default: '
        "registered model names only)",
    )
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

    spec = registered_models()[args.model]
    params = {p: getattr(args, p) for p in spec.parameters}
    static = {}
    for option in spec.static or ():
        if option.parse is not None and getattr(args, option.name) is not None:
            static[option.name] = getattr(args, option.name)
    spec.check_static(static)  # the registry's checks before any work (n_max, occupations, ...)
    values = spec.check_params(params)
    spec.run_validate({**values, **static})
    res = spec.fn(**values, **static)
    out = res.to_dict() if hasattr(res, "to_dict") else _plain(res)
    if args.json:
        print(json.dumps(out))
        return 0
    width = max(len(k) for k in out)
    for key, val in out.items():
        if isinstance(val, dict):
            val = ", ".join(f"{k}={np.asarray(v)!s}" for k, v in val.items())
        print(f"{key:<{width}}  {val}")
    return 0


def _reproduce(args) -> int:
    from .reproduce import reproduce

    out = os.path.expanduser(args.out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise NotADirectoryError(20, f"--out {args.out!r} exists and is not a folder")
    os.makedirs(out, exist_ok=True)  # an unwritable place fails here, before any work
    return reproduce(out=out, quick=args.quick)


def _scan(args) -> int:
    from .scan import scan_from_toml

    try:
        ds = scan_from_toml(
            args.file,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            recompute_corrupted=True if args.recompute_corrupted else None,
            allow_import=args.allow_import,
        )
    except KeyboardInterrupt:
        print("jaxtls: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    print(ds)
    return 0


def _plot(args) -> int:
    from .plot import plot_store

    print(plot_store(args.store, args.output, args.out, x=args.x, y=args.y, sel=args.sel))
    return 0


_COMMANDS = {"solve": _solve, "reproduce": _reproduce, "scan": _scan, "plot": _plot}


def _error(message: str, code: int) -> int:
    print(f"jaxtls: error: {message}", file=sys.stderr)
    return code


def main(argv=None) -> int:
    """Run the command line; return the exit code (module docstring for the error policy)."""
    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except _UsageError as err:
        return _error(_one_line(err), 2)
    except KeyboardInterrupt:
        print("jaxtls: interrupted", file=sys.stderr)
        return 130
    except RecursionError as err:  # before RuntimeError, its base class
        return _error(f"input nested too deeply ({_one_line(err)})", 2)
    except (ValueError, OSError) as err:  # bad input: parameters, files, stores, outputs
        if os.environ.get("JAXTLS_TRACEBACK"):
            raise
        return _error(_one_line(err), 2)
    except MemoryError as err:
        return _error(f"out of memory ({_one_line(err)}); use fewer points, a smaller chunk_size or n_max", 2)
    except Exception as err:  # noqa: BLE001 - one line, never a traceback; JAXTLS_TRACEBACK=1 re-raises
        if os.environ.get("JAXTLS_TRACEBACK"):
            raise
        return _error(f"{type(err).__name__}: {_one_line(err)}", 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
