"""Gradient-based optimisation of steady-state objectives (device design).

`optimize` maximises or minimises a user objective -- any scalar function of the model's result
(and, optionally, of the parameters) -- over chosen physical parameters of any registered model
(`jaxtls.register_model`; the built-ins ``"classical"`` and ``"cavity"``) with an optax optimiser. Gradients come from
the implicit differentiation of the steady state (`jaxtls._engine.implicit`), so a step costs about a
forward solve plus an adjoint solve, whatever the number of free parameters.

Constraints are handled by a change of variables ``p = T(u)``; the optimiser works on the
unconstrained ``u`` (all transforms are smooth and map ``u = 0`` to the starting value unless
a box is given):

- a ``(lo, hi)`` bound: ``p = lo + (hi - lo) sigmoid(u)`` (the start must lie strictly inside);
- positive parameters (rule ``"positive"`` in the model's spec: rates ``gamma_*``,
  temperatures ``T_*``) without a box:
  ``p = p0 softplus(u) / log 2`` -- stays > 0, steps are relative (about ``lr/2`` of ``p``);
- other real parameters (energies, ``mu_*``, ``g``, ``eps``) without a box: ``p = p0 + s u``
  with a scale ``s`` from `scales` (default: the smallest positive parameter -- rate or
  temperature -- of the starting point, the finest energy scale on which Fermi functions and
  Lorentzians vary; 1 for a model without positive parameters).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._models.registry import ModelSpec, resolve_model
from .._models.spec import ArgumentTypeError
from .sensitivity import check_flag, parameter_names, prepare_inputs, solve_checked

__all__ = ["optimize", "OptimizeResult", "NonFiniteStartError"]

_LOG2 = math.log(2.0)


class OptimizeResult(eqx.Module):
    """Outcome of `optimize`.

    **Fields:**

    - `params`: every physical parameter at the final iterate (the free ones optimised), as
      arrays; pass ``**params`` back to the solver to reproduce `result`.
    - `value`: the objective at `params` (as the user defines it, also when maximising).
    - `history`: ``(steps + 1,)`` objective at each iterate, ``history[0]`` at the start.
    - `param_history`: ``{name: (steps + 1, *shape)}`` free parameters at each iterate.
    - `grad`: ``{name: d objective / d name}`` at `params` (physical units).
    - `grad_norm`: norm of the gradient of the objective with respect to the optimiser's
      unconstrained variables at `params` (what a converged run drives to ~0; at an active box
      bound the physical `grad` may stay finite while this vanishes).
    - `initial_grad_norm`: the same at the start.
    - `grad_norm_history`: ``(steps + 1,)`` that norm at each iterate (``grad_norm /
      max(grad_norm_history)`` measures convergence also from a flat start).
    - `result`: the model's result (a `TransitionResult` for the built-ins) at `params`
      (solved with the caller's checks on).
    - `free`, `maximize`, `steps`: what was asked.
    """

    params: dict
    value: Array
    history: Array
    param_history: dict
    grad: dict
    grad_norm: Array
    initial_grad_norm: Array
    grad_norm_history: Array
    result: object
    free: tuple = eqx.field(static=True)
    maximize: bool = eqx.field(static=True)
    steps: int = eqx.field(static=True)

    @property
    def improvement(self) -> float:
        """``history[-1] - history[0]`` in the direction of optimisation (> 0: better)."""
        d = float(self.history[-1] - self.history[0])
        return d if self.maximize else -d


class _Transform(eqx.Module):
    kind: str = eqx.field(static=True)  # "box", "softplus", "affine"
    a: Array  # box: lo; softplus: scale; affine: p0
    b: Array  # box: hi - lo; softplus: unused; affine: scale

    def forward(self, u):
        if self.kind == "box":
            return self.a + self.b * jax.nn.sigmoid(u)
        if self.kind == "softplus":
            return self.a * jax.nn.softplus(u)
        return self.a + self.b * u

    def inverse(self, p):
        if self.kind == "box":
            s = (p - self.a) / self.b
            return jnp.log(s) - jnp.log1p(-s)
        if self.kind == "softplus":
            x = p / self.a
            return x + jnp.log(-jnp.expm1(-x))  # softplus^{-1}
        return (p - self.a) / self.b


def _make_transforms(spec: ModelSpec, values, free, bounds, scales):
    rules = spec.rules or {}
    positive = [k for k in spec.parameters if rules.get(k) == "positive"]
    default_scale = min((float(np.min(np.abs(np.asarray(values[k])))) for k in positive), default=1.0)
    transforms = {}
    for name in free:
        p0 = np.asarray(values[name])
        if np.iscomplexobj(p0):
            if np.any(np.imag(p0) != 0):
                raise ValueError(
                    f"cannot optimise {name!r}: it is complex; optimise a real {name} (its phase is irrelevant)"
                )
            p0 = np.real(p0)
        p0 = p0.astype(float)
        bound = bounds.get(name)
        rule = rules.get(name, "real")
        if bound is None or (isinstance(bound, str) and bound == "positive"):
            if isinstance(bound, str) and rule != "positive" and np.any(p0 <= 0):
                raise ValueError(f"bound 'positive' for {name!r} needs a positive start, got {p0}")
            if rule == "positive" or isinstance(bound, str):
                transforms[name] = _Transform("softplus", jnp.asarray(p0 / _LOG2), jnp.zeros_like(jnp.asarray(p0)))
            else:
                s = scales.get(name, default_scale)
                try:
                    ok = isinstance(s, int | float | np.number | np.ndarray | jax.Array) and not isinstance(s, bool)
                    ok = ok and np.all(np.isfinite(np.asarray(s, float))) and np.all(np.asarray(s, float) > 0)
                    ok = ok and np.broadcast_shapes(np.shape(s), p0.shape) == p0.shape
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    raise ValueError(
                        f"scale for {name!r} must be a finite number > 0 (or an array of the start's shape), got {s!r}"
                    )
                transforms[name] = _Transform(
                    "affine", jnp.asarray(p0), jnp.broadcast_to(jnp.asarray(s, float), p0.shape)
                )
            continue
        try:
            lo, hi = (float(v) for v in bound)
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"bound for {name!r} must be a pair (lo, hi) of numbers, 'positive' or None; got {bound!r}"
            ) from err
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"bound for {name!r} must be finite, got ({lo}, {hi}); use None for no bound")
        if lo >= hi:
            raise ValueError(f"bound for {name!r} needs lo < hi, got lo={lo:g} >= hi={hi:g}")
        if rule == "positive" and lo < 0:
            raise ValueError(f"bound for {name!r} must have lo >= 0 ({name} must be > 0), got lo={lo:g}")
        if np.any(p0 <= lo) or np.any(p0 >= hi):
            raise ValueError(f"start value of {name!r} ({p0}) must lie strictly inside its bound ({lo:g}, {hi:g})")
        transforms[name] = _Transform("box", jnp.asarray(lo), jnp.asarray(hi - lo))
    return transforms


class NonFiniteStartError(ValueError, FloatingPointError):
    """The objective or its gradient is not finite at the starting point (bad `params` or
    objective): a `ValueError`, and a `FloatingPointError` like a run that becomes non-finite."""


def _listed(p: dict) -> dict:
    return {k: np.asarray(v).tolist() for k, v in p.items()}


def _mapping_of_free(argument: str, mapping, free: tuple) -> dict:
    """``bounds`` / ``scales``: None or a mapping whose keys are free parameters."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise ArgumentTypeError(f"{argument} must be a dict {{free parameter: value}} or None, got {mapping!r}")
    for name in mapping:
        if name not in free:
            raise ValueError(f"{argument[:-1]} given for {name!r}, which is not among the free parameters {list(free)}")
    return dict(mapping)


def _optimizer(optimizer, learning_rate, steps: int):
    """The optax optimiser: the caller's, or adam with a cosine-decayed `learning_rate`."""
    if optimizer is not None:
        if learning_rate is not None:
            raise ValueError("pass either optimizer or learning_rate (the default optimiser's), not both")
        if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
            raise ArgumentTypeError(f"optimizer must be an optax GradientTransformation (or None), got {optimizer!r}")
        return optimizer
    lr = 0.1 if learning_rate is None else learning_rate
    ok = isinstance(lr, int | float | np.integer | np.floating) and not isinstance(lr, bool | np.bool_)
    if not ok or not math.isfinite(float(lr)) or float(lr) <= 0:
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    return optax.adam(optax.cosine_decay_schedule(float(lr), steps, alpha=0.01))


def _takes_params(objective: Callable) -> bool:
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):
        return False
    try:
        sig.bind(None, None)
        return True
    except TypeError:
        return False


def optimize(
    model,
    objective: Callable,
    params: Mapping[str, object],
    free: Sequence[str],
    bounds: Mapping[str, object] | None = None,
    optimizer: optax.GradientTransformation | None = None,
    steps: int = 200,
    progress: bool = True,
    *,
    maximize: bool = False,
    scales: Mapping[str, float] | None = None,
    learning_rate: float | None = None,
    **static,
) -> OptimizeResult:
    """Gradient-based optimisation of a steady-state objective over chosen parameters.

    **Arguments:**

    - `model`: a registered model (name, `ModelSpec` or its function: ``"classical"``,
      ``jaxtls.solve_cavity``, anything added with `jaxtls.register_model` with its `parameters`).
    - `objective`: ``objective(result)`` or ``objective(result, params)`` returning a real
      scalar (``result`` the model's result, a `TransitionResult` for the built-ins; ``params``
      the dict of physical parameters at this iterate, e.g. for ``P_el = -R (mu_u - mu_l)``;
      see `jaxtls.electrical_power`, `jaxtls.lead_heat`, `jaxtls.efficiency`). Minimised, or
      maximised with ``maximize=True``.
    - `params`: all physical parameters of the model, the starting point (hbar = k_B = 1).
      Fixed parameters may be arrays (the objective must then reduce them to a scalar).
    - `free`: names of the parameters to optimise (real-valued).
    - `bounds`: ``{name: (lo, hi) | "positive" | None}``; module docstring for the transforms.
      Rates and temperatures stay > 0 without a bound.
    - `optimizer`: an optax `GradientTransformation` acting on the unconstrained variables
      (default: ``optax.adam`` with a cosine-decayed learning rate from `learning_rate` to
      1e-2 of it).
    - `learning_rate`: initial learning rate of the default optimiser (default 0.1; a finite
      number > 0); only without `optimizer`.
    - `steps`: number of optimiser steps (>= 1).
    - `progress`: show a tqdm progress bar.
    - `maximize`: maximise instead of minimise.
    - `scales`: ``{name: s}`` step scale of unbounded real parameters (energy units).
    - `**static`: the model's static options (built-ins: ``n_max``, ``occupations``,
      ``solver``, ``tol``, ``fock_tol``) and ``throw``. The final point is re-solved with the
      checks on (``throw=True`` by default: the model's own errors and its trust check), so an
      untrustworthy optimum (e.g. a truncated Fock space) raises.

    **Returns:** an `OptimizeResult`.

    **Raises:** `ValueError`, before any work, for a name that is not a model parameter, an
    empty or repeated `free`, non-finite or empty starting values, a bound with ``lo >= hi`` or
    a start outside it, ``steps < 1``, a learning rate that is not a finite number > 0, an
    optimizer that is not an optax `GradientTransformation`, an objective that does not return a
    real scalar, unknown solver options; also (`NonFiniteStartError`, a `ValueError` and a
    `FloatingPointError`) an objective or gradient that is not finite at the starting point;
    `FloatingPointError` if the objective or its gradient becomes non-finite during the run.

    ```python
    res = jaxtls.optimize("cavity", jaxtls.electrical_power, params, free=("mu_u", "mu_l"),
                          maximize=True, n_max=20)
    res.params["mu_u"], res.value, res.grad_norm
    ```
    """
    spec = resolve_model(model)
    values, static, throw = prepare_inputs(spec, params, dict(static), "optimize")
    free = parameter_names("free", free, spec)
    bounds = _mapping_of_free("bounds", bounds, free)
    scales = _mapping_of_free("scales", scales, free)
    if isinstance(steps, bool | np.bool_) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not callable(objective):
        raise ValueError(f"objective must be a callable objective(result[, params]) -> scalar, got {objective!r}")
    check_flag("maximize", maximize)
    check_flag("progress", progress)
    optimizer = _optimizer(optimizer, learning_rate, int(steps))

    transforms = _make_transforms(spec, values, free, bounds, scales)
    fixed = {k: v for k, v in values.items() if k not in free}
    with_params = _takes_params(objective)
    sign = -1.0 if maximize else 1.0

    def physical(u):
        p = dict(fixed)
        p.update({k: transforms[k].forward(u[k]) for k in free})
        return p

    def loss(u):
        p = physical(u)
        res = spec.call(p, static, throw=False)
        val = objective(res, p) if with_params else objective(res)
        return sign * val, val

    u0 = {k: transforms[k].inverse(jnp.asarray(np.real(np.asarray(values[k])), float)) for k in free}
    try:
        out = jax.eval_shape(loss, u0)[1]
    except (TypeError, AttributeError, KeyError, IndexError) as err:
        raise ValueError(
            f"objective must return a real scalar of the model's result; evaluating it failed "
            f"({type(err).__name__}: {' '.join(str(err).split())[:300]})"
        ) from None
    if not isinstance(out, jax.ShapeDtypeStruct) and not hasattr(out, "shape"):
        raise ValueError(f"objective must return a real scalar, got {type(out).__name__}")
    if out.shape != ():
        raise ValueError(
            f"objective must return a real scalar, got an array of shape {out.shape}; reduce it "
            "(e.g. sum or mean over the batch)"
        )
    if jnp.issubdtype(out.dtype, jnp.complexfloating) or not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"objective must return a real floating scalar, got dtype {out.dtype}")

    grad_fn = jax.value_and_grad(loss, has_aux=True)

    @jax.jit
    def step(u, state):
        (_, val), g = grad_fn(u)
        updates, state = optimizer.update(g, state, u)
        return optax.apply_updates(u, updates), state, val, optax.tree.norm(g)

    def objective_of_free(pf):
        p = dict(fixed)
        p.update(pf)
        res = spec.call(p, static, throw=False)
        return objective(res, p) if with_params else objective(res)

    @jax.jit
    def evaluate(u):
        (_, val), g = grad_fn(u)
        gphys = jax.grad(objective_of_free)({k: transforms[k].forward(u[k]) for k in free})
        return val, optax.tree.norm(g), gphys

    state = optimizer.init(u0)
    u = u0
    history, ghist, phist = [], [], {k: [] for k in free}
    g0 = None
    bar = _progress(steps, progress, maximize)
    try:
        for i in range(int(steps)):
            p_now = {k: transforms[k].forward(u[k]) for k in free}
            u_next, state, val, gnorm = step(u, state)
            val, gnorm = float(val), float(gnorm)
            if not (math.isfinite(val) and math.isfinite(gnorm)):
                if i == 0:
                    raise NonFiniteStartError(
                        f"the objective or its gradient is not finite at the starting point (objective {val}, "
                        f"gradient norm {gnorm}) at {_listed(p_now)}; check params and the objective"
                    )
                raise FloatingPointError(
                    f"objective or gradient became non-finite at step {i} "
                    f"(objective {val}, gradient norm {gnorm}) at "
                    f"{_listed(p_now)}; tighten the bounds or lower "
                    "the learning rate"
                )
            if g0 is None:
                g0 = gnorm
            history.append(val)
            ghist.append(gnorm)
            for k in free:
                phist[k].append(np.asarray(p_now[k]))
            u = u_next
            if bar is not None:
                bar.update(1)
                if i % 10 == 0 or i == steps - 1:
                    bar.set_postfix(objective=f"{val:.6g}", grad=f"{gnorm:.2e}")
    finally:
        if bar is not None:
            bar.close()
    val, gnorm, gphys = evaluate(u)
    val, gnorm = float(val), float(gnorm)
    if not (math.isfinite(val) and math.isfinite(gnorm)):
        raise FloatingPointError(f"objective or gradient is non-finite at the final point ({val}, {gnorm})")
    history.append(val)
    ghist.append(gnorm)
    final = {k: jnp.asarray(transforms[k].forward(u[k])) for k in free}
    for k in free:
        phist[k].append(np.asarray(final[k]))
    all_params = {k: jnp.asarray(v) for k, v in values.items()}
    all_params.update(final)
    result = solve_checked(spec, all_params, static, throw)
    return OptimizeResult(
        params=all_params,
        value=jnp.asarray(val),
        history=jnp.asarray(history),
        param_history={k: jnp.asarray(np.stack(v)) for k, v in phist.items()},
        grad=gphys,
        grad_norm=jnp.asarray(gnorm),
        initial_grad_norm=jnp.asarray(gnorm if g0 is None else g0),
        grad_norm_history=jnp.asarray(ghist),
        result=result,
        free=free,
        maximize=bool(maximize),
        steps=int(steps),
    )


def _progress(steps, progress, maximize):
    if not progress or steps == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(steps), desc="maximize" if maximize else "minimize", leave=False)
