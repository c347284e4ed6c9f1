"""`jaxtls reproduce --quick` passes every check and writes one figure per claim; the claims run
from an installed layout (no file of the repository outside the package is read); the L-I
checks fail on a wrong threshold."""

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from jaxtls._workflows.paper.claims import li_curve

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxtls"
#: figure written for each claim of the paper (issue 8)
EXPECTED_FIGURES = (
    "effective_energies.png",  # Eq. 14, Model A
    "cavity_effective_energies.png",  # Eq. 21, Model B
    "entropy_production_bias.png",  # Eq. 15, bare vs effective
    "led_cooling_region.png",  # LED / electroluminescent cooling
    "solar_cell_carnot.png",  # solar cell, Carnot bound
    "frequency_pulling.png",  # Eq. 30
    "laser_li_curve.png",  # Eq. 29, laser intensity
    "bloch_gain.png",  # Eq. 31
    "appendix_c_effective_energies.png",  # Appendix C, beyond RWA
)
#: equations whose checks must appear in the table
EXPECTED_EQUATIONS = ("Eq. 14", "Eq. 15", "Eq. 21", "Eq. 29", "Eq. 30", "Eq. 31")
#: examples that are not part of the report and may use more than the public API
OWN_EXAMPLES = ("driven_chain.py", "scan_example.py")
THRESHOLD_PUMP = li_curve.threshold_pump  # the closed form, before any test patches it


def test_reproduce_quick(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxtls._workflows.cli", "reproduce", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (out / "report.md").read_text()
    assert "FAIL" not in report
    rows = [line for line in report.splitlines() if line.startswith("| ") and " PASS " in line]
    for eq in EXPECTED_EQUATIONS:
        assert any(eq in re.split(r"(?<!\\)\|", row)[2] for row in rows), f"no check row for {eq}"
    assert any("Appendix C" in row for row in rows), "no check row for Appendix C"
    # every section of the report has checks (the L-I section had none, issue 16)
    sections = re.split(r"^## ", report, flags=re.M)[1:]
    assert len(sections) == 8
    for sec in sections:
        assert sum(" PASS " in line for line in sec.splitlines()) >= 3, sec.splitlines()[0]
    li = next(sec for sec in sections if sec.startswith("Laser intensity and L-I curve"))
    assert sum(" PASS " in line for line in li.splitlines()) == 5
    pngs = [f for f in os.listdir(out) if f.endswith(".png")]
    for f in EXPECTED_FIGURES:
        assert f in pngs, f"{f} not written"
    for f in pngs:
        assert f"]({f})" in report, f"{f} not referenced in report.md"
        assert (out / f).stat().st_size > 10_000


def _code_strings(path: Path) -> list[str]:
    """String constants of a module that are not docstrings."""
    tree = ast.parse(path.read_text())
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs]  # fmt: skip


def test_no_package_module_reads_the_repository():
    """The package never loads scripts or files from ``examples/`` (or any path beside itself)."""
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if "spec_from_file_location" in text or "load_example" in text:
            bad.append(f"{path.relative_to(ROOT)} loads modules from files")
        bad += [f"{path.relative_to(ROOT)}: {s!r}" for s in _code_strings(path) if "examples" in s]
    assert not bad, "\n".join(bad)
    # the checker sees such a string
    probe = ROOT / "tests" / "test_reproduce.py"
    assert any("examples" in s for s in _code_strings(probe))


def test_claims_run_from_an_installed_layout(tmp_path):
    """The package alone (what a wheel installs), imported from a folder outside the checkout:
    a claim computes, passes its checks and draws its figure."""
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "jaxtls", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import os, jaxtls as jt\n"
        "assert os.path.dirname(jt.__file__) == os.path.join(os.environ['SITE'], 'jaxtls'), jt.__file__\n"
        "c = jt.paper.claim('classical_energies')\n"
        "checks = c.run_checks(True)\n"
        "assert checks and all(x.passed for x in checks), [str(x) for x in checks]\n"
        "print(*c.figure('fig', True))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site), SITE=str(site))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "fig" / "effective_energies.png").stat().st_size > 10_000


def test_examples_use_only_the_public_api():
    bad = []
    for path in sorted((ROOT / "examples").glob("*.py")):
        if path.name in OWN_EXAMPLES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            bad += [f"{path.name} imports {n}" for n in names if n.startswith("jaxtls.") or n == "jaxtls._"]
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "jt":
                if node.attr.startswith("_"):
                    bad.append(f"{path.name} uses jt.{node.attr}")
    assert not bad, "\n".join(bad)


def _li_data_with_threshold_shift(monkeypatch, shift):
    """The quick L-I data recomputed (not cached) with the closed-form threshold moved by `shift`."""
    monkeypatch.setattr(li_curve, "threshold_pump", lambda p: THRESHOLD_PUMP(p) + shift)
    monkeypatch.setattr(li_curve, "FAR_QUICK", li_curve.FAR_QUICK[:1])  # one far point suffices here
    return li_curve.compute.__wrapped__(True)


def test_li_checks_pass_and_fail_on_a_wrong_threshold(monkeypatch):
    d = _li_data_with_threshold_shift(monkeypatch, 0.0)
    checks = li_curve.checks(d)
    assert [c.passed for c in checks] == [True] * 5, [str(c) for c in checks]
    # independent of the solver: the closed-form threshold lies inside the L-I grid, below the
    # pump of the first lasing grid point and above the last dark one
    r = d["curve"]["threshold"]
    for i, mu_star in enumerate(d["threshold_closed"]):
        assert d["mu"][r[i] < 1].max() < mu_star < d["mu"][r[i] > 1].min()
    # a solver whose pump ratio crosses 1 elsewhere fails the threshold check
    wrong = dict(d, threshold_solver=d["threshold_solver"] * (1 + 1e-6))
    assert not li_curve.checks(wrong)[0].passed
    # a closed form off by 2 DELTA_MU fails the threshold check and the onset of the dynamics
    for shift in (2 * li_curve.DELTA_MU, -2 * li_curve.DELTA_MU):
        bad = li_curve.checks(_li_data_with_threshold_shift(monkeypatch, shift))
        assert not bad[0].passed and not bad[1].passed, [str(c) for c in bad]
    # a wrong intensity law (slope off by 1e-4) fails the linear-growth check
    m = dict(d["marks"], X=d["marks"]["X"] * (1 + 1e-4))
    assert not li_curve.checks(dict(d, marks=m))[2].passed
    # more than one photon between the semiclassical and the quantum photon number fails
    far = dict(d["far"], quantum=d["far"]["semiclassical"] + 1.5)
    assert not li_curve.checks(dict(d, far=far))[4].passed
    assert np.all(d["far"]["semiclassical"] > 30)  # far above threshold: tens of photons
