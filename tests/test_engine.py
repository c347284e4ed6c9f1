"""Engine: operators, superoperators, sector reduction and steady-state solvers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._engine.batched_solver import AutoSolver, BlockTridiagonalSolver
from jaxtls._engine.blocks import assemble
from jaxtls._engine.operators import boson_annihilator, dag, fermion_annihilators, identity, tensor
from jaxtls._engine.sector import LindbladStructure, Sector
from jaxtls._engine.solvers import DenseSolver
from jaxtls._engine.superoperator import dissipator, hamiltonian_superop, lindbladian, unvec, vec


def test_jordan_wigner_hand_built():
    # basis |n_u n_l>: index 2*n_u + n_l ; c_u|10> = |00>, c_l|01> = |00>, c_l|11> = -|10>
    cu, cl = fermion_annihilators(2)
    e = np.eye(4)
    ket = {(0, 0): e[0], (0, 1): e[1], (1, 0): e[2], (1, 1): e[3]}
    np.testing.assert_array_equal(cu @ ket[1, 0], ket[0, 0])
    np.testing.assert_array_equal(cu @ ket[1, 1], ket[0, 1])
    np.testing.assert_array_equal(cl @ ket[0, 1], ket[0, 0])
    np.testing.assert_array_equal(cl @ ket[1, 1], -ket[1, 0])  # sign from passing c_u
    np.testing.assert_array_equal(cu @ ket[0, 1], 0 * e[0])


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_canonical_anticommutation(m):
    cs = fermion_annihilators(m)
    d = 2**m
    for i in range(m):
        for j in range(m):
            np.testing.assert_allclose(cs[i] @ dag(cs[j]) + dag(cs[j]) @ cs[i], np.eye(d) * (i == j))
            np.testing.assert_allclose(cs[i] @ cs[j] + cs[j] @ cs[i], 0 * np.eye(d))


def test_boson_operator():
    a = boson_annihilator(5)
    n = dag(a) @ a
    np.testing.assert_allclose(np.diag(n), np.arange(6))
    comm = a @ dag(a) - dag(a) @ a
    np.testing.assert_allclose(np.diag(comm)[:-1], 1.0)  # truncation only spoils the top state
    with pytest.raises(ValueError, match="n_max"):
        boson_annihilator(0)


def test_superoperator_convention_matches_direct_action():
    rng = np.random.default_rng(0)
    d = 4
    h = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    h = h + h.conj().T
    s = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    direct = -1j * (h @ rho - rho @ h) + 0.7 * (
        s @ rho @ s.conj().T - 0.5 * (s.conj().T @ s @ rho + rho @ s.conj().T @ s)
    )
    lv = lindbladian(h, [(0.7, s)]) @ vec(jnp.asarray(rho))
    np.testing.assert_allclose(unvec(lv), direct, atol=1e-12)
    np.testing.assert_allclose(hamiltonian_superop(h) + 0.7 * dissipator(s), lindbladian(h, [(0.7, s)]), atol=1e-12)


def test_lead_and_bath_dissipators():
    cu, _ = fermion_annihilators(2)
    lead = jt.lead_dissipator(cu, 0.3, 0.2)
    ref = 0.3 * 0.2 * dissipator(dag(cu)) + 0.3 * 0.8 * dissipator(cu)
    np.testing.assert_allclose(lead, ref, atol=1e-14)
    a = boson_annihilator(3)
    bath = jt.boson_bath(a, 0.1, 0.5)
    np.testing.assert_allclose(bath, 0.1 * 1.5 * dissipator(a) + 0.05 * dissipator(dag(a)), atol=1e-14)
    # trace preservation: sum over populations of each column vanishes
    tr = np.eye(4).reshape(-1)
    np.testing.assert_allclose(tr @ np.asarray(lead), 0, atol=1e-14)


def steady_state(ops, coeffs, solver=None):
    """One point through the solver interface (no lanes)."""
    solver = AutoSolver() if solver is None else solver
    return solver.solve(solver.init(ops, coeffs, tangents=False))


def _jc_structure(nmax):
    cu, cl = fermion_annihilators(2, sparse=True)
    a = boson_annihilator(nmax, sparse=True)
    i4, ib = identity(4, sparse=True), identity(nmax + 1, sparse=True)
    cu, cl, a = tensor(cu, ib, sparse=True), tensor(cl, ib, sparse=True), tensor(i4, a, sparse=True)
    o = dag(cu) @ cl @ a
    ham = (dag(cu) @ cu, dag(cl) @ cl, dag(a) @ a, o + dag(o), 1j * (o - dag(o)))
    jumps = (dag(cu), cu, dag(cl), cl, a, dag(a))
    q = np.real((dag(cu) @ cu + dag(a) @ a).diagonal())
    return LindbladStructure(ham, jumps, observables=ham, charge=q)


@pytest.mark.parametrize("nmax", [1, 3, 6])
@pytest.mark.parametrize("levels", ["charge", "bfs"])
def test_sector_solution_equals_full_space(nmax, levels):
    st = _jc_structure(nmax)
    sec = Sector.build(st, levels=levels)
    # the sector of equal (Q, N): 6 (n_max + 1) elements minus the truncation edge
    assert sec.size == 6 * (nmax + 1) - 2
    rng = np.random.default_rng(nmax)
    basis = st.full_liouvillian_basis()
    solvers = [jax.jit(lambda c, s=s: steady_state(sec.ops, c, s)) for s in (DenseSolver(), BlockTridiagonalSolver())]
    for _ in range(3):
        c = np.concatenate([rng.uniform(-1, 1, 5), rng.uniform(0.01, 1, 6)])
        full = np.tensordot(c, basis, 1)
        d = st.dim
        # independent dense reference on the full Liouville space: the equation of rho_00 replaced
        # by the trace condition (a non-singular system exactly when the steady state is unique)
        full[0] = np.eye(d).reshape(-1)
        rhs = np.zeros(d * d, complex)
        rhs[0] = 1.0
        rho_ref = np.linalg.solve(full, rhs).reshape(d, d)
        assert np.linalg.cond(full) < 1e12
        for solve in solvers:
            x = solve(jnp.asarray(c))
            np.testing.assert_allclose(sec.to_density_matrix(x), rho_ref, atol=1e-12)


def test_sector_found_without_charge_is_block_diagonal_invariant():
    # generic check: the sector is invariant (L maps it to itself) and holds the populations
    st = _jc_structure(4)
    sec = Sector.build(st, levels="single")
    assert sec.num_levels == 1
    rows = sec.keys // st.dim
    cols = sec.keys % st.dim
    assert np.all(np.isin(np.arange(st.dim) * (st.dim + 1), sec.keys))
    assert np.all(np.isin(cols * st.dim + rows, sec.keys))


def test_steady_state_vmaps_over_liouvillians():
    st = _jc_structure(3)
    sec = Sector.build(st)
    rng = np.random.default_rng(1)
    cs = np.concatenate([rng.uniform(-1, 1, (7, 5)), rng.uniform(0.01, 1, (7, 6))], axis=1)
    batch = jax.vmap(lambda c: steady_state(sec.ops, c))(jnp.asarray(cs))
    for i in range(7):
        np.testing.assert_allclose(batch[i], steady_state(sec.ops, jnp.asarray(cs[i])), atol=1e-14)


def test_diagnostics_flag_non_unique_steady_state():
    # all rates zero except the Hamiltonian: every diagonal state is stationary -> singular
    st = _jc_structure(2)
    sec = Sector.build(st)
    c = jnp.asarray([1.0, 0.0, 1.0, 0.0, 0.0] + [0.0] * 6)
    from jaxtls._engine.diagnostics import diagnostics

    blocks = assemble(sec.ops, c)
    x = steady_state(sec.ops, c, DenseSolver())
    assert not bool(diagnostics(sec.ops, blocks, x).ok)


def test_fermi_bose_are_stable():
    x = jnp.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    f = jt.fermi(x, 0.0, 1.0)
    assert np.all(np.isfinite(f))
    np.testing.assert_allclose(f, [1.0, 1.0, 0.5, np.exp(-50.0), 0.0], rtol=1e-12, atol=0)
    gf = jax.vmap(jax.grad(lambda e: jt.fermi(e, 0.0, 1.0)))(x)
    assert np.all(np.isfinite(gf))
    e = jnp.array([1e-6, 1.0, 50.0, 1000.0])
    n = jt.bose(e, 1.0)
    assert np.all(np.isfinite(n))
    np.testing.assert_allclose(n, list(1 / np.expm1([1e-6, 1.0, 50.0])) + [0.0], rtol=1e-12)
    gb = jax.vmap(jax.grad(lambda e: jt.bose(e, 1.0)))(e)
    assert np.all(np.isfinite(gb))
