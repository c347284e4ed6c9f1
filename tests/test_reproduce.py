"""`jaxtls reproduce --quick` passes every check and writes its figures."""

import os
import subprocess
import sys


def test_reproduce_quick(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxtls._cli", "reproduce", "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (out / "report.md").read_text()
    assert "FAIL" not in report
    assert "Eq. 14" in report and "Eq. 15" in report
    pngs = [f for f in os.listdir(out) if f.endswith(".png")]
    assert len(pngs) >= 2
    for f in pngs:
        assert f in report
        assert (out / f).stat().st_size > 10_000
