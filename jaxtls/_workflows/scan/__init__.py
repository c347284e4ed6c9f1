"""Parameter scans at scale: declarative, chunked, resumable, on one or many devices.

A scan evaluates a registered model (or any callable following the broadcasting convention) on a
grid of parameter values and returns an `xarray.Dataset`. The grid is flattened and cut into
chunks; each chunk is one jitted, batched call (compiled once: the last chunk is padded to the
common size), sharded over the local devices along the batch axis, and streamed to a Zarr store
that records which chunks are finished. Rerun the same call to resume; several processes
(`jax.distributed`) split the chunks between them and write into the same store. See
``docs/scans.md``.

One concept per module: `axes` (grid and parameter checks), `arguments` (checks of the other
arguments), `definition` (what is resumed, its hash), `layout` (chunks and their size, size
checks), `devices` (devices, processes, barriers), `metadata` (units, the dataset template),
`outputs` (result fields), `driver` (`scan`), `toml_file`.
The models come from the one registry, `jaxtls._models.registry`.
"""

from ..._models.registry import ModelSpec as ModelSpec
from ..._models.registry import register_model as register_model
from ..._models.registry import registered_models as registered_models
from .definition import CorruptChunkError as CorruptChunkError
from .definition import ScanDefinitionError as ScanDefinitionError
from .devices import init_distributed as init_distributed
from .driver import ChunkInfo as ChunkInfo
from .driver import scan as scan
from .toml_file import load_scan_config as load_scan_config
from .toml_file import scan_from_toml as scan_from_toml

__all__ = [
    "scan",
    "scan_from_toml",
    "load_scan_config",
    "register_model",
    "registered_models",
    "ModelSpec",
    "ChunkInfo",
    "ScanDefinitionError",
    "CorruptChunkError",
    "init_distributed",
]
