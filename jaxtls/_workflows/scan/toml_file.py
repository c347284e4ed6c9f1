"""Scans described by TOML files (format in CONTRACT.md and docs/scans.md): ``jaxtls scan FILE``.

A scan file names its model by a registered name. ``model = "package.module:function"`` would
import and run any function (``subprocess:run``...), so it is refused with a
`ScanDefinitionError` before anything is imported unless the caller opts in
(``allow_import=True``, ``jaxtls scan --allow-import FILE``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from .definition import ScanDefinitionError
from .driver import refuse_import, scan

__all__ = ["load_scan_config", "scan_from_toml"]

_TOML_KEYS = {"model", "store", "outputs", "fixed", "grid", "zip", "chunk_size", "devices", "distributed"}


def _read(path: Path) -> dict:
    """The TOML file as a dict; every way it can fail to be one is a one-line `ScanDefinitionError`
    naming the file (an `OSError` for a file that cannot be read at all)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise IsADirectoryError(21, f"{path}: is a directory, not a scan file (TOML)") from None
    except OSError as err:
        raise type(err)(err.errno, f"cannot read the scan file {str(path)!r}: {err.strerror or err}") from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ScanDefinitionError(
            f"{path}: not a TOML file (not UTF-8 text: {err.reason} at byte {err.start})"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ScanDefinitionError(f"{path}: invalid TOML ({' '.join(str(err).split())})") from None
    except RecursionError:
        raise ScanDefinitionError(f"{path}: invalid TOML (nested too deeply to be read)") from None


def _check_types(path: Path, cfg: dict) -> None:
    """Each key holds the kind of TOML value it must (tables, strings, integers, booleans)."""

    def bad(key, want):
        raise ScanDefinitionError(f"{path}: {key} must be {want}, got {cfg[key]!r}")

    if not isinstance(cfg["model"], str) or not cfg["model"]:
        bad("model", "a string (a registered model name)")
    if not isinstance(cfg["grid"], dict):
        bad("grid", "a table ([grid] with one entry per scanned parameter)")
    for key in ("fixed", "zip"):
        if key in cfg and not isinstance(cfg[key], dict):
            bad(key, f"a table ([{key}])")
    if "store" in cfg and (not isinstance(cfg["store"], str) or not cfg["store"]):
        bad("store", "a path (a non-empty string)")
    if "outputs" in cfg:
        outputs = cfg["outputs"]
        if isinstance(outputs, str):
            outputs = [outputs]
        if not isinstance(outputs, list) or not all(isinstance(o, str) and o for o in outputs):
            bad("outputs", "a list of result field names (strings)")
        if not outputs:
            bad("outputs", "a non-empty list of result field names")
    for key, want in (("chunk_size", "a positive integer"), ("devices", "a device count (a positive integer)")):
        v = cfg.get(key)
        if key in cfg and (isinstance(v, bool) or not isinstance(v, int | float) or v < 1 or not float(v).is_integer()):
            bad(key, want)
    if "distributed" in cfg and not isinstance(cfg["distributed"], bool | dict):
        bad("distributed", "true, false or a table of init_distributed arguments")


def load_scan_config(path, *, allow_import: bool = False) -> dict:
    """Read a scan TOML file into `scan` keyword arguments.

    A relative ``store`` is resolved against the TOML file's directory, so the same file always
    resumes the same store whatever the working directory. `allow_import`: accept
    ``model = "package.module:function"`` (default: only registered model names; anything else
    with a ``:`` raises `ScanDefinitionError`, nothing imported).

    **Raises:** `ScanDefinitionError` (a `ValueError`, one line, naming the file) for a file that
    is not valid TOML (also not UTF-8, or nested too deeply), an unknown or missing key, or a key
    holding the wrong kind of value; `OSError` for a file that cannot be read. The values
    themselves are checked by `scan` (`grid`, `fixed`, sizes) before any work.
    """
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ScanDefinitionError(f"the scan file must be a path, got {path!r}")
    path = Path(path)
    cfg = _read(path)
    unknown = sorted(set(cfg) - _TOML_KEYS)
    if unknown:
        raise ScanDefinitionError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_TOML_KEYS)}")
    for key in ("model", "grid"):
        if key not in cfg:
            raise ScanDefinitionError(f"{path}: missing required key {key!r}")
    _check_types(path, cfg)
    refuse_import(cfg["model"], allow_import)
    kwargs = {
        "model": cfg["model"],
        "grid": cfg["grid"],
        "fixed": cfg.get("fixed", {}),
        "outputs": cfg.get("outputs", ["rate"]),
        "zip": cfg.get("zip"),
        "chunk_size": cfg.get("chunk_size"),
        "devices": None if cfg.get("devices") is None else int(cfg["devices"]),
        "distributed": cfg.get("distributed"),
        "store": None,
    }
    if cfg.get("store"):
        store = Path(cfg["store"]).expanduser()
        kwargs["store"] = store if store.is_absolute() else path.parent / store
    return kwargs


def scan_from_toml(path, progress: bool = True, *, allow_import: bool = False, **overrides):
    """Run (or resume) the scan a TOML file describes; returns the `xarray.Dataset`.

    ``jaxtls scan FILE.toml`` calls this. Keyword `overrides` replace `scan` arguments (e.g.
    ``overwrite=True``, ``devices=1``). `allow_import`: see `load_scan_config`.
    """
    kwargs = load_scan_config(path, allow_import=allow_import)
    kwargs.update(overrides)
    return scan(progress=progress, allow_import=allow_import, **kwargs)
