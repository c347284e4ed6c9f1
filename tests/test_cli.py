"""The command line: every command (``solve``, ``scan``, ``plot``, ``reproduce``) answers bad input
with one line ``jaxtls: error: ...`` on stderr and exit code 2, never a traceback or usage text
(issue 16, item 4); Ctrl-C exits 130; an internal error is one line with exit code 1."""

from __future__ import annotations

import numpy as np
import pytest

import jaxtls as jt
from jaxtls._workflows import cli
from jaxtls._workflows.cli import main

CLASSICAL = dict(E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02,
                 T_l=0.02)  # fmt: skip
CAVITY = dict(E_u=1.0, E_l=0.0, omega_cav=1.2, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02, mu_u=0.9, mu_l=0.1,
              T_u=0.02, T_l=0.02, T_b=0.05)  # fmt: skip


def _args(params, **change):
    out = []
    for k, v in {**params, **change}.items():
        if v is not None:
            out += [f"--{k}", str(v)]
    return out


def _store(path):
    """A small finished scan store (a toy model: nothing to compile but the toy)."""
    jt.scan(lambda *, x, y=1.0: {"s": x * y}, {"x": [1.0, 2.0, 3.0]}, {"y": 2.0}, outputs="s", store=path,
            progress=False)  # fmt: skip
    return path


def _files(tmp_path):
    """Every bad file the ``scan`` and ``plot`` cases need, by name."""
    files = {
        "garbage.toml": "model = \n[[[",
        "deep.toml": "x = " + "[" * 20000 + "]" * 20000,
        "huge.toml": 'model = "classical"\n[fixed]\nE_u = 1.0\n[grid]\nmu_u = {start = 0.0, stop = 1.0, num = 1e12}\n',
        "unknown_key.toml": 'model = "classical"\nstroe = "x.zarr"\n[grid]\nmu_u = [1.0]\n',
        "unknown_model.toml": 'model = "nope"\n[grid]\nmu_u = [1.0]\n',
        "import.toml": 'model = "subprocess:run"\n[fixed]\nargs = "true"\n[grid]\nx = [1.0]\n',
        "missing_param.toml": 'model = "classical"\n[grid]\nmu_u = [1.0]\n',
        "nan_fixed.toml": 'model = "classical"\n[fixed]\nE_u = nan\n[grid]\nmu_u = [1.0]\n',
        "bad_output.toml": 'model = "classical"\noutputs = ["rat"]\n[fixed]\n'
        + "\n".join(f"{k} = {v!r}" for k, v in CLASSICAL.items() if k != "mu_u")
        + "\n[grid]\nmu_u = [1.0]\n",
        "string_grid.toml": 'model = "classical"\n[grid]\nmu_u = "1.0"\n',
        "chunk.toml": 'model = "classical"\nchunk_size = 1.5\n[grid]\nmu_u = [1.0]\n',
        "note.txt": "my thesis",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "under_file.toml").write_text(
        'model = "classical"\nstore = "note.txt/s.zarr"\n[fixed]\n'
        + "\n".join(f"{k} = {v!r}" for k, v in CLASSICAL.items() if k != "mu_u")
        + "\n[grid]\nmu_u = [1.0]\n"
    )
    garbage = tmp_path / "garbage.zarr"
    garbage.mkdir()
    (garbage / "zarr.json").write_text("{garbage")
    return tmp_path


CASES = {
    # solve
    "solve: unknown model": (["solve", "nope"], "invalid choice: 'nope'"),
    "solve: no model": (["solve"], "the following arguments are required: MODEL"),
    "solve: missing parameters": (["solve", "classical", *_args(CLASSICAL, T_l=None)], "required: --T_l"),
    "solve: malformed number": (["solve", "classical", *_args(CLASSICAL, T_l="abc")], "--T_l: not a number: 'abc'"),
    "solve: NaN": (["solve", "classical", *_args(CLASSICAL, T_l="nan")], "T_l must be a finite number > 0"),
    "solve: overflow": (["solve", "classical", *_args(CLASSICAL, eps="1e400")], "eps must be a finite"),
    "solve: negative rate": (["solve", "cavity", *_args(CAVITY, gamma_b=-0.02)], "gamma_b must be a finite number"),
    "solve: complex temperature": (["solve", "classical", *_args(CLASSICAL, T_u="1+1j")], "T_u must be"),
    "solve: bad occupations": (["solve", "classical", *_args(CLASSICAL), "--occupations", "x"], "--occupations"),
    "solve: unknown option": (["solve", "classical", *_args(CLASSICAL), "--tol", "1"], "unrecognized arguments"),
    "solve: n_max 0": (["solve", "cavity", *_args(CAVITY), "--n_max", "0"], "n_max must be an integer >= 1"),
    "solve: n_max word": (["solve", "cavity", *_args(CAVITY), "--n_max", "many"], "n_max must be an integer >= 1"),
    "solve: n_max too large": (["solve", "cavity", *_args(CAVITY), "--n_max", "10000000000"], "of memory"),
    # scan
    "scan: no file given": (["scan"], "the following arguments are required: file"),
    "scan: missing file": (["scan", "{tmp}/none.toml"], "cannot read the scan file"),
    "scan: a directory": (["scan", "{tmp}"], "is a directory, not a scan file"),
    "scan: invalid TOML": (["scan", "{tmp}/garbage.toml"], "garbage.toml: invalid TOML"),
    "scan: deeply nested TOML": (["scan", "{tmp}/deep.toml"], "deep.toml: invalid TOML (nested too deeply"),
    "scan: binary file": (["scan", "{tmp}/binary.toml"], "binary.toml: not a TOML file"),
    "scan: num = 1e12": (["scan", "{tmp}/huge.toml"], "grid axis 'mu_u' with num = 1000000000000 values"),
    "scan: unknown key": (["scan", "{tmp}/unknown_key.toml"], "unknown key(s) ['stroe']"),
    "scan: unknown model": (["scan", "{tmp}/unknown_model.toml"], "unknown model 'nope'"),
    "scan: import refused": (["scan", "{tmp}/import.toml"], "is not a registered model name"),
    "scan: missing parameters": (["scan", "{tmp}/missing_param.toml"], "missing parameter(s)"),
    "scan: NaN fixed": (["scan", "{tmp}/nan_fixed.toml"], "fixed parameter 'E_u' must be finite"),
    "scan: unknown output": (["scan", "--no-progress", "{tmp}/bad_output.toml"], "output 'rat' not in the model"),
    "scan: string grid": (["scan", "{tmp}/string_grid.toml"], "grid entry 'mu_u' must be a non-empty 1-D list"),
    "scan: fractional chunk": (["scan", "{tmp}/chunk.toml"], "chunk_size must be a positive integer"),
    "scan: store under a file": (["scan", "{tmp}/under_file.toml"], "is a file, not a directory"),
    "scan: unknown flag": (["scan", "--overwrit", "{tmp}/huge.toml"], "unrecognized arguments: --overwrit"),
    # plot
    "plot: missing store": (["plot", "{tmp}/none.zarr", "--output", "s"], "no Zarr store"),
    "plot: garbage store": (["plot", "{tmp}/garbage.zarr", "--output", "s"], "cannot read the scan store"),
    "plot: not a store": (["plot", "{tmp}/note.txt", "--output", "s"], "no Zarr store"),
    "plot: no output given": (["plot", "{tmp}/good.zarr"], "required: --output"),
    "plot: unknown output": (["plot", "{tmp}/good.zarr", "--output", "nope"], "'nope' is not in the store"),
    "plot: bad selection": (["plot", "{tmp}/good.zarr", "--output", "s", "--sel", "x"], "must look like name=value"),
    "plot: unknown dimension": (["plot", "{tmp}/good.zarr", "--output", "s", "--x", "q"], "'q'"),
    # reproduce and the top level
    "reproduce: out is a file": (["reproduce", "--out", "{tmp}/note.txt"], "exists and is not a folder"),
    "reproduce: out under a file": (["reproduce", "--out", "{tmp}/note.txt/report"], "Not a directory"),
    "reproduce: unknown flag": (["reproduce", "--quik"], "unrecognized arguments: --quik"),
    "no command": ([], "the following arguments are required: COMMAND"),
    "unknown command": (["bogus"], "invalid choice: 'bogus'"),
}


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    tmp = _files(tmp_path_factory.mktemp("cli"))
    _store(tmp / "good.zarr")
    return tmp


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line_error_and_exit_code_2(bad_files, capsys, case):
    argv, expected = CASES[case]
    argv = [a.replace("{tmp}", str(bad_files)) for a in argv]
    before = sorted(p.name for p in bad_files.iterdir())
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err)
    assert err.startswith("jaxtls: error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and "usage:" not in err and out == ""
    assert expected in err, err
    assert sorted(p.name for p in bad_files.iterdir()) == before  # nothing written
    assert (bad_files / "note.txt").read_text() == "my thesis"


def test_multi_line_messages_are_joined_into_one_line(tmp_path, capsys, monkeypatch):
    """A store holding another scan: the list of differences comes on the same line."""
    from jaxtls._models import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    store = _store(tmp_path / "s.zarr")
    toml = tmp_path / "other.toml"
    toml.write_text('model = "toy_cli"\nstore = "s.zarr"\noutputs = ["s"]\n[fixed]\ny = 3.0\n[grid]\nx = [1.0, 2.0]\n')
    jt.register_model("toy_cli", lambda *, x, y=1.0: {"s": x * y}, parameters=("x", "y"))
    assert main(["scan", "--no-progress", str(toml)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "holds a different scan" in err and "Differences: - " in err
    assert (store / "zarr.json").is_file()


def test_keyboard_interrupt_exits_130_with_one_line(tmp_path, capsys, monkeypatch):
    import jaxtls._workflows.scan as scan_pkg

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scan_pkg, "scan_from_toml", interrupted)
    toml = tmp_path / "s.toml"
    toml.write_text('model = "classical"\n[grid]\nmu_u = [1.0]\n')
    assert main(["scan", str(toml)]) == 130
    assert capsys.readouterr().err == "jaxtls: interrupted; rerun the same command to resume\n"
    monkeypatch.setattr(cli, "_COMMANDS", {**cli._COMMANDS, "solve": interrupted})
    assert main(["solve", "classical", *_args(CLASSICAL)]) == 130
    assert capsys.readouterr().err == "jaxtls: interrupted\n"


def test_internal_error_is_one_line_with_exit_code_1_unless_asked_for_the_traceback(capsys, monkeypatch):
    def broken(args):
        raise TypeError("something\ninside broke")

    monkeypatch.setattr(cli, "_COMMANDS", {**cli._COMMANDS, "solve": broken})
    assert main(["solve", "classical", *_args(CLASSICAL)]) == 1
    err = capsys.readouterr().err
    assert err == "jaxtls: error: TypeError: something inside broke\n"
    monkeypatch.setenv("JAXTLS_TRACEBACK", "1")
    with pytest.raises(TypeError, match="inside broke"):
        main(["solve", "classical", *_args(CLASSICAL)])


def test_good_input_still_works_and_help_exits_0(capsys):
    import json

    assert main(["solve", "classical", *_args(CLASSICAL), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ref = jt.classical_closed_form(**CLASSICAL)
    np.testing.assert_allclose(data["rate"], float(ref["rate"]), rtol=1e-10)
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0 and "solve" in capsys.readouterr().out
