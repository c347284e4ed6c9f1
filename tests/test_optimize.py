"""Sensitivities, gradient-based optimisation and the worked examples built on them (issue 4)."""

import importlib.util
import os

import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._workflows.optimize import OptimizeResult, optimize
from jaxtls._workflows.sensitivity import electrical_power, lead_heat, output_value, sensitivities

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")

CAVITY = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.03, g=0.04, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02,
    mu_u=0.9, mu_l=0.1, T_u=0.08, T_l=0.06, T_b=0.3,
)  # fmt: skip
CLASSICAL = dict(
    E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05,
    mu_u=0.6, mu_l=0.1, T_u=0.05, T_l=0.07,
)  # fmt: skip


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def solve(model, p, **static):
    fn = jt.solve_cavity if model == "cavity" else jt.solve_classical
    return fn(**p, **static)


@pytest.mark.parametrize(
    "model, base, static",
    [
        ("cavity", CAVITY, dict(n_max=14, occupations="effective")),
        ("cavity", CAVITY, dict(n_max=14, occupations="bare")),
        ("classical", CLASSICAL, dict(occupations="effective")),
    ],
)
def test_sensitivities_match_finite_differences(model, base, static):
    outputs = ("rate", "particle_current.u", "energy_current.u", "power", "entropy_production",
               "efficiency", "lead_heat", "electrical_power")  # fmt: skip
    # two points in one batched call (broadcast against scalars)
    mu_u = np.array([0.9, 0.75]) if model == "cavity" else np.array([0.6, 1.3])
    p = dict(base, mu_u=mu_u)
    d, vals = sensitivities(model, p, outputs=outputs, return_values=True, **static)
    for k in range(2):
        q = {name: (v[k] if np.ndim(v) else v) for name, v in p.items()}
        for name in q:
            h = 1e-5 * max(abs(float(q[name])), 0.05)
            rp = solve(model, dict(q, **{name: q[name] + h}), **static)
            rm = solve(model, dict(q, **{name: q[name] - h}), **static)
            qp, qm = dict(q, **{name: q[name] + h}), dict(q, **{name: q[name] - h})
            for out in outputs:
                fd = (float(output_value(rp, qp, out)) - float(output_value(rm, qm, out))) / (2 * h)
                ad = float(d[out][name][k])
                scale = max(abs(float(d[out][n][k])) for n in q)
                assert abs(ad - fd) <= 1e-5 * abs(fd) + 1e-7 * scale + 1e-12, (out, name, ad, fd)
        r = solve(model, q, **static)
        for out in outputs:
            np.testing.assert_allclose(vals[out][k], output_value(r, q, out), rtol=1e-12, atol=1e-15)


def test_sensitivities_batch_shape_wrt_and_string_or_function_model():
    p = dict(CAVITY, omega_cav=np.array([1.0, 1.05, 0.97]), mu_u=np.array([[0.8], [1.1]]))
    d = sensitivities(jt.solve_cavity, p, outputs=("rate", "efficiency"), wrt=("mu_u", "g"), n_max=12)
    assert set(d) == {"rate", "efficiency"} and set(d["rate"]) == {"mu_u", "g"}
    assert d["rate"]["mu_u"].shape == (2, 3)
    d2 = sensitivities("cavity", p, outputs=("rate", "efficiency"), wrt=("mu_u", "g"), n_max=12)
    np.testing.assert_array_equal(d2["rate"]["g"], d["rate"]["g"])
    # efficiency = (mu_u - mu_l) / E~_ph in a steady state: d eta / d mu_u = 1 / E~_ph
    r = jt.solve_cavity(**p, n_max=12)
    np.testing.assert_allclose(d["efficiency"]["mu_u"], 1 / r.effective_energy["ph"], rtol=1e-8)


def test_led_example_converges_to_cooling_optimum():
    led = load_example("led_cooling")
    opt = led.run(quick=True, progress=False)
    assert isinstance(opt, OptimizeResult)
    s = led.summary(opt)
    assert s["cooling"] > 1000 * s["initial"] > 0  # objective improves by > 10^3
    assert opt.grad_norm < 1e-3 * float(np.max(opt.grad_norm_history))
    assert 0 < s["bias"] < s["E_ph"]  # electroluminescent cooling: mu_u - mu_l < E~_ph
    assert s["rate"] > 0
    # the optimum is a local maximum along the bias
    p = {k: float(v) for k, v in opt.params.items()}
    for db in (-0.01, 0.01):
        q = dict(p, mu_u=p["mu_u"] + db)
        assert float(lead_heat(jt.solve_cavity(**q, n_max=led.N_MAX), q)) < s["cooling"]


def test_solar_cell_example_converges_below_carnot():
    sc = load_example("solar_cell")
    opt = sc.run(quick=True, progress=False)
    s = sc.summary(opt)
    assert s["power"] > 5 * s["initial"] > 0  # objective improves by > 5
    assert opt.grad_norm < 1e-3 * float(np.max(opt.grad_norm_history))
    assert s["rate"] < 0
    p_path, eta_path = sc.path_efficiency(opt)
    np.testing.assert_allclose(p_path, opt.history, rtol=1e-8, atol=1e-15)
    assert np.all(eta_path[np.isfinite(eta_path)] <= sc.CARNOT)
    assert 0 < s["efficiency"] < sc.CARNOT


def test_second_law_audit_finds_bare_violation_quickly():
    audit = load_example("second_law_audit")
    out = audit.search("bare", starts=24, steps=4, n_max=12, progress=False)
    info = audit.report(out, audit.recheck(out, k=3))
    assert info["violating_starts"] >= 1
    assert info["lowest_sigma"] < -1e-3
    assert info["best_sigma_recheck"] < -1e-3 and info["recheck_max_change"] < 1e-6
    assert info["best_sdot"] < 0 and info["best_tail_recheck"] <= audit.FOCK_TOL


def test_optimize_classical_model_and_result_fields():
    opt = optimize("classical", electrical_power, dict(CLASSICAL, mu_u=0.45, mu_l=0.55), free=("mu_u", "mu_l"),
                   maximize=True, steps=60, progress=False)  # fmt: skip
    assert opt.history.shape == (61,) and opt.param_history["mu_u"].shape == (61,)
    assert opt.value == opt.history[-1] and opt.value > opt.history[0]
    assert set(opt.grad) == {"mu_u", "mu_l"}
    # a photovoltaic driven by the classical field: R < 0 against a positive bias
    assert float(opt.result.rate) < 0 and float(opt.params["mu_u"]) > float(opt.params["mu_l"]) and opt.value > 0
    np.testing.assert_allclose(opt.value, electrical_power(opt.result, opt.params), rtol=1e-12)


def test_bad_input_raises_clear_errors():
    obj = lambda r: r.rate  # noqa: E731
    with pytest.raises(ValueError, match="not a parameter"):
        optimize("cavity", obj, CAVITY, free=("mu_x",), steps=1, progress=False, n_max=8)
    with pytest.raises(ValueError, match="scalar"):
        optimize("cavity", lambda r: jnp.stack([r.rate, r.rate]), CAVITY, free=("mu_u",), steps=1,
                 progress=False, n_max=8)  # fmt: skip
    with pytest.raises(ValueError, match="lo < hi"):
        optimize("cavity", obj, CAVITY, free=("mu_u",), bounds={"mu_u": (1.0, 0.5)}, steps=1, progress=False)
    with pytest.raises(ValueError, match="strictly inside"):
        optimize("cavity", obj, CAVITY, free=("mu_u",), bounds={"mu_u": (1.0, 2.0)}, steps=1, progress=False)
    with pytest.raises(ValueError, match="lo >= 0"):
        optimize("cavity", obj, CAVITY, free=("T_u",), bounds={"T_u": (-1.0, 2.0)}, steps=1, progress=False)
    with pytest.raises(ValueError, match="missing"):
        optimize("cavity", obj, {"E_u": 1.0}, free=("E_u",), steps=1, progress=False)
    with pytest.raises(ValueError, match="model must be"):
        optimize("laser", obj, CAVITY, free=("mu_u",))
    with pytest.raises(ValueError, match="unknown keyword"):
        optimize("cavity", obj, CAVITY, free=("mu_u",), n_maxx=8)
    with pytest.raises(ValueError, match="not among the free"):
        optimize("cavity", obj, CAVITY, free=("mu_u",), bounds={"mu_l": (0, 1)})
    with pytest.raises(ValueError, match="not a parameter"):
        sensitivities("cavity", CAVITY, wrt=("omega",), n_max=8)
    with pytest.raises(ValueError, match="unknown output"):
        sensitivities("cavity", CAVITY, outputs=("rates",), n_max=8)
    with pytest.raises(ValueError, match="gamma_u"):
        sensitivities("cavity", dict(CAVITY, gamma_u=-0.1), n_max=8)
