"""Parameter scans at scale: declarative, chunked, resumable, on one or many devices.

A scan evaluates a model (`solve_classical`, `solve_cavity`, any registered model or any callable
following the broadcasting convention) on a grid of parameter values and returns an
`xarray.Dataset`. The grid is flattened and cut into chunks; each chunk is one jitted, batched
call (compiled once: the last chunk is padded to the common size), sharded over the local devices
along the batch axis, and streamed to a Zarr store that records which chunks are finished. Rerun
the same call to resume; several processes (`jax.distributed`) split the chunks between them and
write into the same store. See ``docs/scans.md``.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import hashlib
import importlib
import inspect
import itertools
import json
import math
import os
import time
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import jax
import numpy as np

from .._engine.config import VERSION
from .._models.cavity import solve_cavity
from .._models.classical import solve_classical
from .store import DIGEST, FORMAT, SCAN_GROUP, MemorySink, Template, VarSpec, ZarrSink, check_writable, is_store

__all__ = [
    "scan",
    "scan_from_toml",
    "load_scan_config",
    "register_model",
    "registered_models",
    "ModelSpec",
    "ChunkInfo",
    "ScanDefinitionError",
    "CorruptChunkError",
    "init_distributed",
]

# ---------------------------------------------------------------------------------------------
# Units and descriptions (hbar = k_B = 1: one energy unit for energies, rates and temperatures)

ENERGY = "energy units, hbar = k_B = 1"
PER_TIME = "per unit time (energy units, hbar = k_B = 1)"
ENERGY_PER_TIME = "energy per unit time (energy units squared, hbar = k_B = 1)"
ENTROPY_RATE = "k_B per unit time"
DIMENSIONLESS = "dimensionless"

PHYSICAL_PARAMETERS = (
    "E_u", "E_l", "omega", "omega_cav", "eps", "g", "gamma_u", "gamma_l", "gamma_b",
    "mu_u", "mu_l", "T_u", "T_l", "T_b",
)  # fmt: skip

PARAMETER_DESCRIPTIONS = {
    "E_u": "upper level energy",
    "E_l": "lower level energy",
    "omega": "field frequency",
    "omega_cav": "cavity frequency",
    "eps": "classical field amplitude",
    "g": "light-matter coupling",
    "gamma_u": "lead rate (u)",
    "gamma_l": "lead rate (l)",
    "gamma_b": "photon bath rate",
    "mu_u": "chemical potential (u)",
    "mu_l": "chemical potential (l)",
    "T_u": "temperature (u)",
    "T_l": "temperature (l)",
    "T_b": "photon bath temperature",
    "n_max": "highest photon number kept",
}

OUTPUT_UNITS = {
    "rate": PER_TIME,
    "particle_current": PER_TIME,
    "energy_current": ENERGY_PER_TIME,
    "power": ENERGY_PER_TIME,
    "entropy_production": ENTROPY_RATE,
    "entropy_flow": ENTROPY_RATE,
    "effective_energy": ENERGY,
    "occupation": DIMENSIONLESS,
    "populations": DIMENSIONLESS,
    "coherence": DIMENSIONLESS,
    "first_law_residual": ENERGY_PER_TIME,
    "effective_energy_residual": ENERGY_PER_TIME,
    "fock_tail": DIMENSIONLESS,
    "diagnostics.ok": DIMENSIONLESS,
    "diagnostics.residual": DIMENSIONLESS,
    "lasing": DIMENSIONLESS,
    "omega": ENERGY,
    "intensity": "photon number |a|^2",
    "threshold": DIMENSIONLESS,
}

OUTPUT_DESCRIPTIONS = {
    "rate": "net transition rate R, u -> l",
    "particle_current": "particle current into the system",
    "energy_current": "energy current into the system",
    "power": "power absorbed from the classical field",
    "entropy_production": "entropy production rate (sum of Sdot_a, Eq. 2)",
    "entropy_flow": "entropy flow from the reservoir",
    "effective_energy": "effective energy",
    "occupation": "reservoir occupation used",
    "populations": "population",
    "coherence": "coherence sigma_ul",
    "first_law_residual": "first-law residual sum_a Udot_a + P",
    "effective_energy_residual": "effective-energy residual",
    "fock_tail": "population of the highest Fock state",
    "diagnostics.ok": "steady state passed the solver's checks",
}


def _lookup(table: Mapping, name: str):
    if name in table:
        return table[name]
    head = name.split(".")[0]
    if head in table:
        return table[head]
    return None


# ---------------------------------------------------------------------------------------------
# Model registry


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model a scan can run.

    - `name`: registry name (stored in the scan definition).
    - `fn`: the callable, called with keyword arguments; parameters on the grid arrive as 1-D
      arrays of the chunk length, fixed values as given.
    - `parameters`: names that broadcast (may be put on the grid). ``None``: any keyword.
    - `rules`: optional ``{name: "real" | "positive" | "nonneg" | "complex"}`` checks applied
      to every grid value before any work (`jaxtls._engine.checks.check_parameters`).
    - `units`: extra ``{output or parameter name: units}`` for the dataset attributes.
    - `check`: which points can be trusted, stored as the boolean variable ``ok`` with every
      scan (inside a scan the solvers cannot raise): a dotted path to a boolean field
      (``"diagnostics.ok"``) or ``check(result, call_kwargs) -> bool array``. Failed points are
      counted and reported with a warning.
    - `check_description`: what `check` means (stored in the ``ok`` variable's attributes).
    - `validate`: ``validate(call_kwargs)`` run on the host on every chunk's concrete
      parameters before anything is computed; raises `ValueError` for invalid combinations.
    """

    name: str
    fn: Callable
    parameters: tuple[str, ...] | None = None
    rules: Mapping[str, str] | None = None
    units: Mapping[str, str] = dataclasses.field(default_factory=dict)
    check: str | Callable | None = None
    check_description: str | None = None
    validate: Callable | None = None


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    fn: Callable,
    parameters: Sequence[str] | None = None,
    *,
    rules: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    check: str | Callable | None = None,
    check_description: str | None = None,
    validate: Callable | None = None,
) -> ModelSpec:
    """Register `fn` under `name` so that ``scan(name, ...)`` and TOML files can use it.

    **Arguments:**

    - `name`: registry name (``model = "name"`` in TOML).
    - `fn`: keyword-callable; every parameter in `parameters` must accept 1-D arrays and
      broadcast (the `jaxtls` convention), and every returned array field must have the
      broadcast shape as its leading dimensions.
    - `parameters`: the names that may be put on the grid; anything else (``n_max``,
      ``occupations``, ...) can only be fixed, and is passed through unchanged (static).
      ``None``: any keyword argument of `fn`.
    - `rules`, `units`, `check`, `check_description`, `validate`: see `ModelSpec`.

    **Returns:** the `ModelSpec`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {fn!r}")
    spec = ModelSpec(
        name=name,
        fn=fn,
        parameters=None if parameters is None else tuple(parameters),
        rules=None if rules is None else dict(rules),
        units=dict(units or {}),
        check=check,
        check_description=check_description or (check if isinstance(check, str) else None),
        validate=validate,
    )
    _REGISTRY[name] = spec
    return spec


def _cavity_ok(default_fock_tol, result, kwargs):
    fock_tol = kwargs.get("fock_tol", default_fock_tol)
    return result.diagnostics.ok & (result.fock_tail <= fock_tol)


def _cavity_validate(module, kwargs):
    check = getattr(module, "_check_photon_energy", None)  # positive photon energy for n_b
    if check is not None:
        check({k: kwargs[k] for k in module.PARAMETERS}, kwargs.get("occupations", "effective"))


def _builtin_spec(name: str, fn: Callable) -> ModelSpec:
    module = importlib.import_module(fn.__module__)
    sig = inspect.signature(fn).parameters
    params = getattr(module, "PARAMETERS", None)
    if params is None:
        params = tuple(p for p in sig if p in PHYSICAL_PARAMETERS)
    check, description, validate = (
        "diagnostics.ok",
        "steady state passed the solver checks (diagnostics.ok)",
        None,
    )
    if name == "cavity":
        tol = sig["fock_tol"].default if "fock_tol" in sig else 1e-8
        check = functools.partial(_cavity_ok, tol)
        description = "diagnostics.ok and fock_tail <= fock_tol (solver checks passed, Fock cutoff large enough)"
        if hasattr(module, "PARAMETERS"):
            validate = functools.partial(_cavity_validate, module)
    return ModelSpec(
        name=name,
        fn=fn,
        parameters=tuple(params),
        rules=getattr(module, "RULES", None),
        check=check,
        check_description=description,
        validate=validate,
    )


def registered_models() -> dict[str, ModelSpec]:
    """The registry: built-in models (``classical``, and ``cavity`` when this jaxtls has it)
    plus everything added with `register_model` (which wins on a clash)."""
    models = {"classical": _builtin_spec("classical", solve_classical), "cavity": _builtin_spec("cavity", solve_cavity)}
    models.update(_REGISTRY)
    return models


def _resolve_model(model) -> ModelSpec:
    models = registered_models()
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        if model in models:
            return models[model]
        if ":" in model:  # "package.module:function"
            mod, _, attr = model.partition(":")
            try:
                fn = getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as err:
                raise ValueError(f"model {model!r}: cannot import {attr!r} from {mod!r} ({err})") from err
            return ModelSpec(name=model, fn=fn)
        raise ValueError(
            f"unknown model {model!r}; registered models: {', '.join(sorted(models))} "
            "(or give 'package.module:function', or register one with jaxtls.register_model)"
        )
    if callable(model):
        for spec in models.values():
            if spec.fn is model:
                return spec
        name = f"{getattr(model, '__module__', '?')}:{getattr(model, '__qualname__', repr(model))}"
        return ModelSpec(name=name, fn=model)
    raise TypeError(f"model must be a registered name or a callable, got {model!r}")


# ---------------------------------------------------------------------------------------------
# Grid


@dataclasses.dataclass(frozen=True)
class _Axis:
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


def _parse_axes(grid: Mapping, zip_: Mapping | None) -> list[_Axis]:
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
        axes.append(_Axis(name, values, spacing))
    names = [a.name for a in axes]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate grid axis names: {names}")
    for a in axes:
        if a.name in seen and seen[a.name] != a.name:
            raise ValueError(f"axis name {a.name!r} is also a parameter of axis {seen[a.name]!r}; rename the axis")
    if not axes:
        raise ValueError("the grid is empty: give at least one parameter to scan")
    return axes


# ---------------------------------------------------------------------------------------------
# Scan definition and its hash


class ScanDefinitionError(ValueError):
    """The store at the given path holds a different scan (or is not a jaxtls scan store, or is
    damaged: `CorruptChunkError`)."""


class CorruptChunkError(ScanDefinitionError):
    """Finished chunks of the store cannot be read or no longer match the checksums recorded when
    they were finished. The message lists them (chunk, grid region, output, file); nothing was
    written. ``recompute_corrupted=True`` recomputes only those chunks."""


def _jsonable(v):
    if isinstance(v, bool | str) or v is None:
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v)
    if isinstance(v, complex | np.complexfloating):
        return [float(v.real), float(v.imag)]
    if isinstance(v, np.ndarray | jax.Array) and np.ndim(v) == 0:
        return _jsonable(np.asarray(v).item())
    return repr(v)


def _describe_values(v: np.ndarray) -> dict:
    d = {"num": int(v.size), "dtype": str(v.dtype), "sha256": hashlib.sha256(v.tobytes()).hexdigest()[:16]}
    if v.size <= 16:
        d["values"] = [_jsonable(x) for x in v]
    else:
        d["first"], d["last"] = _jsonable(v[0]), _jsonable(v[-1])
    return d


def _definition(spec: ModelSpec, axes, fixed: dict, outputs: list[str], check: str | None) -> dict:
    return {
        "format": FORMAT,
        "model": spec.name,
        "axes": [{"name": a.name, "parameters": {p: _describe_values(v) for p, v in a.values.items()}} for a in axes],
        "fixed": {k: _jsonable(v) for k, v in sorted(fixed.items())},
        "outputs": list(outputs),
        "check": check,
    }


def _hash(definition: dict) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def _summary(parameters: dict) -> str:
    def one(d):
        if "values" in d:
            return f"{d['num']} values {d['values']}"
        return f"{d['num']} values {d['first']} .. {d['last']}"

    return "; ".join(f"{p}: {one(d)}" for p, d in parameters.items())


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in ("model", "outputs", "check", "format"):
        if old.get(key) != new.get(key):
            out.append(f"{key}: store has {old.get(key)!r}, this call {new.get(key)!r}")
    old_axes = [(a["name"], a["parameters"]) for a in old.get("axes", [])]
    new_axes = [(a["name"], a["parameters"]) for a in new.get("axes", [])]
    if [n for n, _ in old_axes] != [n for n, _ in new_axes]:
        out.append(f"grid axes: store has {[n for n, _ in old_axes]}, this call {[n for n, _ in new_axes]}")
    else:
        for (name, po), (_, pn) in builtins.zip(old_axes, new_axes, strict=True):
            if po != pn:
                out.append(f"grid values of axis {name!r} differ: store has {_summary(po)}, this call {_summary(pn)}")
    fo, fn = old.get("fixed", {}), new.get("fixed", {})
    for k in sorted(set(fo) | set(fn)):
        if fo.get(k, "<unset>") != fn.get(k, "<unset>"):
            out.append(f"fixed {k}: store has {fo.get(k, '<unset>')!r}, this call {fn.get(k, '<unset>')!r}")
    return out or ["(definition hash differs)"]


# ---------------------------------------------------------------------------------------------
# Chunk layout: every chunk is a block of the grid (one Zarr chunk)


class _Layout:
    """Blocks ``(1, ..., 1, b_k, n_{k+1}, ..., n_{d-1})`` tiling the grid in C order."""

    def __init__(self, shape: tuple[int, ...], block: tuple[int, ...]):
        self.shape, self.block = tuple(shape), tuple(block)
        self.counts = tuple(-(-n // b) for n, b in builtins.zip(shape, block, strict=True))
        self.n_chunks = math.prod(self.counts)
        self.block_points = math.prod(block)

    @staticmethod
    def choose(shape: tuple[int, ...], target: int) -> tuple[int, ...]:
        """Largest block of whole trailing axes plus a balanced slice of one axis, at most
        `target` points (at least one point)."""
        block, inner = [1] * len(shape), 1
        for k in reversed(range(len(shape))):
            if inner * shape[k] <= target:
                block[k] = shape[k]
                inner *= shape[k]
            else:
                b = max(1, target // inner)
                pieces = -(-shape[k] // b)
                block[k] = -(-shape[k] // pieces)  # balanced: avoid a tiny last block
                break
        return tuple(block)

    def region(self, c: int) -> tuple[slice, ...]:
        idx = np.unravel_index(c, self.counts)
        return tuple(
            slice(int(i) * b, min((int(i) + 1) * b, n))
            for i, b, n in builtins.zip(idx, self.block, self.shape, strict=True)
        )

    def indices(self, c: int, padded: int) -> tuple[list[np.ndarray], tuple[int, ...], int]:
        """Per-axis grid indices of the chunk's points (C order), edge-padded to `padded`."""
        region = self.region(c)
        ranges = [np.arange(s.start, s.stop) for s in region]
        mesh = np.meshgrid(*ranges, indexing="ij")
        valid_shape = tuple(len(r) for r in ranges)
        n = math.prod(valid_shape)
        idx = [np.pad(m.ravel(), (0, max(padded - n, 0)), mode="edge") for m in mesh]
        return idx, valid_shape, n


# ---------------------------------------------------------------------------------------------
# Memory estimate for the automatic chunk size

MEMORY_FRACTION = 0.25  # of the free memory of one device (of host RAM / device count on CPU)
MAX_POINTS_PER_DEVICE = 65536
_PROBE = (8, 16)


def _aval_bytes(aval) -> int:
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        return math.prod(shape) * np.dtype(dtype).itemsize
    except TypeError:
        return 0


def _sub_jaxprs(value):
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, tuple | list):
        for v in value:
            yield from _sub_jaxprs(v)


def _jaxpr_bytes(jaxpr) -> int:
    """Sum of the sizes of every intermediate value (an upper bound of the working memory)."""
    total = 0
    for eqn in jaxpr.eqns:
        total += sum(_aval_bytes(v.aval) for v in eqn.outvars)
        for value in eqn.params.values():
            for sub in _sub_jaxprs(value):
                total += _jaxpr_bytes(sub)
    return total


def _available_bytes(devices) -> int:
    try:
        stats = devices[0].memory_stats()
    except Exception:
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 8 * 2**30
    return avail // max(1, len(devices))  # host devices share the RAM


def _auto_chunk_points(bytes_per_point: float, devices) -> int:
    per_device = int(MEMORY_FRACTION * _available_bytes(devices) / max(bytes_per_point, 1.0))
    return max(1, min(per_device, MAX_POINTS_PER_DEVICE)) * len(devices)


# ---------------------------------------------------------------------------------------------
# Devices and processes


def init_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs,
) -> tuple[int, int]:
    """Start `jax.distributed` (once) and return ``(process_index, process_count)``.

    Arguments default to the environment variables ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``; whatever is still missing is auto-detected by
    JAX (SLURM, Open MPI, TPU pods). Must run before any JAX computation in the process.
    Other keyword arguments go to `jax.distributed.initialize`.
    """
    if not jax.distributed.is_initialized():

        def env_int(key):
            v = os.environ.get(key)
            return int(v) if v not in (None, "") else None

        coordinator_address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
        num_processes = num_processes if num_processes is not None else env_int("JAX_NUM_PROCESSES")
        process_id = process_id if process_id is not None else env_int("JAX_PROCESS_ID")
        try:
            jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
        except RuntimeError as err:
            raise RuntimeError(
                f"jax.distributed.initialize failed ({err}). Call jaxtls.init_distributed() (or scan "
                "with distributed=True) before any other JAX computation in the process."
            ) from err
    return jax.process_index(), jax.process_count()


def _want_distributed(distributed) -> bool:
    if distributed is None:
        return os.environ.get("JAXTLS_DISTRIBUTED", "").lower() in ("1", "true", "yes", "on")
    return bool(distributed)


_BARRIER_COUNT = itertools.count()
BARRIER_TIMEOUT_S = float(os.environ.get("JAXTLS_BARRIER_TIMEOUT", 7 * 24 * 3600))


def _barrier(name: str) -> None:
    """Wait for every process (coordination-service barrier: no device collective needed)."""
    if jax.process_count() == 1:
        return
    from jax._src import distributed as _dist

    client = getattr(_dist.global_state, "client", None)
    if client is not None and hasattr(client, "wait_at_barrier"):
        client.wait_at_barrier(name, int(BARRIER_TIMEOUT_S * 1000))
    else:  # pragma: no cover - older/newer JAX without the client API
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _local_devices(devices) -> list:
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, int | np.integer) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices={devices}: this process has {len(local)} local device(s)")
        return local[: int(devices)]
    devices = list(devices)
    if not devices:
        raise ValueError("devices must not be empty")
    return devices


# ---------------------------------------------------------------------------------------------
# Outputs


def _get_path(result, path: str):
    obj = result
    for i, part in enumerate(path.split(".")):
        if isinstance(obj, Mapping):
            if part not in obj:
                raise KeyError(part)
            obj = obj[part]
        elif hasattr(obj, part):
            obj = getattr(obj, part)
        else:
            raise KeyError(".".join(path.split(".")[: i + 1]))
    return obj


def _available_fields(result, prefix="") -> list[str]:
    out = []
    if isinstance(result, Mapping):
        items = result.items()
    elif dataclasses.is_dataclass(result):
        items = ((f.name, getattr(result, f.name)) for f in dataclasses.fields(result))
    else:
        return [prefix[:-1]] if prefix else []
    for k, v in items:
        if isinstance(v, Mapping) or dataclasses.is_dataclass(v):
            out += _available_fields(v, f"{prefix}{k}.")
        elif hasattr(v, "shape"):
            out.append(f"{prefix}{k}")
    return out


def _extract(result, outputs: list[str], n: int) -> dict:
    import jax.numpy as jnp

    out = {}
    for name in outputs:
        try:
            v = _get_path(result, name)
        except KeyError as err:
            raise ValueError(
                f"output {name!r} not in the model result (missing {err.args[0]!r}); available: "
                f"{', '.join(_available_fields(result))}"
            ) from None
        if v is None:
            raise ValueError(f"output {name!r} is None for this model")
        v = jnp.asarray(v)
        if v.ndim == 0:
            v = jnp.broadcast_to(v, (n,))
        if v.shape[0] != n:
            raise ValueError(f"output {name!r} has shape {v.shape}; expected the batch ({n},) as its leading dimension")
        out[name] = v
    return out


# ---------------------------------------------------------------------------------------------
# The scan


CHECK_VARIABLE = "ok"


def _check_result(check, result, kwargs):
    try:
        return _get_path(result, check) if isinstance(check, str) else check(result, kwargs)
    except (KeyError, AttributeError, TypeError):
        return None  # the model's result has no such check: nothing stored


@dataclasses.dataclass(frozen=True)
class ChunkInfo:
    """Passed to ``scan(..., on_chunk=)`` after each chunk is written and marked finished."""

    index: int  # chunk index (C order over the chunk grid)
    n_points: int  # grid points in the chunk
    padded_points: int  # points actually evaluated (multiple of the device count)
    seconds: float  # from dispatch to marked finished
    process_index: int
    shards: tuple  # ((device id, points), ...) of the chunk's output
    traces: int  # times the chunk function has been traced (compiled) so far in this scan
    failed: int  # points that failed the model's check output


def _normalize_fixed(spec: ModelSpec, fixed: Mapping | None) -> dict:
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


def _check_names(spec: ModelSpec, axes, fixed: dict) -> None:
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


def _check_values(spec: ModelSpec, axes, fixed: dict) -> None:
    if not spec.rules:
        return
    from .._engine.checks import check_parameters

    values = {p: v for a in axes for p, v in a.values.items()}
    values.update({k: v for k, v in fixed.items() if k in spec.rules})
    check_parameters(values, spec.rules)


def _template(spec, axes, fixed, outputs, out_avals, layout, definition, digest) -> Template:
    coords = {}
    dims = tuple(a.name for a in axes)
    for a in axes:
        if a.zipped:
            members = ", ".join(a.values)
            coords[a.name] = (
                (a.name,),
                np.arange(a.size),
                {"long_name": f"index along zipped axis ({members})"},
            )
        for p, v in a.values.items():
            attrs = {}
            units = spec.units.get(p) or (ENERGY if p in PHYSICAL_PARAMETERS else None)
            if units:
                attrs["units"] = units
            if p in PARAMETER_DESCRIPTIONS:
                attrs["long_name"] = PARAMETER_DESCRIPTIONS[p]
            if a.spacing.get(p):
                attrs["spacing"] = a.spacing[p]
            coords[p] = ((a.name,), v, attrs)
    for k, v in fixed.items():
        if isinstance(v, bool) or not isinstance(v, int | float | complex | np.number):
            continue
        attrs = {"fixed": 1}
        units = spec.units.get(k) or (ENERGY if k in PHYSICAL_PARAMETERS else None)
        if units:
            attrs["units"] = units
        elif k == "n_max":
            attrs["units"] = DIMENSIONLESS
        if k in PARAMETER_DESCRIPTIONS:
            attrs["long_name"] = PARAMETER_DESCRIPTIONS[k]
        coords[k] = ((), np.asarray(v), attrs)
    data_vars = {}
    for name in outputs:
        shape, dtype = out_avals[name]
        extra = tuple(shape[1:])
        extra_dims = tuple(f"{name}_dim_{i}" for i in range(len(extra)))
        attrs = {}
        units = spec.units.get(name) or _lookup(OUTPUT_UNITS, name)
        if units:
            attrs["units"] = units
        desc = _lookup(OUTPUT_DESCRIPTIONS, name)
        if name == CHECK_VARIABLE and not desc:
            attrs["units"] = DIMENSIONLESS
            desc = spec.check_description or "point passed the model's checks"
        if desc and "." in name and name not in OUTPUT_DESCRIPTIONS:
            desc += f" ({name.split('.', 1)[1]})"  # e.g. "particle current into the system (u)"
        if desc:
            attrs["long_name"] = desc
        data_vars[name] = VarSpec(
            dims=dims + extra_dims,
            shape=layout.shape + extra,
            chunks=layout.block + extra,
            dtype=np.dtype(dtype),
            attrs=attrs,
        )
    attrs = {
        "title": f"jaxtls parameter scan of model {spec.name!r}",
        "model": spec.name,
        "units_convention": "hbar = k_B = 1: one energy unit for energies, frequencies, rates, temperatures",
        "fixed": json.dumps(definition["fixed"], sort_keys=True),
        "scan_hash": digest,
        "scan_definition": json.dumps(definition, sort_keys=True),
        "scan_format": FORMAT,
        "jaxtls_version": VERSION,
        "jax_version": jax.__version__,
        "chunk_shape": list(layout.block),
        "n_chunks": layout.n_chunks,
        "complete": False,
    }
    return Template(coords=coords, data_vars=data_vars, attrs=attrs, n_chunks=layout.n_chunks)


def _validate_store(path: Path, digest: str, definition: dict, block: tuple | None, spec_name: str) -> dict:
    """Check that the store at `path` holds this scan; return its attributes."""
    import zarr

    try:
        attrs = dict(zarr.open_group(path, mode="r", zarr_format=3).attrs)
    except Exception as err:
        raise ScanDefinitionError(
            f"cannot read the metadata of the store {str(path)!r} ({type(err).__name__}: {err}); it is "
            "damaged or not a Zarr v3 store. Delete it (overwrite=True) to start over, or use another path"
        ) from err
    if attrs.get("scan_format") != FORMAT or "scan_hash" not in attrs:
        raise ScanDefinitionError(
            f"{str(path)!r} exists but is not a jaxtls scan store; choose another store path (nothing was changed)"
        )
    if attrs["scan_hash"] != digest:
        old = json.loads(attrs.get("scan_definition", "{}"))
        diffs = "\n  - ".join(_differences(old, definition))
        raise ScanDefinitionError(
            f"the store {str(path)!r} holds a different scan (of model {old.get('model')!r}); refusing to "
            f"resume into it. Differences:\n  - {diffs}\nUse a new store path, or delete the store (Python: "
            "overwrite=True) to start over."
        )
    stored_block = tuple(attrs["chunk_shape"])
    if block is not None and tuple(block) != stored_block:
        raise ScanDefinitionError(
            f"the store {str(path)!r} was written with chunks of shape {stored_block}, but chunk_size "
            f"now gives {tuple(block)}; pass chunk_size=None (use the store's layout) or the original value"
        )
    if attrs.get("jaxtls_version") != VERSION or attrs.get("jax_version") != jax.__version__:
        warnings.warn(
            f"resuming {str(path)!r} written by jaxtls {attrs.get('jaxtls_version')} / JAX "
            f"{attrs.get('jax_version')} with jaxtls {VERSION} / JAX "
            f"{jax.__version__}",
            stacklevel=3,
        )
    return attrs


def scan(
    model,
    grid: Mapping,
    fixed: Mapping | None = None,
    outputs: Sequence[str] | str = ("rate",),
    chunk_size: int | None = None,
    store=None,
    zip: Mapping | None = None,  # noqa: A002  (the public keyword the issue asks for)
    progress: bool = True,
    devices=None,
    *,
    distributed=None,
    overwrite: bool = False,
    check: bool = True,
    on_chunk: Callable[[ChunkInfo], None] | None = None,
    verify: bool = True,
    recompute_corrupted: bool | None = None,
):
    """Evaluate a model on a parameter grid, chunk by chunk, optionally streaming to a Zarr store.

    **Arguments:**

    - `model`: a registered model name (``"classical"``, ``"cavity"``, see `registered_models`),
      ``"package.module:function"``, or any callable following the jaxtls convention (keyword
      parameters that broadcast; array fields of the result have the broadcast shape).
    - `grid`: ``{name: values}``; the scan is the cartesian product in this order (the
      dataset's dimensions, outer to inner). Values: a 1-D list/array, or a range table
      ``{"start": a, "stop": b, "num": n}`` (linspace; add ``"log": True`` for geomspace between
      the values a and b). A value that is itself a table of parameters, e.g.
      ``{"line": {"mu_u": [...], "omega": [...]}}``, is a *zipped* axis: its parameters vary
      together along one dimension named ``line``.
    - `fixed`: every other argument: scalar physical parameters (recorded as scalar coordinates)
      and static arguments (``n_max``, ``occupations``, ``tol``, ...) passed through unchanged.
    - `outputs`: result fields to keep; dotted paths reach into dicts and sub-modules
      (``"particle_current.u"``, ``"diagnostics.residual"``).
    - `chunk_size`: at most this many grid points per chunk. Default: automatic, from the traced
      program's intermediate values per point and the free memory (docs/scans.md). A chunk is a
      block of the grid (whole trailing axes and a slice of one axis), padded to a multiple of
      the device count; the padded size is the same for every chunk, so one compilation.
    - `store`: path of a Zarr store to stream results to. Rerunning the same call resumes: only
      chunks not marked finished are computed; a finished scan is not recomputed. A store holding
      a different scan is refused (`ScanDefinitionError`). ``None``: keep results in memory.
      The store path is checked to be writable before anything is computed (`OSError` naming
      the path otherwise).
    - `zip`: zipped axes appended after the grid's: ``{"line": {"mu_u": [...], "omega": [...]}}``.
    - `progress`: show a tqdm bar (points per second, ETA).
    - `devices`: local devices to shard each chunk over: ``None`` (all), a count, or a list.
    - `distributed`: ``True`` (or a dict of `init_distributed` arguments) to start
      `jax.distributed` and split the chunks between processes (chunk ``c`` goes to process
      ``c % process_count``); default: the ``JAXTLS_DISTRIBUTED`` environment variable.
    - `overwrite`: delete an existing store at `store` and start over.
    - `check`: also store the model's check output (``diagnostics.ok`` for the built-in models)
      and warn if any point failed it (inside a scan the solvers cannot raise).
    - `on_chunk`: called with a `ChunkInfo` after each chunk is written.
    - `verify`: before resuming (or returning a finished store), read back every finished chunk
      and compare it with the checksum recorded when it was finished. A chunk that cannot be
      read (damaged file) or does not match raises `CorruptChunkError` naming the chunk, its grid
      region, the output and the file; nothing is written. ``False`` skips the check (it costs
      about one read of the store).
    - `recompute_corrupted`: instead of raising, recompute only the damaged chunks (with a
      warning listing them); every intact finished chunk is kept. Default: the
      ``JAXTLS_RECOMPUTE_CORRUPTED`` environment variable (for ``jaxtls scan``).

    **Returns:** an `xarray.Dataset`: one variable per output with the grid's dimensions,
    coordinates for the grid (and scalar ones for numeric fixed parameters), ``units`` attributes
    (hbar = k_B = 1). With a store, the dataset is opened lazily from it (``.load()`` to read).
    """
    if _want_distributed(distributed):
        init_distributed(**(distributed if isinstance(distributed, Mapping) else {}))
    spec = _resolve_model(model)
    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    if not outputs or len(set(outputs)) != len(outputs):
        raise ValueError(f"outputs must be a non-empty list of distinct field names, got {outputs}")
    axes = _parse_axes(grid, zip)
    fixed = _normalize_fixed(spec, fixed)
    _check_names(spec, axes, fixed)
    _check_values(spec, axes, fixed)
    check_name = CHECK_VARIABLE if (check and spec.check is not None) else None
    if check_name is not None and check_name in outputs:
        raise ValueError(f"{check_name!r} is the scan's check variable; drop it from outputs or pass check=False")
    definition = _definition(spec, axes, fixed, outputs, spec.check_description if check_name else None)
    digest = _hash(definition)
    shape = tuple(a.size for a in axes)
    total = math.prod(shape)
    devs = _local_devices(devices)
    pid, nproc = jax.process_index(), jax.process_count()
    if chunk_size is not None and (isinstance(chunk_size, bool) or int(chunk_size) < 1):
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    block = _Layout.choose(shape, int(chunk_size)) if chunk_size is not None else None
    stage = next(_BARRIER_COUNT)
    barrier_prefix = f"jaxtls-scan-{digest[:16]}-{stage}"

    if store is None and nproc > 1:
        raise ValueError("a multi-process scan needs store= (the processes merge their chunks there)")
    if recompute_corrupted is None:
        recompute_corrupted = os.environ.get("JAXTLS_RECOMPUTE_CORRUPTED", "").lower() in ("1", "true", "yes", "on")
    path = None if store is None else Path(store).expanduser()

    # -- trace the model once (abstractly) for output shapes and the memory estimate ----------
    import jax.numpy as jnp

    names_dtypes = {p: v.dtype for a in axes for p, v in a.values.items()}

    def call(params):
        res = spec.fn(**params, **fixed)
        n = next(iter(params.values())).shape[0]
        outs = _extract(res, outputs, n)
        if check_name is not None:
            ok = _check_result(spec.check, res, {**params, **fixed})
            if ok is not None:
                outs[check_name] = jnp.broadcast_to(jnp.asarray(ok, bool), (n,))
        return outs

    probe_cache = {}

    def probe():
        if not probe_cache:
            sizes, avals = [], None
            for b in _PROBE:
                args = {p: jax.ShapeDtypeStruct((b,), dt) for p, dt in names_dtypes.items()}
                jaxpr, out = jax.make_jaxpr(call, return_shape=True)(args)
                sizes.append(_jaxpr_bytes(jaxpr.jaxpr))
                avals = {k: (v.shape, v.dtype) for k, v in out.items()}
            probe_cache["bytes_per_point"] = max((sizes[1] - sizes[0]) / (_PROBE[1] - _PROBE[0]), 8.0)
            probe_cache["avals"] = avals
        return probe_cache

    def new_template(block_):
        layout_ = _Layout(shape, block_)
        avals = probe()["avals"]
        names = [k for k in [*outputs, check_name] if k in avals]
        return _template(spec, axes, fixed, names, avals, layout_, definition, digest)

    def auto_block():
        if block is not None:
            return block
        target = _auto_chunk_points(probe()["bytes_per_point"], devs)
        return _Layout.choose(shape, target)

    # -- open, validate or create the sink -------------------------------------------------
    if path is None:
        blk = auto_block()
        sink = MemorySink(new_template(blk))
    else:
        if overwrite and pid == 0 and path.exists():
            import shutil

            shutil.rmtree(path)
        if overwrite:
            _barrier(f"{barrier_prefix}-overwrite")
        exists = is_store(path)
        if not exists and path.exists() and not (path.is_dir() and not any(path.iterdir())):
            raise ScanDefinitionError(f"{str(path)!r} exists and is not a Zarr store; choose another store path")
        if exists:
            attrs = _validate_store(path, digest, definition, block, spec.name)
            blk = tuple(attrs["chunk_shape"])
        elif pid == 0:
            check_writable(path)  # a clear error before tracing anything
            blk = auto_block()
            ZarrSink.create(path, new_template(blk))
        _barrier(f"{barrier_prefix}-created")
        if not exists:
            attrs = _validate_store(path, digest, definition, block, spec.name)
            blk = tuple(attrs["chunk_shape"])
        sink = ZarrSink.open(path)

    layout = _Layout(shape, blk)
    if isinstance(sink, MemorySink):
        stored_vars = list(sink.template.data_vars)
    else:
        in_store = set(sink.group.array_keys())
        stored_vars = [k for k in [*outputs, check_name] if k in in_store]
    damaged: dict[int, list[str]] = {}
    if path is not None and sink.attrs.get("complete") and not verify:
        todo = []
    else:
        done = sink.done_mask()
        mine = [c for c in range(layout.n_chunks) if c % nproc == pid]
        if path is not None:  # finished chunks that cannot be trusted: refuse, or recompute them
            for c in sink.unreadable_done:
                if c % nproc == pid:
                    damaged[c] = [f"its finished marker ({SCAN_GROUP}/done) cannot be read"]
            if verify:
                found = sink.damaged_chunks([c for c in mine if done[c]], layout.region, stored_vars)
                for c, problems in found.items():
                    damaged.setdefault(c, []).extend(problems)
            if damaged and not recompute_corrupted:
                raise CorruptChunkError(
                    f"the scan store {str(path)!r} has {len(damaged)} damaged finished chunk(s); refusing "
                    f"to resume into it (nothing was written):\n  - {_damage_report(damaged, axes, layout)}\n"
                    "Every other finished chunk is intact and is kept. To recompute only the damaged "
                    "chunks, rerun with recompute_corrupted=True (jaxtls scan --recompute-corrupted); "
                    "to start over, delete the store (overwrite=True, jaxtls scan --overwrite)."
                )
        todo = [c for c in mine if not done[c] or c in damaged]
    if todo and path is not None:  # before any work: every directory a chunk is written to
        members = [*stored_vars, *(f"{SCAN_GROUP}/{m}" for m in ("done", "failed", DIGEST))]
        check_writable(path, members)
    if damaged:
        sink.reset(sorted(damaged))
        warnings.warn(
            f"recomputing {len(damaged)} damaged chunk(s) of the scan store {str(path)!r} (every other "
            f"finished chunk is kept):\n  - {_damage_report(damaged, axes, layout)}",
            stacklevel=2,
        )

    values = {p: (k, v) for k, a in enumerate(axes) for p, v in a.values.items()}
    if todo and spec.validate is not None:  # host-side checks of parameter combinations, before any work
        for c in todo:
            idx, _, _ = layout.indices(c, 0)
            spec.validate({**{p: v[idx[k]] for p, (k, v) in values.items()}, **fixed})

    if todo:
        ndev = len(devs)
        padded = -(-layout.block_points // ndev) * ndev
        mesh = jax.sharding.Mesh(np.array(devs), ("batch",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
        traces = [0]

        def _jaxtls_scan_chunk(params):
            traces[0] += 1
            outs = call(params)
            return {k: outs[k] for k in stored_vars}

        jitted = jax.jit(_jaxtls_scan_chunk, in_shardings=sharding, out_shardings=sharding)

        def points(c):
            return math.prod(s.stop - s.start for s in layout.region(c))

        mine = total if nproc == 1 else sum(points(c) for c in range(pid, layout.n_chunks, nproc))
        bar = _progress_bar(progress, mine, mine - sum(points(c) for c in todo), spec.name, pid, nproc)

        def finish(item):
            c, out, n, valid_shape, t0 = item
            first = out[stored_vars[0]]
            shards = tuple((int(s.device.id), int(s.data.shape[0])) for s in first.addressable_shards)
            host = jax.device_get(out)
            data = {k: np.asarray(v)[:n].reshape(valid_shape + v.shape[1:]) for k, v in host.items()}
            failed = int(n - np.count_nonzero(data[check_name])) if check_name in data else 0
            sink.write(c, layout.region(c), data)
            sink.mark_done(c, failed)
            bar.update(n)
            if on_chunk is not None:
                on_chunk(ChunkInfo(c, n, padded, time.perf_counter() - t0, pid, shards, traces[0], failed))

        pending = None
        try:
            for c in todo:
                t0 = time.perf_counter()
                idx, valid_shape, n = layout.indices(c, padded)
                params = {p: v[idx[k]] for p, (k, v) in values.items()}
                out = jitted(jax.device_put(params, sharding))  # asynchronous: overlaps the write below
                if pending is not None:
                    finish(pending)
                pending = (c, out, n, valid_shape, t0)
            if pending is not None:
                finish(pending)
        finally:
            bar.close()

    _barrier(f"{barrier_prefix}-finished")
    if pid == 0:
        sink.finalize()
        if check_name is not None:
            failed = sink.failed_total()
            if failed:
                warnings.warn(
                    f"{failed} of {total} scan points failed the model's checks ({check_name} is False "
                    f"there); inspect ds[{check_name!r}]",
                    stacklevel=2,
                )
    _barrier(f"{barrier_prefix}-final")
    return sink.dataset()


def _damage_report(damaged: dict, axes, layout: _Layout, limit: int = 10) -> str:
    """One line per damaged chunk: index, grid region, problems (at most `limit` lines)."""
    lines = []
    for c in sorted(damaged)[:limit]:
        pairs = builtins.zip(axes, layout.region(c), strict=True)
        region = ", ".join(f"{a.name}[{s.start}:{s.stop}]" for a, s in pairs)
        lines.append(f"chunk {c} ({region}): " + "; ".join(damaged[c]))
    if len(damaged) > limit:
        lines.append(f"... and {len(damaged) - limit} more chunk(s)")
    return "\n  - ".join(lines)


def _progress_bar(enabled, total, initial, name, pid, nproc):
    from tqdm.auto import tqdm

    desc = f"scan {name}" + (f" [process {pid}/{nproc}]" if nproc > 1 else "")
    return tqdm(
        total=total,
        initial=initial,
        unit="pt",
        unit_scale=True,
        desc=desc,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


# ---------------------------------------------------------------------------------------------
# TOML

_TOML_KEYS = {"model", "store", "outputs", "fixed", "grid", "zip", "chunk_size", "devices", "distributed"}


def load_scan_config(path) -> dict:
    """Read a scan TOML file (format in CONTRACT.md / docs/scans.md) into `scan` keyword
    arguments. A relative ``store`` is resolved against the TOML file's directory, so the same
    file always resumes the same store whatever the working directory."""
    path = Path(path)
    with open(path, "rb") as f:
        try:
            cfg = tomllib.load(f)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: invalid TOML ({err})") from err
    unknown = sorted(set(cfg) - _TOML_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_TOML_KEYS)}")
    for key in ("model", "grid"):
        if key not in cfg:
            raise ValueError(f"{path}: missing required key {key!r}")
    kwargs = {
        "model": cfg["model"],
        "grid": cfg["grid"],
        "fixed": cfg.get("fixed", {}),
        "outputs": cfg.get("outputs", ["rate"]),
        "zip": cfg.get("zip"),
        "chunk_size": cfg.get("chunk_size"),
        "devices": cfg.get("devices"),
        "distributed": cfg.get("distributed"),
        "store": None,
    }
    if cfg.get("store"):
        store = Path(cfg["store"]).expanduser()
        kwargs["store"] = store if store.is_absolute() else path.parent / store
    return kwargs


def scan_from_toml(path, progress: bool = True, **overrides):
    """Run (or resume) the scan a TOML file describes; returns the `xarray.Dataset`.

    ``jaxtls scan FILE.toml`` calls this. Keyword `overrides` replace `scan` arguments (e.g.
    ``overwrite=True``, ``devices=1``).
    """
    kwargs = load_scan_config(path)
    kwargs.update(overrides)
    return scan(progress=progress, **kwargs)
