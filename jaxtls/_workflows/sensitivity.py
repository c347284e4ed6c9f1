"""Sensitivities of steady-state outputs with respect to physical parameters, for any
registered model (`jaxtls.register_model`; the built-ins ``"classical"`` and ``"cavity"``).

The steady states are differentiated implicitly (`jaxtls._engine.implicit`): a derivative costs one
extra back-substitution with the factors of the forward solve, never a differentiation through
the elimination. There are few parameters (10 or 12) and many outputs, so `sensitivities`
uses forward mode: `jax.jacfwd` with respect to one shift per parameter, applied to the whole
flattened batch at once (points are independent -- the convention every registered model
follows -- so a unit shift of a parameter at every point gives each point's own derivative).

Besides the fields of the model's result (dotted paths such as ``"particle_current.u"``),
three derived outputs are defined here for models with two electronic leads ``u``, ``l``, with
currents *into the system* as everywhere in jaxtls (Eq. 5):

- ``"electrical_power"``: ``P_el = -(mu_u Ndot_u + mu_l Ndot_l)``, the chemical work delivered
  to the leads per unit time; in a steady state ``Ndot_u = -Ndot_l = R`` so
  ``P_el = -R (mu_u - mu_l)`` (> 0 for a solar cell, < 0 for an LED).
- ``"lead_heat"``: ``J = (Udot_u - mu_u Ndot_u) + (Udot_l - mu_l Ndot_l)``, the heat taken
  *out of* the two electronic leads per unit time (> 0: the leads are cooled). In a steady state
  of the cavity model ``J = R (E~_ph - (mu_u - mu_l))`` (Eq. 21).
- ``"efficiency"``: electrical power out over the energy taken from the light per unit time,
  ``P_el / (P_S + sum_b Udot_b)``: the power ``P_S`` absorbed from a classical field plus the
  energy currents from every reservoir other than the leads (the photon bath of the cavity).
  For the cavity it is ``P_el / Udot_b`` (``= (mu_u - mu_l) / E~_ph`` in a steady state with
  ``R != 0``, bounded by Carnot ``1 - T/T_b`` for ``T_u = T_l = T``); for the classical field
  ``P_el / P_S`` (``= (mu_u - mu_l) / omega``). It is a ratio of two currents that both vanish
  with ``R``: ``nan`` where ``R = 0``, and physically meaningful where the light delivers
  energy (``R < 0``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.checks import ParameterError, broadcast_parameters, check_parameters
from .._models.registry import ModelSpec, available_fields, get_field, resolve_model
from .._models.result import SteadyStateError
from .._models.spec import ArgumentTypeError

__all__ = [
    "sensitivities",
    "output_value",
    "electrical_power",
    "lead_heat",
    "efficiency",
    "solve_checked",
    "prepare_inputs",
    "names_argument",
    "parameter_names",
    "check_flag",
    "DEFAULT_OUTPUTS",
    "DERIVED_OUTPUTS",
    "ModelSpec",
    "resolve_model",
]

DEFAULT_OUTPUTS = (
    "rate",
    "particle_current.u",
    "energy_current.u",
    "power",
    "entropy_production",
    "efficiency",
)
DERIVED_OUTPUTS = ("electrical_power", "lead_heat", "efficiency")
_LEADS = ("u", "l")


def _light_input(result):
    """``P_S + sum_b Udot_b``: energy per unit time from the light (classical field and every
    reservoir that is not one of the leads u, l)."""
    try:
        power = get_field(result, "power")
    except KeyError:
        power = None
    total = 0.0 if power is None else power
    for name, value in get_field(result, "energy_current").items():
        if name not in _LEADS:
            total = total + value
    return total


def output_value(result, params: Mapping[str, object], name: str):
    """One output of a result by name: a field (dotted path into dict fields, e.g.
    ``"energy_current.b"``) or a derived output (``"electrical_power"``, ``"lead_heat"``,
    ``"efficiency"``; module docstring). `params` are the physical parameters of the solve."""
    if name == "electrical_power":
        n = get_field(result, "particle_current")
        return -(params["mu_u"] * n["u"] + params["mu_l"] * n["l"])
    if name == "lead_heat":
        u, n = get_field(result, "energy_current"), get_field(result, "particle_current")
        return (u["u"] - params["mu_u"] * n["u"]) + (u["l"] - params["mu_l"] * n["l"])
    if name == "efficiency":
        return output_value(result, params, "electrical_power") / _light_input(result)
    value = get_field(result, name)
    if isinstance(value, Mapping):
        raise KeyError(f"{name!r} is a dict; name an entry, e.g. '{name}.{next(iter(value), 'key')}'")
    if value is None:
        raise KeyError(name)
    return value


def _differentiable(value) -> bool:
    return hasattr(value, "dtype") and jnp.issubdtype(value.dtype, jnp.inexact)


class _UnknownOutput(ValueError):
    """Raised while tracing: the output is not in this model's result."""


def _traced_output(spec: ModelSpec, result, params, name: str, n: int):
    """`output_value` as a ``(n, ...)`` real array, or `_UnknownOutput` listing what exists."""
    try:
        value = output_value(result, params, name)
    except (KeyError, AttributeError, TypeError):
        value = None
    if value is not None:
        value = jnp.asarray(value)
    if value is None or not _differentiable(value):
        allowed = []
        for candidate in (*DERIVED_OUTPUTS, *available_fields(result)):
            try:
                if _differentiable(jnp.asarray(output_value(result, params, candidate))):
                    allowed.append(candidate)
            except (KeyError, AttributeError, TypeError):
                pass
        raise _UnknownOutput(f"unknown output {name!r} for the {spec.name} model; choose from {allowed}")
    value = jnp.broadcast_to(value, (n,)) if value.ndim == 0 else value
    if value.shape[0] != n:
        raise _UnknownOutput(f"output {name!r} has shape {value.shape}; expected the batch ({n},) first")
    return jnp.real(value)


def names_argument(argument: str, names, allowed, what: str) -> tuple[str, ...]:
    """`names` (one name or a sequence of distinct names, each in `allowed` unless it is None)
    as a tuple, or a `ValueError` naming `argument` (``wrt``, ``free``, ``outputs``); `what`
    says what a name must be (``"a parameter of the cavity model (...)"``)."""
    if isinstance(names, str):
        names = (names,)
    elif isinstance(names, Sequence) and not isinstance(names, bytes):
        names = tuple(names)
    else:
        raise ArgumentTypeError(f"{argument} must be a name or a list of names, got {names!r}; each must be {what}")
    if not names:
        raise ValueError(f"{argument} is empty; name at least one: each must be {what}")
    for name in names:
        if not isinstance(name, str) or not name or (allowed is not None and name not in allowed):
            raise ValueError(f"{argument}: {name!r} is not {what}")
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} has repeated names: {list(names)}")
    return names


def parameter_names(argument: str, names, spec: ModelSpec) -> tuple[str, ...]:
    """`names_argument` for names of the model's parameters (``wrt``, ``free``)."""
    what = f"a parameter of the {spec.name} model (parameters: {list(spec.parameters)})"
    return names_argument(argument, names, spec.parameters, what)


def check_flag(name: str, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_values(spec: ModelSpec, values: dict) -> None:
    """Every parameter a non-empty array of finite numbers (complex only where the spec allows
    it), the values broadcasting together: also for a model registered without rules."""
    rules = spec.rules or {}
    check_parameters(
        {k: v for k, v in values.items() if k not in rules},
        {k: "complex" if k in spec.complex_parameters else "real" for k in values if k not in rules},
    )
    shapes = {}
    for k, v in values.items():
        shapes[k] = np.shape(v)
        if 0 in shapes[k]:
            raise ParameterError(f"{k} is an empty array (shape {shapes[k]}); give at least one value")
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        raise ParameterError(f"parameter shapes do not broadcast together: {shapes}") from None


def prepare_inputs(spec: ModelSpec, params, static: dict, what: str) -> tuple[dict, dict, bool]:
    """The checks `sensitivities` and `optimize` share, before any work: ``(values, static,
    throw)`` with the parameters checked against the spec (names, rules, finiteness, empty
    arrays, broadcasting), the static options checked and resolved (e.g. ``n_max="auto"``) and
    the model's host-side validation run."""
    spec.require_parameters(what)
    throw = check_flag("throw", static.pop("throw", True))
    spec.check_static(static)
    values = spec.check_params(params)
    _check_values(spec, values)
    static = spec.resolve_static(values, static, throw)
    spec.run_validate({**values, **static})
    return values, static, throw


def solve_checked(spec: ModelSpec, values: Mapping, static: Mapping, throw: bool):
    """The model at `values` with its checks on (``throw=True``): the model's own error where it
    raises one, else `SteadyStateError` where the spec's trust check fails."""
    result = spec.call(values, static, throw=throw)
    ok = spec.trusted(result, {**values, **static}) if throw else None
    if ok is not None and not np.all(np.asarray(ok)):
        bad = int(np.size(ok) - np.count_nonzero(np.asarray(ok)))
        raise SteadyStateError(
            f"{bad} of {np.size(ok)} points of the {spec.name} model failed its trust check "
            f"({spec.check_description}); pass throw=False to get flagged results"
        )
    return result


def _hashable(static: Mapping[str, object]):
    try:
        key = tuple(sorted(static.items()))
        hash(key)
        return key
    except TypeError:
        return None


@functools.lru_cache(maxsize=64)
def _jacobian_fn_cached(spec: ModelSpec, wrt: tuple, outputs: tuple, static_key: tuple):
    return _jacobian_fn(spec, wrt, outputs, dict(static_key))


def _jacobian_fn(spec: ModelSpec, wrt: tuple, outputs: tuple, static: dict):
    def evaluate(shift, flat):
        kw = dict(flat)
        for i, name in enumerate(wrt):
            kw[name] = kw[name] + shift[i]
        res = spec.call(kw, static, throw=False)
        n = next(iter(flat.values())).shape[0]
        outs = {name: _traced_output(spec, res, kw, name, n) for name in outputs}
        ok = spec.trusted(res, {**kw, **static})
        ok = None if ok is None else jnp.broadcast_to(jnp.asarray(ok, bool), (n,))
        return outs, (outs, ok)

    @jax.jit
    def jac(flat):
        shift = jnp.zeros(len(wrt))
        return jax.jacfwd(evaluate, has_aux=True)(shift, flat)

    return jac


def _raise_untrusted(spec: ModelSpec, flat: dict, ok: np.ndarray, static: dict) -> None:
    """`SteadyStateError` for the points that failed the trust check, with the model's own
    explanation (its ``throw=True`` error on those points) where it gives one."""
    bad = np.flatnonzero(~ok)
    detail = ""
    if spec.accepts("throw"):
        try:
            spec.call({k: np.asarray(v)[bad] for k, v in flat.items()}, static, throw=True)
        except Exception as err:  # noqa: BLE001 - only its message is used
            detail = f": {err}"
    raise SteadyStateError(
        f"{bad.size} of {ok.size} steady states of the {spec.name} model failed its trust check "
        f"({spec.check_description}){detail}; call the solver on these parameters for details, "
        "or pass throw=False"
    )


def sensitivities(
    model,
    params: Mapping[str, object],
    outputs: Sequence[str] | None = None,
    wrt: Sequence[str] | None = None,
    *,
    return_values: bool = False,
    **static,
) -> dict:
    """Derivatives of steady-state outputs with respect to physical parameters, batched.

    **Arguments:**

    - `model`: a registered model (name, `ModelSpec` or its function: ``"classical"``,
      ``jaxtls.solve_cavity``, anything added with `jaxtls.register_model` with its
      `parameters`).
    - `params`: every physical parameter of the model (names as in the solver); floats or
      arrays that broadcast together (the derivatives have the broadcast shape). Units:
      hbar = k_B = 1, one energy unit throughout.
    - `outputs`: names of outputs: fields of the model's result (dotted for dict fields, e.g.
      ``"particle_current.u"``, ``"energy_current.b"``, ``"populations.ph"``) or the derived
      ``"electrical_power"``, ``"lead_heat"``, ``"efficiency"`` (module docstring for their
      definitions and signs). Default: the model's `ModelSpec.outputs` (for the built-ins:
      rate, ``Ndot_u``, ``Udot_u``, power, entropy production, efficiency).
    - `wrt`: parameter names to differentiate with respect to (default: all of them). For a
      complex ``g`` / ``eps`` the derivative is with respect to its real part.
    - `return_values`: also return the outputs themselves.
    - `**static`: the model's static options, passed through (built-ins: ``occupations``,
      ``n_max`` for the cavity, ``solver``, ``tol``, ``fock_tol``) and ``throw``. With
      ``throw=True`` (default) a point that fails the model's trust check (for the built-ins a
      steady state failing its checks, or a truncated Fock space) raises `SteadyStateError`.

    **Returns:** ``{output: {parameter: d output / d parameter}}`` (each of the broadcast shape,
    in units of output per unit of parameter), and with ``return_values=True`` the tuple
    ``(derivatives, {output: value})``.

    Cost: one steady-state solve plus one back-substitution per parameter with the same factors
    (forward mode; `jax.jacfwd` of a unit shift of each parameter over the whole batch).

    ```python
    d = jaxtls.sensitivities("cavity", params, outputs=("rate",), wrt=("mu_u", "g"), n_max=20)
    d["rate"]["mu_u"]   # dR/dmu_u at every point
    ```
    """
    spec = resolve_model(model)
    values, static, throw = prepare_inputs(spec, params, dict(static), "sensitivities")
    check_flag("return_values", return_values)
    if outputs is None:
        if spec.outputs is None:
            raise ValueError(f"the {spec.name} model declares no default outputs; pass outputs=(...)")
        outputs = spec.outputs
    outputs = names_argument("outputs", outputs, None, "an output name (a result field or a derived output)")
    wrt = parameter_names("wrt", spec.parameters if wrt is None else wrt, spec)
    flat, shape = broadcast_parameters(values, complex_names=spec.complex_parameters)
    key = _hashable(static)
    jac = _jacobian_fn_cached(spec, wrt, outputs, key) if key is not None else _jacobian_fn(spec, wrt, outputs, static)
    try:
        derivs, (vals, ok) = jac(flat)
    except _UnknownOutput as err:
        raise ValueError(str(err)) from None
    if throw and ok is not None and not np.all(np.asarray(ok)):
        _raise_untrusted(spec, flat, np.asarray(ok), static)

    def shaped(a):
        return a.reshape(shape + a.shape[1:])

    out = {name: {p: shaped(derivs[name][..., i]) for i, p in enumerate(wrt)} for name in outputs}
    if return_values:
        return out, {name: shaped(vals[name]) for name in outputs}
    return out


def electrical_power(result, params: Mapping[str, object]):
    """``P_el = -(mu_u Ndot_u + mu_l Ndot_l)`` (``= -R (mu_u - mu_l)`` in a steady state):
    electrical power delivered to the leads (> 0 solar cell, < 0 LED). Energy per unit time."""
    return output_value(result, params, "electrical_power")


def lead_heat(result, params: Mapping[str, object]):
    """``J = sum_{a=u,l} (Udot_a - mu_a Ndot_a)``: heat taken out of the electronic leads per
    unit time (currents into the system, Eq. 5); > 0 means the leads are cooled."""
    return output_value(result, params, "lead_heat")


def efficiency(result, params: Mapping[str, object]):
    """``P_el / (P_S + sum_b Udot_b)``: electrical power out per energy taken from the light
    (``P_el / Udot_b`` for the cavity, ``P_el / P_S`` for the classical field; ``nan`` where
    ``R = 0``; meaningful for ``R < 0``)."""
    return output_value(result, params, "efficiency")
