"""Floating-point precision policy.

jaxtls computes in float64 by default: importing it turns on JAX's ``jax_enable_x64`` flag
(the only global switch JAX offers), *unless* the user has decided otherwise by setting the
environment variable ``JAX_ENABLE_X64`` (to any value) or ``JAXTLS_ENABLE_X64=0`` before the
import. With x64 off, jaxtls runs in float32: expect relative errors around 1e-6 in rates and
currents and first-law residuals around 1e-6 of the largest energy current, and the default
solver tolerance (``tol=1e-8``) must be loosened to about ``1e-4`` (``tol=`` argument).

Side effect to be aware of: with x64 on, ``jnp.ones(3)`` in the user's own code is float64 too.
"""

from __future__ import annotations

import os
import warnings

import jax


def configure_precision() -> None:
    user_choice = "JAX_ENABLE_X64" in os.environ
    opt_out = os.environ.get("JAXTLS_ENABLE_X64", "1").lower() in ("0", "false", "no")
    if user_choice or opt_out:
        if not jax.config.jax_enable_x64:
            warnings.warn(
                "jaxtls: jax_enable_x64 is off, computations run in float32 "
                "(relative accuracy ~1e-6; pass tol=1e-4 to the solvers).",
                stacklevel=3,
            )
        return
    jax.config.update("jax_enable_x64", True)


#: the package version (also `jaxtls.__version__`)
VERSION = "0.1.0"
