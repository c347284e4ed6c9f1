"""The scan's grid: axes (ranges, lists, zipped parameters) and the checks of the parameters
(names against the model's signature and spec, values against its rules) before any work."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping

import numpy as np

from ..._engine.checks import check_parameters
from ..._models.registry import ModelSpec
from .metadata import PHYSICAL_PARAMETERS

__all__ = ["Axis", "parse_axes", "normalize_fixed", "check_names", "check_values"]


@dataclasses.dataclass(frozen=True)
class Axis:
    """One dimension of the scan: one parameter, or several zipped parameters of equal length."""

    name: str
    values: dict  # parameter -> 1-D numpy array
    spacing: dict  # parameter -> "linear" | "log" | None

    @property
    def size(self) -> int:
        return len(next(iter(self.values.values())))

    @property
    def zipped(self) -> bool:
        return not (len(self.values) == 1 and self.name in self.values)


_RANGE_KEYS = {"start", "stop", "num", "log"}


def _is_range(spec) -> bool:
    if not isinstance(spec, Mapping):
        return False
    keys = set(spec)
    if keys & {"start", "stop", "num"}:
        if not ({"start", "stop", "num"} <= keys and keys <= _RANGE_KEYS):
            raise ValueError(
                f"a range table needs exactly start, stop, num (and optionally log = true); got keys {sorted(keys)}"
            )
        return True
    return False


def _axis_values(name: str, spec) -> tuple[np.ndarray, str | None]:
    if _is_range(spec):
        num = spec["num"]
        if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 1:
            raise ValueError(f"grid entry {name!r}: num must be an integer >= 1, got {num!r}")
        start, stop = float(spec["start"]), float(spec["stop"])
        if spec.get("log", False):
            if start <= 0 or stop <= 0:
                raise ValueError(
                    f"grid entry {name!r}: log = true needs start > 0 and stop > 0 (the values "
                    f"themselves, not exponents); got start={start}, stop={stop}"
                )
            return np.geomspace(start, stop, int(num)), "log"
        return np.linspace(start, stop, int(num)), "linear"
    try:
        arr = np.asarray(spec)
    except Exception as err:
        raise ValueError(f"grid entry {name!r}: cannot convert {spec!r} to an array") from err
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"grid entry {name!r} must be a non-empty 1-D list of values or a "
            f"{{start, stop, num}} table, got shape {arr.shape} (put single values in `fixed`)"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"grid entry {name!r} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        return arr.astype(np.complex128), None
    return arr.astype(np.float64), None


def parse_axes(grid: Mapping, zip_: Mapping | None) -> list[Axis]:
    if not isinstance(grid, Mapping):
        raise TypeError(f"grid must be a mapping from parameter name to values, got {type(grid).__name__}")
    entries = list(grid.items())
    if zip_:
        if not isinstance(zip_, Mapping):
            raise TypeError("zip must be a mapping {axis name: {parameter: values, ...}}")
        for name, spec in zip_.items():
            if not isinstance(spec, Mapping) or _is_range(spec):
                raise ValueError(
                    f"zip axis {name!r} must be a table {{parameter: values, ...}} of equal-length entries"
                )
            entries.append((name, spec))
    axes, seen = [], {}
    for name, spec in entries:
        if not isinstance(name, str):
            raise TypeError(f"grid names must be strings, got {name!r}")
        if isinstance(spec, Mapping) and not _is_range(spec):
            if not spec:
                raise ValueError(f"zipped axis {name!r} is empty")
            values, spacing = {}, {}
            for p, v in spec.items():
                try:
                    values[p], spacing[p] = _axis_values(p, v)
                except ValueError as err:
                    raise ValueError(f"zipped axis {name!r}: {err}") from None
            lengths = {p: len(v) for p, v in values.items()}
            if len(set(lengths.values())) != 1:
                raise ValueError(f"zipped axis {name!r}: parameters have different lengths {lengths}")
        else:
            v, s = _axis_values(name, spec)
            values, spacing = {name: v}, {name: s}
        for p in values:
            if p in seen:
                raise ValueError(f"parameter {p!r} appears on two grid axes ({seen[p]!r} and {name!r})")
            seen[p] = name
        axes.append(Axis(name, values, spacing))
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate grid axis names: {names}")
    for a in axes:
        if a.name in seen and seen[a.name] != a.name:
            raise ValueError(f"axis name {a.name!r} is also a parameter of axis {seen[a.name]!r}; rename the axis")
    if not axes:
        raise ValueError("the grid is empty: give at least one parameter to scan")
    return axes


def normalize_fixed(spec: ModelSpec, fixed: Mapping | None) -> dict:
    """Fixed physical parameters as Python scalars (static options unchanged)."""
    fixed = dict(fixed or {})
    out = {}
    for k, v in fixed.items():
        if spec.parameters is not None and k in spec.parameters or k in PHYSICAL_PARAMETERS:
            if np.ndim(v) != 0:
                raise ValueError(
                    f"fixed parameter {k!r} must be a scalar, got shape {np.shape(v)} (put it on the grid)"
                )
            if isinstance(v, bool | str) or not np.issubdtype(np.asarray(v).dtype, np.number):
                raise ValueError(f"fixed parameter {k!r} must be a number, got {v!r}")
            v = complex(v) if np.iscomplexobj(v) else float(v)
        out[k] = v
    return out


def check_names(spec: ModelSpec, axes, fixed: dict) -> None:
    """Every name given is the model's; none is missing; only broadcast parameters on the grid."""
    grid_params = [p for a in axes for p in a.values]
    both = sorted(set(grid_params) & set(fixed))
    if both:
        raise ValueError(f"parameter(s) {both} are both on the grid and fixed")
    try:
        params = inspect.signature(spec.fn).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        given = set(grid_params) | set(fixed)
        unknown = sorted(given - set(params))
        if unknown:
            raise ValueError(f"model {spec.name!r} has no parameter(s) {unknown}; it takes {list(params)}")
        missing = [
            n
            for n, p in params.items()
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            and n not in given
        ]
        if missing:
            raise ValueError(f"model {spec.name!r}: missing parameter(s) {missing} (put them on the grid or in fixed)")
    if spec.parameters is not None:
        static = [p for p in grid_params if p not in spec.parameters]
        if static:
            raise ValueError(
                f"model {spec.name!r} cannot scan {static}: only its broadcastable parameters "
                f"{list(spec.parameters)} may be on the grid; static arguments (n_max, occupations, ...) "
                "go in `fixed` (run one scan per value)"
            )


def check_values(spec: ModelSpec, axes, fixed: dict) -> None:
    """Grid and fixed values against the model's rules; static options in `fixed` against
    their checks (`ModelSpec.check_static`)."""
    if spec.static is not None and spec.parameters is not None:
        spec.check_static({k: v for k, v in fixed.items() if k not in spec.parameters})
    if not spec.rules:
        return
    values = {p: v for a in axes for p, v in a.values.items()}
    values.update({k: v for k, v in fixed.items() if k in spec.rules})
    check_parameters(values, spec.rules)
