"""The public contract (../shared/CONTRACT.md): every name, field and command that outside
acceptance checks call exists and has the documented shape and meaning.

Values are checked against closed forms where the contract states one (Model A: A8-A12 and
Eq. 14; Model B: the exact flow relations of Eq. 21; Model C: Eq. 30)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import jaxtls as jt

A = dict(E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02)
B = dict(E_u=1.0, E_l=0.0, omega_cav=1.2, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02, mu_u=0.9, mu_l=0.1,
         T_u=0.02, T_l=0.02, T_b=0.05)  # fmt: skip
FIELDS = ("rate", "particle_current", "energy_current", "power", "entropy_production", "effective_energy",
          "occupation", "populations")  # fmt: skip


def _keys(d):
    return sorted(d)


def test_solve_classical_fields_and_values():
    r = jt.solve_classical(**A, occupations="effective")
    for f in FIELDS:
        assert hasattr(r, f), f
    assert _keys(r.particle_current) == ["l", "u"] and _keys(r.energy_current) == ["l", "u"]
    assert _keys(r.effective_energy) == ["l", "u"] and _keys(r.occupation) == ["l", "u"]
    assert _keys(r.populations) == ["l", "u"]
    # Eq. 14 and A8 (closed form, written out here)
    gam, delta = A["gamma_u"] + A["gamma_l"], A["omega"] - (A["E_u"] - A["E_l"])
    eu, el = A["E_u"] + A["gamma_u"] * delta / gam, A["E_l"] - A["gamma_l"] * delta / gam
    fu = 1 / (np.exp((eu - A["mu_u"]) / A["T_u"]) + 1)
    fl = 1 / (np.exp((el - A["mu_l"]) / A["T_l"]) + 1)
    alpha = A["eps"] ** 2 * gam / (gam**2 / 4 + delta**2)
    h = A["gamma_u"] * A["gamma_l"] / (A["gamma_u"] * A["gamma_l"] + alpha * gam)
    np.testing.assert_allclose(float(r.rate), alpha * h * (fu - fl), rtol=1e-10)
    np.testing.assert_allclose(float(r.effective_energy["u"]), eu, rtol=1e-14)
    np.testing.assert_allclose(float(r.power), -A["omega"] * float(r.rate), rtol=1e-10)
    assert float(r.entropy_production) >= 0
    assert np.asarray(r.rate).dtype == np.float64


def test_solve_cavity_fields_and_exact_flow_relations():
    r = jt.solve_cavity(**B, n_max=30, occupations="effective")
    for f in FIELDS:
        assert hasattr(r, f), f
    assert _keys(r.energy_current) == ["b", "l", "u"] and _keys(r.effective_energy) == ["l", "ph", "u"]
    assert _keys(r.occupation) == ["b", "l", "u"] and _keys(r.populations) == ["l", "ph", "u"]
    assert float(r.power) == 0.0
    rate = float(r.rate)
    # the flows are differences of gain and loss terms of the size of the rates: their rounding
    # is ~1e-16 of the gross rate, far below R here but above 1e-8 R
    floor = 1e-13 * (B["gamma_u"] + B["gamma_l"] + B["gamma_b"])
    np.testing.assert_allclose(float(r.particle_current["u"]), rate, rtol=1e-8, atol=floor)
    np.testing.assert_allclose(float(r.particle_current["l"]), -rate, rtol=1e-8, atol=floor)
    for k, sign in (("u", 1), ("l", -1), ("b", -1)):
        e = float(r.effective_energy["ph" if k == "b" else k])
        np.testing.assert_allclose(float(r.energy_current[k]), sign * e * rate, rtol=1e-8, atol=floor)


def test_broadcasting_and_bad_input():
    r = jt.solve_cavity(**dict(B, mu_u=np.linspace(0.5, 1.5, 4)[:, None], omega_cav=np.array([0.95, 1.0, 1.05])),
                        n_max=12, throw=False)  # fmt: skip
    assert r.rate.shape == (4, 3) and r.particle_current["u"].shape == (4, 3)
    for bad in (dict(gamma_u=-0.1), dict(T_l=0.0), dict(mu_u=float("nan"))):
        with pytest.raises(ValueError, match=next(iter(bad))):
            jt.solve_classical(**dict(A, **bad))
    with pytest.raises(ValueError, match="occupations"):
        jt.solve_classical(**A, occupations="wrong")
    with pytest.raises(ValueError, match="n_max"):
        jt.solve_cavity(**B, n_max=0)


def test_laser_bloch_scan_and_self_consistent():
    L = jt.solve_laser(E_u=1.0, E_l=0.0, omega_cav=1.05, g=0.05, gamma_u=0.01, gamma_l=0.02, gamma_b=0.005,
                       mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05)  # fmt: skip
    assert bool(L.lasing) and float(L.threshold) > 1 and float(L.intensity) > 0
    np.testing.assert_allclose(float(L.omega), (0.03 * 1.05 + 0.005 * 1.0) / 0.035, rtol=1e-14)  # Eq. 30
    w = np.linspace(0.9, 1.1, 5)
    for variant in ("density_matrix", "effective", "naive"):
        G = jt.bloch_gain(w, E_u=1.0, E_l=0.0, gamma_u=0.01, gamma_l=0.01, mu_u=0.05, mu_l=0.05, T=0.02,
                          variant=variant)  # fmt: skip
        assert np.shape(G) == (5,)
    sc = jt.solve_classical(**A, occupations="self_consistent")
    np.testing.assert_allclose(float(sc.rate), float(jt.solve_classical(**A).rate), rtol=1e-8)
    ds = jt.scan(jt.solve_classical, grid={"mu_u": [0.8, 0.9], "omega": [1.0, 1.1, 1.2]},
                 fixed={k: v for k, v in A.items() if k not in ("mu_u", "omega")},
                 outputs=["rate", "entropy_production"], progress=False)  # fmt: skip
    assert list(ds["rate"].dims) == ["mu_u", "omega"]


def test_command_line_json():
    args = [f"--{k}={v}" for k, v in A.items()]
    out = subprocess.run([sys.executable, "-m", "jaxtls._workflows.cli", "solve", "classical", *args, "--json"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for f in FIELDS:
        assert f in data, f
    assert isinstance(data["rate"], float) and isinstance(data["particle_current"], dict)
    np.testing.assert_allclose(data["rate"], float(jt.solve_classical(**A).rate), rtol=1e-12)
    helped = subprocess.run([sys.executable, "-m", "jaxtls._workflows.cli", "--help"], capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    for command in ("solve", "scan", "reproduce", "plot"):
        assert command in helped.stdout
