"""jaxtls: GPU-accelerated, differentiable quantum thermodynamics of light-matter transitions.

Public API (flat namespace; code lives in private one-concept modules).
"""

from ._config import configure_precision as _configure_precision

_configure_precision()

from ._batched_solver import BatchedBlockSolver as BatchedBlockSolver
from ._bloch import bloch_gain as bloch_gain
from ._bloch import bloch_rate_k as bloch_rate_k
from ._bloch import subband_density as subband_density
from ._bloch import subband_integral as subband_integral
from ._cavity import cavity_master_equation as cavity_master_equation
from ._cavity import effective_energies_cavity as effective_energies_cavity
from ._cavity import solve_cavity as solve_cavity
from ._checks import ParameterError as ParameterError
from ._classical import classical_closed_form as classical_closed_form
from ._classical import classical_master_equation as classical_master_equation
from ._classical import effective_energies_rwa as effective_energies_rwa
from ._classical import solve_classical as solve_classical
from ._correlation import CorrelationSteadyState as CorrelationSteadyState
from ._correlation import correlation_steady_state as correlation_steady_state
from ._floquet import AbstractPeriodicMethod as AbstractPeriodicMethod
from ._floquet import FloquetHarmonics as FloquetHarmonics
from ._floquet import PeriodicDiagnostics as PeriodicDiagnostics
from ._floquet import PeriodicSteadyState as PeriodicSteadyState
from ._floquet import PeriodPropagator as PeriodPropagator
from ._floquet import periodic_steady_state as periodic_steady_state
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
from ._optimize import OptimizeResult as OptimizeResult
from ._optimize import optimize as optimize
from ._plot import plot_store as plot_store
from ._result import SteadyStateError as SteadyStateError
from ._result import TransitionResult as TransitionResult
from ._scan import ChunkInfo as ChunkInfo
from ._scan import CorruptChunkError as CorruptChunkError
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
from ._selfconsistent import SelfConsistencyError as SelfConsistencyError
from ._selfconsistent import SelfConsistentSteadyState as SelfConsistentSteadyState
from ._selfconsistent import effective_energies as effective_energies
from ._selfconsistent import self_consistent_steady_state as self_consistent_steady_state
from ._sensitivity import efficiency as efficiency
from ._sensitivity import electrical_power as electrical_power
from ._sensitivity import lead_heat as lead_heat
from ._sensitivity import sensitivities as sensitivities
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
from ._system import FermionicSystem as FermionicSystem
from ._system import Lead as Lead
from ._thermo import bose as bose
from ._thermo import fermi as fermi
from ._transient import TransientSolution as TransientSolution
from ._transient import empty_state as empty_state
from ._transient import evolve as evolve

__version__ = "0.1.0"
