"""What a workflow needs to know about a model: `ModelSpec` (parameters, rules, units, complex
parameters, static options with their checks, default outputs, trust check, host-side
validation) and `StaticOption`; result fields by dotted path. The registry of specs is
`jaxtls._models.registry`. Units: hbar = k_B = 1 throughout.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Mapping

from .._engine.checks import ParameterError, check_parameters

__all__ = [
    "ModelSpec",
    "StaticOption",
    "ArgumentTypeError",
    "get_field",
    "available_fields",
    "host_available_bytes",
    "format_bytes",
]


class ArgumentTypeError(ParameterError, TypeError):
    """An argument of the wrong type (a model that is neither a name nor a callable, a number
    where a list of names belongs, ...): a `ValueError` like every bad input in jaxtls, and a
    `TypeError` as Python code expects."""


# ---------------------------------------------------------------------------------------------
# Memory estimates of the checks (n_max, scan grids)


def host_available_bytes() -> int:
    """Memory the host can still give (``MemAvailable`` of /proc/meminfo, else the free pages;
    8 GiB where neither can be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def format_bytes(n: float) -> str:
    """``7.28 TiB``, ``512 B``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


# ---------------------------------------------------------------------------------------------
# Fields of a result, by dotted path


def get_field(result, path: str):
    """``result.a.b`` / ``result["a"]["b"]`` for ``path = "a.b"`` (dicts and attributes mix);
    `KeyError` naming the first missing part."""
    obj = result
    parts = path.split(".")
    for i, part in enumerate(parts):
        if isinstance(obj, Mapping):
            if part not in obj:
                raise KeyError(".".join(parts[: i + 1]))
            obj = obj[part]
        elif hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            raise KeyError(".".join(parts[: i + 1]))
    return obj


def available_fields(result, prefix: str = "") -> list[str]:
    """Dotted paths of every array field of `result` (dicts and dataclasses / modules walked)."""
    if isinstance(result, Mapping):
        items = result.items()
    elif dataclasses.is_dataclass(result):
        items = ((f.name, getattr(result, f.name)) for f in dataclasses.fields(result))
    else:
        return [prefix[:-1]] if prefix else []
    out = []
    for k, v in items:
        if isinstance(v, Mapping) or dataclasses.is_dataclass(v):
            out += available_fields(v, f"{prefix}{k}.")
        elif hasattr(v, "shape"):
            out.append(f"{prefix}{k}")
    return out


# ---------------------------------------------------------------------------------------------
# Specs


@dataclasses.dataclass(frozen=True)
class StaticOption:
    """A static keyword of a model: never broadcast, never on a grid, never differentiated.

    - `name`: the keyword.
    - `check`: ``check(value)`` raising `ValueError` that names the option and its allowed
      values; ``None``: anything is accepted.
    - `help`: one line for ``jaxtls solve MODEL --help``.
    - `parse`: how the command line reads the option (``str -> value``); ``None``: the option is
      not offered on the command line.
    - `default`: command-line default (``None``: the model's own default).
    - `choices`: allowed command-line values (``None``: any that `parse` accepts).
    """

    name: str
    check: Callable[[object], object] | None = None
    help: str = ""
    parse: Callable[[str], object] | None = None
    default: object = None
    choices: tuple | None = None


def _static_options(static) -> tuple[StaticOption, ...] | None:
    if static is None:
        return None
    if isinstance(static, str):
        static = (static,)
    if isinstance(static, Mapping):  # {name: check or None or StaticOption}
        items = [v if isinstance(v, StaticOption) else StaticOption(k, v) for k, v in static.items()]
    else:
        items = [s if isinstance(s, StaticOption) else StaticOption(str(s)) for s in static]
    names = [s.name for s in items]
    if len(set(names)) != len(names):
        raise ValueError(f"static options must have distinct names, got {names}")
    return tuple(items)


@dataclasses.dataclass(frozen=True, eq=False)
class ModelSpec:
    """A model the workflows can run (`scan`, `sensitivities`, `optimize`, ``jaxtls solve``).

    - `name`: registry name (``model = "name"`` in TOML, stored in scan definitions).
    - `fn`: the model function, called with keyword arguments. Parameters arrive as floats or
      arrays that broadcast together; every array field of the result has the broadcast shape
      as its leading dimensions.
    - `parameters`: the names that broadcast (grid axes, ``wrt``, ``free``). ``None``: any
      keyword (scans only; `sensitivities` and `optimize` need them declared).
    - `rules`: ``{name: "real" | "positive" | "nonneg" | "complex"}`` value checks applied
      before any work (`jaxtls._engine.checks.check_parameters`).
    - `units`: ``{parameter or output: units}`` for dataset attributes (defaults follow the
      paper's names: energies, rates per unit time, ...).
    - `check`: the trust check of a result: a dotted path to a boolean field
      (``"diagnostics.ok"``) or ``check(result, kwargs) -> bool array``; ``None``: no check.
    - `check_description`: what `check` means (stored with a scan's ``ok`` variable).
    - `validate`: ``validate(kwargs)`` run on the host with concrete parameters (and static
      options) before any work; raises `ValueError` for invalid combinations.
    - `complex_parameters`: parameters that may be complex (default: those whose rule is
      ``"complex"``); derivatives are with respect to their real part.
    - `static`: the static options, as `StaticOption` objects, names, or ``{name: check}``.
      ``None``: any other keyword passes unchecked.
    - `outputs`: default outputs of `sensitivities` (``None``: the caller must name them).
    - `description`: one line (``jaxtls solve --help``).
    - `prepare`: ``prepare(values, static, throw) -> static`` run on the host before tracing, to
      resolve data-dependent static options (e.g. ``n_max="auto"`` of the cavity).
    """

    name: str
    fn: Callable
    parameters: tuple[str, ...] | None = None
    rules: Mapping[str, str] | None = None
    units: Mapping[str, str] = dataclasses.field(default_factory=dict)
    check: str | Callable | None = None
    check_description: str | None = None
    validate: Callable | None = None
    complex_parameters: tuple[str, ...] | None = None
    static: tuple[StaticOption, ...] | None = None
    outputs: tuple[str, ...] | None = None
    description: str = ""
    prepare: Callable | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"model name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise ArgumentTypeError(f"fn must be callable, got {self.fn!r}")
        put = functools.partial(object.__setattr__, self)
        if self.parameters is not None:
            put("parameters", (self.parameters,) if isinstance(self.parameters, str) else tuple(self.parameters))
        if self.rules is not None:
            put("rules", dict(self.rules))
        put("units", dict(self.units or {}))
        if self.complex_parameters is None:
            put("complex_parameters", tuple(k for k, r in (self.rules or {}).items() if r == "complex"))
        else:
            put("complex_parameters", tuple(self.complex_parameters))
        put("static", _static_options(self.static))
        if self.outputs is not None:
            put("outputs", (self.outputs,) if isinstance(self.outputs, str) else tuple(self.outputs))
        if self.check_description is None and isinstance(self.check, str):
            put("check_description", self.check)

    # -- aliases of the former sensitivity spec ------------------------------------------------
    @property
    def solve(self) -> Callable:
        """The model function (alias of `fn`)."""
        return self.fn

    @property
    def complex_names(self) -> tuple[str, ...]:
        """Alias of `complex_parameters`."""
        return self.complex_parameters

    @property
    def static_names(self) -> tuple[str, ...] | None:
        return None if self.static is None else tuple(s.name for s in self.static)

    # -- checks ------------------------------------------------------------------------------
    def require_parameters(self, what: str) -> tuple[str, ...]:
        if self.parameters is None:
            raise ValueError(
                f"{what} needs the model's parameters: register {self.name!r} with "
                "jaxtls.register_model(name, fn, parameters=(...))"
            )
        return self.parameters

    def accepts(self, keyword: str) -> bool:
        """Whether `fn` takes the keyword `keyword`."""
        try:
            params = inspect.signature(self.fn).parameters
        except (TypeError, ValueError):
            return True
        if keyword in params:
            return params[keyword].kind is not inspect.Parameter.POSITIONAL_ONLY
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

    def check_static(self, static: Mapping[str, object]) -> None:
        """Unknown static options and values outside their allowed range raise `ValueError`."""
        if self.static is None:
            return
        options = {s.name: s for s in self.static}
        unknown = sorted(set(static) - set(options))
        if unknown:
            raise ValueError(
                f"unknown keyword(s) {unknown} for the {self.name} model; static options are "
                f"{list(options)} (physical parameters go in `params`)"
            )
        for name, value in static.items():
            if options[name].check is not None:
                options[name].check(value)

    def check_params(self, params: Mapping[str, object], *, complete: bool = True) -> dict:
        """Names (missing / unknown) and values (`rules`) of the broadcast parameters."""
        names = self.require_parameters("this workflow")
        if not isinstance(params, Mapping):
            raise ValueError(f"params must be a dict of parameter name -> value, got {type(params).__name__}")
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(
                f"{unknown} {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of the "
                f"{self.name} model; its parameters are {list(names)}"
            )
        missing = [k for k in names if k not in params]
        if complete and missing:
            raise ValueError(f"missing parameter(s) {missing} of the {self.name} model")
        values = {k: params[k] for k in names if k in params}
        if self.rules:
            check_parameters(values, self.rules)
        return values

    def run_validate(self, kwargs: Mapping[str, object]) -> None:
        """The host-side `validate` (if any) on concrete parameters and static options."""
        if self.validate is not None:
            self.validate(dict(kwargs))

    def resolve_static(self, values: Mapping, static: Mapping, throw: bool = True) -> dict:
        """Static options with data-dependent values resolved (`prepare`)."""
        if self.prepare is None:
            return dict(static)
        return dict(self.prepare(dict(values), dict(static), throw))

    def call(self, params: Mapping, static: Mapping, *, throw: bool | None = None):
        """``fn(**params, **static)``, with ``throw=`` passed where `fn` takes it."""
        kw = {**params, **static}
        if throw is not None and self.accepts("throw"):
            kw["throw"] = throw
        return self.fn(**kw)

    def trusted(self, result, kwargs: Mapping[str, object]):
        """The trust check on `result` (bool array), or ``None`` without one (or where the
        result has no such field)."""
        if self.check is None:
            return None
        try:
            if isinstance(self.check, str):
                return get_field(result, self.check)
            return self.check(result, kwargs)
        except (KeyError, AttributeError, TypeError):
            return None
