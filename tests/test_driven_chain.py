"""The driven three-level chain example (examples/driven_chain.py; issue 5, "Must show": a chain
with the self-consistent solution of Appendix C and a period-averaged entropy production >= 0
on at least 200 random parameter sets).

The 200 chains are solved once (module fixture) in one compiled program by the example's
`solve_batch`; the checks recompute everything they assert from the currents and parameters
(Fermi functions, entropy flows, effective energies), and compare the library's sector Floquet
solver (what the example uses) with the dense full-space reference. Units: hbar = k_B = 1.
"""

import importlib.util
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxtls._models.floquet import periodic_steady_state
from jaxtls._models.floquet_reference import DenseFloquetReference

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    # registered first: the example defines an equinox Module (a dataclass, which looks up its
    # module while `from __future__ import annotations` is in force)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


dc = load_example("driven_chain")

N_CHAINS = 200
SEED = 0


@pytest.fixture(scope="module")
def chains():
    """``(params, sc, bare)`` for `N_CHAINS` random chains (NumPy params; batched results)."""
    params = dc.random_parameter_sets(N_CHAINS, SEED)
    sc, bare = dc.solve_batch(params)
    jax.block_until_ready((sc, bare))
    return {k: np.asarray(v) for k, v in params.items()}, sc, bare


def lead_params(params):
    """``(mu, T, bare energy)`` per lead, ``(N, 2)`` each, in the example's lead order (1, 3)."""
    mu = np.stack([params["mu_1"], params["mu_3"]], axis=-1)
    temp = np.stack([params["T_1"], params["T_3"]], axis=-1)
    bare = np.stack([params["E_1"], params["E_3"]], axis=-1)
    return mu, temp, bare


def entropy_scale(u, n, mu, temp):
    """``sum_a (|Udot_a| + |mu_a Ndot_a|) / T_a``: the size of the terms summed in the entropy
    production, hence the scale of its rounding error."""
    return np.sum((np.abs(u) + np.abs(mu * n)) / temp, axis=-1)


@pytest.mark.slow
def test_self_consistent_entropy_production_is_non_negative(chains):
    """Every fixed point converged and passed the steady-state checks, and the period-averaged
    entropy production sum_a (-Udot_a + mu_a Ndot_a)/T_a (recomputed here from the currents) is
    >= -1e-12 times the size of its terms at all 200 chains (Spohn, Appendix C)."""
    params, sc, _ = chains
    assert sc.effective_energy.shape == (N_CHAINS, 2)
    assert np.all(np.asarray(sc.converged))
    assert np.all(np.asarray(sc.steady_state.diagnostics.ok))
    assert float(jnp.max(sc.steady_state.diagnostics.harmonic_tail)) < 1e-9
    mu, temp, _ = lead_params(params)
    u, n = np.asarray(sc.energy_current), np.asarray(sc.particle_current)
    s = np.sum((-u + mu * n) / temp, axis=-1)
    scale = entropy_scale(u, n, mu, temp)
    np.testing.assert_allclose(np.asarray(sc.entropy_production), s, rtol=0, atol=1e-14 * scale.max())
    assert np.all(s >= -1e-12 * scale), s.min()
    # the chains do carry currents: the inequality is not met by 0 >= 0
    assert np.median(np.abs(n[:, 0])) > 1e-4
    assert np.median(s / scale) > 1e-3


@pytest.mark.slow
def test_fixed_point_is_self_consistent(chains):
    """The occupations are f_a = fermi(E~_a, mu_a, T_a) and E~_a = Udot_a / Ndot_a (C3), checked
    here with NumPy; the fixed point moved the energies away from the bare ones."""
    params, sc, _ = chains
    mu, temp, bare_e = lead_params(params)
    e = np.asarray(sc.effective_energy)
    f = np.asarray(sc.occupation)
    x = (e - mu) / temp
    np.testing.assert_allclose(f, 0.5 * (1.0 - np.tanh(0.5 * x)), rtol=0, atol=1e-13)  # fermi, overflow-free
    u, n = np.asarray(sc.energy_current), np.asarray(sc.particle_current)
    np.testing.assert_allclose(u, e * n, rtol=0, atol=1e-12 * np.max(np.abs(u)))
    assert float(jnp.max(sc.effective_energy_residual)) < 1e-13
    shift = np.abs(e - bare_e)
    assert np.median(shift) > 1e-3, np.median(shift)


@pytest.mark.slow
def test_first_law_and_particle_conservation(chains):
    """Period averages: sum_a Udot_a^av + P^av = 0 (first law, Eq. 1) and sum_a Ndot_a^av = 0
    (the chain Hamiltonian conserves the particle number), to 1e-10 of the largest flow."""
    _, sc, _ = chains
    u, n, p = np.asarray(sc.energy_current), np.asarray(sc.particle_current), np.asarray(sc.power)
    u_scale = np.maximum(np.max(np.abs(u), axis=-1), np.abs(p))
    assert np.all(np.abs(u.sum(axis=-1) + p) <= 1e-10 * u_scale)
    np.testing.assert_allclose(np.asarray(sc.first_law_residual), u.sum(axis=-1) + p, rtol=0, atol=1e-16)
    assert np.all(np.abs(n.sum(axis=-1)) <= 1e-10 * np.max(np.abs(n), axis=-1))
    assert np.median(np.abs(p)) > 1e-4  # the drive does work on the chains


@pytest.mark.slow
def test_bare_energies_violate_the_second_law(chains):
    """With the bare level energies in the Fermi functions (Eq. 9) the same chains show a
    negative period-averaged entropy production at several points (14 of the 200), where the
    self-consistent solution is non-negative: the check above has teeth."""
    params, sc, bare = chains
    assert np.all(np.asarray(bare.diagnostics.ok))
    mu, temp, bare_e = lead_params(params)
    f_bare = 0.5 * (1.0 - np.tanh(0.5 * (bare_e - mu) / temp))
    np.testing.assert_allclose(np.asarray(bare.occupation), f_bare, rtol=0, atol=1e-13)
    u, n = np.asarray(bare.energy_current), np.asarray(bare.particle_current)
    s_bare = np.sum((-u + mu * n) / temp, axis=-1)
    violated = s_bare < -1e-6 * entropy_scale(u, n, mu, temp)
    assert int(np.sum(violated)) >= 5, int(np.sum(violated))
    assert np.all(np.asarray(sc.entropy_production)[violated] > 0)


@pytest.mark.slow
def test_sector_floquet_equals_dense_reference(chains):
    """The sector `FloquetHarmonics` the example uses (the particle-number sector, 20 unknowns per
    harmonic) gives the same periodic state and flows as the dense full-space reference (64 per
    harmonic, d^2 x d^2 Liouvillians) at the same truncation, at the self-consistent occupations
    of the chains with the strongest drive, the strongest interaction and a bare-energy
    violation; its group-wise smallest eigenvalue equals that of NumPy's `eigvalsh` on the full
    matrices."""
    params, sc, bare = chains
    s_bare = np.asarray(bare.entropy_production)
    pick = np.unique([np.argmax(params["eps"] / params["omega"]), np.argmax(params["U"]), np.argmin(s_bare)])
    sub = {k: jnp.asarray(v[pick]) for k, v in params.items()}
    occ = jnp.asarray(np.asarray(sc.occupation)[pick])

    @jax.jit
    @jax.vmap
    def full(p, f):
        return periodic_steady_state(
            dc.chain_system(p), occupations=f, method=DenseFloquetReference(dc.N_HARM), throw=False
        )

    ref = full(sub, occ)
    assert np.all(np.asarray(ref.diagnostics.ok))
    st = jax.tree.map(lambda x: x[pick], sc.steady_state)
    for name in ("energy_current", "particle_current", "power", "populations"):
        a, b = np.asarray(getattr(st, name)), np.asarray(getattr(ref, name))
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * max(1.0, np.max(np.abs(b))), err_msg=name)
    np.testing.assert_allclose(st.rho_harmonics, ref.rho_harmonics, rtol=0, atol=1e-13)
    rhos = np.concatenate([np.asarray(st.rho_average), np.asarray(st.rho0)], axis=0).reshape(2, -1, 8, 8)
    lam = np.min(np.linalg.eigvalsh(0.5 * (rhos + np.conj(np.swapaxes(rhos, -1, -2)))), axis=(0, 2))
    np.testing.assert_allclose(st.diagnostics.min_eigenvalue, lam, rtol=0, atol=1e-13)


@pytest.mark.slow
def test_reports(chains):
    """The example's summaries describe the batch (what `python examples/driven_chain.py` prints)."""
    params, sc, bare = chains
    text = dc.report_batch(sc, bare)
    assert f"{N_CHAINS} random chains: converged {N_CHAINS}, steady-state checks ok {N_CHAINS}" in text
    point = {k: float(v[0]) for k, v in params.items()}
    text = dc.report_point(dc.take(sc, 0), dc.take(bare, 0), point)
    assert "lead 1: E~ = " in text and "first-law residual" in text


def test_solve_batch_validates_input():
    params = {k: np.full(3, v) for k, v in dc.DEFAULT.items()}
    with pytest.raises(ValueError, match="missing"):
        dc.solve_batch({k: v for k, v in params.items() if k != "eps"})
    with pytest.raises(ValueError, match="equal-length 1-D"):
        dc.solve_batch(params | {"eps": np.full(4, 0.05)})
    with pytest.raises(ValueError, match="solver"):
        dc.solve_batch(params, solver="bisection")
    with pytest.raises(ValueError, match="batch_size"):
        dc.solve_batch(params, batch_size=0)
