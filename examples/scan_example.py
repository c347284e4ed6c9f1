"""Parameter scans from Python: a cartesian grid, a zipped axis, a resumable store and figures.

    python examples/scan_example.py [OUT_DIR]      # default OUT_DIR: scan-example/

Run it twice: the second run finds the finished store and returns at once. Interrupt the first
run (Ctrl-C) and rerun: only the missing chunks are computed. See docs/scans.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import jaxtls as jt

out = Path(sys.argv[1] if len(sys.argv) > 1 else "scan-example")
out.mkdir(parents=True, exist_ok=True)

# Model A (classical field): rate and entropy production over (mu_u, omega), hbar = k_B = 1.
fixed = dict(E_u=1.0, E_l=0.0, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_l=0.1, T_u=0.02, T_l=0.02)
ds = jt.scan(
    "classical",  # a registered model (jt.registered_models()), or any callable with the broadcasting convention
    grid={"mu_u": {"start": 0.5, "stop": 1.5, "num": 201}, "omega": np.linspace(0.9, 1.1, 41)},
    fixed=fixed,
    outputs=["rate", "entropy_production", "particle_current.u", "power"],
    store=out / "classical.zarr",  # streamed chunk by chunk; rerunning resumes
    chunk_size=1024,  # points per chunk (default: automatic from the memory per point)
)
print(ds)
print("max entropy production:", float(ds["entropy_production"].max()), ds["entropy_production"].units)
assert float(ds["entropy_production"].min()) >= -1e-12  # second law, point by point

# A zipped axis: mu_u and T_u change together along one dimension "ramp" (not a product).
fixed_z = {k: v for k, v in fixed.items() if k != "T_u"}
ramp = jt.scan(
    "classical",
    grid={"omega": [0.95, 1.0, 1.05]},
    fixed=fixed_z,
    zip={"ramp": {"mu_u": np.linspace(0.8, 1.4, 25), "T_u": np.geomspace(0.01, 0.1, 25)}},
    outputs=["rate"],
    store=out / "ramp.zarr",
    progress=False,
)
print(ramp["rate"].dims, ramp["mu_u"].dims)  # ('omega', 'ramp') ('ramp',)

for name, kwargs in {
    "rate_map.png": dict(output="rate", x="omega", y="mu_u"),
    "entropy_curves.png": dict(output="entropy_production", sel={"omega": 1.0}),
    "ramp.png": dict(output="rate", x="mu_u"),
}.items():
    store = out / ("ramp.zarr" if name == "ramp.png" else "classical.zarr")
    print("wrote", jt.plot_store(store, out_file=out / name, **kwargs))
