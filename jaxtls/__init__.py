"""jaxtls: GPU-accelerated, differentiable quantum thermodynamics of light-matter transitions.

Public API (flat namespace; code lives in private one-concept modules).
"""

from ._engine.config import configure_precision as _configure_precision

_configure_precision()

from ._engine.api import SteadyState as SteadyState
from ._engine.api import steady_state as steady_state
from ._engine.batched_solver import AutoSolver as AutoSolver
from ._engine.batched_solver import BatchedBlockSolver as BatchedBlockSolver
from ._engine.batched_solver import BlockTridiagonalSolver as BlockTridiagonalSolver
from ._engine.checks import ParameterError as ParameterError
from ._engine.config import VERSION as __version__  # noqa: F401
from ._engine.diagnostics import Diagnostics as Diagnostics
from ._engine.operators import boson_annihilator as boson_annihilator
from ._engine.operators import fermion_annihilators as fermion_annihilators
from ._engine.operators import tensor as tensor
from ._engine.periodic_api import PeriodicState as PeriodicState
from ._engine.result_base import AbstractResult as AbstractResult
from ._engine.sector import LindbladStructure as LindbladStructure
from ._engine.sector import Sector as Sector
from ._engine.solvers import AbstractSteadySolver as AbstractSteadySolver
from ._engine.solvers import DenseSolver as DenseSolver
from ._engine.superoperator import boson_bath as boson_bath
from ._engine.superoperator import dissipator as dissipator
from ._engine.superoperator import hamiltonian_superop as hamiltonian_superop
from ._engine.superoperator import lead_dissipator as lead_dissipator
from ._engine.superoperator import lindbladian as lindbladian
from ._engine.thermo import bose as bose
from ._engine.thermo import fermi as fermi
from ._models import builder_solve as _builder_solve  # noqa: F401  (registers System on steady_state)
from ._models.bloch import bloch_gain as bloch_gain
from ._models.bloch import bloch_rate_k as bloch_rate_k
from ._models.bloch import subband_density as subband_density
from ._models.bloch import subband_integral as subband_integral
from ._models.builder_result import BuilderResult as BuilderResult
from ._models.builder_space import Space as Space
from ._models.builder_space import dag as dag
from ._models.builder_system import Bath as Bath
from ._models.builder_system import System as System
from ._models.cavity import cavity_master_equation as cavity_master_equation
from ._models.cavity import effective_energies_cavity as effective_energies_cavity
from ._models.cavity import solve_cavity as solve_cavity
from ._models.classical import classical_closed_form as classical_closed_form
from ._models.classical import classical_master_equation as classical_master_equation
from ._models.classical import effective_energies_rwa as effective_energies_rwa
from ._models.classical import solve_classical as solve_classical
from ._models.correlation import CorrelationSteadyState as CorrelationSteadyState
from ._models.correlation import correlation_steady_state as correlation_steady_state
from ._models.floquet import AbstractPeriodicMethod as AbstractPeriodicMethod
from ._models.floquet import FloquetHarmonics as FloquetHarmonics
from ._models.floquet import PeriodicDiagnostics as PeriodicDiagnostics
from ._models.floquet import PeriodicSteadyState as PeriodicSteadyState
from ._models.floquet import PeriodPropagator as PeriodPropagator
from ._models.floquet import StaticSector as StaticSector
from ._models.floquet import periodic_steady_state as periodic_steady_state
from ._models.laser import LaserResult as LaserResult
from ._models.laser import laser_effective_energies as laser_effective_energies
from ._models.laser import lasing_frequency as lasing_frequency
from ._models.laser import solve_laser as solve_laser
from ._models.laser_li import LICurve as LICurve
from ._models.laser_li import laser_li_curve as laser_li_curve
from ._models.laser_trajectory import laser_trajectory as laser_trajectory
from ._models.registry import ModelSpec as ModelSpec
from ._models.registry import StaticOption as StaticOption
from ._models.registry import register_model as register_model
from ._models.registry import registered_models as registered_models
from ._models.result import SteadyStateError as SteadyStateError
from ._models.result import TransitionResult as TransitionResult
from ._models.selfconsistent import SelfConsistencyError as SelfConsistencyError
from ._models.selfconsistent import SelfConsistentSteadyState as SelfConsistentSteadyState
from ._models.selfconsistent import effective_energies as effective_energies
from ._models.selfconsistent import self_consistent_steady_state as self_consistent_steady_state
from ._models.system import FermionicSystem as FermionicSystem
from ._models.system import Lead as Lead
from ._models.transient import TransientSolution as TransientSolution
from ._models.transient import empty_state as empty_state
from ._models.transient import evolve as evolve
from ._workflows import paper as paper
from ._workflows.optimize import OptimizeResult as OptimizeResult
from ._workflows.optimize import optimize as optimize
from ._workflows.plot import plot_store as plot_store
from ._workflows.scan import ChunkInfo as ChunkInfo
from ._workflows.scan import CorruptChunkError as CorruptChunkError
from ._workflows.scan import ScanDefinitionError as ScanDefinitionError
from ._workflows.scan import init_distributed as init_distributed
from ._workflows.scan import load_scan_config as load_scan_config
from ._workflows.scan import scan as scan
from ._workflows.scan import scan_from_toml as scan_from_toml
from ._workflows.sensitivity import efficiency as efficiency
from ._workflows.sensitivity import electrical_power as electrical_power
from ._workflows.sensitivity import lead_heat as lead_heat
from ._workflows.sensitivity import sensitivities as sensitivities
from ._workflows.store import open_store as open_store
