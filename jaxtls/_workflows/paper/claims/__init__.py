"""The claims of the report, one module each (computation, checks, figure), in the order of the paper."""

from __future__ import annotations

from ..common import Claim
from . import (
    appendix_c,
    bloch_spectra,
    cavity_energies,
    classical_energies,
    classical_second_law,
    frequency_pulling,
    li_curve,
    operation_regions,
)

__all__ = ["CLAIMS", "claim"]


def _claim(name: str, title: str, module) -> Claim:
    return Claim(name, title, module.compute, module.checks, module.figure)


#: every claim of ``jaxtls reproduce``, in report order
CLAIMS: tuple[Claim, ...] = (
    _claim("classical_energies", "Effective energies (Model A)", classical_energies),
    _claim("classical_second_law", "Second law with bare vs effective occupations (Model A)", classical_second_law),
    _claim("cavity_energies", "Flows, effective energies and second law of the quantized cavity (Model B)",
           cavity_energies),
    _claim("operation_regions", "LED, electroluminescent cooling and solar cell (Model B)", operation_regions),
    _claim("frequency_pulling", "Frequency pulling of a detuned laser (Model C)", frequency_pulling),
    _claim("li_curve", "Laser intensity and L-I curve (Model C)", li_curve),
    _claim("bloch_spectra", "Bloch gain of intersubband transitions (Model D)", bloch_spectra),
    _claim("appendix_c", "Self-consistent effective energies of a driven system beyond the RWA (Appendix C)",
           appendix_c),
)  # fmt: skip


def claim(name: str) -> Claim:
    """The `Claim` called `name` (one of ``[c.name for c in CLAIMS]``)."""
    for c in CLAIMS:
        if c.name == name:
            return c
    raise ValueError(f"name must be one of {[c.name for c in CLAIMS]}, got {name!r}")
