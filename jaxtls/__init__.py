"""jaxtls: GPU-accelerated, differentiable quantum thermodynamics of light-matter transitions.

Public API (flat namespace; code lives in private one-concept modules).
"""

from ._config import configure_precision as _configure_precision

_configure_precision()

from ._bloch import bloch_gain as bloch_gain
from ._bloch import bloch_rate_k as bloch_rate_k
from ._bloch import subband_density as subband_density
from ._bloch import subband_integral as subband_integral
from ._cavity import effective_energies_cavity as effective_energies_cavity
from ._cavity import solve_cavity as solve_cavity
from ._checks import ParameterError as ParameterError
from ._classical import classical_closed_form as classical_closed_form
from ._classical import effective_energies_rwa as effective_energies_rwa
from ._classical import solve_classical as solve_classical
from ._laser import LaserResult as LaserResult
from ._laser import LICurve as LICurve
from ._laser import laser_effective_energies as laser_effective_energies
from ._laser import laser_li_curve as laser_li_curve
from ._laser import laser_trajectory as laser_trajectory
from ._laser import lasing_frequency as lasing_frequency
from ._laser import solve_laser as solve_laser
from ._operators import boson_annihilator as boson_annihilator
from ._operators import fermion_annihilators as fermion_annihilators
from ._operators import tensor as tensor
from ._plot import plot_store as plot_store
from ._result import SteadyStateError as SteadyStateError
from ._result import TransitionResult as TransitionResult
from ._scan import ChunkInfo as ChunkInfo
from ._scan import ModelSpec as ModelSpec
from ._scan import ScanDefinitionError as ScanDefinitionError
from ._scan import init_distributed as init_distributed
from ._scan import load_scan_config as load_scan_config
from ._scan import register_model as register_model
from ._scan import registered_models as registered_models
from ._scan import scan as scan
from ._scan import scan_from_toml as scan_from_toml
from ._sector import LindbladStructure as LindbladStructure
from ._sector import Sector as Sector
from ._batched_solver import BatchedBlockSolver as BatchedBlockSolver
from ._steady import AutoSolver as AutoSolver
from ._steady import BlockTridiagonalSolver as BlockTridiagonalSolver
from ._steady import DenseSolver as DenseSolver
from ._steady import Diagnostics as Diagnostics
from ._store import open_store as open_store
from ._superoperator import boson_bath as boson_bath
from ._superoperator import dissipator as dissipator
from ._superoperator import hamiltonian_superop as hamiltonian_superop
from ._superoperator import lead_dissipator as lead_dissipator
from ._superoperator import lindbladian as lindbladian
from ._thermo import bose as bose
from ._thermo import fermi as fermi

__version__ = "0.1.0"
