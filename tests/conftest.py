import gc
import os

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

import jaxtls  # noqa: E402,F401  (turns on float64)

jax.config.update("jax_enable_x64", True)

# Every XLA:CPU executable keeps about six memory mappings alive while JAX caches it. The suite
# compiles several thousand programs, and one process reached the kernel's limit of 65530
# mappings (vm.max_map_count), at which point XLA segfaulted inside its compiler. Compiled code is
# therefore released after every test module, and after any test that leaves more than
# MAP_BUDGET mappings behind.
MAP_BUDGET = 20000
_MAPS = "/proc/self/maps"


def _mapping_count() -> int:
    if not os.path.exists(_MAPS):
        return 0
    with open(_MAPS, "rb") as f:
        return sum(1 for _ in f)


def _release_compiled_code() -> None:
    jax.clear_caches()
    gc.collect()


@pytest.fixture(autouse=True, scope="module")
def _release_after_module():
    yield
    _release_compiled_code()


@pytest.fixture(autouse=True)
def _release_when_over_budget():
    yield
    if _mapping_count() > MAP_BUDGET:
        _release_compiled_code()
