"""The block-tridiagonal kernel (`BatchedBlockSolver`, `BlockTridiagonalSolver`) against the dense
LU and a SciPy sparse LU of the sector (Jaynes-Cummings cavity).

Coefficient vector ``c`` (11 entries): ``[E_u, E_l, omega_cav, Re g, Im g, gamma_u f_u,
gamma_u (1-f_u), gamma_l f_l, gamma_l (1-f_l), gamma_b (n_b+1), gamma_b n_b]``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from jaxtls._engine.batched_kernel import solve_lanes
from jaxtls._engine.batched_solver import BatchedBlockSolver, BlockTridiagonalSolver
from jaxtls._engine.batched_tangent import adjoint_solve_lanes, particular_solve_lanes
from jaxtls._engine.blocks import assemble, dl_apply, level, level_from_coeffs, relative_residual
from jaxtls._engine.diagnostics import diagnostics
from jaxtls._engine.operators import boson_annihilator, dag, fermion_annihilators, identity, tensor
from jaxtls._engine.sector import LindbladStructure, Sector
from jaxtls._engine.solvers import DenseSolver

RTOL = 1e-10


@functools.cache
def cavity_sector(nmax):
    cu, cl = fermion_annihilators(2, sparse=True)
    a = boson_annihilator(nmax, sparse=True)
    i4 = identity(4, sparse=True)
    ib = identity(nmax + 1, sparse=True)
    cu_, cl_, a_ = tensor(cu, ib, sparse=True), tensor(cl, ib, sparse=True), tensor(i4, a, sparse=True)
    o = dag(cu_) @ cl_ @ a_
    h = [dag(cu_) @ cu_, dag(cl_) @ cl_, dag(a_) @ a_, o + dag(o), 1j * (o - dag(o))]
    j = [dag(cu_), cu_, dag(cl_), cl_, a_, dag(a_)]
    q = np.real((dag(cu_) @ cu_ + dag(a_) @ a_).diagonal())
    return Sector.build(LindbladStructure(tuple(h), tuple(j), observables=(h[0],), charge=q))


def coeffs(eu=1.0, el=0.0, wc=1.0, g=0.05, gu=0.02, fu=0.9, gl=0.02, fl=0.1, gb=0.01, nb=0.1):
    g = complex(g)
    return np.array(
        [eu, el, wc, g.real, g.imag, gu * fu, gu * (1 - fu), gl * fl, gl * (1 - fl), gb * (nb + 1), gb * nb]
    )


def random_coeffs(rng, n):
    out = []
    for _ in range(n):
        eu, el = rng.uniform(0.5, 2.0), rng.uniform(-0.5, 0.5)
        out.append(
            coeffs(
                eu=eu,
                el=el,
                wc=eu - el + rng.uniform(-0.1, 0.1),
                g=rng.uniform(0.001, 0.1) * np.exp(1j * rng.uniform(0, 2 * np.pi)),
                gu=rng.uniform(0.005, 0.05),
                fu=rng.uniform(0.05, 0.95),
                gl=rng.uniform(0.005, 0.05),
                fl=rng.uniform(0.05, 0.95),
                gb=rng.uniform(0.005, 0.05),
                nb=rng.uniform(0.0, 0.5),
            )
        )
    return np.array(out)


def hard_coeffs():
    lw = 0.02  # linewidth scale of the rates below
    return np.array(
        [
            # large detuning: 10 and 100 linewidths, and far off resonance with tiny rates
            coeffs(wc=1 + 10 * lw, g=0.01, gu=lw, gl=lw, gb=lw, fu=0.7, fl=0.3, nb=0.2),
            coeffs(wc=1 - 100 * lw, g=0.01, gu=lw, gl=lw, gb=lw, fu=0.7, fl=0.3, nb=0.2),
            coeffs(wc=3.0, g=0.01, gu=1e-5, gl=1e-5, gb=1e-5, fu=0.7, fl=0.3, nb=0.2),
            # strong coupling g >> gammas, on and off resonance, complex g
            coeffs(g=1.0, gu=1e-3, gl=1e-3, gb=1e-3, fu=0.9, fl=0.1, nb=0.1),
            coeffs(wc=1.5, g=0.5 * np.exp(0.7j), gu=1e-3, gl=2e-3, gb=3e-3, fu=0.6, fl=0.4, nb=0.5),
            coeffs(wc=1 + 100 * 1e-3, g=0.3j, gu=1e-3, gl=1e-3, gb=1e-3, fu=0.95, fl=0.05, nb=0.0),
            # lasing (pumped inversion, small cavity loss)
            coeffs(g=0.05, gu=0.02, gl=0.02, gb=0.002, fu=0.99, fl=0.01, nb=0.0),
        ]
    )


def _blocks(sector, c):
    return jax.vmap(assemble, (None, 0))(sector.ops, jnp.asarray(c))


def solve_batch_first(solver, ops, c, tangents=False):
    """Steady states ``(N, K, m)`` of coefficient vectors ``(N, T)`` through the interface."""

    @jax.jit
    def run(c):
        return jnp.moveaxis(solver.solve(solver.init(ops, c.T, tangents=tangents)), -1, 0)

    return run(jnp.asarray(c))


def _rel(x, ref):
    """Max-norm relative error per batch point."""
    x, ref = np.asarray(x), np.asarray(ref)
    axes = tuple(range(1, ref.ndim))
    return np.max(np.abs(x - ref), axis=axes) / np.max(np.abs(ref), axis=axes)


@pytest.mark.parametrize("nmax", [3, 8, 20])
def test_matches_dense_and_sparse_lu(nmax):
    sector = cavity_sector(nmax)
    c = np.concatenate([random_coeffs(np.random.default_rng(nmax), 9), hard_coeffs()])
    blocks = _blocks(sector, c)
    x = solve_batch_first(BatchedBlockSolver(), sector.ops, c)
    x_dense = solve_batch_first(DenseSolver(), sector.ops, c)
    assert x.shape == (len(c), sector.num_levels, sector.block_size)
    assert np.all(_rel(x, x_dense) < RTOL), _rel(x, x_dense).max()
    x_sp = np.stack([_spsolve_reference(sector, ci) for ci in c])
    assert np.all(_rel(x, x_sp) < RTOL), _rel(x, x_sp).max()
    # with the factors for tangents (one piece), and the unchunked BlockTridiagonalSolver
    for solver, tangents in ((BatchedBlockSolver(), True), (BlockTridiagonalSolver(), False)):
        x_t = solve_batch_first(solver, sector.ops, c, tangents)
        assert np.all(_rel(x_t, x_dense) < RTOL), _rel(x_t, x_dense).max()
    diag = jax.vmap(diagnostics, (None, 0, 0))(sector.ops, blocks, x)
    assert np.all(np.asarray(diag.ok))
    assert np.all(np.asarray(diag.residual) < 1e-13)
    # padded slots are exactly zero
    pad = np.asarray(sector.ops.pad).diagonal(axis1=1, axis2=2) > 0
    assert np.all(np.asarray(x)[:, pad] == 0.0)
    if nmax == 20:  # the fixed elimination order is accurate enough on these hard cases too
        x_np = solve_batch_first(BatchedBlockSolver(pivot=False), sector.ops, c)
        assert np.all(_rel(x_np, x_dense) < RTOL), _rel(x_np, x_dense).max()


def test_large_thermal_photon_number():
    sector = cavity_sector(60)
    c = np.array(
        [
            coeffs(g=0.05, gu=0.02, gl=0.02, gb=0.02, fu=0.5, fl=0.5, nb=5.0),
            coeffs(wc=1.3, g=0.2, gu=0.01, gl=0.03, gb=0.05, fu=0.8, fl=0.3, nb=4.0),
            coeffs(g=0.01, gu=0.05, gl=0.05, gb=0.01, fu=0.2, fl=0.9, nb=6.0),
        ]
    )
    x = solve_batch_first(BatchedBlockSolver(), sector.ops, c)
    x_dense = solve_batch_first(DenseSolver(), sector.ops, c)
    assert np.all(_rel(x, x_dense) < RTOL), _rel(x, x_dense).max()


def _photon_number(sector, nmax):
    nph = np.zeros(len(sector.unknowns))
    for f, u in enumerate(sector.unknowns):
        if u is not None and u[0] == "d":
            nph[f] = u[1] % (nmax + 1)
    return nph.reshape(sector.num_levels, sector.block_size)


def _spsolve_reference(sector, c):
    """Sparse LU of the real sector matrix (+ padding identity), row 0 replaced by the trace."""
    k, m = sector.num_levels, sector.block_size
    mat = sum(float(ct) * rt for ct, rt in zip(c, sector.real_terms, strict=True))
    pad = np.asarray(sector.ops.pad).diagonal(axis1=1, axis2=2).reshape(-1)
    mat = (mat + sp.diags(pad)).tolil()
    r = sector.ops.norm_row
    mat[r, :] = np.asarray(sector.ops.trace).reshape(1, -1)
    rhs = np.zeros(k * m)
    rhs[r] = 1.0
    return spla.spsolve(mat.tocsc(), rhs).reshape(k, m)


def test_deep_lasing_against_sparse_lu():
    nmax = 200
    sector = cavity_sector(nmax)
    c = np.array(
        [
            coeffs(g=0.05, gu=0.02, gl=0.02, gb=1e-4, fu=0.99, fl=0.01, nb=0.0),
            coeffs(g=0.05, gu=0.02, gl=0.02, gb=2e-4, fu=0.99, fl=0.01, nb=0.0),
            coeffs(g=0.05, gu=0.02, gl=0.02, gb=1e-3, fu=0.99, fl=0.01, nb=0.0),
        ]
    )
    x = np.asarray(solve_batch_first(BatchedBlockSolver(), sector.ops, c))
    nph = _photon_number(sector, nmax)
    for i in range(len(c)):
        ref = _spsolve_reference(sector, c[i])
        assert _rel(x[i][None], ref[None])[0] < RTOL
    n_mean = (nph * x).sum(axis=(1, 2))
    assert n_mean[0] > 80  # deep above threshold: ~98 photons
    assert abs(x[0, 0].sum()) < 1e-14  # P(level 0) is negligible
    np.testing.assert_allclose(np.sum(np.asarray(sector.ops.trace) * x, axis=(1, 2)), 1.0, rtol=1e-13)


def test_single_point_vmap_chunks_and_lane_shapes():
    sector = cavity_sector(3)
    ops = sector.ops
    c = np.concatenate([random_coeffs(np.random.default_rng(7), 5), hard_coeffs()])  # 12 points
    ref = solve_batch_first(DenseSolver(), ops, c)
    solver = BatchedBlockSolver()

    def one(ci, solver=solver):  # one point: no lanes
        return solver.solve(solver.init(ops, ci))

    np.testing.assert_array_less(_rel(jax.jit(one)(jnp.asarray(c[4]))[None], ref[4:5]), RTOL)
    # vmap of the single-point solve (the mapped axis becomes a lane axis)
    np.testing.assert_array_less(_rel(jax.jit(jax.vmap(one))(jnp.asarray(c)), ref), RTOL)
    # chunked batch (12 points in chunks of 5: the last chunk overlaps the previous one)
    np.testing.assert_array_less(_rel(solve_batch_first(BatchedBlockSolver(chunk_size=5), ops, c), ref), RTOL)
    # a 2-D lane shape through the interface, and stored batch-last blocks through solve_lanes
    c_2d = jnp.asarray(c.T).reshape(-1, 3, 4)
    x_2d = jax.jit(one)(c_2d)
    assert x_2d.shape == (sector.num_levels, sector.block_size, 3, 4)
    np.testing.assert_array_less(_rel(jnp.moveaxis(x_2d.reshape(x_2d.shape[:2] + (12,)), -1, 0), ref), RTOL)
    blocks_last = jnp.moveaxis(_blocks(sector, c), 0, -1)
    x_last = jax.jit(solve_lanes)(blocks_last, ops)
    np.testing.assert_array_less(_rel(jnp.moveaxis(x_last, -1, 0), ref), RTOL)
    with pytest.raises(ValueError, match="chunk_size"):
        BatchedBlockSolver(chunk_size=0)


def test_coefficient_source_particular_and_adjoint_solves():
    """The gradient path: elimination from the coefficients (levels formed on the fly) with
    the stored ``G^{-1}``, the particular solve of ``L y = b`` and its hand-written adjoint."""
    sector = cavity_sector(5)
    ops = sector.ops
    rng = np.random.default_rng(11)
    c = np.concatenate([random_coeffs(rng, 6), hard_coeffs()])  # 13 points
    n = len(c)
    blocks = _blocks(sector, c)
    ref = solve_batch_first(DenseSolver(), ops, c)
    c_bl = jnp.asarray(c.T)
    src = (ops.blocks, ops.pad, c_bl)
    solver = BatchedBlockSolver(chunk_size=5)
    state = jax.jit(lambda cc: solver.init(ops, cc))(c_bl)
    x_bl, g_inv = state.x, state.g_inv
    np.testing.assert_array_less(_rel(jnp.moveaxis(x_bl, -1, 0), ref), RTOL)
    # levels formed from the coefficients equal the assembled blocks, and so do stored ones
    blocks_last = jnp.moveaxis(blocks, 0, -1)
    for k in (0, 3, sector.num_levels - 1):
        np.testing.assert_allclose(level_from_coeffs(*src, k), blocks_last[k], rtol=0, atol=1e-15)
        for w in range(3):
            np.testing.assert_allclose(level(src, k, w), blocks_last[k, w], rtol=0, atol=1e-15)
            np.testing.assert_array_equal(level(blocks_last, k, w), blocks_last[k, w])
    # residual from the coefficients == the per-point diagnostics (on perturbed states,
    # whose residual is not rounding noise; at the solution both are ~1e-17)
    x_pert = ref * (1 + 1e-3 * jnp.asarray(rng.normal(size=ref.shape)))
    res = jax.vmap(diagnostics, (None, 0, 0))(ops, blocks, x_pert).residual
    res_c = relative_residual(src, jnp.moveaxis(x_pert, 0, -1))
    assert np.all(np.asarray(res) > 1e-8)
    np.testing.assert_allclose(res_c, res, rtol=1e-12, atol=0)
    assert np.all(np.asarray(relative_residual(src, x_bl)) < 1e-14)
    # -dL x for random coefficient tangents (no padding term) == dense products
    dc = jnp.asarray(rng.normal(size=c_bl.shape))
    b = dl_apply(ops.blocks, dc, x_bl)
    dense = np.stack([np.asarray(sector.dense_matrix(np.asarray(dc[:, i]))) for i in range(n)])
    xb = np.asarray(jnp.moveaxis(x_bl, -1, 0)).reshape(n, -1)
    b_ref = -np.einsum("nij,nj->ni", dense, xb)
    np.testing.assert_allclose(np.asarray(jnp.moveaxis(b, -1, 0)).reshape(n, -1), b_ref, rtol=0, atol=1e-13)
    # the particular solve: L y = b (consistent) and trace_0 . y_0 = 0, against a dense solve
    y = particular_solve_lanes(g_inv, src, b, ops.norm_row)
    np.testing.assert_array_equal(solver.particular_solve(state, b), y)
    y_np = np.asarray(jnp.moveaxis(y, -1, 0)).reshape(n, -1)
    pad = np.diag(np.asarray(ops.pad).diagonal(axis1=1, axis2=2).reshape(-1))  # padded slots
    mats = np.stack([np.asarray(sector.dense_matrix(ci)) + pad for ci in c])
    trace0 = np.zeros(y_np.shape[1])
    trace0[: sector.block_size] = np.asarray(ops.trace[0])
    for i in range(n):
        a = mats[i].copy()
        a[ops.norm_row] = trace0
        rhs = b_ref[i].copy()
        rhs[ops.norm_row] = 0.0
        y_ref = np.linalg.solve(a, rhs)
        np.testing.assert_allclose(y_np[i], y_ref, rtol=0, atol=1e-9 * np.max(np.abs(y_ref)))
    # the adjoint solve is the exact transpose of the particular solve
    ybar = jnp.asarray(rng.normal(size=y.shape))
    lt = jax.linear_transpose(lambda v: particular_solve_lanes(g_inv, src, v, ops.norm_row), b)(ybar)[0]
    ad = adjoint_solve_lanes(g_inv, src, ybar, ops.norm_row)
    np.testing.assert_array_equal(solver.transpose_solve(state, ybar), ad)
    np.testing.assert_allclose(ad, lt, rtol=0, atol=1e-13 * float(jnp.max(jnp.abs(lt))))
    # and  <ybar, P b> = <A^T ybar, b>  with the dense inverse
    for i in range(3):
        a = mats[i].copy()
        a[ops.norm_row] = trace0
        ad_ref = np.linalg.solve(a.T, np.asarray(jnp.moveaxis(ybar, -1, 0)).reshape(n, -1)[i])
        ad_ref[ops.norm_row] = 0.0
        got = np.asarray(jnp.moveaxis(ad, -1, 0)).reshape(n, -1)[i]
        np.testing.assert_allclose(got, ad_ref, rtol=0, atol=1e-9 * np.max(np.abs(ad_ref)))
