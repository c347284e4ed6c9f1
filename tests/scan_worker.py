"""Subprocess worker for tests/test_scan.py (a fresh interpreter per run: SIGKILL, forced host
device counts and jax.distributed all need their own process).

    python tests/scan_worker.py plain STORE            # the reference scan, one line per chunk
    python tests/scan_worker.py devices STORE_A STORE_B  # all local devices vs one device
    python tests/scan_worker.py distributed STORE PORT PROCESS_ID NUM_PROCESSES

Each finished chunk prints ``CHUNK <index> <process> <json shards>`` (flushed). With
``JAXTLS_TEST_CHUNK_DELAY=<seconds>`` the worker sleeps after each chunk, so that a test can
kill it part way.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The scan every worker runs (the tests import these too): 11 x 5 points, chunks of at most
# 10 points -> blocks (2, 5), 6 chunks, the last one half full (padded: one compilation).
FIXED = dict(E_u=1.0, E_l=0.0, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_l=0.1, T_u=0.02, T_l=0.02)
GRID = {"mu_u": {"start": 0.5, "stop": 1.5, "num": 11}, "omega": [0.9, 0.95, 1.0, 1.05, 1.1]}
OUTPUTS = ["rate", "entropy_production", "particle_current.u"]
CHUNK_SIZE = 10


def run(store, **kwargs):
    from jaxtls._workflows.scan import scan

    delay = float(os.environ.get("JAXTLS_TEST_CHUNK_DELAY", "0"))

    def on_chunk(info):
        print(
            f"CHUNK {info.index} {info.process_index} {json.dumps([list(s) for s in info.shards])} {info.traces}",
            flush=True,
        )
        if delay:
            time.sleep(delay)

    return scan(
        "classical", GRID, FIXED, outputs=OUTPUTS, chunk_size=CHUNK_SIZE, store=store,
        progress=False, on_chunk=on_chunk, **kwargs,
    )  # fmt: skip


def main(argv):
    mode = argv[0]
    if mode == "plain":
        run(argv[1])
    elif mode == "devices":
        import jax

        print(f"DEVICES {jax.local_device_count()}", flush=True)
        run(argv[1])  # all local devices
        print("SINGLE", flush=True)
        run(argv[2], devices=1)
    elif mode == "distributed":
        store, port, pid, nproc = argv[1], argv[2], int(argv[3]), int(argv[4])
        dist = dict(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc, process_id=pid,
                    initialization_timeout=60)  # fmt: skip
        run(store, distributed=dist)
        import jax

        print(f"PROCESS {jax.process_index()} OF {jax.process_count()}", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
