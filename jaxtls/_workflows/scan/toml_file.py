"""Scans described by TOML files (format in CONTRACT.md and docs/scans.md): ``jaxtls scan FILE``.

A scan file names its model by a registered name. ``model = "package.module:function"`` would
import and run any function (``subprocess:run``...), so it is refused with a
`ScanDefinitionError` before anything is imported unless the caller opts in
(``allow_import=True``, ``jaxtls scan --allow-import FILE``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .driver import refuse_import, scan

__all__ = ["load_scan_config", "scan_from_toml"]

_TOML_KEYS = {"model", "store", "outputs", "fixed", "grid", "zip", "chunk_size", "devices", "distributed"}


def load_scan_config(path, *, allow_import: bool = False) -> dict:
    """Read a scan TOML file into `scan` keyword arguments.

    A relative ``store`` is resolved against the TOML file's directory, so the same file always
    resumes the same store whatever the working directory. `allow_import`: accept
    ``model = "package.module:function"`` (default: only registered model names; anything else
    with a ``:`` raises `ScanDefinitionError`, nothing imported).
    """
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
    if not isinstance(cfg["model"], str):
        raise ValueError(f"{path}: model must be a string (a registered model name), got {cfg['model']!r}")
    refuse_import(cfg["model"], allow_import)
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


def scan_from_toml(path, progress: bool = True, *, allow_import: bool = False, **overrides):
    """Run (or resume) the scan a TOML file describes; returns the `xarray.Dataset`.

    ``jaxtls scan FILE.toml`` calls this. Keyword `overrides` replace `scan` arguments (e.g.
    ``overwrite=True``, ``devices=1``). `allow_import`: see `load_scan_config`.
    """
    kwargs = load_scan_config(path, allow_import=allow_import)
    kwargs.update(overrides)
    return scan(progress=progress, allow_import=allow_import, **kwargs)
