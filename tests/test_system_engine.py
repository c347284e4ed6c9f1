"""`FermionicSystem` on the sector engine (issue "One engine, one house", items 1-2): static and
periodic results of the sector methods equal dense full-space references on random 2- and
3-level systems with Coulomb interaction and a drive beyond the RWA.

References, independent of the sector machinery:

- `numpy_floquet`, written here: the full-space Floquet-Liouville system (Kronecker-product
  superoperators, all ``(2N+1) d^2`` unknowns in one dense NumPy solve with the trace condition
  replacing the equation of ``(rho_0)_00``), flows from matrix products (``L_a[rho]`` with
  ``D[s] rho = s rho s^+ - {s^+ s, rho}/2``, Eqs. 5, 6, 8, C1, C2);
- the library's dense reference `DenseFloquetReference` (what `FloquetHarmonics` computed
  before the sector engine: ``d^2 x d^2`` harmonics, block LU).

Units: hbar = k_B = 1.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxtls as jt
from jaxtls._engine.harmonic import HarmonicOperators, harmonic_matrices
from jaxtls._engine.sector import Sector
from jaxtls._engine.structure import LindbladStructure
from jaxtls._models.floquet_reference import DenseFloquetReference
from jaxtls._models.system_structure import compile_system

QUANTITIES = ("populations", "particle_current", "energy_current", "power", "entropy_production")


def random_system(m, seed, *, driven=True, orders=(1,)):
    """``m`` levels: random complex Hermitian ``h``, random Coulomb ``U_ij``, one lead per level
    plus a second lead on level 0, and (``driven``) a drive ``sum_q H_q e^{-i q omega t} + h.c.``
    with random complex (non-Hermitian) ``H_q``: co- and counter-rotating terms (beyond the RWA)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))
    h = 0.15 * (a + a.conj().T) + np.diag(np.linspace(1.0, 0.0, m))
    u = np.triu(rng.uniform(0.1, 0.6, (m, m)), 1)
    leads = [jt.Lead(i, rng.uniform(-0.2, 1.1), rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)) for i in range(m)]
    leads.append(jt.Lead(0, rng.uniform(-0.2, 1.1), rng.uniform(0.05, 0.3), rng.uniform(0.02, 0.1), name="extra"))
    drive = None
    if driven:
        drive = {q: (0.12 / q) * (rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m))) for q in orders}
    omega = rng.uniform(0.7, 1.3) if driven else 0.0
    return jt.FermionicSystem(h, leads, interaction=u + u.T, drive=drive, omega=omega)


def _dissipate(s, rho):
    sd = s.conj().T
    return s @ rho @ sd - 0.5 * (sd @ s @ rho + rho @ sd @ s)


def numpy_floquet(system, n_harm):
    """Periodic steady state by one dense NumPy solve of the full-space harmonic system (module
    docstring); returns the quantities of `QUANTITIES` and ``rho_n`` (``n = -N..N``)."""
    m = system.num_levels
    d = 2**m
    cs = [np.asarray(c) for c in jt.fermion_annihilators(m)]
    num = [c.T @ c for c in cs]

    def many(a):
        return sum(a[i, j] * cs[i].T @ cs[j] for i in range(m) for j in range(m))

    u = np.zeros((m, m)) if system.interaction is None else np.asarray(system.interaction)
    hk = {0: many(np.asarray(system.h)) + sum(u[i, j] * num[i] @ num[j] for i in range(m) for j in range(i + 1, m))}
    if system.static_many_body is not None:
        hk[0] = hk[0] + np.asarray(system.static_many_body)
    for i, q in enumerate(system.drive_orders):
        hq = many(np.asarray(system.drive_single[i]))
        if system.drive_many is not None:
            hq = hq + np.asarray(system.drive_many[i])
        hk[q], hk[-q] = hq, hq.conj().T
    kmax = max(hk)
    f = np.asarray(system.resolve_occupations(None))
    jumps = []  # (lead index, rate, operator)
    for a, lead in enumerate(system.leads):
        c = cs[lead.level]
        jumps += [(a, float(lead.gamma) * f[a], c.T), (a, float(lead.gamma) * (1 - f[a]), c)]
    eye = np.eye(d)

    def comm(h):
        return -1j * (np.kron(h, eye) - np.kron(eye, h.T))

    def diss(s):
        sds = s.conj().T @ s
        return np.kron(s, s.conj()) - 0.5 * np.kron(sds, eye) - 0.5 * np.kron(eye, sds.T)

    lk = {k: comm(v) for k, v in hk.items()}
    lk[0] = lk[0] + sum(r * diss(s) for _, r, s in jumps)
    nh, dd = 2 * n_harm + 1, d * d
    big = np.zeros((nh * dd, nh * dd), complex)
    omega = float(system.omega)
    for i, n in enumerate(range(-n_harm, n_harm + 1)):
        big[i * dd : (i + 1) * dd, i * dd : (i + 1) * dd] += 1j * n * omega * np.eye(dd)
        for k, mat in lk.items():
            j = i - k  # couples rho_{n-k}
            if 0 <= j < nh:
                big[i * dd : (i + 1) * dd, j * dd : (j + 1) * dd] += mat
    row = n_harm * dd  # (rho_0)_00
    big[row] = 0.0
    big[row, n_harm * dd : (n_harm + 1) * dd] = eye.reshape(-1)
    rhs = np.zeros(nh * dd, complex)
    rhs[row] = 1.0
    rho = np.linalg.solve(big, rhs).reshape(nh, d, d)
    r0 = rho[n_harm]
    na = len(system.leads)
    u_dot, n_dot = np.zeros(na), np.zeros(na)
    for a, r, s in jumps:
        lead_level = system.leads[a].level
        n_dot[a] += r * np.trace(num[lead_level] @ _dissipate(s, r0)).real
        for k, h in hk.items():
            if abs(k) <= n_harm:
                u_dot[a] += r * np.trace(h @ _dissipate(s, rho[n_harm - k])).real
    power = sum(np.trace(-1j * k * omega * h @ rho[n_harm - k]).real for k, h in hk.items() if abs(k) <= n_harm)
    mu = np.array([float(x.mu) for x in system.leads])
    temp = np.array([float(x.T) for x in system.leads])
    out = dict(
        populations=np.array([np.trace(n @ r0).real for n in num]),
        particle_current=n_dot,
        energy_current=u_dot,
        power=power if kmax else 0.0,
        entropy_production=np.sum((-u_dot + mu * n_dot) / temp),
    )
    return out, rho


def assert_matches(result, ref, atol, label):
    for name in QUANTITIES:
        np.testing.assert_allclose(
            np.asarray(getattr(result, name)), ref[name], rtol=0, atol=atol, err_msg=f"{label}: {name}"
        )


@pytest.mark.parametrize(("m", "orders", "seed"), [(2, (1,), 11), (2, (1, 2), 12), (3, (1,), 13), (3, (1,), 14)])
def test_periodic_sector_equals_dense_references(m, orders, seed):
    """Driven (beyond RWA, with a second harmonic for one case) interacting systems: the sector
    `FloquetHarmonics` equals the NumPy full-space solve and the library's dense reference to
    1e-12 in every flow, the populations and the harmonics rho_n; the one-period propagator on the
    sector agrees to 1e-9 (its integration tolerance)."""
    system = random_system(m, seed, orders=orders)
    n_harm = 10 * max(orders)
    ref, rho_ref = numpy_floquet(system, n_harm)
    assert np.linalg.norm(rho_ref[0]) < 1e-10  # the truncation is converged (same truncation everywhere)
    assert np.max(np.abs(rho_ref[n_harm + 2])) > 1e-6  # harmonics beyond |n| = 1: not the RWA
    sector = jt.periodic_steady_state(system, method=jt.FloquetHarmonics(n_harm))
    dense = jt.periodic_steady_state(system, method=DenseFloquetReference(n_harm))
    assert_matches(sector, ref, 1e-12, "sector")
    assert_matches(dense, ref, 1e-12, "dense reference")
    np.testing.assert_allclose(sector.rho_harmonics, rho_ref, rtol=0, atol=1e-12)
    assert abs(float(sector.first_law_residual)) < 1e-13
    assert abs(float(np.sum(sector.particle_current))) < 1e-13
    assert abs(float(sector.power)) > 1e-4  # the drive does work
    prop = jt.periodic_steady_state(system, method=jt.PeriodPropagator(rtol=1e-12, atol=1e-13))
    assert_matches(prop, ref, 1e-9, "propagator")
    np.testing.assert_allclose(prop.rho0, np.sum(rho_ref, axis=0), rtol=0, atol=1e-9)


def test_many_body_terms_and_callable_drives():
    """Many-body terms (a d x d static term and a d x d drive harmonic, which break the particle
    number: the sector is then found from the elementary d x d basis) and callable drives
    (single-particle and many-body, Fourier-sampled for Floquet, evaluated in time by the
    propagator) equal the NumPy full-space solve."""
    rng = np.random.default_rng(51)
    m, d = 2, 4
    base = random_system(m, 52)
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    extra = 0.05 * (a + a.conj().T)
    drive_mb = 0.08 * (rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    leads = base.leads
    system = jt.FermionicSystem(base.h, leads, static_many_body=extra, drive={1: drive_mb, 2: base.drive_single[0]},
                                omega=base.omega)  # fmt: skip
    ref, _ = numpy_floquet(system, 20)
    assert compile_system(system).sector.num_elements == d * d  # no symmetry left
    assert_matches(jt.periodic_steady_state(system, method=jt.FloquetHarmonics(20)), ref, 1e-12, "many-body")
    static = jt.FermionicSystem(base.h, leads, static_many_body=extra)
    ref, _ = numpy_floquet(static, 0)
    for method in ("static", jt.FloquetHarmonics()):
        assert_matches(jt.periodic_steady_state(static, method=method), ref, 1e-12, f"many-body static {method}")
    # callable drives: 2 Re(H_1 e^{-i w t}) in single-particle and many-body form
    w = float(base.omega)
    h1 = np.asarray(base.drive_single[0])
    fourier = jt.FermionicSystem(base.h, leads, drive={1: h1}, omega=w)
    ref, _ = numpy_floquet(fourier, 12)
    cs = [np.asarray(c) for c in jt.fermion_annihilators(m)]
    h1_mb = sum(h1[i, j] * cs[i].T @ cs[j] for i in range(m) for j in range(m))
    for mat in (h1, h1_mb):
        mat = jnp.asarray(mat)

        def drive(t, mat=mat):
            ph = jnp.exp(-1j * w * t)
            return mat * ph + jnp.conj(mat.T) * jnp.conj(ph)

        callable_system = jt.FermionicSystem(base.h, leads, drive=drive, omega=w, drive_harmonics=2)
        assert_matches(jt.periodic_steady_state(callable_system, method=jt.FloquetHarmonics(12)), ref, 1e-12, "fft")
        prop = jt.periodic_steady_state(callable_system, method=jt.PeriodPropagator(rtol=1e-12, atol=1e-13))
        assert_matches(prop, ref, 1e-9, "callable propagator")


@pytest.mark.parametrize(("m", "seed"), [(2, 21), (3, 22), (3, 23)])
def test_static_sector_equals_dense_references(m, seed):
    """Static interacting systems: the steady state on the real sector with the batched engine
    (`StaticSector`, `solve_batch`) and the element-space Floquet at n_harm = 0 equal the NumPy
    full-space solve to 1e-12."""
    system = random_system(m, seed, driven=False)
    ref, rho_ref = numpy_floquet(system, 0)
    for method in ("static", jt.FloquetHarmonics(), DenseFloquetReference()):
        r = jt.periodic_steady_state(system, method=method)
        assert_matches(r, ref, 1e-12, str(method))
        np.testing.assert_allclose(r.rho0, rho_ref[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.diagnostics.min_eigenvalue, np.linalg.eigvalsh(rho_ref[0]).min(), atol=1e-13)
    assert jt.periodic_steady_state(system).method == "static"  # the default for static systems


def test_sector_sizes_and_structure():
    """Number-conserving systems with local leads live on the sector of equal particle numbers
    on both sides: sum_N C(M, N)^2 = C(2M, M) elements (6 of 16 for M = 2, 20 of 64 for M = 3),
    block tridiagonal in N for the static engine."""
    for m, size in ((2, 6), (3, 20)):
        comp = compile_system(random_system(m, 1))
        assert comp.sector.num_elements == size
        assert comp.sector.num_levels == m + 1
    # a drive may enlarge the sector: two levels, diagonal H, the drive alone creates coherences
    cu, cl = jt.fermion_annihilators(2)
    ham = (cu.T @ cu, cl.T @ cl)
    jumps = (cu.T, cu, cl.T, cl)
    static = Sector.build(LindbladStructure(ham, jumps))
    driven = Sector.build(LindbladStructure(ham, jumps, drive=((1, cu.T @ cl),)))
    assert static.num_elements == 4 and driven.num_elements == 6
    with pytest.raises(ValueError, match="harmonic order"):
        LindbladStructure(ham, jumps, drive=((0, cu.T @ cl),))
    with pytest.raises(ValueError, match="drive\\[0\\] operator has shape"):
        LindbladStructure(ham, jumps, drive=((1, np.eye(3)),))


def test_harmonic_matrices_equal_full_space_superoperators():
    """The element-space L_k of the sector equal the full-space Kronecker superoperators
    restricted to the sector's elements (random coefficients, drive with two harmonics)."""
    system = random_system(3, 5, orders=(1, 2))
    comp = compile_system(system)
    st = comp.structure
    hops = HarmonicOperators.from_sector(comp.sector)
    rng = np.random.default_rng(3)
    c = rng.uniform(-1, 1, st.num_terms)
    c[len(st.hamiltonian) :] = rng.uniform(0.01, 1, len(st.jumps))
    dcoef = rng.normal(size=st.num_drive) + 1j * rng.normal(size=st.num_drive)
    lk = np.asarray(harmonic_matrices(hops, jnp.asarray(c), jnp.asarray(dcoef)))
    d = st.dim
    eye = np.eye(d)
    full = np.tensordot(c, st.full_liouvillian_basis(), 1)
    keys = comp.sector.keys
    np.testing.assert_allclose(lk[2], full[np.ix_(keys, keys)], atol=1e-13)
    for q in (1, 2):
        hq = sum(dc * np.asarray(op.toarray() if hasattr(op, "toarray") else op)
                 for dc, (k, op) in zip(dcoef, st.drive, strict=True) if k == q)  # fmt: skip
        for k, h in ((q, hq), (-q, hq.conj().T)):
            sup = -1j * (np.kron(h, eye) - np.kron(eye, h.T))
            np.testing.assert_allclose(lk[2 + k], sup[np.ix_(keys, keys)], atol=1e-13)
            # the sector is invariant: nothing leaves it
            outside = np.setdiff1d(np.arange(d * d), keys)
            assert np.max(np.abs(sup[np.ix_(outside, keys)]), initial=0.0) < 1e-14


def test_derivatives_against_finite_differences():
    """Forward-mode derivatives of the sector Floquet state (any order: custom_linear_solve) and
    reverse-mode gradients of the static engine (implicit) equal central finite differences."""
    base = random_system(2, 31)

    def periodic(eps):
        sys = jt.FermionicSystem(base.h, base.leads, interaction=base.interaction,
                                 drive={1: base.drive_single[0] * eps}, omega=base.omega)  # fmt: skip
        return jt.periodic_steady_state(sys, method=jt.FloquetHarmonics(10), throw=False).entropy_production

    def static(t12):
        h = base.h.at[0, 1].add(t12).at[1, 0].add(t12)
        sys = jt.FermionicSystem(h, base.leads, interaction=base.interaction)
        return jt.periodic_steady_state(sys, method="static", throw=False).energy_current[0]

    step = 1e-5
    for fn, x0, deriv in ((periodic, 1.0, jax.jacfwd), (static, 0.05, jax.grad)):
        g = float(jax.jit(deriv(fn))(jnp.asarray(x0)))
        fd = float((fn(jnp.asarray(x0 + step)) - fn(jnp.asarray(x0 - step))) / (2 * step))
        assert abs(g) > 1e-4
        np.testing.assert_allclose(g, fd, rtol=1e-6)
    # second derivative along the drive (what the self-consistent solver relies on)
    h2 = float(jax.jit(jax.jacfwd(jax.jacfwd(periodic)))(jnp.asarray(1.0)))
    fd2 = float(
        (periodic(jnp.asarray(1.0 + 1e-3)) - 2 * periodic(jnp.asarray(1.0)) + periodic(jnp.asarray(1.0 - 1e-3))) / 1e-6
    )
    np.testing.assert_allclose(h2, fd2, rtol=1e-4)


def test_static_sector_is_refused_where_higher_derivatives_are_needed():
    system = random_system(2, 41, driven=False)
    with pytest.raises(ValueError, match="first derivatives only"):
        jt.self_consistent_steady_state(system, method="static")
    with pytest.raises(ValueError, match="static system"):
        jt.periodic_steady_state(random_system(2, 41), method="static")
