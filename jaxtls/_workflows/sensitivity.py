"""Sensitivities of steady-state outputs with respect to physical parameters.

The steady states are differentiated implicitly (`jaxtls._engine.implicit`): a derivative costs one
extra back-substitution with the factors of the forward solve, never a differentiation through
the elimination. There are few parameters (10 or 12) and many outputs, so `sensitivities`
uses forward mode: `jax.jacfwd` with respect to one shift per parameter, applied to the whole
flattened batch at once (points are independent, so a unit shift of a parameter at every point
gives each point's own derivative; the solvers vmap over the batch internally).

Besides the fields of `TransitionResult` (dotted paths such as ``"particle_current.u"``),
three derived outputs are defined here, with currents *into the system* as everywhere in
jaxtls (Eq. 5):

- ``"electrical_power"``: ``P_el = -(mu_u Ndot_u + mu_l Ndot_l)``, the chemical work delivered
  to the leads per unit time; in a steady state ``Ndot_u = -Ndot_l = R`` so
  ``P_el = -R (mu_u - mu_l)`` (> 0 for a solar cell, < 0 for an LED).
- ``"lead_heat"``: ``J = (Udot_u - mu_u Ndot_u) + (Udot_l - mu_l Ndot_l)``, the heat taken
  *out of* the two electronic leads per unit time (> 0: the leads are cooled). In a steady state
  of the cavity model ``J = R (E~_ph - (mu_u - mu_l))`` (Eq. 21).
- ``"efficiency"``: electrical power out over energy taken from the light,
  ``P_el / Udot_b`` for the cavity (solar cell powered by the bath; equals
  ``(mu_u - mu_l) / E~_ph`` in a steady state with ``R != 0``, bounded by Carnot
  ``1 - T/T_b`` for ``T_u = T_l = T``) and ``P_el / P_S`` for the classical field (``P_S`` the
  power absorbed from the field; ``= (mu_u - mu_l) / omega``). It is a ratio of two currents
  that both vanish with ``R``: ``nan`` where ``R = 0``, and physically meaningful where the light
  delivers energy (``Udot_b > 0`` resp. ``P_S > 0``, i.e. ``R < 0``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._engine.checks import ParameterError, broadcast_parameters, check_occupations, check_parameters
from .._models import cavity as _cavity
from .._models import classical as _classical
from .._models.result import SteadyStateError, TransitionResult

__all__ = [
    "sensitivities",
    "output_value",
    "electrical_power",
    "lead_heat",
    "efficiency",
    "DEFAULT_OUTPUTS",
    "DERIVED_OUTPUTS",
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


@dataclasses.dataclass(frozen=True, eq=False)
class ModelSpec:
    """What `sensitivities` and `optimize` need to know about a model solver."""

    name: str
    solve: Callable[..., TransitionResult]
    parameters: tuple[str, ...]
    rules: Mapping[str, str]
    complex_names: tuple[str, ...]
    static: tuple[str, ...]

    def check_static(self, static: Mapping[str, object]) -> None:
        unknown = sorted(set(static) - set(self.static))
        if unknown:
            raise ValueError(
                f"unknown keyword(s) {unknown} for the {self.name} model; static options are "
                f"{list(self.static)} (physical parameters go in `params`)"
            )
        if "occupations" in static:
            check_occupations(static["occupations"], ("bare", "effective"))
        if self.name == "cavity" and "n_max" in static:
            n = static["n_max"]
            if not (isinstance(n, str) and n == "auto"):
                if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                    raise ParameterError(f"n_max must be an integer >= 1 or 'auto', got {n!r}")

    def check_params(self, params: Mapping[str, object], *, complete: bool = True) -> dict:
        """Names (missing / unknown) and values (`check_parameters`) of the physical parameters."""
        if not isinstance(params, Mapping):
            raise ValueError(f"params must be a dict of parameter name -> value, got {type(params).__name__}")
        unknown = sorted(set(params) - set(self.parameters))
        if unknown:
            raise ValueError(
                f"{unknown} {'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of the "
                f"{self.name} model; its parameters are {list(self.parameters)}"
            )
        missing = [k for k in self.parameters if k not in params]
        if complete and missing:
            raise ValueError(f"missing parameter(s) {missing} of the {self.name} model")
        values = {k: params[k] for k in self.parameters if k in params}
        check_parameters(values, self.rules)
        return values

    def check_photon_energy(self, values: Mapping[str, object], occupations: str) -> None:
        if self.name == "cavity":
            _cavity._check_photon_energy(values, occupations)


_MODELS = {
    "classical": ModelSpec(
        name="classical",
        solve=_classical.solve_classical,
        parameters=_classical.PARAMETERS,
        rules=_classical.RULES,
        complex_names=("eps",),
        static=("occupations", "solver", "throw", "tol"),
    ),
    "cavity": ModelSpec(
        name="cavity",
        solve=_cavity.solve_cavity,
        parameters=_cavity.PARAMETERS,
        rules=_cavity.RULES,
        complex_names=("g",),
        static=("n_max", "occupations", "solver", "throw", "tol", "fock_tol"),
    ),
}


def resolve_model(model) -> ModelSpec:
    """``jaxtls.solve_classical`` / ``jaxtls.solve_cavity`` or ``"classical"`` / ``"cavity"``."""
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        if model in _MODELS:
            return _MODELS[model]
    else:
        for spec in _MODELS.values():
            if model is spec.solve:
                return spec
    raise ValueError(
        f"model must be one of 'classical', 'cavity', jaxtls.solve_classical or jaxtls.solve_cavity; got {model!r}"
    )


def _field(result: TransitionResult, path: str):
    head, _, key = path.partition(".")
    if not hasattr(result, head) or head in ("occupations", "model", "n_max", "diagnostics"):
        raise AttributeError(head)
    value = getattr(result, head)
    if isinstance(value, dict):
        if not key:
            raise KeyError(f"{head!r} is a dict; name an entry, e.g. '{head}.{next(iter(value))}'")
        return value[key]
    if key:
        raise KeyError(f"{head!r} is not a dict")
    if value is None:
        raise AttributeError(head)
    return value


def output_value(result: TransitionResult, params: Mapping[str, object], name: str):
    """One output of a result by name: a field (dotted path into dict fields, e.g.
    ``"energy_current.b"``) or a derived output (``"electrical_power"``, ``"lead_heat"``,
    ``"efficiency"``; module docstring). `params` are the physical parameters of the solve."""
    if name == "electrical_power":
        n = result.particle_current
        return -(params["mu_u"] * n["u"] + params["mu_l"] * n["l"])
    if name == "lead_heat":
        u, n = result.energy_current, result.particle_current
        return (u["u"] - params["mu_u"] * n["u"]) + (u["l"] - params["mu_l"] * n["l"])
    if name == "efficiency":
        p_el = output_value(result, params, "electrical_power")
        source = result.energy_current["b"] if result.model == "cavity" else result.power
        return p_el / source
    return _field(result, name)


def _check_outputs(spec: ModelSpec, outputs: Sequence[str]) -> tuple[str, ...]:
    if isinstance(outputs, str):
        outputs = (outputs,)
    outputs = tuple(outputs)
    if not outputs:
        raise ValueError("outputs must name at least one output")
    fields = [f.name for f in dataclasses.fields(TransitionResult)]
    dicts = {
        "particle_current": ("u", "l", "b") if spec.name == "cavity" else ("u", "l"),
        "energy_current": ("u", "l", "b") if spec.name == "cavity" else ("u", "l"),
        "entropy_flow": ("u", "l", "b") if spec.name == "cavity" else ("u", "l"),
        "effective_energy": ("u", "l", "ph") if spec.name == "cavity" else ("u", "l"),
        "occupation": ("u", "l", "b") if spec.name == "cavity" else ("u", "l"),
        "populations": ("u", "l", "ph") if spec.name == "cavity" else ("u", "l"),
    }
    scalars = [f for f in fields if f not in dicts and f not in ("diagnostics", "occupations", "model", "n_max")]
    if spec.name != "cavity":
        scalars.remove("fock_tail")
    allowed = list(DERIVED_OUTPUTS) + scalars + [f"{k}.{e}" for k, v in dicts.items() for e in v]
    for name in outputs:
        if not isinstance(name, str) or name not in allowed:
            raise ValueError(f"unknown output {name!r} for the {spec.name} model; choose from {allowed}")
    return outputs


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
        res = spec.solve(**kw, **static, throw=False)
        outs = {name: jnp.real(output_value(res, kw, name)) for name in outputs}
        tail = res.fock_tail if res.fock_tail is not None else jnp.zeros_like(res.rate)
        return outs, (outs, res.diagnostics.ok, tail)

    @jax.jit
    def jac(flat):
        shift = jnp.zeros(len(wrt))
        return jax.jacfwd(evaluate, has_aux=True)(shift, flat)

    return jac


def sensitivities(
    model,
    params: Mapping[str, object],
    outputs: Sequence[str] = DEFAULT_OUTPUTS,
    wrt: Sequence[str] | None = None,
    *,
    return_values: bool = False,
    **static,
) -> dict:
    """Derivatives of steady-state outputs with respect to physical parameters, batched.

    **Arguments:**

    - `model`: ``jaxtls.solve_classical`` / ``jaxtls.solve_cavity`` or ``"classical"`` /
      ``"cavity"``.
    - `params`: every physical parameter of the model (names as in the solver); floats or
      arrays that broadcast together (the derivatives have the broadcast shape). Units:
      hbar = k_B = 1, one energy unit throughout.
    - `outputs`: names of outputs: fields of `TransitionResult` (dotted for dict fields, e.g.
      ``"particle_current.u"``, ``"energy_current.b"``, ``"populations.ph"``) or the derived
      ``"electrical_power"``, ``"lead_heat"``, ``"efficiency"`` (module docstring for their
      definitions and signs). Default: rate, ``Ndot_u``, ``Udot_u``, power, entropy production,
      efficiency.
    - `wrt`: parameter names to differentiate with respect to (default: all of them). For a
      complex ``g`` / ``eps`` the derivative is with respect to its real part.
    - `return_values`: also return the outputs themselves.
    - `**static`: solver options passed through (``occupations``, ``n_max`` for the cavity,
      ``solver``, ``tol``, ``fock_tol``, ``throw``). With ``throw=True`` (default) a steady state
      that fails its checks or a truncated Fock space raises `SteadyStateError`.

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
    spec.check_static(static)
    values = spec.check_params(params)
    outputs = _check_outputs(spec, outputs)
    if wrt is None:
        wrt = spec.parameters
    elif isinstance(wrt, str):
        wrt = (wrt,)
    wrt = tuple(wrt)
    for name in wrt:
        if name not in spec.parameters:
            raise ValueError(
                f"cannot differentiate with respect to {name!r}: not a parameter of the {spec.name} model "
                f"(parameters: {list(spec.parameters)})"
            )
    if len(set(wrt)) != len(wrt):
        raise ValueError(f"wrt has repeated names: {list(wrt)}")
    occupations = static.get("occupations", "effective")
    spec.check_photon_energy(values, occupations)
    throw = static.pop("throw", True)
    tol = static.get("tol", 1e-8)
    fock_tol = static.get("fock_tol", 1e-8)
    flat, shape = broadcast_parameters(values, complex_names=spec.complex_names)
    if spec.name == "cavity" and static.get("n_max") == "auto":
        probe = spec.solve(**values, **static, throw=throw)
        static["n_max"] = probe.n_max
    key = _hashable(static)
    jac = _jacobian_fn_cached(spec, wrt, outputs, key) if key is not None else _jacobian_fn(spec, wrt, outputs, static)
    derivs, (vals, ok, tail) = jac(flat)
    if throw:
        ok, tail = np.asarray(ok), np.asarray(tail)
        if not ok.all():
            raise SteadyStateError(
                f"{int((~ok).sum())} of {ok.size} steady states failed the linear-solve checks (tol={tol:g}); "
                "call the solver on these parameters for details, or pass throw=False"
            )
        if spec.name == "cavity" and np.any(tail > fock_tol):
            raise SteadyStateError(
                f"Fock cutoff too small: P(n = n_max) reaches {tail.max():.3g} > fock_tol={fock_tol:g}; "
                "raise n_max (or n_max='auto'), or pass throw=False"
            )
    out = {name: {p: derivs[name][:, i].reshape(shape) for i, p in enumerate(wrt)} for name in outputs}
    if return_values:
        return out, {name: vals[name].reshape(shape) for name in outputs}
    return out


def electrical_power(result: TransitionResult, params: Mapping[str, object]):
    """``P_el = -(mu_u Ndot_u + mu_l Ndot_l)`` (``= -R (mu_u - mu_l)`` in a steady state):
    electrical power delivered to the leads (> 0 solar cell, < 0 LED). Energy per unit time."""
    return output_value(result, params, "electrical_power")


def lead_heat(result: TransitionResult, params: Mapping[str, object]):
    """``J = sum_{a=u,l} (Udot_a - mu_a Ndot_a)``: heat taken out of the electronic leads per
    unit time (currents into the system, Eq. 5); > 0 means the leads are cooled."""
    return output_value(result, params, "lead_heat")


def efficiency(result: TransitionResult, params: Mapping[str, object]):
    """``P_el / Udot_b`` (cavity) or ``P_el / P_S`` (classical field): electrical power out per
    energy taken from the light (``nan`` where ``R = 0``; meaningful for ``R < 0``)."""
    return output_value(result, params, "efficiency")
