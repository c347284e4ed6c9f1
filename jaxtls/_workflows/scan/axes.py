"""The scan's grid: axes (ranges, lists, zipped parameters) and the checks of the parameters
(names against the model's signature and spec, values against its rules) before any work."""

from __future__ import annotations

import cmath
import dataclasses
import inspect
import math
from collections.abc import Mapping

import numpy as np

from ..._engine.checks import check_parameters
from ..._models.registry import ModelSpec
from .definition import ScanDefinitionError
from .layout import check_axis_size
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
            raise ScanDefinitionError(
                f"a range table needs exactly start, stop, num (and optionally log = true); got keys {sorted(keys)}"
            )
        return True
    return False


def _finite_number(name: str, key: str, value) -> float:
    """A range's start / stop: a finite real number (not a bool or a string)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ScanDefinitionError(f"grid entry {name!r}: {key} must be a finite real number, got {value!r}")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ScanDefinitionError(f"grid entry {name!r}: {key} must be a finite real number, got {value!r}")
    return value


def _count(name: str, num) -> int:
    """A range's num: an integer >= 1 (an integral float such as TOML's ``1e3`` is accepted)."""
    integral = isinstance(num, int | np.integer) or (
        isinstance(num, float | np.floating) and math.isfinite(num) and float(num).is_integer()
    )
    if isinstance(num, bool | np.bool_) or not integral or num < 1:
        raise ScanDefinitionError(f"grid entry {name!r}: num must be an integer >= 1, got {num!r}")
    return int(num)


def _axis_values(name: str, spec) -> tuple[np.ndarray, str | None]:
    if not isinstance(name, str) or not name:
        raise ScanDefinitionError(f"grid parameter names must be non-empty strings, got {name!r}")
    if _is_range(spec):
        num = _count(name, spec["num"])
        start = _finite_number(name, "start", spec["start"])
        stop = _finite_number(name, "stop", spec["stop"])
        log = spec.get("log", False)
        if not isinstance(log, bool | np.bool_):
            raise ScanDefinitionError(f"grid entry {name!r}: log must be true or false, got {log!r}")
        check_axis_size(name, num)  # before the values are allocated
        if log:
            if start <= 0 or stop <= 0:
                raise ScanDefinitionError(
                    f"grid entry {name!r}: log = true needs start > 0 and stop > 0 (the values "
                    f"themselves, not exponents); got start={start}, stop={stop}"
                )
            return np.geomspace(start, stop, num), "log"
        return np.linspace(start, stop, num), "linear"
    if isinstance(spec, list | tuple) and any(isinstance(v, bool | np.bool_) for v in spec):
        raise ScanDefinitionError(f"grid entry {name!r} must hold numbers, got a boolean in {spec!r}")
    if isinstance(spec, str | bytes) or spec is None:
        raise ScanDefinitionError(
            f"grid entry {name!r} must be a non-empty 1-D list of numbers or a {{start, stop, num}} table, got {spec!r}"
        )
    try:
        arr = np.asarray(spec)
    except Exception as err:  # noqa: BLE001 - ragged lists, exotic objects: all refused alike
        raise ScanDefinitionError(
            f"grid entry {name!r}: cannot convert {spec!r} to a 1-D array of numbers ({type(err).__name__})"
        ) from None
    if arr.ndim != 1 or arr.size == 0:
        raise ScanDefinitionError(
            f"grid entry {name!r} must be a non-empty 1-D list of values or a "
            f"{{start, stop, num}} table, got shape {arr.shape} (put single values in `fixed`)"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ScanDefinitionError(f"grid entry {name!r} must hold numbers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)][0].item()
        raise ScanDefinitionError(f"grid entry {name!r} must hold finite numbers, got {bad!r}")
    if np.iscomplexobj(arr):
        return arr.astype(np.complex128), None
    return arr.astype(np.float64), None


def parse_axes(grid: Mapping, zip_: Mapping | None) -> list[Axis]:
    if not isinstance(grid, Mapping):
        raise ScanDefinitionError(
            f"grid must be a mapping from parameter name to values (a [grid] table), got {type(grid).__name__}"
        )
    entries = list(grid.items())
    if zip_ is not None:
        if not isinstance(zip_, Mapping):
            raise ScanDefinitionError(
                f"zip must be a mapping {{axis name: {{parameter: values, ...}}}}, got {type(zip_).__name__}"
            )
        for name, spec in zip_.items():
            if not isinstance(spec, Mapping) or _is_range(spec):
                raise ScanDefinitionError(
                    f"zip axis {name!r} must be a table {{parameter: values, ...}} of equal-length entries"
                )
            entries.append((name, spec))
    axes, seen = [], {}
    for name, spec in entries:
        if not isinstance(name, str) or not name:
            raise ScanDefinitionError(f"grid names must be non-empty strings, got {name!r}")
        if isinstance(spec, Mapping) and not _is_range(spec):
            if not spec:
                raise ScanDefinitionError(f"zipped axis {name!r} is empty")
            values, spacing = {}, {}
            for p, v in spec.items():
                try:
                    values[p], spacing[p] = _axis_values(p, v)
                except ScanDefinitionError as err:
                    raise ScanDefinitionError(f"zipped axis {name!r}: {err}") from None
            lengths = {p: len(v) for p, v in values.items()}
            if len(set(lengths.values())) != 1:
                raise ScanDefinitionError(f"zipped axis {name!r}: parameters have different lengths {lengths}")
        else:
            v, s = _axis_values(name, spec)
            values, spacing = {name: v}, {name: s}
        for p in values:
            if p in seen:
                raise ScanDefinitionError(f"parameter {p!r} appears on two grid axes ({seen[p]!r} and {name!r})")
            seen[p] = name
        axes.append(Axis(name, values, spacing))
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise ScanDefinitionError(f"duplicate grid axis names: {names}")
    for a in axes:
        if a.name in seen and seen[a.name] != a.name:
            raise ScanDefinitionError(
                f"axis name {a.name!r} is also a parameter of axis {seen[a.name]!r}; rename the axis"
            )
    if not axes:
        raise ScanDefinitionError("the grid is empty: give at least one parameter to scan")
    return axes


def _is_number(v) -> bool:
    return isinstance(v, int | float | complex | np.number) and not isinstance(v, bool | np.bool_)


def _short(v, n: int = 60) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


def _finite(v) -> bool:
    """A number (any size of Python int) is finite."""
    if isinstance(v, int | np.integer):
        return True
    return bool(cmath.isfinite(complex(v)))


def normalize_fixed(spec: ModelSpec, fixed: Mapping | None) -> dict:
    """Fixed physical parameters as Python scalars (static options unchanged). Every numeric
    value, physical or static, must be finite."""
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise ScanDefinitionError(
            f"fixed must be a mapping from parameter name to value (a [fixed] table), got {type(fixed).__name__}"
        )
    out = {}
    for k, v in fixed.items():
        if not isinstance(k, str) or not k:
            raise ScanDefinitionError(f"fixed parameter names must be non-empty strings, got {k!r}")
        if spec.parameters is not None and k in spec.parameters or k in PHYSICAL_PARAMETERS:
            try:
                ndim = np.ndim(v)
            except Exception:  # noqa: BLE001 - ragged or too deeply nested lists
                ndim = -1
            if ndim != 0:
                raise ScanDefinitionError(
                    f"fixed parameter {k!r} must be a scalar number, got {_short(v)} (put a list on the grid)"
                )
            if hasattr(v, "dtype") and hasattr(v, "item"):  # NumPy / JAX scalars
                v = np.asarray(v).item()
            if not _is_number(v):
                raise ScanDefinitionError(f"fixed parameter {k!r} must be a number, got {v!r}")
            try:
                v = complex(v) if isinstance(v, complex) else float(v)
            except OverflowError:
                raise ScanDefinitionError(f"fixed parameter {k!r} must be finite, got {v!r}") from None
        if _is_number(v) and not _finite(v):
            raise ScanDefinitionError(f"fixed parameter {k!r} must be finite, got {v!r}")
        out[k] = v
    return out


def check_names(spec: ModelSpec, axes, fixed: dict) -> None:
    """Every name given is the model's; none is missing; only broadcast parameters on the grid."""
    grid_params = [p for a in axes for p in a.values]
    both = sorted(set(grid_params) & set(fixed))
    if both:
        raise ScanDefinitionError(f"parameter(s) {both} are both on the grid and fixed")
    try:
        params = inspect.signature(spec.fn).parameters
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        given = set(grid_params) | set(fixed)
        unknown = sorted(given - set(params))
        if unknown:
            raise ScanDefinitionError(f"model {spec.name!r} has no parameter(s) {unknown}; it takes {list(params)}")
        missing = [
            n
            for n, p in params.items()
            if p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            and n not in given
        ]
        if missing:
            raise ScanDefinitionError(
                f"model {spec.name!r}: missing parameter(s) {missing} (put them on the grid or in fixed)"
            )
    if spec.parameters is not None:
        static = [p for p in grid_params if p not in spec.parameters]
        if static:
            raise ScanDefinitionError(
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
