"""Devices and processes of a scan: the local devices a chunk is sharded over, `jax.distributed`
for several processes (each takes the chunks ``c % process_count == process_index``), and the
barriers between them (public JAX API only)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable

import jax
import numpy as np

__all__ = ["init_distributed", "want_distributed", "barrier", "next_stage", "local_devices", "BARRIER_TIMEOUT_S"]


def init_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    **kwargs,
) -> tuple[int, int]:
    """Start `jax.distributed` (once) and return ``(process_index, process_count)``.

    Arguments default to the environment variables ``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``; whatever is still missing is auto-detected by
    JAX (SLURM, Open MPI, TPU pods). Must run before any JAX computation in the process.
    Other keyword arguments go to `jax.distributed.initialize`.
    """
    if not jax.distributed.is_initialized():

        def env_int(key):
            v = os.environ.get(key)
            return int(v) if v not in (None, "") else None

        coordinator_address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS") or None
        num_processes = num_processes if num_processes is not None else env_int("JAX_NUM_PROCESSES")
        process_id = process_id if process_id is not None else env_int("JAX_PROCESS_ID")
        try:
            jax.distributed.initialize(coordinator_address, num_processes, process_id, **kwargs)
        except RuntimeError as err:
            raise RuntimeError(
                f"jax.distributed.initialize failed ({err}). Call jaxtls.init_distributed() (or scan "
                "with distributed=True) before any other JAX computation in the process."
            ) from err
    return jax.process_index(), jax.process_count()


def want_distributed(distributed) -> bool:
    """``distributed`` as given, else the ``JAXTLS_DISTRIBUTED`` environment variable."""
    if distributed is None:
        return os.environ.get("JAXTLS_DISTRIBUTED", "").lower() in ("1", "true", "yes", "on")
    return bool(distributed)


_STAGES = itertools.count()
BARRIER_TIMEOUT_S = float(os.environ.get("JAXTLS_BARRIER_TIMEOUT", 7 * 24 * 3600))


def next_stage() -> int:
    """A counter that is the same in every process running the same sequence of scans (it
    makes barrier names unique)."""
    return next(_STAGES)


def barrier(name: str, ready: Callable[[], bool] | None = None, timeout: float | None = None) -> None:
    """Wait for every process.

    With `ready`, first poll ``ready()`` on the host (e.g. "every chunk of the store is marked
    finished") until it holds, so that a long wait (processes with more work) is spent outside
    any collective; then synchronise all processes with
    `jax.experimental.multihost_utils.sync_global_devices` (public JAX API).
    """
    if jax.process_count() == 1:
        return
    timeout = BARRIER_TIMEOUT_S if timeout is None else timeout
    if ready is not None:
        t0, pause = time.monotonic(), 0.05
        while not ready():
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(
                    f"scan barrier {name!r}: the other processes did not finish within {timeout:g} s "
                    "(JAXTLS_BARRIER_TIMEOUT); rerun the same scan to resume"
                )
            time.sleep(pause)
            pause = min(2 * pause, 1.0)
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def local_devices(devices) -> list:
    """The local devices to shard a chunk over: ``None`` (all), a count, or a list."""
    local = jax.local_devices()
    if devices is None:
        return local
    if isinstance(devices, int | np.integer) and not isinstance(devices, bool):
        if not 1 <= devices <= len(local):
            raise ValueError(f"devices={devices}: this process has {len(local)} local device(s)")
        return local[: int(devices)]
    devices = list(devices)
    if not devices:
        raise ValueError("devices must not be empty")
    return devices
