"""One registry of the models that the workflows run: scans, sensitivities, optimisation, CLI.

A `ModelSpec` (`jaxtls._models.spec`) says everything a workflow needs to know about a model
function, so that no workflow names a model: which keyword parameters broadcast (and may go on
a grid, be differentiated or optimised), their value rules and units, which may be complex, the
static options and their checks, the default outputs, the trust check of a result (the ``ok``
variable of a scan; what makes `sensitivities` / `optimize` raise with ``throw=True``), and a
host-side validation of parameter combinations. The built-in models -- ``"classical"`` (Model A, Sec. III A)
and ``"cavity"`` (Model B, Sec. III B) -- are declared here from their modules' ``PARAMETERS``,
``RULES`` and checks; `register_model` adds others. Units: hbar = k_B = 1 throughout.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence

from .._engine.checks import check_flag, check_occupations, check_tolerance
from . import cavity as _cavity
from . import classical as _classical
from .spec import (
    ArgumentTypeError,
    ModelSpec,
    StaticOption,
    available_fields,
    get_field,
    host_available_bytes,
)

__all__ = [
    "ModelSpec",
    "StaticOption",
    "register_model",
    "registered_models",
    "resolve_model",
    "get_field",
    "available_fields",
]


# ---------------------------------------------------------------------------------------------
# The built-in models


def _check_tolerance(name: str, *, strict: bool):
    return functools.partial(check_tolerance, name, strict=strict)


def _check_bool(name: str):
    return functools.partial(check_flag, name)


BYTES_PER_FOCK_LEVEL = _cavity.BYTES_PER_FOCK_LEVEL  # memory per Fock level of a cavity solve


def _check_n_max(n):
    """``n_max`` against the memory the host has (`jaxtls._models.cavity.check_n_max`)."""
    _cavity.check_n_max(n, host_available_bytes())


def parse_n_max(text: str):
    """Command-line form of ``n_max``: an integer or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"n_max must be an integer >= 1 or 'auto', got {text!r}") from None


def _occupations(allowed: tuple[str, ...], equations: str) -> StaticOption:
    return StaticOption(
        "occupations",
        functools.partial(check_occupations, allowed=allowed),
        help=f"lead occupation prescription (default: effective, {equations})",
        parse=str,
        default="effective",
        choices=allowed,
    )


_COMMON_STATIC = (
    StaticOption("solver", None, help="steady-state solver object (Python only)"),
    StaticOption("throw", _check_bool("throw"), help="raise when a steady state fails its checks"),
    StaticOption("tol", _check_tolerance("tol", strict=True), help="tolerance of the steady-state checks"),
)
_DEFAULT_OUTPUTS = ("rate", "particle_current.u", "energy_current.u", "power", "entropy_production", "efficiency")
_FOCK_TOL = inspect.signature(_cavity.solve_cavity).parameters["fock_tol"].default


def _cavity_ok(result, kwargs):
    """Model B is trusted where the solver checks pass and the Fock cutoff is large enough."""
    return result.diagnostics.ok & (result.fock_tail <= kwargs.get("fock_tol", _FOCK_TOL))


def _cavity_validate(kwargs):
    """A positive photon energy for the Bose function (omega_cav bare, E~_ph of Eq. 21 effective)."""
    values = {k: kwargs[k] for k in _cavity.PARAMETERS}
    _cavity._check_photon_energy(values, kwargs.get("occupations", "effective"))


def _cavity_prepare(values, static, throw):
    """``n_max="auto"``: the cutoff `solve_cavity` chooses for these parameters."""
    if isinstance(static.get("n_max"), str) and static["n_max"] == "auto":
        static["n_max"] = _cavity.solve_cavity(**values, **static, throw=throw).n_max
    return static


_BUILTIN = {
    "classical": ModelSpec(
        name="classical",
        fn=_classical.solve_classical,
        parameters=_classical.PARAMETERS,
        rules=_classical.RULES,
        check="diagnostics.ok",
        check_description="steady state passed the solver checks (diagnostics.ok)",
        static=(_occupations(("bare", "effective", "self_consistent"), "Eq. 14"), *_COMMON_STATIC),
        outputs=_DEFAULT_OUTPUTS,
        description="classical field in the RWA (Model A)",
    ),
    "cavity": ModelSpec(
        name="cavity",
        fn=_cavity.solve_cavity,
        parameters=_cavity.PARAMETERS,
        rules=_cavity.RULES,
        check=_cavity_ok,
        check_description=("diagnostics.ok and fock_tail <= fock_tol (solver checks passed, Fock cutoff large enough)"),
        validate=_cavity_validate,
        static=(
            StaticOption(
                "n_max", _check_n_max, help="photon cutoff or 'auto' (default 30)", parse=parse_n_max, default=30
            ),  # fmt: skip
            _occupations(("bare", "effective"), "Eqs. 14/21"),
            *_COMMON_STATIC,
            StaticOption("fock_tol", _check_tolerance("fock_tol", strict=False), help="bound on P(n = n_max)"),
        ),
        outputs=_DEFAULT_OUTPUTS,
        description="quantized cavity (Model B)",
        prepare=_cavity_prepare,
    ),
}
_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str | ModelSpec,
    fn: Callable | None = None,
    parameters: Sequence[str] | None = None,
    *,
    rules: Mapping[str, str] | None = None,
    units: Mapping[str, str] | None = None,
    check: str | Callable | None = None,
    check_description: str | None = None,
    validate: Callable | None = None,
    complex_parameters: Sequence[str] | None = None,
    static=None,
    outputs: Sequence[str] | None = None,
    description: str = "",
    prepare: Callable | None = None,
) -> ModelSpec:
    """Register a model under `name` for `scan` (and TOML files), `sensitivities`, `optimize`.

    **Arguments:** the fields of `ModelSpec` (`name`, `fn`, `parameters`, then keywords), or a
    ready `ModelSpec` as the only argument. `parameters` are the names that broadcast (grid
    axes, ``wrt``, ``free``); everything else (``n_max``, ``occupations``, ...) is static and
    passed through unchanged.

    **Returns:** the `ModelSpec` (a later registration under the same name replaces it; it
    also shadows a built-in model of that name).
    """
    if isinstance(name, ModelSpec):
        if fn is not None or parameters is not None:
            raise ArgumentTypeError("register_model(spec) takes no other arguments")
        spec = name
    else:
        spec = ModelSpec(
            name=name,
            fn=fn,
            parameters=parameters,
            rules=rules,
            units=units or {},
            check=check,
            check_description=check_description,
            validate=validate,
            complex_parameters=complex_parameters,
            static=static,
            outputs=outputs,
            description=description,
            prepare=prepare,
        )
    _REGISTRY[spec.name] = spec
    return spec


def registered_models() -> dict[str, ModelSpec]:
    """The registry: the built-in models (``classical``, ``cavity``) plus everything added with
    `register_model` (which wins on a clash)."""
    return {**_BUILTIN, **_REGISTRY}


def resolve_model(model) -> ModelSpec:
    """The `ModelSpec` of `model`: a spec, a registered name, ``"package.module:function"``
    (imported: callers that read untrusted files must refuse it first), or a callable (its
    registered spec, else a spec with no declared parameters)."""
    models = registered_models()
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str):
        if model in models:
            return models[model]
        if ":" in model:
            mod, _, attr = model.partition(":")
            try:
                fn = getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as err:
                raise ValueError(f"model {model!r}: cannot import {attr!r} from {mod!r} ({err})") from err
            return ModelSpec(name=model, fn=fn)
        raise ValueError(
            f"unknown model {model!r}: model must be a registered name ({', '.join(sorted(models))}), "
            "'package.module:function' or a callable; register one with jaxtls.register_model"
        )
    if callable(model):
        for spec in models.values():
            if spec.fn is model:
                return spec
        name = f"{getattr(model, '__module__', '?')}:{getattr(model, '__qualname__', repr(model))}"
        return ModelSpec(name=name, fn=model)
    raise ArgumentTypeError(
        f"model must be a registered name ({', '.join(sorted(models))}), a ModelSpec or a callable, got {model!r}"
    )
