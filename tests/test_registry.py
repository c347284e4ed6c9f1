"""One model registry (issue 13, item 5): scans, sensitivities, optimisation and the CLI read
`jaxtls._models.registry`; a model registered in a test works in all of them, and nothing in the
workflows keys on a model's name."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._models import registry
from jaxtls._workflows.cli import main
from jaxtls._workflows.sensitivity import output_value

CLASSICAL = dict(
    E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05,
    mu_u=0.6, mu_l=0.1, T_u=0.05, T_l=0.07,
)  # fmt: skip
CAVITY = dict(
    E_u=1.0, E_l=0.0, omega_cav=1.03, g=0.04, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02,
    mu_u=0.9, mu_l=0.1, T_u=0.08, T_l=0.06, T_b=0.3,
)  # fmt: skip
LEVEL = dict(E=0.25, gamma_u=0.02, gamma_l=0.03, mu_u=0.3, mu_l=-0.1, T_u=0.05, T_l=0.05)


def level(*, E, gamma_u, gamma_l, mu_u, mu_l, T_u, T_l):
    """A single level between two leads (local leads, Eq. 8): closed-form steady state.

    ``p = (gamma_u f_u + gamma_l f_l) / Gamma``, ``R = Ndot_u = -Ndot_l = gamma_u gamma_l
    (f_u - f_l) / Gamma``, ``Udot_a = E Ndot_a``, ``Sdot = sum_a (mu_a - E) Ndot_a / T_a``.
    """
    f_u = 1 / (jnp.exp((E - mu_u) / T_u) + 1)
    f_l = 1 / (jnp.exp((E - mu_l) / T_l) + 1)
    gam = gamma_u + gamma_l
    rate = gamma_u * gamma_l * (f_u - f_l) / gam
    sigma = (mu_u - E) * rate / T_u - (mu_l - E) * rate / T_l
    return {
        "rate": rate,
        "particle_current": {"u": rate, "l": -rate},
        "energy_current": {"u": E * rate, "l": -E * rate},
        "power": jnp.zeros_like(rate),
        "entropy_production": sigma,
        "populations": {"level": (gamma_u * f_u + gamma_l * f_l) / gam},
        "ok": jnp.isfinite(rate),
    }


LEVEL_RULES = {"E": "real", "gamma_u": "positive", "gamma_l": "positive", "mu_u": "real", "mu_l": "real",
               "T_u": "positive", "T_l": "positive"}  # fmt: skip


@pytest.fixture(autouse=True)
def _clean_registry(monkeypatch):
    """Every test starts from the built-in models only."""
    monkeypatch.setattr(registry, "_REGISTRY", {})


def _register_level(name="level", **kwargs):
    return jt.register_model(name, level, parameters=tuple(LEVEL), rules=LEVEL_RULES, check="ok",
                             outputs=("rate", "entropy_production", "electrical_power"), **kwargs)  # fmt: skip


def _fd(fn, params, name, h):
    up, dn = dict(params, **{name: params[name] + h}), dict(params, **{name: params[name] - h})
    return (fn(up) - fn(dn)) / (2 * h)


# ---------------------------------------------------------------------------------------------
# One registry, the old call forms


def test_builtins_declared_from_the_model_modules_and_old_call_forms():
    from jaxtls._models import cavity, classical

    models = jt.registered_models()
    assert models["classical"].parameters == classical.PARAMETERS and models["cavity"].rules == cavity.RULES
    assert models["cavity"].complex_parameters == ("g",) and models["classical"].complex_names == ("eps",)
    assert models["cavity"].solve is jt.solve_cavity  # the former sensitivity spec's name
    assert set(models["cavity"].static_names) == {"n_max", "occupations", "solver", "throw", "tol", "fock_tol"}
    assert registry.resolve_model(jt.solve_classical) is models["classical"]
    # the former scan registry's forms: positional (name, fn, parameters), a ready ModelSpec
    spec = jt.register_model("lvl", level, tuple(LEVEL), rules=LEVEL_RULES, check="ok")
    assert jt.registered_models()["lvl"] is spec and spec.check_description == "ok" and spec.static is None
    spec2 = jt.register_model(jt.ModelSpec("lvl2", level, tuple(LEVEL)))
    assert jt.registered_models()["lvl2"] is spec2 and spec2.parameters == tuple(LEVEL)
    with pytest.raises(ValueError, match="non-empty"):
        jt.register_model("", level)
    with pytest.raises(TypeError, match="callable"):
        jt.register_model("x", 3)
    # static options are checked with their rules
    with pytest.raises(ValueError, match="n_max must be an integer >= 1"):
        models["cavity"].check_static({"n_max": 0})
    with pytest.raises(ValueError, match="fock_tol must be a finite number >= 0"):
        models["cavity"].check_static({"fock_tol": float("nan")})
    with pytest.raises(ValueError, match="occupations must be one of"):
        models["classical"].check_static({"occupations": "effectiv"})


# ---------------------------------------------------------------------------------------------
# Sensitivities and optimisation of a model registered here


def test_sensitivities_of_a_registered_model_match_closed_form_and_finite_differences():
    _register_level()
    p = dict(LEVEL, E=np.array([0.25, 0.05]))  # two points, one batched call
    d, vals = jt.sensitivities("level", p, return_values=True)
    assert set(d) == {"rate", "entropy_production", "electrical_power"} and set(d["rate"]) == set(LEVEL)
    assert d["rate"]["E"].shape == (2,)
    for k in range(2):
        q = {n: float(v[k]) if np.ndim(v) else v for n, v in p.items()}
        f_u = 1 / (np.exp((q["E"] - q["mu_u"]) / q["T_u"]) + 1)
        f_l = 1 / (np.exp((q["E"] - q["mu_l"]) / q["T_l"]) + 1)
        g = q["gamma_u"] * q["gamma_l"] / (q["gamma_u"] + q["gamma_l"])
        by_hand = {  # d R / d parameter
            "mu_u": g * f_u * (1 - f_u) / q["T_u"],
            "mu_l": -g * f_l * (1 - f_l) / q["T_l"],
            "E": g * (f_l * (1 - f_l) / q["T_l"] - f_u * (1 - f_u) / q["T_u"]),
            "T_u": g * f_u * (1 - f_u) * (q["E"] - q["mu_u"]) / q["T_u"] ** 2,
            "gamma_u": q["gamma_l"] ** 2 / (q["gamma_u"] + q["gamma_l"]) ** 2 * (f_u - f_l),
        }
        for name, ref in by_hand.items():
            np.testing.assert_allclose(d["rate"][name][k], ref, rtol=1e-12, atol=1e-18)
        for out in d:
            np.testing.assert_allclose(vals[out][k], output_value(level(**q), q, out), rtol=1e-14)
            for name in q:
                h = 1e-6 * max(abs(q[name]), 0.05)
                fd = _fd(lambda s, out=out: float(output_value(level(**s), s, out)), q, name, h)
                assert abs(float(d[out][name][k]) - fd) <= 1e-7 * abs(fd) + 1e-12, (out, name)
    # by spec object and by function: the same
    d2 = jt.sensitivities(jt.registered_models()["level"], p, outputs="rate", wrt="mu_u")
    d3 = jt.sensitivities(level, p, outputs="rate", wrt="mu_u")
    np.testing.assert_allclose(d2["rate"]["mu_u"], d["rate"]["mu_u"], rtol=1e-14)
    np.testing.assert_allclose(d3["rate"]["mu_u"], d["rate"]["mu_u"], rtol=1e-14)


def test_sensitivities_of_a_registered_model_refuse_bad_input_and_untrusted_points():
    _register_level()
    jt.register_model("flagged", level, tuple(LEVEL), rules=LEVEL_RULES, check=lambda r, kw: kw["E"] < 0.2)
    with pytest.raises(ValueError, match=r"unknown output 'nope' for the level model; choose from \[.*'rate'"):
        jt.sensitivities("level", LEVEL, outputs=("nope",))
    with pytest.raises(ValueError, match="gamma_u"):
        jt.sensitivities("level", dict(LEVEL, gamma_u=-1.0))
    with pytest.raises(ValueError, match="not a parameter"):
        jt.sensitivities("level", LEVEL, wrt=("omega",))
    with pytest.raises(ValueError, match="unknown keyword"):  # a static option it does not have
        jt.register_model("level_static", level, tuple(LEVEL), static=())
        jt.sensitivities("level_static", LEVEL, n_max=3)
    with pytest.raises(ValueError, match="declares no default outputs"):
        jt.sensitivities("flagged", LEVEL)
    with pytest.raises(ValueError, match="parameters=") as info:
        jt.sensitivities(lambda **kw: level(**kw), LEVEL, outputs="rate")  # unregistered callable
    assert "register" in str(info.value)
    p = dict(LEVEL, E=np.array([0.1, 0.3]))
    with pytest.raises(jt.SteadyStateError, match="1 of 2 .*flagged model failed its trust check"):
        jt.sensitivities("flagged", p, outputs="rate")
    d = jt.sensitivities("flagged", p, outputs="rate", throw=False)
    assert np.all(np.isfinite(d["rate"]["E"]))


def test_optimize_a_registered_model_reaches_the_closed_form_optimum():
    """R(E) = G (f(E - mu_u) - f(E - mu_l)) at T_u = T_l is largest at E = (mu_u + mu_l) / 2."""
    _register_level()
    opt = jt.optimize("level", lambda r: jnp.sum(r["rate"]), LEVEL, free=("E",), maximize=True, steps=300,
                      progress=False, scales={"E": 0.05})  # fmt: skip
    best = (LEVEL["mu_u"] + LEVEL["mu_l"]) / 2
    assert abs(float(opt.params["E"]) - best) < 1e-5
    e, t = float(opt.params["E"]), LEVEL["T_u"]
    f_u, f_l = (1 / (np.exp((e - LEVEL[m]) / t) + 1) for m in ("mu_u", "mu_l"))
    g = LEVEL["gamma_u"] * LEVEL["gamma_l"] / (LEVEL["gamma_u"] + LEVEL["gamma_l"])
    np.testing.assert_allclose(opt.grad["E"], g * (f_l * (1 - f_l) - f_u * (1 - f_u)) / t, rtol=1e-6, atol=1e-15)
    assert abs(float(opt.grad["E"])) < 1e-4 * abs(float(jt.sensitivities("level", LEVEL, wrt="E")["rate"]["E"]))
    np.testing.assert_allclose(opt.value, level(**dict(LEVEL, E=best))["rate"], rtol=1e-9)
    assert float(opt.result["rate"]) == pytest.approx(float(opt.value), rel=1e-14)
    # rates stay positive through the softplus transform; a bound works as for the built-ins
    opt2 = jt.optimize("level", lambda r, p: r["rate"] * p["gamma_u"], LEVEL, free=("gamma_u",),
                       bounds={"gamma_u": (0.01, 0.05)}, maximize=True, steps=50, progress=False)  # fmt: skip
    assert 0.01 < float(opt2.params["gamma_u"]) < 0.05 and opt2.value > opt2.history[0]


# ---------------------------------------------------------------------------------------------
# The registry's classical spec: against the closed form A8-A12 (independent of the engine)


def test_sensitivities_of_the_registry_classical_spec_match_the_closed_form():
    spec = jt.registered_models()["classical"]
    outputs = ("rate", "entropy_production", "energy_current.u", "power", "efficiency", "lead_heat")
    p = dict(CLASSICAL, mu_u=np.array([0.6, 1.3]))
    d = jt.sensitivities(spec, p, outputs=outputs)
    for k in range(2):
        q = {n: float(v[k]) if np.ndim(v) else v for n, v in p.items()}
        for out in outputs:
            scale = max(abs(float(d[out][n][k])) for n in q)
            for name in q:
                h = 1e-5 * max(abs(q[name]), 0.05)
                fd = _fd(lambda s, out=out: float(output_value(jt.classical_closed_form(**s), s, out)), q, name, h)
                assert abs(float(d[out][name][k]) - fd) <= 1e-6 * abs(fd) + 1e-8 * scale + 1e-14, (out, name)


def test_optimize_the_registry_classical_spec_finds_resonance():
    """With bare occupations R = alpha H (f_u - f_l) grows with alpha (A8), largest at Delta = 0."""
    spec = jt.registered_models()["classical"]
    start = dict(CLASSICAL, omega=1.04, mu_u=1.2, mu_l=-0.2)
    opt = jt.optimize(spec, lambda r: r.rate, start, free=("omega",), maximize=True, steps=300,
                      progress=False, occupations="bare")  # fmt: skip
    assert abs(float(opt.params["omega"]) - (start["E_u"] - start["E_l"])) < 1e-4
    ref = jt.classical_closed_form(**dict(start, omega=opt.params["omega"]), occupations="bare")
    np.testing.assert_allclose(opt.value, ref["rate"], rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Nothing in the workflows keys on a model's name


def test_a_renamed_builtin_behaves_like_the_builtin_everywhere(capsys):
    spec = dataclasses.replace(jt.registered_models()["cavity"], name="renamed")
    jt.register_model(spec)
    static = dict(n_max=10)
    a = jt.sensitivities("cavity", CAVITY, outputs=("rate", "efficiency"), wrt=("mu_u", "g"), **static)
    b = jt.sensitivities("renamed", CAVITY, outputs=("rate", "efficiency"), wrt=("mu_u", "g"), **static)
    assert all(np.array_equal(a[o][w], b[o][w]) for o in a for w in a[o])
    # the Fock-cutoff trust check comes with the spec, not with the name
    with pytest.raises(jt.SteadyStateError, match="Fock cutoff too small"):
        jt.sensitivities("renamed", dict(CAVITY, mu_u=2.0, T_b=3.0), outputs="rate", wrt="mu_u", n_max=2)
    fixed = {k: v for k, v in CAVITY.items() if k != "mu_u"}
    ds = jt.scan("renamed", {"mu_u": [0.8, 1.0]}, {**fixed, "n_max": 6}, progress=False)
    ref = jt.scan("cavity", {"mu_u": [0.8, 1.0]}, {**fixed, "n_max": 6}, progress=False)
    np.testing.assert_array_equal(ds["rate"], ref["rate"])
    np.testing.assert_array_equal(ds["ok"], ref["ok"])
    args = [x for k, v in CAVITY.items() for x in (f"--{k}", str(v))]
    outs = []
    for name in ("cavity", "renamed"):
        assert main(["solve", name, *args, "--n_max", "8", "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1]


def test_workflow_sources_hold_no_model_name():
    """The workflows this registry serves name no model (docstrings aside)."""
    root = Path(jt.__file__).parent / "_workflows"
    files = [root / "sensitivity.py", root / "optimize.py", root / "cli.py", *sorted((root / "scan").glob("*.py"))]
    found = []
    for f in files:
        tree = ast.parse(f.read_text())
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
        }  # fmt: skip
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and id(node) not in docstrings and node.value in ("cavity", "classical"):
                found.append(f"{f.name}:{node.lineno}")
    assert not found, found


# ---------------------------------------------------------------------------------------------
# The command line reads the registry


def test_cli_solve_any_registered_model_and_help_lists_it(capsys):
    _register_level()
    with pytest.raises(SystemExit) as info:
        main(["solve", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "classical" in text and "cavity" in text and "level" in text
    with pytest.raises(SystemExit):
        main(["solve", "level", "--help"])
    text = capsys.readouterr().out
    assert all(f"--{p}" in text for p in LEVEL)
    args = [x for k, v in LEVEL.items() for x in (f"--{k}", str(v))]
    assert main(["solve", "level", *args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rate"] == pytest.approx(float(level(**LEVEL)["rate"]), rel=1e-14)
    assert data["particle_current.u"] == data["rate"]
    # the built-in cavity with its static options from the spec (n_max, occupations)
    args = [x for k, v in CAVITY.items() for x in (f"--{k}", str(v))]
    assert main(["solve", "cavity", *args, "--n_max", "12", "--occupations", "bare", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    r = jt.solve_cavity(**CAVITY, n_max=12, occupations="bare")
    assert data["n_max"] == 12 and data["occupations"] == "bare"
    assert data["rate"] == pytest.approx(float(r.rate), rel=1e-12)
    # Eq. 21: E~_u - E~_l = E~_ph, whatever the solve
    e = data["effective_energy"]
    assert e["u"] - e["l"] == pytest.approx(e["ph"], rel=1e-12)
    assert main(["solve", "cavity", *args, "--n_max", "many"]) == 2  # one line, no usage text
    err = capsys.readouterr().err
    assert "n_max must be an integer >= 1 or 'auto'" in err and len(err.splitlines()) == 1


def test_n_max_is_bounded_by_a_memory_estimate_and_wrong_types_are_value_errors(monkeypatch):
    """Issue 16: ``n_max = 10**5`` took 63 s and 4.6 GB for one point and nothing stopped
    ``10**9``; the registry's check refuses a cutoff whose estimated memory exceeds what the
    host has, naming n_max and the largest allowed value, before any work."""
    cavity_spec = jt.registered_models()["cavity"]
    monkeypatch.setattr(registry, "host_available_bytes", lambda: 100 * registry.BYTES_PER_FOCK_LEVEL)
    cavity_spec.check_static({"n_max": 99})  # 100 levels: just fits
    with pytest.raises(jt.ParameterError, match=r"n_max = 100 would need about .* n_max must be an integer between 1 "
                       r"and 99 here"):  # fmt: skip
        cavity_spec.check_static({"n_max": 100})
    with pytest.raises(jt.ParameterError, match=r"n_max = 1000000000 would need about"):
        jt.sensitivities("cavity", CAVITY, outputs="rate", wrt="mu_u", n_max=10**9)
    for bad in (True, 2.0, "8", None, -1):
        with pytest.raises(jt.ParameterError, match="n_max must be an integer >= 1 or 'auto'"):
            cavity_spec.check_static({"n_max": bad})
    # a model that is neither a name nor a callable: a ValueError that is also a TypeError
    for bad in (None, 3, 2.5):
        with pytest.raises(ValueError, match="model must be a registered name") as info:
            registry.resolve_model(bad)
        assert isinstance(info.value, TypeError)
