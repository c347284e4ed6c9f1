"""Sensitivities, gradient-based optimisation and the worked examples built on them (issue 4)."""

import importlib.util
import os

import jax.numpy as jnp
import numpy as np
import optax
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


# ---------------------------------------------------------------------------------------------
# Issue 16: every argument of sensitivities / optimize checked before any work


@pytest.fixture
def toy_calls(monkeypatch):
    """A toy model registered for one test (the closed form f = (x - 1)^2 + y) that records
    every call (the registry is restored afterwards)."""
    from jaxtls._models import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    calls = []

    def toy(*, x, y):
        calls.append(1)
        x, y = jnp.asarray(x), jnp.asarray(y)
        return {"f": (x - 1.0) ** 2 + y, "ok": jnp.ones(jnp.broadcast_shapes(x.shape, y.shape), bool)}

    jt.register_model("fuzz_toy", toy, parameters=("x", "y"), check="ok", outputs=("f",))
    return calls


BAD_SENSITIVITIES = [
    (dict(wrt="z"), r"wrt: 'z' is not a parameter of the fuzz_toy model"),
    (dict(wrt=3), r"wrt must be a name or a list of names"),
    (dict(wrt={"x": 1}), r"wrt must be a name or a list of names"),
    (dict(wrt=()), r"wrt is empty"),
    (dict(wrt=("x", "x")), r"wrt has repeated names"),
    (dict(wrt=(None,)), r"wrt: None is not a parameter"),
    (dict(outputs=()), r"outputs is empty"),
    (dict(outputs=3), r"outputs must be a name or a list"),
    (dict(outputs=("f", "f")), r"outputs has repeated names"),
    (dict(params={"x": 1.0, "y": 0.0, "z": 1.0}), r"\['z'\] is not a parameter of the fuzz_toy model"),
    (dict(params={"x": 1.0}), r"missing parameter\(s\) \['y'\]"),
    (dict(params=[1.0, 2.0]), r"params must be a dict"),
    (dict(params={"x": float("nan"), "y": 0.0}), r"x must be a finite real number"),
    (dict(params={"x": 1.0, "y": float("-inf")}), r"y must be a finite real number"),
    (dict(params={"x": 1.0 + 2.0j, "y": 0.0}), r"x must be a finite real number \(real\)"),
    (dict(params={"x": "1", "y": 0.0}), r"x must be a finite real number"),
    (dict(params={"x": None, "y": 0.0}), r"x must be a finite real number"),
    (dict(params={"x": np.array([]), "y": 0.0}), r"x .*empty array"),
    (dict(params={"x": np.ones(2), "y": np.ones(3)}), r"parameter shapes do not broadcast together"),
    (dict(return_values="yes"), r"return_values must be True or False"),
    (dict(throw=1), r"throw must be True or False"),
    (dict(model=None), r"model must be a registered name"),
]


@pytest.mark.parametrize("change, match", BAD_SENSITIVITIES)
def test_sensitivities_refuse_bad_arguments_before_any_work(toy_calls, change, match):
    calls = toy_calls
    args = dict(model="fuzz_toy", params={"x": 0.5, "y": 0.0}, outputs=("f",))
    args.update(change)
    with pytest.raises(ValueError, match=match):
        sensitivities(**args)
    assert calls == []


def test_sensitivities_of_the_toy_match_its_closed_form(toy_calls):
    """The toy is right where the arguments are: df/dx = 2 (x - 1), df/dy = 1."""
    d = sensitivities("fuzz_toy", {"x": np.array([0.5, 2.0]), "y": 0.0}, outputs="f", wrt=["x", "y"])
    np.testing.assert_allclose(d["f"]["x"], [-1.0, 2.0], rtol=1e-14)
    np.testing.assert_allclose(d["f"]["y"], [1.0, 1.0], rtol=1e-14)


BAD_OPTIMIZE = [
    (dict(free="z"), r"free: 'z' is not a parameter of the fuzz_toy model"),
    (dict(free=3), r"free must be a name or a list of names"),
    (dict(free=None), r"free must be a name or a list of names"),
    (dict(free=()), r"free is empty"),
    (dict(free=("x", "x")), r"free has repeated names"),
    (dict(params={"x": float("nan"), "y": 0.0}), r"x must be a finite real number"),
    (dict(params={"x": 0.5, "y": float("inf")}), r"y must be a finite real number"),
    (dict(params={"x": 0.5, "y": 0.0, "w": 1.0}), r"is not a parameter of the fuzz_toy model"),
    (dict(params={"x": np.array([]), "y": 0.0}), r"x .*empty array"),
    (dict(steps=0), r"steps must be an integer >= 1, got 0"),
    (dict(steps=-3), r"steps must be an integer >= 1"),
    (dict(steps=2.5), r"steps must be an integer >= 1"),
    (dict(steps=True), r"steps must be an integer >= 1"),
    (dict(learning_rate=0.0), r"learning_rate must be a finite number > 0, got 0.0"),
    (dict(learning_rate=-0.1), r"learning_rate must be a finite number > 0"),
    (dict(learning_rate=float("nan")), r"learning_rate must be a finite number > 0, got nan"),
    (dict(learning_rate=float("inf")), r"learning_rate must be a finite number > 0"),
    (dict(learning_rate="0.1"), r"learning_rate must be a finite number > 0"),
    (dict(learning_rate=0.1, optimizer=optax.sgd(0.1)), r"either optimizer or learning_rate"),
    (dict(optimizer="adam"), r"optimizer must be an optax GradientTransformation"),
    (dict(bounds={"x": (0.7, 0.9)}), r"start value of 'x' \(0.5\) must lie strictly inside its bound"),
    (dict(bounds={"x": (0.5, 0.9)}), r"must lie strictly inside"),
    (dict(bounds={"x": (float("nan"), 0.9)}), r"bound for 'x' must be finite"),
    (dict(bounds={"x": (0.9, 0.1)}), r"bound for 'x' needs lo < hi"),
    (dict(bounds={"x": "wide"}), r"bound for 'x' must be a pair"),
    (dict(bounds={"y": (0, 1)}), r"bound given for 'y', which is not among the free"),
    (dict(bounds=[(0, 1)]), r"bounds must be a dict"),
    (dict(scales={"x": 0.0}), r"scale for 'x' must be a finite number > 0"),
    (dict(scales={"x": "big"}), r"scale for 'x' must be a finite number > 0"),
    (dict(scales=2.0), r"scales must be a dict"),
    (dict(maximize="yes"), r"maximize must be True or False"),
    (dict(progress=None), r"progress must be True or False"),
    (dict(objective=None), r"objective must be a callable"),
    (dict(objective=lambda r: "f"), r"objective must return a real scalar"),
    (dict(objective=lambda r: r["f"] * jnp.ones(2)), r"objective must return a real scalar, got an array"),
]


@pytest.mark.parametrize("change, match", BAD_OPTIMIZE)
def test_optimize_refuses_bad_arguments_before_any_work(toy_calls, change, match):
    calls = toy_calls
    args = dict(model="fuzz_toy", objective=lambda r: r["f"], params={"x": 0.5, "y": 0.0}, free=("x",), steps=3,
                progress=False)  # fmt: skip
    args.update(change)
    with pytest.raises(ValueError, match=match):
        optimize(**args)
    traced_only = "objective must return" in match  # the objective's shape is found by abstract evaluation
    assert calls == [] or traced_only


def test_optimize_non_finite_start_is_a_value_error_and_learning_rate_is_used(toy_calls):
    with pytest.raises(ValueError, match="not finite at the starting point") as info:
        optimize("fuzz_toy", lambda r: jnp.sqrt(r["f"] - 10.0), {"x": 0.5, "y": 0.0}, free="x", steps=2,
                 progress=False)  # fmt: skip
    assert isinstance(info.value, FloatingPointError)
    # the minimum of (x - 1)^2 is x = 1; plain gradient steps of a chosen size reach it
    res = optimize("fuzz_toy", lambda r: r["f"], {"x": 0.5, "y": 0.0}, free="x", steps=200, learning_rate=0.05,
                   scales={"x": 1.0}, progress=False)  # fmt: skip
    assert abs(float(res.params["x"]) - 1.0) < 1e-3 and res.steps == 200
