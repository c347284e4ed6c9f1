"""The paper's claims as a library: ``jaxtls.paper`` (``import jaxtls as jt; jt.paper``).

Everything ``jaxtls reproduce`` computes, checks and draws lives here, so the report runs from an
installed wheel and the example scripts (``examples/*.py``) are short calls of these functions:
both give the same numbers. For each claim ``NAME`` of `CLAIMS`:

- ``jt.paper.NAME(quick=False) -> dict``: the data (NumPy arrays and the parameters used),
  computed once per mode and cached (do not modify the dict in place);
- ``jt.paper.NAME_checks(data) -> list[Check]``: the checks of ``jaxtls reproduce`` on that data;
- ``jt.paper.NAME_figure(out_dir=".", quick=False) -> list[str]``: the report's figure(s), as
  PNG files in `out_dir`; returns their paths.

``quick=True`` uses the small grids of ``jaxtls reproduce --quick``. The claims, by name:
``classical_energies`` (Eq. 14), ``classical_second_law`` (Eq. 15), ``cavity_energies``
(Eqs. 21, 22), ``operation_regions`` (LED, cooling, solar cell), ``frequency_pulling`` (Eq. 30),
``li_curve`` (Eq. 29, L-I curve), ``bloch_spectra`` (Eq. 31), ``appendix_c`` (Eq. C3 beyond the
RWA). Units: hbar = k_B = 1, one energy unit (the transition energy ``E_u - E_l = 1``).
"""

from .claims import CLAIMS as CLAIMS
from .claims import claim as claim
from .claims.appendix_c import checks as appendix_c_checks
from .claims.appendix_c import compute as appendix_c
from .claims.appendix_c import figure as appendix_c_figure
from .claims.bloch_spectra import checks as bloch_spectra_checks
from .claims.bloch_spectra import compute as bloch_spectra
from .claims.bloch_spectra import figure as bloch_spectra_figure
from .claims.cavity_energies import checks as cavity_energies_checks
from .claims.cavity_energies import compute as cavity_energies
from .claims.cavity_energies import figure as cavity_energies_figure
from .claims.classical_energies import checks as classical_energies_checks
from .claims.classical_energies import compute as classical_energies
from .claims.classical_energies import figure as classical_energies_figure
from .claims.classical_second_law import checks as classical_second_law_checks
from .claims.classical_second_law import compute as classical_second_law
from .claims.classical_second_law import figure as classical_second_law_figure
from .claims.frequency_pulling import checks as frequency_pulling_checks
from .claims.frequency_pulling import compute as frequency_pulling
from .claims.frequency_pulling import figure as frequency_pulling_figure
from .claims.li_curve import checks as li_curve_checks
from .claims.li_curve import compute as li_curve
from .claims.li_curve import figure as li_curve_figure
from .claims.operation_regions import checks as operation_regions_checks
from .claims.operation_regions import compute as operation_regions
from .claims.operation_regions import figure as operation_regions_figure
from .common import Check as Check
from .common import Claim as Claim

__all__ = [
    "CLAIMS",
    "Check",
    "Claim",
    "claim",
    "appendix_c",
    "appendix_c_checks",
    "appendix_c_figure",
    "bloch_spectra",
    "bloch_spectra_checks",
    "bloch_spectra_figure",
    "cavity_energies",
    "cavity_energies_checks",
    "cavity_energies_figure",
    "classical_energies",
    "classical_energies_checks",
    "classical_energies_figure",
    "classical_second_law",
    "classical_second_law_checks",
    "classical_second_law_figure",
    "frequency_pulling",
    "frequency_pulling_checks",
    "frequency_pulling_figure",
    "li_curve",
    "li_curve_checks",
    "li_curve_figure",
    "operation_regions",
    "operation_regions_checks",
    "operation_regions_figure",
]
