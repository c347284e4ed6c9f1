"""Implicit differentiation of steady states: gradients against central finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt

CLASSICAL = ("E_u", "E_l", "omega", "eps", "gamma_u", "gamma_l", "mu_u", "mu_l", "T_u", "T_l")
CAVITY = ("E_u", "E_l", "omega_cav", "g", "gamma_u", "gamma_l", "gamma_b", "mu_u", "mu_l", "T_u", "T_l", "T_b")


def draw(model, rng):
    gu, gl, gb = rng.uniform(0.02, 0.1, 3)
    gam = gu + gl + (gb if model == "cavity" else 0)
    base = dict(E_u=rng.uniform(0.9, 1.1), E_l=rng.uniform(-0.1, 0.1), gamma_u=gu, gamma_l=gl,
                mu_u=rng.uniform(0.6, 1.4), mu_l=rng.uniform(-0.3, 0.3), T_u=rng.uniform(0.05, 0.3),
                T_l=rng.uniform(0.05, 0.3))  # fmt: skip
    delta = rng.uniform(-3, 3) * gam
    if model == "classical":
        return dict(base, omega=base["E_u"] - base["E_l"] + delta, eps=rng.uniform(0.2, 2) * gam)
    return dict(base, omega_cav=base["E_u"] - base["E_l"] + delta, g=rng.uniform(0.2, 2) * gam,
                gamma_b=gb, T_b=rng.uniform(0.05, 0.3))  # fmt: skip


def objective(model, names, occupations):
    def f(v):
        kw = dict(zip(names, v))
        if model == "classical":
            r = jt.solve_classical(**kw, occupations=occupations)
        else:
            r = jt.solve_cavity(**kw, n_max=14, occupations=occupations)
        # a mix of outputs so that every part of the result is exercised
        return r.rate + 0.3 * r.entropy_production + 0.1 * r.energy_current["u"] + r.populations["u"]

    return f


@pytest.mark.parametrize("model", ["classical", "cavity"])
@pytest.mark.parametrize("occupations", ["bare", "effective"])
def test_gradient_matches_finite_differences(model, occupations):
    names = CLASSICAL if model == "classical" else CAVITY
    rng = np.random.default_rng(0 if model == "classical" else 1)
    for _ in range(2):
        p = draw(model, rng)
        v = jnp.array([p[k] for k in names])
        f = objective(model, names, occupations)
        grad = jax.grad(f)(v)
        fwd = jax.jacfwd(f)(v)
        np.testing.assert_allclose(grad, fwd, rtol=1e-10, atol=1e-14)
        for i, name in enumerate(names):
            h = 1e-5 * max(abs(float(v[i])), 0.05)
            fd = (f(v.at[i].add(h)) - f(v.at[i].add(-h))) / (2 * h)
            scale = float(jnp.max(jnp.abs(grad)))
            assert abs(float(grad[i]) - float(fd)) <= 1e-6 * abs(float(fd)) + 1e-8 * scale, (
                f"{name}: autodiff {float(grad[i])!r} vs finite difference {float(fd)!r}"
            )


def test_gradient_vmaps_over_a_batch():
    names = CAVITY
    rng = np.random.default_rng(5)
    pts = [draw("cavity", rng) for _ in range(4)]
    vs = jnp.array([[p[k] for k in names] for p in pts])
    f = objective("cavity", names, "effective")
    batched = jax.vmap(jax.grad(f))(vs)
    for i in range(4):
        np.testing.assert_allclose(batched[i], jax.grad(f)(vs[i]), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("model", ["classical", "cavity"])
def test_second_derivatives_raise_instead_of_dropping_terms(model):
    """The derivative rule treats the elimination's factors as constants (exact to first order);
    a second derivative would silently miss terms, so it raises. First derivatives still run."""
    p = draw(model, np.random.default_rng(3))
    names = CLASSICAL if model == "classical" else CAVITY
    f = objective(model, names, "effective")
    v = jnp.asarray([p[k] for k in names])
    assert np.all(np.isfinite(np.asarray(jax.grad(f)(v))))
    for second in (jax.hessian(f), jax.jacfwd(jax.grad(f)), jax.jacrev(jax.jacfwd(f))):
        with pytest.raises(NotImplementedError, match="second derivatives of steady states"):
            second(v)
