"""`jt.steady_state` on structures built by hand, and the solver interface behind it.

References: the closed form of a single level between two leads, `jt.solve_cavity` (whose
sector the engine orders by the charge ``Q``; the hand-built structure here has no charge, so
its sector is ordered by breadth-first search), a dense full-space solve of the Lindbladian,
central finite differences, and a user-defined pseudo-inverse solver.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt

SOLVERS = {
    "dense": jt.DenseSolver(),
    "batched": jt.BatchedBlockSolver(),
    "block_tridiagonal": jt.BlockTridiagonalSolver(),
    "auto": jt.AutoSolver(),
}


def dag(op):
    return op.conj().T


class PinvSolver(jt.AbstractSteadySolver):
    """A user's solver: the Moore-Penrose pseudo-inverse (SVD) of ``[L; trace]``, formed
    densely from the sector blocks; `transpose_solve` is the base class's (JAX transposes
    `particular_solve`). Shares no factorisation with the library's solvers."""

    def init(self, ops, coeffs, *, tangents=True):
        lanes = coeffs.shape[1:]
        c = coeffs.reshape(coeffs.shape[0], -1).T  # (N, T)
        k, _, m, _ = ops.blocks.shape[1:]

        def pinv(ci):
            blk = jnp.tensordot(ci, ops.blocks, axes=1)  # (K, 3, m, m)
            full = jnp.zeros((k, m, k, m))
            for lv in range(k):
                full = full.at[lv, :, lv].set(blk[lv, 1] + ops.pad[lv])
                if lv > 0:
                    full = full.at[lv, :, lv - 1].set(blk[lv, 0])
                if lv < k - 1:
                    full = full.at[lv, :, lv + 1].set(blk[lv, 2])
            a = jnp.concatenate([full.reshape(k * m, k * m), ops.trace.reshape(1, -1)])
            return jnp.linalg.pinv(a)  # (n, n + 1)

        return jax.vmap(pinv)(c), lanes, (k, m)

    def _apply(self, state, v):  # P [v; 0] per lane; v (K, m, *lanes)
        p, lanes, (k, m) = state
        v = v.reshape(k * m, -1)
        out = jnp.einsum("nij,jn->in", p[:, :, :-1], v)
        return out.reshape((k, m) + lanes)

    def solve(self, state):
        p, lanes, (k, m) = state
        return jnp.moveaxis(p[:, :, -1], 0, -1).reshape((k, m) + lanes)

    def particular_solve(self, state, b):
        return self._apply(state, b)


ALL_SOLVERS = dict(SOLVERS, pinv=PinvSolver())


# ------------------------------------------------------------------------------------------------
# (a) a single fermionic level between two leads
# ------------------------------------------------------------------------------------------------
def single_level():
    (c,) = jt.fermion_annihilators(1)
    n = dag(c) @ c
    # H = E n; lead u: rates g_u f_u D[c^+] + g_u (1 - f_u) D[c]; lead l likewise
    return jt.LindbladStructure(hamiltonian=(n,), jumps=(dag(c), c, dag(c), c), observables=(n,))


SINGLE = single_level()


def single_coeffs(p):
    e, gu, fu, gl, fl = p
    return jnp.stack([e, gu * fu, gu * (1 - fu), gl * fl, gl * (1 - fl)], axis=-1)


def single_closed_form(p):
    """Occupation ``(g_u f_u + g_l f_l)/(g_u + g_l)``, particle current from lead u
    ``g_u g_l (f_u - f_l)/(g_u + g_l)`` (= -current from l), energy current ``E`` times it."""
    e, gu, fu, gl, fl = p
    occ = (gu * fu + gl * fl) / (gu + gl)
    cur = gu * gl * (fu - fl) / (gu + gl)
    return jnp.stack([occ, cur, -cur, e * cur], axis=-1)


def single_outputs(p, solver=None):
    r = jt.steady_state(SINGLE, single_coeffs(p), solver=solver)
    occ = r.expect[..., 0]
    cur_u = r.flows[..., 0, 0] + r.flows[..., 0, 1]
    cur_l = r.flows[..., 0, 2] + r.flows[..., 0, 3]
    return jnp.stack([occ, cur_u, cur_l, p[0] * cur_u], axis=-1)


def single_params(rng, n=None):
    shape = () if n is None else (n,)
    return jnp.stack(
        [
            rng.uniform(-1, 1, shape),
            rng.uniform(0.01, 1, shape),
            rng.uniform(0.0, 1, shape),
            rng.uniform(0.01, 1, shape),
            rng.uniform(0.0, 1, shape),
        ]
    )


@pytest.mark.parametrize("name", sorted(ALL_SOLVERS))
def test_single_level_equals_closed_form_plain_jit_vmap(name):
    solver = ALL_SOLVERS[name]
    rng = np.random.default_rng(0)
    p = single_params(rng, 6)  # (5, 6): six points
    ref = single_closed_form(p)
    np.testing.assert_allclose(single_outputs(p, solver), ref, rtol=0, atol=1e-12)
    jitted = jax.jit(lambda q: single_outputs(q, solver))
    np.testing.assert_allclose(jitted(p), ref, rtol=0, atol=1e-12)
    vmapped = jax.jit(jax.vmap(lambda q: single_outputs(q, solver), in_axes=1))
    np.testing.assert_allclose(vmapped(p), ref, rtol=0, atol=1e-12)
    r = jt.steady_state(SINGLE, single_coeffs(p[:, 2]), solver=solver)
    occ = float(ref[2, 0])
    np.testing.assert_allclose(r.density_matrix(), np.diag([1 - occ, occ]), rtol=0, atol=1e-12)
    assert bool(r.diagnostics.ok)


def test_prebuilt_sector_and_no_recompilation(caplog):
    """A `Sector` built with explicit levels works too; a second call with other values of the
    same shape reuses the compiled solve (no "Compiling" log record for it)."""
    rng = np.random.default_rng(10)
    sector = jt.Sector.build(SINGLE, levels="single")
    p = single_params(rng, 3)
    r = jt.steady_state(sector, single_coeffs(p))
    np.testing.assert_allclose(r.expect[:, 0], single_closed_form(p)[:, 0], rtol=0, atol=1e-12)
    jt.steady_state(SINGLE, single_coeffs(single_params(rng, 4)))
    with jax.log_compiles(), caplog.at_level("WARNING"):
        caplog.clear()
        jt.steady_state(SINGLE, single_coeffs(single_params(rng, 4)))
    assert not [rec for rec in caplog.records if "Compiling" in rec.getMessage()]


@pytest.mark.parametrize("name", ["dense", "batched", "pinv"])
def test_single_level_gradients(name):
    solver = ALL_SOLVERS[name]
    rng = np.random.default_rng(1)
    p = single_params(rng)
    for out in range(4):

        def f(q, out=out):
            return single_outputs(q, solver)[out]

        grad = jax.jit(jax.grad(f))(p)
        exact = jax.grad(lambda q, out=out: single_closed_form(q)[out])(p)
        np.testing.assert_allclose(grad, exact, rtol=0, atol=1e-12)
        # central finite differences, step 1e-6: truncation ~1e-12, rounding ~1e-10
        h = 1e-6
        eye = np.eye(5)
        fd = np.array([(f(p + h * eye[i]) - f(p - h * eye[i])) / (2 * h) for i in range(5)])
        np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-8)
    # vmap of grad over a batch, against the closed form
    ps = single_params(rng, 4).T  # (4, 5)
    g = jax.vmap(jax.grad(lambda q: single_outputs(q, solver)[1]))(ps)
    ge = jax.vmap(jax.grad(lambda q: single_closed_form(q)[1]))(ps)
    np.testing.assert_allclose(g, ge, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# (b) the Jaynes-Cummings cavity rebuilt by hand
# ------------------------------------------------------------------------------------------------
N_MAX = 6


def cavity_by_hand(n_max):
    cu, cl = jt.fermion_annihilators(2)
    a = jt.boson_annihilator(n_max)
    i_f, i_b = np.eye(4), np.eye(n_max + 1)
    cu, cl, a = jt.tensor(cu, i_b), jt.tensor(cl, i_b), jt.tensor(i_f, a)
    o = dag(cu) @ cl @ a
    x, y = o + dag(o), 1j * (o - dag(o))
    ham = (dag(cu) @ cu, dag(cl) @ cl, dag(a) @ a, x, y)
    jumps = (dag(cu), cu, dag(cl), cl, a, dag(a))
    return jt.LindbladStructure(hamiltonian=ham, jumps=jumps, observables=ham)  # no charge: BFS levels


CAVITY = cavity_by_hand(N_MAX)
NAMES = ("E_u", "E_l", "omega_cav", "g", "gamma_u", "gamma_l", "gamma_b", "mu_u", "mu_l", "T_u", "T_l", "T_b")


def cavity_coeffs(q):
    """Coefficients of `CAVITY` from the paper's parameters, effective occupations (Eq. 21)."""
    eu, el, wc, g, gu, gl, gb, mu_u, mu_l, tu, tl, tb = q
    delta = wc - (eu - el)
    gam = gu + gl + gb
    e_u, e_l, e_ph = eu + gu * delta / gam, el - gl * delta / gam, wc - gb * delta / gam
    fu = 1 / (jnp.exp((e_u - mu_u) / tu) + 1)
    fl = 1 / (jnp.exp((e_l - mu_l) / tl) + 1)
    nb = 1 / jnp.expm1(e_ph / tb)
    return jnp.stack([eu, el, wc, g, 0 * g, gu * fu, gu * (1 - fu), gl * fl, gl * (1 - fl), gb * (nb + 1), gb * nb])


def cavity_outputs(q, solver=None):
    """rate, particle currents u, l, b, energy currents u, l, b, populations u, l, ph."""
    c = cavity_coeffs(q)
    r = jt.steady_state(CAVITY, c, solver=solver)
    ex, fl = r.expect, r.flows
    coef = c[:5]  # H = sum_k h_k H_k and the observables are the H_k: Udot = sum_k h_k flow_k
    leads = [fl[:, 0] + fl[:, 1], fl[:, 2] + fl[:, 3], fl[:, 4] + fl[:, 5]]  # (5 obs,) each
    rate = c[3] * ex[4] - c[4] * ex[3]
    return jnp.stack(
        [rate, leads[0][0], leads[1][1], leads[2][2]] + [coef @ lead for lead in leads] + [ex[0], ex[1], ex[2]]
    )


def cavity_reference(q):
    r = jt.solve_cavity(**dict(zip(NAMES, q, strict=True)), n_max=N_MAX, throw=False)
    assert bool(np.all(r.diagnostics.ok))
    pc, ec, po = r.particle_current, r.energy_current, r.populations
    return jnp.stack([r.rate, pc["u"], pc["l"], pc["b"], ec["u"], ec["l"], ec["b"], po["u"], po["l"], po["ph"]])


def cavity_point(rng):
    gu, gl, gb = rng.uniform(0.02, 0.06, 3)
    gam = gu + gl + gb
    return jnp.array(
        [1.0, 0.0, 1.0 + rng.uniform(-1, 1) * gam, rng.uniform(0.3, 1.5) * gam, gu, gl, gb,
         rng.uniform(0.8, 1.1), rng.uniform(-0.1, 0.2), rng.uniform(0.03, 0.1), rng.uniform(0.03, 0.1), 0.1]
    )  # fmt: skip


def _close(a, b, rtol):
    """Each quantity (row) equal to `rtol` of its largest magnitude."""
    a, b = np.asarray(a), np.asarray(b)
    scale = np.max(np.abs(b), axis=tuple(range(1, b.ndim)), keepdims=True) if b.ndim > 1 else np.abs(b)
    diff = np.abs(a - b)
    np.testing.assert_array_less(diff, np.broadcast_to(rtol * scale + 1e-300, diff.shape))


def test_cavity_by_hand_equals_solve_cavity_plain_jit_vmap():
    sector = jt.Sector.build(CAVITY)
    assert sector.size == 6 * (N_MAX + 1) - 2  # the sector of equal (Q, N), found without a charge
    rng = np.random.default_rng(2)
    qs = jnp.stack([cavity_point(rng) for _ in range(3)])
    for q in qs:
        ref = cavity_reference(q)
        _close(cavity_outputs(q), ref, 1e-12)
        _close(jax.jit(cavity_outputs)(q), ref, 1e-12)
    batched_ref = jnp.stack([cavity_reference(q) for q in qs])
    _close(jax.jit(jax.vmap(cavity_outputs))(qs).T, batched_ref.T, 1e-12)


def test_cavity_by_hand_gradient_equals_solve_cavity_and_finite_differences():
    rng = np.random.default_rng(3)
    q = cavity_point(rng)
    grad = jax.jit(jax.grad(lambda v: cavity_outputs(v)[0]))(q)  # dR / d(every parameter)
    grad_ref = jax.grad(lambda v: cavity_reference(v)[0])(q)
    _close(grad, grad_ref, 1e-10)
    # central finite differences, relative step 1e-5 (truncation and rounding ~1e-9 relative)
    scale = float(jnp.max(jnp.abs(grad)))
    for i in range(len(NAMES)):
        h = 1e-5 * max(abs(float(q[i])), 0.05)
        fd = (cavity_outputs(q.at[i].add(h))[0] - cavity_outputs(q.at[i].add(-h))[0]) / (2 * h)
        assert abs(float(grad[i] - fd)) <= 1e-6 * abs(float(fd)) + 1e-8 * scale, (NAMES[i], grad[i], fd)


# ------------------------------------------------------------------------------------------------
# every solver through the one derivative rule
# ------------------------------------------------------------------------------------------------
SMALL_CAVITY = cavity_by_hand(4)


def _objective(solver):
    w = jnp.linspace(0.5, 1.5, 5)

    def f(c):
        r = jt.steady_state(SMALL_CAVITY, c, solver=solver)
        return jnp.sum(r.expect * w) + jnp.sum(r.flows[..., 3, :]) + jnp.sum(r.state[..., 0, 0])

    return f


@pytest.fixture(scope="module")
def small_cavity_coeffs():
    rng = np.random.default_rng(4)
    return jnp.stack([cavity_coeffs(cavity_point(rng)) for _ in range(3)])  # (3, 11)


@pytest.mark.parametrize("name", ["dense", "pinv", "block_tridiagonal", "auto"])
def test_grad_through_every_solver_agrees_with_the_batched_kernel(name, small_cavity_coeffs):
    c = small_cavity_coeffs
    ref = jax.jit(jax.grad(_objective(jt.BatchedBlockSolver())))(c)
    grad = jax.jit(jax.grad(_objective(ALL_SOLVERS[name])))(c)
    scale = float(jnp.max(jnp.abs(ref)))
    np.testing.assert_allclose(grad, ref, rtol=0, atol=1e-10 * scale)
    fwd = jax.jit(jax.jacfwd(_objective(ALL_SOLVERS[name])))(c)  # forward mode, same rule
    np.testing.assert_allclose(fwd, ref, rtol=0, atol=1e-10 * scale)


@pytest.mark.parametrize("name", ["dense", "batched", "pinv"])
def test_transpose_solve_is_the_exact_transpose_on_consistent_vectors(name, small_cavity_coeffs):
    solver = ALL_SOLVERS[name]
    ops = jt.Sector.build(SMALL_CAVITY).ops
    c = small_cavity_coeffs.T  # (T, 3): lanes last
    state = solver.init(ops, c)
    x = solver.solve(state)
    rng = np.random.default_rng(5)
    # consistent right-hand sides b = L v (trace . b = 0), arbitrary cotangents g
    from jaxtls._engine.blocks import apply

    src = (ops.blocks, ops.pad, c)
    b = apply(src, jnp.asarray(rng.normal(size=x.shape)) * (np.asarray(ops.pad).diagonal(0, 1, 2)[..., None] == 0))
    g = jnp.asarray(rng.normal(size=x.shape))
    y = solver.particular_solve(state, b)
    np.testing.assert_allclose(apply(src, y), b, rtol=0, atol=1e-11 * float(jnp.max(jnp.abs(b))))
    lhs = jnp.sum(g * y, axis=(0, 1))
    rhs = jnp.sum(solver.transpose_solve(state, g) * b, axis=(0, 1))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-11, atol=0)


def test_second_derivatives_raise():
    p = single_params(np.random.default_rng(6))
    f = lambda q: single_outputs(q)[0]  # noqa: E731
    with pytest.raises(NotImplementedError, match="second derivatives of steady states"):
        jax.hessian(f)(p)


# ------------------------------------------------------------------------------------------------
# batch shapes, the density matrix, dispatch and bad input
# ------------------------------------------------------------------------------------------------
def test_batch_shapes_and_density_matrix_against_a_dense_full_space_solve(small_cavity_coeffs):
    rng = np.random.default_rng(7)
    c = jnp.stack([cavity_coeffs(cavity_point(rng)) for _ in range(6)]).reshape(2, 3, -1)
    r = jt.steady_state(SMALL_CAVITY, c)
    sector = r.sector
    assert r.shape == (2, 3)
    assert r.state.shape == (2, 3, sector.num_levels, sector.block_size)
    assert r.expect.shape == (2, 3, 5) and r.flows.shape == (2, 3, 5, 6)
    assert r.diagnostics.ok.shape == (2, 3) and bool(np.all(r.diagnostics.ok))
    basis = SMALL_CAVITY.full_liouvillian_basis()
    d = SMALL_CAVITY.dim
    for idx in [(0, 0), (1, 2)]:
        full = np.tensordot(np.asarray(c[idx]), basis, 1)
        full[0] = np.eye(d).reshape(-1)  # the equation of rho_00 replaced by the trace
        rhs = np.zeros(d * d, complex)
        rhs[0] = 1.0
        rho_ref = np.linalg.solve(full, rhs).reshape(d, d)
        rho = r.density_matrix(idx)
        np.testing.assert_allclose(rho, rho_ref, rtol=0, atol=1e-12)
        ops = [np.asarray(h) for h in SMALL_CAVITY.observables]
        np.testing.assert_allclose(r.expect[idx], [np.trace(o @ rho_ref).real for o in ops], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="index must select one point"):
        r.density_matrix(0)
    # a single point: batch shape ()
    r1 = jt.steady_state(SMALL_CAVITY, c[1, 2])
    np.testing.assert_allclose(r1.state, r.state[1, 2], rtol=0, atol=1e-15)
    assert r1.shape == ()


def test_dispatch_on_the_first_argument():
    class Toy:
        pass

    @jt.steady_state.register(Toy)
    def _(toy, coefficients=None, **kwargs):
        return "toy"

    assert jt.steady_state(Toy()) == "toy"
    with pytest.raises(ValueError, match="structure must be a jaxtls.LindbladStructure"):
        jt.steady_state(object(), jnp.ones(5))


def test_bad_input_raises_value_errors_naming_the_parameter():
    good = single_coeffs(single_params(np.random.default_rng(8)))
    cases = [
        (good[:4], "shape"),
        (good.astype(complex), "real"),
        (good.at[2].set(-0.1), r"coefficients\[..., 2\] \(the rate of jump 1\) must be >= 0"),
        (good.at[0].set(jnp.nan), "finite"),
        (jnp.zeros((0, 5)), "at least one point"),
        ("x", "coefficients must be"),
    ]
    for coeffs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            jt.steady_state(SINGLE, coeffs)
    for kw, msg in [({"tol": -1.0}, "tol"), ({"tol": float("nan")}, "tol"), ({"solver": "dense"}, "solver")]:
        with pytest.raises(ValueError, match=msg):
            jt.steady_state(SINGLE, good, **kw)
    with pytest.raises(ValueError, match="coefficients are required"):
        jt.steady_state(SINGLE)


#: what a failed `equinox.error_if` raises under `jax.jit` (`equinox.filter_jit`: the first)
JIT_ERRORS = (eqx.EquinoxRuntimeError, jax.errors.JaxRuntimeError)


def test_untrusted_results_raise_or_are_flagged_also_under_jit():
    # no jump at all: every diagonal state is stationary, the steady state is not unique
    c = jnp.array([1.0, 0.0, 0.0, 0.0, 0.0])
    with pytest.raises(jt.SteadyStateError, match="failed the checks"):
        jt.steady_state(SINGLE, c)
    r = jt.steady_state(SINGLE, c, throw=False)
    assert not bool(r.diagnostics.ok)
    with pytest.raises(JIT_ERRORS, match="failed its checks"):
        jax.block_until_ready(jax.jit(lambda v: jt.steady_state(SINGLE, v).expect)(c))
    assert not bool(jax.jit(lambda v: jt.steady_state(SINGLE, v, throw=False).diagnostics.ok)(c))
    # a negative rate under jit: checked inside the computation
    bad = single_coeffs(single_params(np.random.default_rng(9))).at[1].set(-0.2)
    with pytest.raises(JIT_ERRORS, match="jump rates"):
        jax.block_until_ready(jax.jit(lambda v: jt.steady_state(SINGLE, v).expect)(bad))
