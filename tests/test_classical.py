"""Model A (classical field, RWA): engine solution against the closed form (A8-A12, 14, 15)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import jaxtls as jt

BASE = dict(E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05,
            mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02)  # fmt: skip


def random_parameters(n, seed):
    """Wide random draws: detuning -10..10 linewidths, |eps| 1e-3..10 linewidths, T 1e-3..10."""
    rng = np.random.default_rng(seed)
    gu = 10 ** rng.uniform(-2, 0, n)
    gl = 10 ** rng.uniform(-2, 0, n)
    gam = gu + gl
    e_u = rng.uniform(0.5, 2.0, n)
    e_l = rng.uniform(-0.5, 0.5, n)
    delta = rng.uniform(-10, 10, n) * gam
    eps = 10 ** rng.uniform(-3, 1, n) * gam * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    return dict(
        E_u=e_u, E_l=e_l, omega=e_u - e_l + delta, eps=eps, gamma_u=gu, gamma_l=gl,
        mu_u=rng.uniform(-1, 2, n), mu_l=rng.uniform(-1, 2, n),
        T_u=10 ** rng.uniform(-3, 1, n), T_l=10 ** rng.uniform(-3, 1, n),
    )  # fmt: skip


def close(a, b, scale, rtol=1e-10):
    """|a - b| <= rtol |b| + 1e-13 scale elementwise (scale: the natural size of the quantity)."""
    a, b = np.asarray(a), np.asarray(b)
    err = np.abs(a - b)
    bound = rtol * np.abs(b) + 1e-13 * np.broadcast_to(scale, err.shape)
    assert np.all(err <= bound), f"max excess {np.max(err - bound):.3g}, max rel err {np.max(err / np.abs(b)):.3g}"


@pytest.mark.parametrize("occupations", ["bare", "effective"])
def test_engine_equals_closed_form_on_random_parameters(occupations):
    p = random_parameters(500, seed=1 if occupations == "bare" else 2)
    r = jt.solve_classical(**p, occupations=occupations)
    c = jt.classical_closed_form(**p, occupations=occupations)
    gam = p["gamma_u"] + p["gamma_l"]
    escale = gam * (np.abs(p["E_u"]) + np.abs(p["E_l"]) + np.abs(p["omega"]) + 1)
    close(r.rate, c["rate"], gam)
    close(r.populations["u"], c["sigma_uu"], 1.0)
    close(r.populations["l"], c["sigma_ll"], 1.0)
    close(r.coherence, c["sigma_ul"], 1.0)
    for a in ("u", "l"):
        close(r.particle_current[a], c["particle_current"][a], gam)
        close(r.energy_current[a], c["energy_current"][a], escale)
        close(r.effective_energy[a], c["effective_energy"][a], 1.0)
    close(r.power, c["power"], escale)
    ent_scale = escale / np.minimum(p["T_u"], p["T_l"])
    close(r.entropy_production, c["entropy_production"], ent_scale)
    # The floor above only matters where R is near the round-off of the flows (Tr{H L_a rho}
    # cancels terms of size gamma * E): wherever |R| >= 1e-5 Gamma (most of the sample), every
    # flow agrees with the closed form to 1e-10 *relative*, with no absolute floor at all.
    resolved = np.abs(np.asarray(c["rate"])) >= 1e-5 * gam
    assert resolved.sum() > 250
    pairs = [(r.rate, c["rate"]), (r.power, c["power"]), (r.entropy_production, c["entropy_production"])]
    pairs += [(r.particle_current[a], c["particle_current"][a]) for a in ("u", "l")]
    pairs += [(r.energy_current[a], c["energy_current"][a]) for a in ("u", "l")]
    for got, want in pairs:
        got, want = np.asarray(got)[resolved], np.asarray(want)[resolved]
        assert np.max(np.abs(got - want) / np.abs(want)) <= 1e-10
    # first law (Eq. 1) and Eqs. 11-13
    assert np.all(np.abs(r.first_law_residual) <= 1e-12 * escale)
    e_u, e_l = jt.effective_energies_rwa(p["E_u"], p["E_l"], p["omega"], p["gamma_u"], p["gamma_l"])
    close(r.energy_current["u"], e_u * r.rate, escale)
    close(r.energy_current["l"], -e_l * r.rate, escale)
    np.testing.assert_allclose(np.asarray(e_u - e_l), p["omega"], rtol=1e-12)
    assert bool(np.all(r.diagnostics.ok))


def test_second_law_violation_with_bare_but_not_with_effective():
    # recipe (PHYSICS.md): T_u = T_l, omega > E_u - E_l, E_u - E_l < mu_u - mu_l < omega
    kw = dict(BASE, omega=1.2, mu_u=1.05, mu_l=0.0, T_u=0.05, T_l=0.05)
    bare = jt.solve_classical(**kw, occupations="bare")
    eff = jt.solve_classical(**kw, occupations="effective")
    assert float(bare.rate) > 0
    assert float(bare.entropy_production) < -1e-6
    assert float(eff.entropy_production) >= 0
    # the random sample: effective occupations never violate the second law
    p = random_parameters(2000, seed=7)
    r = jt.solve_classical(**p, occupations="effective")
    ent = np.asarray(r.entropy_production)
    # round-off floor of the flows: gamma * energy / T (the flows are Tr{H L_a rho})
    gam = p["gamma_u"] + p["gamma_l"]
    scale = gam * (1 + np.abs(p["E_u"]) + np.abs(p["E_l"]) + np.abs(p["mu_u"]) + np.abs(p["mu_l"]))
    scale = scale / np.minimum(p["T_u"], p["T_l"])
    assert np.all(ent >= -1e-12 * scale)
    rb = jt.solve_classical(**p, occupations="bare")
    assert np.sum(np.asarray(rb.entropy_production) < -1e-6 * scale) > 0


def test_batched_grid_equals_point_by_point():
    omega = np.linspace(0.8, 1.2, 100)[:, None]
    mu_u = np.linspace(0.2, 1.5, 100)[None, :]
    r = jt.solve_classical(**dict(BASE, omega=omega, mu_u=mu_u))
    assert r.rate.shape == (100, 100)
    assert r.energy_current["u"].shape == (100, 100)
    rng = np.random.default_rng(3)
    fields = lambda res: (
        [res.rate, res.power, res.entropy_production, res.populations["u"], res.populations["l"]]
        + [res.energy_current[a] for a in ("u", "l")]
        + [res.particle_current[a] for a in ("u", "l")]
        + [res.effective_energy[a] for a in ("u", "l")]
    )
    for i, j in rng.integers(0, 100, (40, 2)):
        one = jt.solve_classical(**dict(BASE, omega=float(omega[i, 0]), mu_u=float(mu_u[0, j])))
        for got, want in zip(fields(r), fields(one), strict=True):
            np.testing.assert_allclose(got[i, j], want, rtol=1e-12, atol=1e-18)
    # and the whole grid against the closed form (an independent evaluation of every point)
    c = jt.classical_closed_form(**dict(BASE, omega=omega, mu_u=mu_u))
    np.testing.assert_allclose(r.rate, c["rate"], rtol=1e-9, atol=1e-15)


BAD = {
    "gamma_u": [-0.1, 0.0, np.nan],
    "gamma_l": [-0.1, 0.0, np.inf],
    "T_u": [-1.0, 0.0, np.nan],
    "T_l": [-1.0, 0.0],
    "E_u": [np.nan, np.inf],
    "E_l": [np.nan],
    "omega": [np.inf],
    "eps": [np.nan, complex(np.inf, 0)],
    "mu_u": [np.nan],
    "mu_l": [-np.inf],
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_names_the_parameter(name):
    for value in BAD[name]:
        with pytest.raises(ValueError, match=name):
            jt.solve_classical(**dict(BASE, **{name: value}))
    with pytest.raises(ValueError, match=name):
        jt.solve_classical(**dict(BASE, **{name: np.array([0.1, np.nan])}))


def test_bad_occupations_and_shapes():
    with pytest.raises(ValueError, match="occupations"):
        jt.solve_classical(**BASE, occupations="thermal")
    with pytest.raises(ValueError, match="broadcast"):
        jt.solve_classical(**dict(BASE, omega=np.ones(3), mu_u=np.ones(4)))


def console_script():
    """The ``jaxtls`` entry point that ``pip install`` put beside this interpreter."""
    path = os.path.join(os.path.dirname(sys.executable), "jaxtls")
    assert os.path.exists(path), f"the jaxtls console script is not installed at {path} (pip install -e .)"
    return [path]


def test_cli_solve_classical_json():
    args = []
    for k, v in BASE.items():
        args += [f"--{k}", str(v)]
    out = subprocess.run(
        [*console_script(), "solve", "classical", *args, "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(out.stdout)
    c = jt.classical_closed_form(**BASE)
    assert data["rate"] == pytest.approx(float(c["rate"]), rel=1e-10)
    assert data["energy_current"]["u"] == pytest.approx(float(c["energy_current"]["u"]), rel=1e-10)
    assert set(data["effective_energy"]) == {"u", "l"}
    bad = subprocess.run(
        [*console_script(), "solve", "classical", *args[:-2], "--T_l", "-1", "--json"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode != 0 and "T_l" in bad.stderr
