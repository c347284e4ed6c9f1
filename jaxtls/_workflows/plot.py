"""Figures from scan stores: 1-D curves and 2-D maps (matplotlib, Agg canvas: no display needed).

``jaxtls plot STORE --output rate --out fig.png`` calls `plot_store`. Works on unfinished stores
(points not computed yet are NaN and show as gaps), so a long scan can be looked at while it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["plot_store", "parse_sel"]

MAX_CURVES = 12  # a 2-D output with one short dimension is drawn as curves, one per value


class Nearest(float):
    """A selection value meaning "the grid value nearest to this" (``name~value``)."""


def parse_sel(sel) -> dict:
    """``None``, a mapping, or strings ``"name=value"`` / ``"name~value"`` (as given on the
    command line) -> dict.

    ``name=value`` selects that grid value exactly (a number must be on the grid, to a relative
    1e-9 of the grid's spacing); ``name~value`` the nearest grid value. Values are parsed as
    numbers when they look like numbers.
    """
    if sel is None:
        return {}
    if isinstance(sel, Mapping):
        return dict(sel)
    if isinstance(sel, str):
        sel = [s for s in sel.replace(",", " ").split() if s]
    out = {}
    for item in sel:
        if "=" not in item and "~" not in item:
            raise ValueError(f"selection {item!r} must look like name=value (exact) or name~value (nearest)")
        near = "~" in item and ("=" not in item or item.index("~") < item.index("="))
        k, v = item.split("~" if near else "=", 1)
        try:
            out[k.strip()] = Nearest(v) if near else float(v)
        except ValueError:
            if near:
                raise ValueError(f"selection {item!r}: name~value needs a number") from None
            out[k.strip()] = v.strip()
    return out


_SHORT_UNITS = {  # long unit strings of the store -> axis-label units (hbar = k_B = 1 in the title)
    "energy units, hbar = k_B = 1": "energy",
    "per unit time (energy units, hbar = k_B = 1)": "1/time",
    "energy per unit time (energy units squared, hbar = k_B = 1)": "energy/time",
    "k_B per unit time": "k_B/time",
    "dimensionless": None,
}


def _label(var) -> str:
    units = var.attrs.get("units")
    units = _SHORT_UNITS.get(units, units)
    return f"{var.name} [{units}]" if units else str(var.name)


def _index(key, values, value) -> int:
    """Index of `value` in the 1-D grid `values`: exact (to 1e-9 of the spacing) unless `value`
    is `Nearest`; a value off the grid raises, naming its neighbours."""
    values = np.asarray(values, float)
    i = int(np.nanargmin(np.abs(values - float(value))))
    if isinstance(value, Nearest):
        return i
    spacing = np.nanmin(np.abs(np.diff(np.unique(values)))) if values.size > 1 else max(abs(values[0]), 1.0)
    if abs(values[i] - float(value)) <= 1e-9 * spacing:
        return i
    lo = values[values < value].max(initial=-np.inf)
    hi = values[values > value].min(initial=np.inf)
    near = " and ".join(f"{v:.6g}" for v in (lo, hi) if np.isfinite(v))
    raise ValueError(
        f"{key} = {float(value):.6g} is not on the grid (nearest values: {near}); select one of them, or "
        f"write {key}~{float(value):.6g} for the nearest grid value"
    )


def _select(da, sel: dict) -> tuple:
    """`da` reduced by `sel`; returns ``(da, actual)`` with the grid values actually selected."""
    actual = {}
    for key, value in sel.items():
        if key in da.dims:
            coord = da[key]
            if np.issubdtype(coord.dtype, np.number) and not isinstance(value, str):
                i = _index(key, coord.values, value)
                actual[key] = float(coord.values[i])
                da = da.isel({key: i})
            else:
                try:
                    da = da.sel({key: value})
                except KeyError:
                    raise ValueError(f"{key} = {value!r} is not on the grid ({list(coord.values)})") from None
                actual[key] = value
        elif key in da.coords and da[key].ndim == 1:  # a parameter of a zipped axis
            dim = da[key].dims[0]
            i = _index(key, da[key].values, float(value))
            actual[key] = float(da[key].values[i])
            da = da.isel({dim: i})
        else:
            raise ValueError(f"cannot select {key!r}: the output's dimensions are {list(da.dims)}")
    return da, actual


def _axis_coord(da, name):
    """Coordinate to draw along: a dimension or a 1-D (zipped-axis) coordinate; -> (dim, coord)."""
    if name in da.dims:
        return name, da[name]
    if name in da.coords and da[name].ndim == 1:
        return da[name].dims[0], da[name]
    raise ValueError(f"{name!r} is not a dimension or 1-D coordinate of the output (dims {list(da.dims)})")


def _scale(ax_set, coord):
    values = np.asarray(coord.values, float)
    if coord.attrs.get("spacing") == "log" and np.all(values > 0):
        ax_set("log")


_FORMATS = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")
MAX_DPI = 2400  # a 6.4 x 4.6 inch figure at 2400 dpi is 15360 x 11040 pixels (0.7 GB of RGBA)


def _check_arguments(store_path, output, out_file, x, y, sel, dpi):
    """Types and ranges of `plot_store`'s arguments, before the store is opened (`ValueError`
    naming the argument); returns `out_file` as a `Path` (or None)."""
    import math
    import os

    if not isinstance(store_path, str | os.PathLike):
        raise ValueError(f"store_path must be a path, got {store_path!r}")
    if not isinstance(output, str) or not output:
        raise ValueError(f"output must be the name of a data variable of the store, got {output!r}")
    for name, dim in (("x", x), ("y", y)):
        if dim is not None and not isinstance(dim, str):
            raise ValueError(f"{name} must be a dimension name or None, got {dim!r}")
    if sel is not None and not isinstance(sel, Mapping | str | list | tuple):
        raise ValueError(f"sel must be a dict, 'name=value' strings or None, got {sel!r}")
    if isinstance(sel, list | tuple) and not all(isinstance(item, str) for item in sel):
        raise ValueError(f"sel must be a list of 'name=value' / 'name~value' strings, got {sel!r}")
    ok = isinstance(dpi, int | float | np.integer | np.floating) and not isinstance(dpi, bool)
    if not ok or not math.isfinite(dpi) or not 0 < dpi <= MAX_DPI:
        raise ValueError(f"dpi must be a number in (0, {MAX_DPI}], got {dpi!r}")
    if out_file is None:
        return None
    if not isinstance(out_file, str | os.PathLike):
        raise ValueError(f"out_file must be a file path, got {out_file!r}")
    out_file = Path(out_file)
    if out_file.is_dir():
        raise ValueError(f"out_file {str(out_file)!r} is a directory; give a file name such as rate.png")
    if out_file.suffix.lower() not in _FORMATS:
        raise ValueError(f"out_file {str(out_file)!r} must end in one of {', '.join(_FORMATS)}")
    return out_file


def plot_store(store_path, output: str, out_file=None, x: str | None = None, y: str | None = None, sel=None,
               *, title: str | None = None, dpi: int = 150) -> Path:  # fmt: skip
    """Draw one output of a scan store to an image (PNG, PDF, SVG: from the file suffix).

    **Arguments:**

    - `store_path`: the scan's Zarr store.
    - `output`: a data variable of the store (``"rate"``, ``"particle_current.u"``, ...).
    - `out_file`: where to write the figure; default ``STORE-OUTPUT.png`` next to the store
      (``results/scan.zarr`` -> ``results/scan-rate.png``).
    - `x`, `y`: dimensions (or zipped-axis coordinates) to draw along. One dimension left:
      a curve against it. Two left: a map (`x` horizontal, `y` vertical) -- or, when `y` is not
      given and one dimension has at most 12 values, one curve per value of it against the
      other. Defaults: the longest dimension as `x`, the other as `y`.
    - `sel`: reduce the other dimensions: ``{"omega_cav": 1.0}`` or ``["omega_cav=1.0"]`` (a
      grid value, exactly: a value off the grid raises naming its neighbours), or
      ``["omega_cav~0.97"]`` (the nearest grid value). The title shows the values selected.
    - `title`, `dpi`: figure title (default: model and selection) and resolution.

    **Returns:** the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .store import open_store

    out_file = _check_arguments(store_path, output, out_file, x, y, sel, dpi)
    try:
        ds = open_store(store_path)
    except FileNotFoundError:
        raise
    except Exception as err:  # damaged metadata: JSON, codec or Zarr errors
        raise ValueError(f"cannot read the scan store {str(store_path)!r}: {type(err).__name__}: {err}") from err
    if output not in ds.data_vars:
        raise ValueError(f"{output!r} is not in the store; outputs: {', '.join(ds.data_vars)}")
    sel = parse_sel(sel)
    da, sel = _select(ds[output], sel)
    try:
        da = da.load()
    except Exception as err:
        raise ValueError(
            f"cannot read {output!r} from the scan store {str(store_path)!r} (damaged chunk files?): "
            f"{type(err).__name__}: {err}"
        ) from err
    if np.iscomplexobj(da.values):
        da = np.abs(da).assign_attrs(da.attrs).rename(f"|{output}|")
    if da.dtype == bool:
        da = da.astype(float).assign_attrs(da.attrs)
    dims = list(da.dims)
    if not dims:
        raise ValueError(f"nothing left to plot after sel={sel}: {output} = {float(da.values):g}")
    if len(dims) > 2:
        raise ValueError(
            f"{output!r} has dimensions {dims}; reduce it to one or two with sel (e.g. "
            f"sel={{{dims[0]!r}: {float(da[dims[0]].values[0]):g}}}) "
        )
    xdim, xcoord = _axis_coord(da, x) if x else (None, None)
    ydim, ycoord = _axis_coord(da, y) if y else (None, None)
    if len(dims) == 1:
        if ydim is not None:
            raise ValueError(f"{output!r} has one dimension left ({dims[0]}); give x only")
        if xdim is None:
            xdim, xcoord = dims[0], da[dims[0]]
        mode = "curve"
    else:
        if xdim is None and ydim is None:
            xdim = max(dims, key=lambda d: da.sizes[d])
            ydim = next(d for d in dims if d != xdim)
            mode = "curves" if da.sizes[ydim] <= MAX_CURVES else "map"
        elif ydim is None:
            ydim = next(d for d in dims if d != xdim)
            mode = "curves" if da.sizes[ydim] <= MAX_CURVES else "map"
        else:
            if xdim is None:
                xdim = next(d for d in dims if d != ydim)
            mode = "map"
        if xdim == ydim:
            raise ValueError(f"x and y must be different dimensions, both are {xdim!r}")
        xcoord = xcoord if xcoord is not None else da[xdim]
        ycoord = ycoord if ycoord is not None else da[ydim]

    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if mode == "curve":
        ax.plot(xcoord.values, da.values, marker="." if da.size <= 60 else None)
        ax.set_ylabel(_label(da))
    elif mode == "curves":
        for i in range(da.sizes[ydim]):
            line = da.isel({ydim: i})
            yval = ycoord.values[i]
            ax.plot(xcoord.values, line.values, label=f"{ycoord.name} = {yval:.4g}")
        ax.legend(fontsize="small")
        ax.set_ylabel(_label(da))
    else:
        z = da.transpose(ydim, xdim).values
        mesh = ax.pcolormesh(xcoord.values, ycoord.values, z, shading="nearest")
        fig.colorbar(mesh, ax=ax, label=_label(da))
        ax.set_ylabel(_label(ycoord))
        _scale(ax.set_yscale, ycoord)
    ax.set_xlabel(_label(xcoord))
    _scale(ax.set_xscale, xcoord)
    if title is None:
        what = ds[output].attrs.get("long_name", output)
        title = f"{ds.attrs.get('model', '')}: {what}"
        if sel:
            title += (
                " ("
                + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in sel.items())
                + ")"
            )
    ax.set_title(title, fontsize="medium")
    fig.text(0.995, 0.005, "hbar = k_B = 1", ha="right", va="bottom", fontsize="x-small", color="0.4")
    if out_file is None:
        base = Path(store_path)
        out_file = base.with_name(f"{base.name.removesuffix('.zarr')}-{output}.png")
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_file, dpi=dpi)
    return out_file
