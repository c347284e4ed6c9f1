"""Time traces of the semiclassical laser (Model C): Eqs. (B1, B2, 25, 26) integrated from the
seed state with diffrax."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._engine.checks import ParameterError
from .laser_equations import ode_args, prepare, reshape, rhs, seed_state

__all__ = ["laser_trajectory"]


def laser_trajectory(
    ts,
    *,
    E_u,
    E_l,
    omega_cav,
    g,
    gamma_u,
    gamma_l,
    gamma_b,
    mu_u,
    mu_l,
    T_u,
    T_l,
    occupations: str = "effective",
    omega_frame=None,
    a0=None,
    rtol: float = 1e-12,
    atol: float = 1e-20,
    max_steps: int = 200_000,
) -> dict:
    """Time evolution of the semiclassical laser from the seed state (Eqs. B1, B2, 25, 26).

    `ts` is a 1-D array of increasing times >= 0 (units 1/energy). Parameters broadcast as in
    `solve_laser`. Returns a dict of arrays of shape ``broadcast_shape + (len(ts),)``: ``"t"``,
    ``"sigma_uu"``, ``"sigma_ll"``, ``"sigma_ul"`` and ``"a"`` (complex, in the frame rotating
    at `omega_frame`, default ``omega_cav``: ``a(t) = e^{i omega_frame t} <a>(t)``), plus
    ``"omega_frame"`` (broadcast shape).
    """
    ts_np = np.asarray(ts, dtype=float)
    if ts_np.ndim != 1 or ts_np.size < 1 or np.any(np.diff(ts_np) <= 0) or ts_np[0] < 0:
        raise ParameterError("ts must be a 1-D array of strictly increasing times >= 0")
    values = dict(
        E_u=E_u, E_l=E_l, omega_cav=omega_cav, g=g, gamma_u=gamma_u, gamma_l=gamma_l,
        gamma_b=gamma_b, mu_u=mu_u, mu_l=mu_l, T_u=T_u, T_l=T_l, omega_frame=omega_frame, a0=a0,
    )  # fmt: skip
    flat, shape = prepare(values, occupations)
    tols = (jnp.asarray(rtol, jnp.float64), jnp.asarray(atol, jnp.float64))
    ys = _trajectory_core(flat, occupations, jnp.asarray(ts_np), tols, int(max_steps))
    out = {
        "t": jnp.broadcast_to(jnp.asarray(ts_np), ys.shape[:1] + ts_np.shape),
        "sigma_uu": ys[..., 0],
        "sigma_ll": ys[..., 1],
        "sigma_ul": ys[..., 2] + 1j * ys[..., 3],
        "a": ys[..., 4] + 1j * ys[..., 5],
    }
    out = reshape(out, shape)
    out["omega_frame"] = flat["omega_frame"].reshape(shape)
    return out


@eqx.filter_jit
def _trajectory_core(p, occupations, ts, tols, max_steps):
    import diffrax

    rtol, atol = tols

    args = ode_args(p, occupations)

    def one(args):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(rhs),
            diffrax.Tsit5(),
            t0=0.0,
            t1=ts[-1],
            dt0=None,
            y0=seed_state(args),
            args=args,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            saveat=diffrax.SaveAt(ts=ts),
            max_steps=max_steps,
        )
        return sol.ys  # (len(ts), 6)

    return jax.vmap(one)(args)
