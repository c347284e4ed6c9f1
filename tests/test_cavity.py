"""Model B (quantized cavity): sector solver against independent references, exact flow
relations (Eq. 21), Fock-cutoff safety and the second-law audit (Eq. 22)."""

import re

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import jaxtls as jt
from jaxtls._engine.operators import boson_annihilator, dag, fermion_annihilators
from jaxtls._models.cavity import cavity_structure

BASE = dict(E_u=1.0, E_l=0.0, omega_cav=1.05, g=0.05, gamma_u=0.03, gamma_l=0.05, gamma_b=0.02,
            mu_u=1.2, mu_l=0.1, T_u=0.05, T_l=0.05, T_b=0.1)  # fmt: skip


def random_parameters(n, seed, strong=False):
    rng = np.random.default_rng(seed)
    gu, gl, gb = (10 ** rng.uniform(-2, -0.5, n) for _ in range(3))
    gam = gu + gl + gb
    e_u = rng.uniform(0.8, 1.5, n)
    e_l = rng.uniform(-0.3, 0.3, n)
    delta = np.clip(rng.uniform(-5, 5, n) * gam, -0.45, 0.45)  # up to 5 linewidths, E~_ph > 0
    gmax = 3.0 if strong else 1.0
    g = 10 ** rng.uniform(-2, np.log10(gmax), n) * gam * np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    return dict(
        E_u=e_u, E_l=e_l, omega_cav=e_u - e_l + delta, g=g, gamma_u=gu, gamma_l=gl, gamma_b=gb,
        mu_u=rng.uniform(-0.5, 2.0, n), mu_l=rng.uniform(-0.5, 1.0, n),
        T_u=10 ** rng.uniform(-1.3, 0, n), T_l=10 ** rng.uniform(-1.3, 0, n),
        T_b=10 ** rng.uniform(-1.5, 0, n),
    )  # fmt: skip


def full_space_reference(p, occupations, n_max):
    """Independent dense solve on the full 16 (n_max+1)^2 Liouville space (numpy, SVD null vector)."""
    cu, cl = fermion_annihilators(2)
    ib = np.eye(n_max + 1)
    cu, cl = np.kron(cu, ib), np.kron(cl, ib)
    a = np.kron(np.eye(4), boson_annihilator(n_max))
    eff = jt.effective_energies_cavity(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])
    e = (p["E_u"], p["E_l"], p["omega_cav"]) if occupations == "bare" else eff
    f_u = 1 / (np.exp((e[0] - p["mu_u"]) / p["T_u"]) + 1)
    f_l = 1 / (np.exp((e[1] - p["mu_l"]) / p["T_l"]) + 1)
    n_b = 1 / np.expm1(e[2] / p["T_b"])
    h = (p["E_u"] * dag(cu) @ cu + p["E_l"] * dag(cl) @ cl + p["omega_cav"] * dag(a) @ a
         + p["g"] * dag(cu) @ cl @ a + np.conj(p["g"]) * dag(a) @ dag(cl) @ cu)  # fmt: skip
    jumps = [(p["gamma_u"] * f_u, dag(cu)), (p["gamma_u"] * (1 - f_u), cu),
             (p["gamma_l"] * f_l, dag(cl)), (p["gamma_l"] * (1 - f_l), cl),
             (p["gamma_b"] * (n_b + 1), a), (p["gamma_b"] * n_b, dag(a))]  # fmt: skip
    d = h.shape[0]
    eye = np.eye(d)
    lv = -1j * (np.kron(h, eye) - np.kron(eye, h.T))
    for r, s in jumps:
        sds = dag(s) @ s
        lv = lv + r * (np.kron(s, s.conj()) - 0.5 * np.kron(sds, eye) - 0.5 * np.kron(eye, sds.T))
    lv[0] = np.eye(d).reshape(-1)  # replace the equation of rho_00 by the trace condition
    rhs = np.zeros(d * d, complex)
    rhs[0] = 1.0
    rho = np.linalg.solve(lv, rhs).reshape(d, d)
    y = np.conj(p["g"]) * np.trace(dag(cl) @ cu @ dag(a) @ rho)
    return {"rate": 2 * y.imag, "n_ph": np.trace(dag(a) @ a @ rho).real,
            "sigma_uu": np.trace(dag(cu) @ cu @ rho).real, "sigma_ll": np.trace(dag(cl) @ cl @ rho).real}  # fmt: skip


@pytest.mark.parametrize("occupations", ["bare", "effective"])
def test_sector_equals_full_space_dense(occupations):
    p = random_parameters(4, seed=11, strong=True)
    p["T_b"] = np.full(4, 0.08)  # keep photons inside n_max = 8
    r = jt.solve_cavity(**p, n_max=8, occupations=occupations, throw=False)
    for i in range(4):
        ref = full_space_reference({k: v[i] for k, v in p.items()}, occupations, 8)
        gam = p["gamma_u"][i] + p["gamma_l"][i] + p["gamma_b"][i]
        np.testing.assert_allclose(r.rate[i], ref["rate"], rtol=1e-10, atol=1e-13 * gam)
        np.testing.assert_allclose(r.populations["ph"][i], ref["n_ph"], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(r.populations["u"][i], ref["sigma_uu"], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(r.populations["l"][i], ref["sigma_ll"], rtol=1e-10, atol=1e-14)


def test_exact_flow_relations_and_first_law():
    p = random_parameters(300, seed=5, strong=True)
    # the relations are exact for the untruncated mode; truncation breaks them at O(P(n_max))
    r = jt.solve_cavity(**p, n_max="auto", fock_tol=1e-14)
    e = r.effective_energy
    gam = p["gamma_u"] + p["gamma_l"] + p["gamma_b"]
    escale = gam * (np.abs(p["E_u"]) + np.abs(p["E_l"]) + np.abs(p["omega_cav"]) + np.abs(p["g"]))
    rate = np.asarray(r.rate)
    tol = 1e-10 * np.abs(rate) * np.abs(np.asarray(e["u"])) + 1e-13 * escale
    assert np.all(np.abs(r.energy_current["u"] - e["u"] * rate) <= tol)
    assert np.all(np.abs(r.energy_current["l"] + e["l"] * rate) <= tol)
    assert np.all(np.abs(r.energy_current["b"] + e["ph"] * rate) <= tol)
    assert np.all(np.abs(r.first_law_residual) <= 1e-13 * escale)
    np.testing.assert_allclose(r.particle_current["u"], rate, rtol=1e-10, atol=1e-14 * gam.max())
    np.testing.assert_allclose(r.particle_current["l"], -rate, rtol=1e-10, atol=1e-14 * gam.max())
    np.testing.assert_allclose(r.particle_current["b"], -rate, rtol=1e-10, atol=1e-14 * gam.max())
    np.testing.assert_allclose(np.asarray(e["u"]), np.asarray(e["l"] + e["ph"]), rtol=1e-13)


def test_results_converge_with_n_max():
    kw = dict(BASE, T_b=0.5)  # thermal photons, n_b ~ 0.14 at E~_ph ~ 1.05
    rates = [float(jt.solve_cavity(**kw, n_max=n, throw=False).rate) for n in (4, 8, 16, 32)]
    errs = np.abs(np.diff(rates))
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-12 * abs(rates[-1])


def test_fock_cutoff_is_flagged_with_a_suggestion_and_auto_works():
    kw = dict(BASE, T_b=3.0)  # n_b ~ 2.4 thermal photons: n_max = 10 is far too small
    with pytest.raises(jt.SteadyStateError, match=r"n_max >= \d+"):
        jt.solve_cavity(**kw, n_max=10)
    flagged = jt.solve_cavity(**kw, n_max=10, throw=False)
    assert float(flagged.fock_tail) > 1e-8
    auto = jt.solve_cavity(**kw, n_max="auto")
    assert float(auto.fock_tail) <= 1e-8
    big = jt.solve_cavity(**kw, n_max=120)
    np.testing.assert_allclose(auto.rate, big.rate, rtol=1e-7)


def test_deep_lasing_equals_sparse_direct_solve_of_the_sector():
    kw = dict(E_u=1.0, E_l=0.0, omega_cav=1.0, g=0.05, gamma_u=0.2, gamma_l=0.2, gamma_b=0.001,
              mu_u=2.0, mu_l=-1.0, T_u=0.05, T_l=0.05, T_b=0.05)  # fmt: skip
    n_max = 260
    r = jt.solve_cavity(**kw, n_max=n_max)
    assert float(r.populations["ph"]) > 50  # far above threshold
    sec = cavity_structure(n_max)
    from jaxtls._engine.checks import broadcast_parameters
    from jaxtls._models.cavity import cavity_coefficients

    flat, _ = broadcast_parameters(kw, complex_names=("g",))
    coeffs, _ = cavity_coefficients(flat, "effective")
    c = np.asarray(coeffs[0])
    mat = sum(ci * rt for ci, rt in zip(c, sec.real_terms)).tolil()
    n = mat.shape[0]
    pad = np.array([u is None for u in sec.unknowns])
    mat[np.flatnonzero(pad), np.flatnonzero(pad)] = 1.0
    trace = np.array([u is not None and u[0] == "d" for u in sec.unknowns], dtype=float)
    mat[0, :] = trace
    rhs = np.zeros(n)
    rhs[0] = 1.0
    x = spla.spsolve(sp.csr_matrix(mat), rhs)
    ex = sec.ops.expect.reshape(sec.ops.expect.shape[0], -1) @ x
    np.testing.assert_allclose(float(r.populations["ph"]), ex[2], rtol=1e-10)
    rate_ref = c[3] * ex[4] - c[4] * ex[3]
    np.testing.assert_allclose(float(r.rate), rate_ref, rtol=1e-10)


def test_second_law_audit():
    p = random_parameters(10_000, seed=21, strong=True)
    r = jt.solve_cavity(**p, n_max="auto")  # every point converged in the Fock cutoff
    rate = np.asarray(r.rate)
    e = {k: np.asarray(v) for k, v in r.effective_energy.items()}
    # Eq. (22): R [E~_ph/T_b + (E~_l - mu_l)/T_l - (E~_u - mu_u)/T_u] >= 0
    bracket = e["ph"] / p["T_b"] + (e["l"] - p["mu_l"]) / p["T_l"] - (e["u"] - p["mu_u"]) / p["T_u"]
    eq22 = rate * bracket
    assert np.all(eq22 >= -1e-12 * np.abs(rate) * np.abs(bracket))
    # the audit from the flows agrees with Eq. (22) within the round-off floor of the flows
    gam = p["gamma_u"] + p["gamma_l"] + p["gamma_b"]
    floor = gam * (2 + np.abs(p["mu_u"]) + np.abs(p["mu_l"])) / np.minimum.reduce([p["T_u"], p["T_l"], p["T_b"]])
    ent = np.asarray(r.entropy_production)
    assert np.all(np.abs(ent - eq22) <= 1e-9 * np.abs(eq22) + 1e-12 * floor)
    assert np.all(ent >= -1e-12 * floor)
    # bare occupations: the same audit finds violations
    rb = jt.solve_cavity(**p, n_max=r.n_max, occupations="bare", throw=False)
    ok = np.asarray(rb.diagnostics.ok) & (np.asarray(rb.fock_tail) < 1e-8)
    viol = (np.asarray(rb.entropy_production) < -1e-6 * floor) & ok
    assert viol.sum() > 0


def test_bare_violation_example():
    # equal temperatures: Eq. (22) reduces to R (mu_u - mu_l)/T, so R must follow the bias. With bare
    # occupations R > 0 whenever mu_u - mu_l > -(omega_cav - (E_u - E_l)): a blue-detuned cavity emits
    # against a small reverse bias, and the entropy production is negative.
    kw = dict(BASE, omega_cav=1.3, mu_u=0.45, mu_l=0.55, T_u=0.2, T_l=0.2, T_b=0.2, g=0.05)
    bare = jt.solve_cavity(**kw, n_max=12, occupations="bare")
    eff = jt.solve_cavity(**kw, n_max=12, occupations="effective")
    assert float(bare.rate) > 0 and float(bare.entropy_production) < 0
    assert float(eff.rate) < 0 and float(eff.entropy_production) > 0


BAD = {"n_max": [0, -3, 2.5, "big"], "gamma_u": [-0.1, 0.0, np.nan], "gamma_l": [-0.1, 0.0, np.inf],
       "gamma_b": [-1.0, 0.0, np.nan], "T_b": [0.0, -0.1, np.inf], "T_u": [0.0, -1.0, np.nan],
       "T_l": [0.0, -1.0, np.inf], "g": [np.nan, complex(0.0, np.inf)], "omega_cav": [np.inf, np.nan],
       "E_u": [np.nan, -np.inf], "E_l": [np.inf], "mu_u": [np.nan], "mu_l": [np.nan, np.inf],
       # one bad entry in an otherwise valid array is found too
       "E_u ": [np.array([1.0, np.nan, 1.1])], "gamma_l ": [np.array([0.03, -0.01])]}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_names_the_parameter(name):
    for value in BAD[name]:
        with pytest.raises(ValueError, match=name.strip()):
            jt.solve_cavity(**{**BASE, "n_max": 8, name.strip(): value})


def test_unknown_occupations_and_n_max_auto_suggestion():
    with pytest.raises(ValueError, match="occupations"):
        jt.solve_cavity(**BASE, n_max=8, occupations="effectiv")
    # a too-small cutoff raises with a suggestion, and the suggestion is enough
    hot = dict(BASE, T_b=2.0)
    with pytest.raises(jt.SteadyStateError, match="n_max") as info:
        jt.solve_cavity(**hot, n_max=8)
    suggested = int(re.search(r"n_max >= (\d+)", str(info.value)).group(1))
    assert suggested > 8
    ok = jt.solve_cavity(**hot, n_max=suggested)  # raises if the suggestion were not enough
    assert float(ok.fock_tail) <= 1e-8


def test_solve_cavity_under_jit_and_vmap():
    import jax

    f = jax.jit(lambda mu: jt.solve_cavity(**dict(BASE, mu_u=mu), n_max=12).rate)
    mus = np.linspace(0.6, 1.4, 5)
    got = np.asarray(jax.vmap(f)(mus))
    want = np.asarray(jt.solve_cavity(**dict(BASE, mu_u=mus), n_max=12).rate)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-18)


def test_negative_photon_energy_is_rejected():
    with pytest.raises(ValueError, match="omega_cav"):
        jt.solve_cavity(**dict(BASE, omega_cav=-0.2), n_max=4, occupations="bare")


def test_against_qutip():
    qutip = pytest.importorskip("qutip", reason="QuTiP is the optional CPU reference (pip install jaxtls[qutip])")
    n = 8
    p = random_parameters(n, seed=3, strong=True)
    gmax = np.maximum(np.maximum(p["gamma_u"], p["gamma_l"]), p["gamma_b"])
    # strong coupling: g = 2..5 times the largest rate at the first four points
    p["g"][:4] = np.array([2.0, 3.0, 4.0, 5.0]) * gmax[:4] * np.exp(1j * np.array([0.3, 1.1, 2.0, 4.0]))
    # large bath occupations: n_b = 2, 3, 4 at the next three points (T_b from E~_ph), moderate at the last
    e_ph = jt.effective_energies_cavity(p["E_u"], p["E_l"], p["omega_cav"], p["gamma_u"], p["gamma_l"], p["gamma_b"])[2]
    want_nb = np.array([2.0, 3.0, 4.0])
    p["T_b"][4:7] = e_ph[4:7] / np.log1p(1.0 / want_nb)
    p["T_b"][7] = 0.5
    n_max = 110  # P(n_max) <= 1e-8 for a thermal-like distribution with n_b = 4
    r = jt.solve_cavity(**p, n_max=n_max)
    assert np.sum(np.abs(p["g"]) > gmax) >= 4
    np.testing.assert_allclose(np.asarray(r.occupation["b"])[4:7], want_nb, rtol=1e-12)
    for i in range(n):
        q = {k: v[i] for k, v in p.items()}
        nb = float(r.occupation["b"][i])
        fu, fl = float(r.occupation["u"][i]), float(r.occupation["l"][i])
        cu = qutip.tensor(qutip.destroy(2), qutip.qeye(2), qutip.qeye(n_max + 1))
        cl = qutip.tensor(qutip.sigmaz(), qutip.destroy(2), qutip.qeye(n_max + 1))
        a = qutip.tensor(qutip.qeye(2), qutip.qeye(2), qutip.destroy(n_max + 1))
        # qutip.destroy(2) maps |1> -> |0>, sigmaz = diag(1, -1) = (-1)^n: the same Jordan-Wigner convention
        h = (q["E_u"] * cu.dag() * cu + q["E_l"] * cl.dag() * cl + q["omega_cav"] * a.dag() * a
             + q["g"] * cu.dag() * cl * a + np.conj(q["g"]) * a.dag() * cl.dag() * cu)  # fmt: skip
        c_ops = [np.sqrt(q["gamma_u"] * fu) * cu.dag(), np.sqrt(q["gamma_u"] * (1 - fu)) * cu,
                 np.sqrt(q["gamma_l"] * fl) * cl.dag(), np.sqrt(q["gamma_l"] * (1 - fl)) * cl,
                 np.sqrt(q["gamma_b"] * (nb + 1)) * a, np.sqrt(q["gamma_b"] * nb) * a.dag()]  # fmt: skip
        rho = qutip.steadystate(h, c_ops)
        rate = 2 * np.imag(np.conj(q["g"]) * qutip.expect(cl.dag() * cu * a.dag(), rho))
        np.testing.assert_allclose(r.rate[i], rate, rtol=1e-7, atol=1e-14)
        np.testing.assert_allclose(r.populations["ph"][i], qutip.expect(a.dag() * a, rho), rtol=1e-7, atol=1e-13)
