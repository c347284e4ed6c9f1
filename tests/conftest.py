import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

import jaxtls  # noqa: E402,F401  (turns on float64)

jax.config.update("jax_enable_x64", True)
