"""The one result convention: `AbstractResult`, the base of every result pytree jaxtls returns.

Every result (a steady state of Model A or B, a laser state, a periodic or self-consistent steady
state of a `FermionicSystem`, a correlation-matrix state, a transient, an L-I curve, the
generic `jaxtls.steady_state` of a `LindbladStructure`) is an immutable `equinox.Module` with

- `ok`: a boolean array of the broadcast shape of the inputs, True where every check of that
  point passed (solve, inputs, truncation, convergence); a point with ``ok = False`` cannot be
  trusted. `shape` is its shape.
- per-reservoir quantities either as a dict ``{name: array}`` or as an array whose last axis
  runs over `lead_names`; `per_reservoir` returns a dict in both cases, so code that reads a
  result never needs to know which.
- `audit()`: the thermodynamic audit that the result carries (flows per reservoir, power,
  first-law residual, entropy production with its rounding bound and the second-law check),
  whatever of it the result has.
- `to_dict()`: plain Python (floats, bools, nested lists; complex numbers as ``[re, im]``) for
  JSON, built the same way for every result.

Units: hbar = k_B = 1; currents are *into* the system from the named reservoir (Eq. 5).
"""

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from equinox import AbstractVar
from jaxtyping import Array, Bool

from .diagnostics import describe_flags

__all__ = ["AbstractResult", "to_plain"]

# the thermodynamic flows a result may carry, per reservoir (Eqs. 2, 5)
FLOWS = ("particle_current", "energy_current", "entropy_flow")
# scalar (per point) parts of the audit (Eqs. 1, 2, 6)
TOTALS = ("power", "first_law_residual", "entropy_production", "entropy_production_tolerance")
# health fields a result or its diagnostics may carry (the worst failed value is reported)
HEALTH = ("residual", "trace_error", "min_eigenvalue", "harmonic_tail", "periodicity_error", "integration_error",
          "fixed_point_residual", "min_pivot")  # fmt: skip
_LOWER_IS_WORSE = ("min_eigenvalue", "min_pivot")


def to_plain(x):
    """An array as plain Python for JSON: floats, integers and bools as (nested) lists, complex
    numbers as ``[re, im]``."""
    a = np.asarray(x)
    if np.iscomplexobj(a):
        return np.stack([a.real, a.imag], axis=-1).tolist()
    if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
        return a.tolist()
    return a.astype(float).tolist()


def _plain(v):
    """Plain Python of a field value, or `None` where it has none (a function, a sector)."""
    if v is None:
        return None
    if isinstance(v, AbstractResult):
        return v.to_dict()
    if isinstance(v, eqx.Module):
        out = {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        return {k: w for k, w in out.items() if w is not None}
    if isinstance(v, dict):
        out = {str(k): _plain(w) for k, w in v.items()}
        return {k: w for k, w in out.items() if w is not None}
    if isinstance(v, (str, bool, int, float)):
        return v
    if isinstance(v, tuple) and all(isinstance(w, (str, int, float)) for w in v):
        return list(v)
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return to_plain(v)
    return None


class AbstractResult(eqx.Module):
    """Base class of every jaxtls result (module docstring: the convention).

    Subclasses provide `ok` (a field or a property). They inherit `shape`, `per_reservoir`,
    `reservoir_names`, `audit` and `to_dict`.
    """

    ok: AbstractVar[Bool[Array, "*batch"]]

    @property
    def shape(self) -> tuple:
        """The broadcast shape of the inputs (the shape of `ok`)."""
        return tuple(np.shape(self.ok))

    @property
    def reservoir_names(self) -> tuple:
        """Names of the reservoirs the per-reservoir quantities refer to (empty if none)."""
        names = getattr(self, "lead_names", ())
        if names:
            return tuple(names)
        for field in FLOWS:
            v = getattr(self, field, None)
            if isinstance(v, dict):
                return tuple(v)
        return ()

    def per_reservoir(self, field: str) -> dict:
        """``{reservoir name: array}`` of a per-reservoir quantity, e.g.
        ``r.per_reservoir("particle_current")["u"]``, whether the result stores it as a dict or
        as an array whose last axis runs over `lead_names`.

        Raises `ValueError` if the result has no such per-reservoir field.
        """
        v = getattr(self, field, None)
        if isinstance(v, dict):
            return dict(v)
        names = getattr(self, "lead_names", ())
        if v is not None and names and np.ndim(v) >= 1 and np.shape(v)[-1] == len(names):
            return {name: v[..., i] for i, name in enumerate(names)}
        raise ValueError(f"{type(self).__name__} has no per-reservoir field {field!r}")

    def audit(self) -> dict:
        """The thermodynamic audit this result carries: ``{"particle_current", "energy_current",
        "entropy_flow"}`` per reservoir (dicts), ``"power"``, ``"first_law_residual"`` (Eq. 1,
        zero in an exact steady state), ``"entropy_production"`` (Eq. 2) with
        ``"entropy_production_tolerance"`` (its rounding bound) and ``"second_law"`` (True where
        ``entropy_production >= -entropy_production_tolerance``; a negative value within the
        bound is round-off), and ``"ok"``. Only the parts the result has are present."""
        out = {}
        for field in FLOWS:
            try:
                out[field] = self.per_reservoir(field)
            except ValueError:
                pass
        for field in TOTALS:
            v = getattr(self, field, None)
            if v is not None:
                out[field] = v
        if "entropy_production" in out:
            tol = out.get("entropy_production_tolerance", 0.0)
            out["second_law"] = jnp.asarray(out["entropy_production"]) >= -jnp.asarray(tol)
        out["ok"] = self.ok
        return out

    def failures(self) -> str | None:
        """Host-side text of why points failed their checks, with the fix where one is known
        (e.g. "the Fock cutoff is too small (P(n_max) > fock_tol): raise n_max"), or `None`
        when every point passed. Uses the result code ``diagnostics.flags`` where the result has
        one, else names the failed fraction and the worst value of each health field."""
        ok = np.asarray(self.ok)
        if ok.all():
            return None
        bad = ~ok.reshape(-1)
        head = f"{int(bad.sum())} of {ok.size} points of {type(self).__name__} failed their checks"
        diag = getattr(self, "diagnostics", None)
        flags = getattr(diag, "flags", None)
        if flags is not None:
            text = describe_flags(np.asarray(flags).reshape(-1) * bad)
            if text:
                return f"{head}: {text}"
        parts = []
        holder = diag if isinstance(diag, eqx.Module) else self
        for f in dataclasses.fields(holder):
            if f.name in HEALTH:
                v = np.asarray(getattr(holder, f.name), float).reshape(-1)
                if v.size == bad.size and np.any(bad):
                    worst = np.nanmin(v[bad]) if f.name in _LOWER_IS_WORSE else np.nanmax(v[bad])
                    parts.append(f"{f.name} {worst:.2e}")
        return head + (": worst " + ", ".join(parts) if parts else "")

    def to_dict(self) -> dict:
        """Plain Python (floats / nested lists / bools / strings) of every field for JSON;
        complex numbers as ``[re, im]``; fields without a plain form (functions, sectors) and
        `None` fields are left out. ``"ok"`` is always present."""
        out = {}
        for f in dataclasses.fields(self):
            v = _plain(getattr(self, f.name))
            if v is not None:
                out[f.name] = v
        out["ok"] = to_plain(self.ok)
        return out
