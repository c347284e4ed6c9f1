"""``jaxtls reproduce``: recompute the paper's claims, check them, write a report with figures.

The claims live in the package (`jaxtls._workflows.paper`, public as ``jaxtls.paper``): each one
computes its numbers with the library, checks them against the paper's formulas, closed forms or
an independent method, and draws its figure; the example scripts call the same functions, so
what the report shows is what a user can run and adapt. Nothing is read from the repository:
the report runs from an installed wheel. This module only writes the report: ``DIR/report.md``
with one section per claim (its table of checks and its figures); the exit code is non-zero
when a check fails (a claim that raises counts as a failed check, with the error in the table).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from .._engine.config import VERSION
from .paper.claims import CLAIMS
from .paper.common import Check, Claim, check_quick

__all__ = ["Check", "CLAIMS", "reproduce"]


def _fmt(x) -> str:
    return f"{x:.3g}" if isinstance(x, (float, np.floating, int, np.integer)) else str(x)


def _row(c: Check) -> str:
    cells = (c.claim, c.equation, _fmt(c.computed), c.expected, "PASS" if c.passed else "FAIL", c.detail)
    return "| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |"


def _run(claim: Claim, out: str, quick: bool) -> tuple[list[Check], list[str]]:
    try:
        checks = list(claim.run_checks(quick))
    except Exception as err:  # a crash is a failed check, reported, not hidden
        return [Check(claim.title, "-", float("nan"), "runs", False, f"{type(err).__name__}: {err}")], []
    try:
        paths = list(claim.figure(out, quick))
    except Exception as err:
        checks.append(Check(f"figure for {claim.title}", "-", float("nan"), "drawn", False, repr(err)))
        paths = []
    return checks, paths


def reproduce(out: str = "jaxtls-report", quick: bool = False, claims: Sequence[Claim] | None = None) -> int:
    """Run every claim, write ``out/report.md`` and the figures; return the exit code.

    **Arguments:**

    - `out`: output folder (created if needed).
    - `quick`: small grids (``jaxtls reproduce --quick``) instead of the full ones.
    - `claims`: the claims to run (default: all of `CLAIMS`, in the paper's order).

    **Returns:** 0 if every check passed, 1 otherwise.
    """
    quick = check_quick(quick)
    if not isinstance(out, (str, os.PathLike)):
        raise ValueError(f"out must be a folder path, got {out!r}")
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    claims = CLAIMS if claims is None else tuple(claims)
    sections: list[tuple[Claim, list[Check], list[str], float]] = []
    t_start = time.perf_counter()
    for i, claim in enumerate(claims, 1):
        t0 = time.perf_counter()
        print(f"[{i}/{len(claims)}] {claim.title} ...", flush=True)
        checks, paths = _run(claim, out, quick)
        seconds = time.perf_counter() - t0
        sections.append((claim, checks, paths, seconds))
        print(f"      {sum(c.passed for c in checks)}/{len(checks)} checks passed ({seconds:.1f} s)", flush=True)
    rows = [c for _, checks, _, _ in sections for c in checks]
    failed = [c for c in rows if not c.passed]
    where = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lines = [
        "# jaxtls reproduce: report",
        "",
        f"Mode: {'quick' if quick else 'full'}; {len(rows) - len(failed)}/{len(rows)} checks passed; "
        f"{time.perf_counter() - t_start:.0f} s. jaxtls {VERSION} from `{where}`. Units: hbar = k_B = 1, "
        "one energy unit (the transition energy E_u - E_l = 1).",
    ]
    header = ["| claim | equation | computed | expected | pass | detail |", "|---|---|---|---|---|---|"]
    for claim, checks, paths, seconds in sections:
        lines += ["", f"## {claim.title}", "", f"`jaxtls.paper.{claim.name}`; {seconds:.1f} s.", "", *header]
        lines += [_row(c) for c in checks]
        for path in paths:
            rel = os.path.relpath(path, out)
            lines += ["", f"![{claim.title}]({rel})"]
    with open(os.path.join(out, "report.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    width = max(len(c.claim) for c in rows)
    print()
    for c in rows:
        status = "PASS" if c.passed else "FAIL"
        print(f"{status}  {c.claim:<{width}}  {c.equation:<10} {_fmt(c.computed):>10}  {c.expected}")
    print(f"\n{len(rows) - len(failed)}/{len(rows)} checks passed; report: {os.path.join(out, 'report.md')}")
    return 1 if failed else 0
