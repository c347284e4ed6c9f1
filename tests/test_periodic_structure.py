"""The periodic counterpart of `jt.steady_state` (issue 13, item 4): a user's driven
`LindbladStructure` solved by Floquet harmonics on its sector, against the closed form of Model A
in 50-digit arithmetic (RWA drive), QuTiP's `steadystate_floquet` (a cosine drive beyond the
RWA), finite differences for gradients, under `jax.jit` and `jax.vmap`."""

import equinox as eqx
import jax
import jax.numpy as jnp
import mp_reference
import numpy as np
import pytest

import jaxtls as jt

A = dict(E_u=1.0, E_l=0.0, omega=1.1, eps=0.05, gamma_u=0.03, gamma_l=0.05, mu_u=0.9, mu_l=0.1, T_u=0.02, T_l=0.02)
CU, CL = (np.asarray(c) for c in jt.fermion_annihilators(2))
NU, NL = CU.T @ CU, CL.T @ CL
HOP = CU.T @ CL  # c_u^+ c_l


def structure(drive_op):
    """Two levels between two leads (jumps c_u^+, c_u, c_l^+, c_l) with one drive term."""
    return jt.LindbladStructure(
        hamiltonian=(NU, NL), jumps=(CU.T, CU, CL.T, CL), observables=(NU, NL), drive=((1, drive_op),)
    )


RWA = structure(HOP)  # eps c_u^+ c_l e^{-i w t} + h.c. (Eq. 7)
COS = structure(HOP + HOP.T)  # eps X e^{-i w t} + h.c. = 2 eps cos(w t) X, beyond the RWA


def coefficients(p, f_u, f_l):
    return jnp.stack(
        [
            p["E_u"],
            p["E_l"],
            p["gamma_u"] * f_u,
            p["gamma_u"] * (1 - f_u),
            p["gamma_l"] * f_l,
            p["gamma_l"] * (1 - f_l),
        ],
        axis=-1,
    )


def reference(p=A):
    ref = mp_reference.classical(**p)
    f = ref["occupation"]
    return ref, float(f["u"]), float(f["l"])


def closed_rate(p, f_u, f_l):
    """Rate of Model A at given occupations (A8-A12): ``R = alpha h (f_u - f_l)``."""
    gam = p["gamma_u"] + p["gamma_l"]
    delta = p["omega"] - (p["E_u"] - p["E_l"])
    alpha = p["eps"] ** 2 * gam / (gam**2 / 4 + delta**2)
    return alpha * p["gamma_u"] * p["gamma_l"] / (p["gamma_u"] * p["gamma_l"] + alpha * gam) * (f_u - f_l)


def lead_currents(r):
    """(Ndot_u, Ndot_l, Udot_u, Udot_l) from the per-jump flows: lead u owns jumps 0, 1."""
    n_u = r.flows[..., 0, 0] + r.flows[..., 0, 1]
    n_l = r.flows[..., 1, 2] + r.flows[..., 1, 3]
    u_u = r.energy_flows[..., 0] + r.energy_flows[..., 1]
    u_l = r.energy_flows[..., 2] + r.energy_flows[..., 3]
    return n_u, n_l, u_u, u_l


def test_rwa_drive_equals_the_closed_form_of_model_a():
    ref, f_u, f_l = reference()
    r = jt.steady_state(RWA, coefficients(A, f_u, f_l), drive=jnp.array([A["eps"]]), omega=A["omega"], n_harm=2)
    assert isinstance(r, jt.PeriodicState) and isinstance(r, jt.AbstractResult) and bool(r.ok)
    n_u, n_l, u_u, u_l = lead_currents(r)
    scale = A["gamma_u"] + A["gamma_l"]
    tol = 1e-13 * scale
    np.testing.assert_allclose(float(n_u), float(ref["rate"]), rtol=1e-10, atol=tol)
    np.testing.assert_allclose(float(n_l), -float(ref["rate"]), rtol=1e-10, atol=tol)
    np.testing.assert_allclose(float(u_u), float(ref["energy_current"]["u"]), rtol=1e-10, atol=tol)
    np.testing.assert_allclose(float(u_l), float(ref["energy_current"]["l"]), rtol=1e-10, atol=tol)
    np.testing.assert_allclose(float(r.power), float(ref["power"]), rtol=1e-10, atol=tol)
    np.testing.assert_allclose(r.expect, [float(ref["populations"]["u"]), float(ref["populations"]["l"])], atol=1e-12)
    assert float(r.harmonic_tail) < 1e-15  # the RWA state has harmonics |n| <= 1 only
    np.testing.assert_allclose(np.trace(np.asarray(r.density_matrix())), 1.0, atol=1e-13)
    # rho(t) of the RWA state: the coherence rotates at omega, the populations are constant
    rho_t = np.asarray(r.density_matrix(t=0.7))
    np.testing.assert_allclose(np.real(np.diag(rho_t)), np.real(np.diag(np.asarray(r.density_matrix()))), atol=1e-13)


def test_batched_under_jit_and_vmap_and_broadcast():
    """omega (3,) x drive (2, 1, 1) broadcast to (2, 3), every point equal to the closed form
    (A8-A12) at the same occupations; jit(vmap) over omega gives the same flows."""
    _, f_u, f_l = reference()
    c = coefficients(A, f_u, f_l)
    w = jnp.array([1.0, 1.1, 1.2])
    d = jnp.array([0.05, 0.08])[:, None, None]
    r = jt.steady_state(RWA, c, drive=d, omega=w, n_harm=2)
    assert r.shape == (2, 3) and r.expect.shape == (2, 3, 2) and r.harmonics.shape[:3] == (2, 3, 5)
    n_u = lead_currents(r)[0]
    for i, eps in enumerate((0.05, 0.08)):
        for j, om in enumerate((1.0, 1.1, 1.2)):
            np.testing.assert_allclose(float(n_u[i, j]), closed_rate(dict(A, eps=eps, omega=om), f_u, f_l), rtol=1e-10)
    f = jax.jit(jax.vmap(lambda om: jt.steady_state(RWA, c, drive=jnp.array([0.05]), omega=om, n_harm=2).flows))
    np.testing.assert_allclose(f(w), r.flows[0], rtol=1e-12, atol=1e-16)


def test_gradient_with_respect_to_the_drive_matches_finite_differences():
    _, f_u, f_l = reference()
    c = coefficients(A, f_u, f_l)

    def rate(eps, om):
        r = jt.steady_state(RWA, c, drive=jnp.array([eps + 0j]), omega=om, n_harm=2)
        return lead_currents(r)[0]

    g_eps, g_om = jax.grad(rate, argnums=(0, 1))(0.05, 1.1)
    h = 1e-6
    fd_eps = (rate(0.05 + h, 1.1) - rate(0.05 - h, 1.1)) / (2 * h)
    fd_om = (rate(0.05, 1.1 + h) - rate(0.05, 1.1 - h)) / (2 * h)
    np.testing.assert_allclose(float(g_eps), float(fd_eps), rtol=1e-6)
    np.testing.assert_allclose(float(g_om), float(fd_om), rtol=1e-6)


def test_cosine_drive_beyond_the_rwa_equals_qutip_floquet():
    """H = E_u n_u + E_l n_l + 2 eps cos(w t) (c_u^+ c_l + h.c.) with strong driving (eps = 0.3):
    period-averaged populations against QuTiP's matrix-continued-fraction `steadystate_floquet`."""
    qutip = pytest.importorskip("qutip", reason="QuTiP is the optional CPU reference (pip install jaxtls[qutip])")
    p = dict(A, eps=0.3, gamma_u=0.2, gamma_l=0.3, T_u=0.1, T_l=0.1)
    f_u, f_l = 0.3, 0.6
    c = coefficients(p, f_u, f_l)
    r = jt.steady_state(COS, c, drive=jnp.array([p["eps"]]), omega=p["omega"], n_harm=16)
    assert bool(r.ok) and float(r.harmonic_tail) < 1e-12
    h0 = qutip.Qobj(p["E_u"] * NU + p["E_l"] * NL)
    rates = np.asarray(c[2:])
    c_ops = [qutip.Qobj(np.sqrt(k) * s) for k, s in zip(rates, (CU.T, CU, CL.T, CL), strict=True)]
    rho = qutip.steadystate_floquet(h0, c_ops, qutip.Qobj(2 * p["eps"] * (HOP + HOP.T)), w_d=p["omega"], n_it=40)
    pops = [float(np.real(qutip.expect(qutip.Qobj(o), rho))) for o in (NU, NL)]
    np.testing.assert_allclose(np.asarray(r.expect), pops, atol=1e-9)
    # particle conservation: what lead u puts in, lead l takes out (period averages, C2)
    n_u, n_l, u_u, u_l = lead_currents(r)
    np.testing.assert_allclose(float(n_u + n_l), 0.0, atol=1e-13)
    np.testing.assert_allclose(float(u_u + u_l + r.power), 0.0, atol=1e-13)  # first law, Eq. 1


def test_bad_input_and_untrusted_results():
    _, f_u, f_l = reference()
    c = coefficients(A, f_u, f_l)
    with pytest.raises(ValueError, match="pass drive"):
        jt.steady_state(RWA, c)
    with pytest.raises(ValueError, match="drive must have shape"):
        jt.steady_state(RWA, c, drive=jnp.array([0.05, 0.1]), omega=1.1)
    with pytest.raises(ValueError, match="omega must be finite and > 0"):
        jt.steady_state(RWA, c, drive=jnp.array([0.05]), omega=-1.0)
    with pytest.raises(ValueError, match="n_harm must be an integer"):
        jt.steady_state(RWA, c, drive=jnp.array([0.05]), omega=1.1, n_harm=0)
    with pytest.raises(ValueError, match="solver applies to static"):
        jt.steady_state(RWA, c, drive=jnp.array([0.05]), omega=1.1, solver=jt.DenseSolver())
    static = jt.LindbladStructure(hamiltonian=(NU, NL), jumps=(CU.T, CU, CL.T, CL))
    with pytest.raises(ValueError, match="need a structure with a periodic drive"):
        jt.steady_state(static, c, drive=jnp.array([0.05]), omega=1.1)
    # a level with zero rates: non-unique steady state -> raise, flagged with throw=False, also under jit
    dead = c.at[2:4].set(0.0)
    with pytest.raises(jt.SteadyStateError, match="failed the checks"):
        jt.steady_state(RWA, dead.at[4:].set(0.0), drive=jnp.array([0.0]), omega=1.1)
    flagged = jt.steady_state(RWA, dead.at[4:].set(0.0), drive=jnp.array([0.0]), omega=1.1, throw=False)
    assert not bool(flagged.ok)

    def traced(k, throw):
        return jt.steady_state(RWA, c.at[2:].multiply(k), drive=jnp.array([0.0]), omega=1.1, throw=throw)

    assert not bool(jax.jit(lambda k: traced(k, False).ok)(0.0))
    assert bool(jax.jit(lambda k: traced(k, False).ok)(1.0))
    assert not bool(jax.jit(lambda k: traced(k, False).ok)(-1.0))  # negative rates under jit
    with pytest.raises((eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError), match="periodic steady state failed"):
        jax.block_until_ready(jax.jit(lambda k: traced(k, True).expect)(0.0))
