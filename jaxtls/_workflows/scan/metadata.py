"""Units and descriptions of the dataset a scan writes, and its template (coordinates, variables,
attributes). Units follow hbar = k_B = 1: one energy unit for energies, rates and temperatures.
A model's own `ModelSpec.units` win over these defaults, which follow the paper's names."""

from __future__ import annotations

import json
from collections.abc import Mapping

import jax
import numpy as np

from ..._engine.config import VERSION
from ..store import FORMAT, Template, VarSpec

__all__ = ["CHECK_VARIABLE", "PHYSICAL_PARAMETERS", "PARAMETER_DESCRIPTIONS", "template", "expected_layout"]

#: the boolean variable holding the model's trust check at every point
CHECK_VARIABLE = "ok"


ENERGY = "energy units, hbar = k_B = 1"
PER_TIME = "per unit time (energy units, hbar = k_B = 1)"
ENERGY_PER_TIME = "energy per unit time (energy units squared, hbar = k_B = 1)"
ENTROPY_RATE = "k_B per unit time"
DIMENSIONLESS = "dimensionless"

PHYSICAL_PARAMETERS = (
    "E_u", "E_l", "omega", "omega_cav", "eps", "g", "gamma_u", "gamma_l", "gamma_b",
    "mu_u", "mu_l", "T_u", "T_l", "T_b",
)  # fmt: skip

PARAMETER_DESCRIPTIONS = {
    "E_u": "upper level energy",
    "E_l": "lower level energy",
    "omega": "field frequency",
    "omega_cav": "cavity frequency",
    "eps": "classical field amplitude",
    "g": "light-matter coupling",
    "gamma_u": "lead rate (u)",
    "gamma_l": "lead rate (l)",
    "gamma_b": "photon bath rate",
    "mu_u": "chemical potential (u)",
    "mu_l": "chemical potential (l)",
    "T_u": "temperature (u)",
    "T_l": "temperature (l)",
    "T_b": "photon bath temperature",
    "n_max": "highest photon number kept",
}

OUTPUT_UNITS = {
    "rate": PER_TIME,
    "particle_current": PER_TIME,
    "energy_current": ENERGY_PER_TIME,
    "power": ENERGY_PER_TIME,
    "entropy_production": ENTROPY_RATE,
    "entropy_flow": ENTROPY_RATE,
    "effective_energy": ENERGY,
    "occupation": DIMENSIONLESS,
    "populations": DIMENSIONLESS,
    "coherence": DIMENSIONLESS,
    "first_law_residual": ENERGY_PER_TIME,
    "effective_energy_residual": ENERGY_PER_TIME,
    "fock_tail": DIMENSIONLESS,
    "diagnostics.ok": DIMENSIONLESS,
    "diagnostics.residual": DIMENSIONLESS,
    "lasing": DIMENSIONLESS,
    "omega": ENERGY,
    "intensity": "photon number |a|^2",
    "threshold": DIMENSIONLESS,
}

OUTPUT_DESCRIPTIONS = {
    "rate": "net transition rate R, u -> l",
    "particle_current": "particle current into the system",
    "energy_current": "energy current into the system",
    "power": "power absorbed from the classical field",
    "entropy_production": "entropy production rate (sum of Sdot_a, Eq. 2)",
    "entropy_flow": "entropy flow from the reservoir",
    "effective_energy": "effective energy",
    "occupation": "reservoir occupation used",
    "populations": "population",
    "coherence": "coherence sigma_ul",
    "first_law_residual": "first-law residual sum_a Udot_a + P",
    "effective_energy_residual": "effective-energy residual",
    "fock_tail": "population of the highest Fock state",
    "diagnostics.ok": "steady state passed the solver's checks",
}


def lookup(table: Mapping, name: str):
    if name in table:
        return table[name]
    head = name.split(".")[0]
    if head in table:
        return table[head]
    return None


def template(spec, axes, fixed, outputs, out_avals, layout, definition, digest) -> Template:
    """The empty dataset of a scan: grid coordinates (and scalar ones for numeric fixed
    parameters) with units, one variable per output (chunked like `layout`), attributes holding
    the scan definition and its hash."""
    return Template(
        coords=_coords(spec, axes, fixed),
        data_vars={name: _variable(spec, name, out_avals[name], axes, layout) for name in outputs},
        attrs=_attributes(spec, layout, definition, digest),
        n_chunks=layout.n_chunks,
    )


def expected_layout(spec, axes, fixed, outputs, layout) -> Template:
    """What a store of this scan must hold, known without tracing the model: the coordinates
    and, per output, the grid's shape (the leading dimensions of its array); for checking an
    existing store before any work (`jaxtls._workflows.store_safety.damaged_members`)."""
    shape = tuple(layout.shape)
    data = {name: VarSpec(dims=(), shape=shape, chunks=(), dtype=np.dtype("float64"), attrs={}) for name in outputs}
    return Template(coords=_coords(spec, axes, fixed), data_vars=data, attrs={}, n_chunks=layout.n_chunks)


def _units(spec, name: str) -> str | None:
    return spec.units.get(name) or (ENERGY if name in PHYSICAL_PARAMETERS else None)


def _coords(spec, axes, fixed) -> dict:
    coords = {}
    for a in axes:
        if a.zipped:
            members = ", ".join(a.values)
            coords[a.name] = ((a.name,), np.arange(a.size), {"long_name": f"index along zipped axis ({members})"})
        for p, v in a.values.items():
            attrs = {}
            if _units(spec, p):
                attrs["units"] = _units(spec, p)
            if p in PARAMETER_DESCRIPTIONS:
                attrs["long_name"] = PARAMETER_DESCRIPTIONS[p]
            if a.spacing.get(p):
                attrs["spacing"] = a.spacing[p]
            coords[p] = ((a.name,), v, attrs)
    for k, v in fixed.items():
        if isinstance(v, bool) or not isinstance(v, int | float | complex | np.number):
            continue
        attrs = {"fixed": 1}
        if _units(spec, k):
            attrs["units"] = _units(spec, k)
        elif k == "n_max":
            attrs["units"] = DIMENSIONLESS
        if k in PARAMETER_DESCRIPTIONS:
            attrs["long_name"] = PARAMETER_DESCRIPTIONS[k]
        coords[k] = ((), np.asarray(v), attrs)
    return coords


def _variable(spec, name: str, aval, axes, layout) -> VarSpec:
    shape, dtype = aval
    extra = tuple(shape[1:])
    extra_dims = tuple(f"{name}_dim_{i}" for i in range(len(extra)))
    attrs = {}
    units = spec.units.get(name) or lookup(OUTPUT_UNITS, name)
    if units:
        attrs["units"] = units
    desc = lookup(OUTPUT_DESCRIPTIONS, name)
    if name == CHECK_VARIABLE and not desc:
        attrs["units"] = DIMENSIONLESS
        desc = spec.check_description or "point passed the model's checks"
    if desc and "." in name and name not in OUTPUT_DESCRIPTIONS:
        desc += f" ({name.split('.', 1)[1]})"  # e.g. "particle current into the system (u)"
    if desc:
        attrs["long_name"] = desc
    return VarSpec(
        dims=tuple(a.name for a in axes) + extra_dims,
        shape=layout.shape + extra,
        chunks=layout.block + extra,
        dtype=np.dtype(dtype),
        attrs=attrs,
    )


def _attributes(spec, layout, definition: dict, digest: str) -> dict:
    return {
        "title": f"jaxtls parameter scan of model {spec.name!r}",
        "model": spec.name,
        "units_convention": "hbar = k_B = 1: one energy unit for energies, frequencies, rates, temperatures",
        "fixed": json.dumps(definition["fixed"], sort_keys=True),
        "scan_hash": digest,
        "scan_definition": json.dumps(definition, sort_keys=True),
        "scan_format": FORMAT,
        "jaxtls_version": VERSION,
        "jax_version": jax.__version__,
        "chunk_shape": list(layout.block),
        "n_chunks": layout.n_chunks,
        "complete": False,
    }
