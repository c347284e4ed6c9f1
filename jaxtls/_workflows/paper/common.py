"""What every claim of the paper shares: the `Check` record, the `Claim` triple, the per-mode
cache of the computed data, and the figure helpers.

A claim is three functions (one module of `jaxtls._workflows.paper` each):

- ``compute(quick=False) -> dict``: the numbers (NumPy arrays and the parameters used), computed
  with the public solvers; cached per mode, so the checks, the figure, ``jaxtls reproduce`` and
  the example scripts all see the same numbers from one computation;
- ``checks(data) -> list[Check]``: compares those numbers with the paper's formulas, closed
  forms, limits or an independent method, each with an explicit tolerance;
- ``figure(out_dir=".", quick=False) -> list[str]``: draws the data into PNG files and returns
  their paths.

Figures use Matplotlib's object-oriented API on an Agg canvas (no pyplot, no global backend
switch); Matplotlib is imported only when a figure is drawn. Units: hbar = k_B = 1, every energy,
frequency, rate and temperature in one energy unit (the transition energy ``E_u - E_l = 1``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

import numpy as np

__all__ = ["Check", "Claim", "cached_by_mode", "check_quick", "new_figure", "save_figure"]


@dataclasses.dataclass
class Check:
    """One checked claim: ``computed`` must satisfy ``passed`` against ``expected``.

    **Fields:** `claim` (what is claimed), `equation` (the paper's equation or section),
    `computed` (the number measured, e.g. a maximum deviation), `expected` (the criterion as
    text, e.g. ``"< 1e-10"``), `passed`, `detail` (sizes, units, caveats).
    """

    claim: str
    equation: str
    computed: float
    expected: str
    passed: bool
    detail: str = ""

    def __str__(self) -> str:
        computed = f"{self.computed:.3g}" if isinstance(self.computed, (float, int, np.number)) else self.computed
        return f"{'PASS' if self.passed else 'FAIL'}  {self.claim} [{self.equation}]: {computed} ({self.expected})"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One section of the report: `name`, `title` and its three functions (module docstring)."""

    name: str
    title: str
    compute: Callable[[bool], dict]
    checks: Callable[[dict], list]
    figure: Callable[..., list]

    def run_checks(self, quick: bool = False) -> list[Check]:
        """``checks(compute(quick))``: the claim's checks on its (cached) data."""
        return self.checks(self.compute(quick))


def check_quick(quick) -> bool:
    """`quick` must be a bool (``True``: the small grids of ``jaxtls reproduce --quick``)."""
    if not isinstance(quick, (bool, np.bool_)):
        raise ValueError(f"quick must be True or False, got {quick!r}")
    return bool(quick)


def cached_by_mode(fn: Callable[[bool], dict]) -> Callable[..., dict]:
    """Cache ``fn(quick)`` once per mode (``quick`` positional or keyword: the same entry).

    The returned dict is shared by every caller of that mode: do not modify it in place.
    """
    cache: dict[bool, dict] = {}

    @functools.wraps(fn)
    def wrapper(quick: bool = False) -> dict:
        key = check_quick(quick)
        if key not in cache:
            cache[key] = fn(key)
        return cache[key]

    wrapper.cache_clear = cache.clear  # type: ignore[attr-defined]
    return wrapper


def new_figure(width: float, height: float, layout: str | None = None):
    """A Matplotlib `Figure` of `width` x `height` inches on its own Agg canvas (no pyplot
    state); add axes with ``fig.subplots(...)``. `layout`: Matplotlib's layout engine
    (e.g. ``"constrained"``) or None (call ``fig.tight_layout()`` when done)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, out_dir, name: str, dpi: int = 120) -> str:
    """Write `fig` as ``out_dir/name`` (creating `out_dir`) and return the path."""
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=dpi)
    return path
