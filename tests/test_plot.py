"""`jaxtls plot`: exact selections, the nearest value only on request, one-line errors."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._workflows.cli import main
from jaxtls._workflows.plot import parse_sel, plot_store


class _Out(eqx.Module):
    rate: jnp.ndarray


def _model(mu, w):
    return _Out(rate=jnp.sin(mu) * w)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("plot") / "s.zarr"
    jt.scan(_model, grid={"mu": np.linspace(0.0, 1.0, 11), "w": [0.95, 1.0, 1.05]}, outputs=["rate"], store=str(path),
            progress=False)  # fmt: skip
    return path


def test_selection_is_exact_unless_nearest_is_asked_for(store, tmp_path):
    with pytest.raises(ValueError, match=r"w = 0.97 is not on the grid \(nearest values: 0.95 and 1\).*w~0.97"):
        plot_store(store, "rate", tmp_path / "a.png", sel=["w=0.97"])
    out = plot_store(store, "rate", tmp_path / "b.png", sel=["w=1.0"])
    assert out.stat().st_size > 5000
    out = plot_store(store, "rate", tmp_path / "c.png", sel=["w~0.97"])  # nearest: 0.95
    assert out.is_file()
    assert parse_sel(["w~0.97"])["w"] == pytest.approx(0.97) and isinstance(parse_sel("w=1")["w"], float)


def test_title_names_the_selected_grid_value(store, tmp_path, monkeypatch):
    import matplotlib.axes

    titles = []
    orig = matplotlib.axes.Axes.set_title
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda self, t, **k: titles.append(t) or orig(self, t, **k))
    plot_store(store, "rate", tmp_path / "d.png", sel=["w~0.97"])
    assert "w = 0.95" in titles[-1] and "0.97" not in titles[-1]


@pytest.mark.parametrize("damage", ["root", "array", "chunk"])
def test_garbage_stores_give_one_line_errors(store, tmp_path, capsys, damage):
    import shutil

    bad = tmp_path / "bad.zarr"
    shutil.copytree(store, bad)
    if damage == "root":
        (bad / "zarr.json").write_text("{not json")
    elif damage == "array":
        (bad / "rate" / "zarr.json").write_text("garbage")
    else:
        for f in (bad / "rate" / "c").rglob("*"):
            if f.is_file():
                f.write_bytes(b"\x00garbage" * 7)
    code = main(["plot", str(bad), "--output", "rate", "--out", str(tmp_path / "x.png"), "--sel", "w=1.0"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("jaxtls: error:") and "Traceback" not in err
    assert len(err.splitlines()) == 1, err


def test_missing_store_and_unknown_output(store, tmp_path, capsys):
    assert main(["plot", str(tmp_path / "none.zarr"), "--output", "rate"]) == 2
    assert main(["plot", str(store), "--output", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no Zarr store" in err and "'nope' is not in the store" in err
