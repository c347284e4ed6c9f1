"""Model D: Bloch gain of intersubband transitions (paper Sec. V, Eq. 31).

Notation: Delta = omega - (E_u - E_l), Gamma = gamma_u + gamma_l, a = gamma_u/Gamma,
b = gamma_l/Gamma, L = Gamma/(Delta^2 + Gamma^2/4), F(s) = int_0^inf f(E + s) dE,
N = F(0) (sheet density with unit density of states).
"""

import math

import numpy as np
import pytest
from scipy import integrate

import jaxtls  # noqa: F401  (float64)
from jaxtls._models.bloch import bloch_gain, bloch_rate_k, subband_density

VARIANTS = ("density_matrix", "effective", "naive")
EQUAL = dict(E_u=1.0, E_l=0.0, gamma_u=0.02, gamma_l=0.05, mu_u=0.1, mu_l=0.1, T=0.05)
INVERTED = dict(E_u=1.0, E_l=0.0, gamma_u=0.02, gamma_l=0.05, mu_u=0.15, mu_l=-0.05, T=0.05)


# ----------------------------------------------------------------- independent NumPy references


def np_fermi(x, mu, T):
    return 0.5 * (1.0 - np.tanh((x - mu) / (2 * T)))


def np_F(s, mu, T):
    """int_0^inf fermi(E + s) dE = T log(1 + exp((mu - s)/T)), stable."""
    z = (mu - s) / T
    return T * (np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))


def np_F2(s, mu, T):
    """F''(s) = -f'(s) = f(1 - f)/T."""
    f = np_fermi(s, mu, T)
    return f * (1 - f) / T


def np_F3(s, mu, T):
    """F'''(s) = -f''(s) = -f(1 - f)(1 - 2f)/T^2."""
    f = np_fermi(s, mu, T)
    return -f * (1 - f) * (1 - 2 * f) / T**2


def rate_k_numpy(E, delta, p, variant):
    """Eq. 31 (and variants) per k, written out independently of jaxtls."""
    gu, gl, mu_u, mu_l, T = p["gamma_u"], p["gamma_l"], p["mu_u"], p["mu_l"], p["T"]
    gam = gu + gl
    lor = gam / (delta**2 + gam**2 / 4)
    fu = lambda x: np_fermi(x, mu_u, T)
    fl = lambda x: np_fermi(x, mu_l, T)
    if variant == "density_matrix":
        brace = (gl * (fu(E) - fl(E - delta)) + gu * (fu(E + delta) - fl(E))) / gam
    elif variant == "effective":
        brace = fu(E + gu * delta / gam) - fl(E - gl * delta / gam)
    else:
        brace = fu(E) - fl(E)
    return lor * brace


def quad_reference(delta, p, variant):
    """G by adaptive scipy quadrature of the k-resolved rate, breakpoints at every step."""
    T = p["T"]
    steps = [p["mu_u"], p["mu_l"], p["mu_u"] - delta, p["mu_l"] + delta]
    e_max = max(0.0, *steps) + 60 * T
    pts = sorted(s for s in steps if 0 < s < e_max)
    val, err = integrate.quad(
        rate_k_numpy,
        0.0,
        e_max,
        args=(delta, p, variant),
        points=pts or None,
        limit=500,
        epsabs=1e-14,
        epsrel=1e-13,
    )
    return val


def gl_integral(fun, a, b, panels, order=20):
    """Composite Gauss-Legendre of a vectorised function on [a, b]."""
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(a, b, panels + 1)
    h = np.diff(edges)[:, None]
    nodes = (edges[:-1, None] + 0.5 * h * (x + 1)).ravel()
    weights = (0.5 * h * w).ravel()
    return np.sum(fun(nodes) * weights)


def spectrum_area(p, variant, W):
    """int_{-W}^{W} G(Delta) dDelta with jaxtls.bloch_gain, one vectorised call per region.

    |Delta| < c: Delta = (Gamma/2) tan(theta) (the Lorentzian becomes flat);
    c < |Delta| < W: Delta = +-exp(u) (the 1/Delta tails become flat).
    """
    gam = p["gamma_u"] + p["gamma_l"]
    c = 5 * gam
    e0 = p["E_u"] - p["E_l"]
    G = lambda d: np.asarray(bloch_gain(e0 + d, **p, variant=variant))
    th = math.atan(2 * c / gam)
    mid = gl_integral(lambda t: G(0.5 * gam * np.tan(t)) * 0.5 * gam / np.cos(t) ** 2, -th, th, 64)
    npan = int(40 * math.log(W / c)) + 8
    hi = gl_integral(lambda u: G(np.exp(u)) * np.exp(u), math.log(c), math.log(W), npan)
    lo = gl_integral(lambda u: G(-np.exp(u)) * np.exp(u), math.log(c), math.log(W), npan)
    return lo + mid + hi


def A_first_order(W, mu, T):
    """A(W) = int_{-W}^{W} [F(D) - N + f(0) D] / D^2 dD (regular at D = 0)."""
    N, f0 = np_F(0.0, mu, T), np_fermi(0.0, mu, T)

    def k(D):
        D = np.asarray(D, float)
        small = np.abs(D) < 1e-4 * T
        Ds = np.where(small, 1.0, D)
        full = (np_F(Ds, mu, T) - N + f0 * Ds) / Ds**2
        series = np_F2(0.0, mu, T) / 2 + np_F3(0.0, mu, T) * D / 6
        return np.where(small, series, full)

    edges = [-W, *sorted(x for x in {0.0, mu} if -W < x < W), W]
    tot = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        tot += integrate.quad(k, a, b, limit=400, epsabs=1e-13, epsrel=1e-12)[0]
    return tot


# ----------------------------------------------------------------- closed form vs quadrature


@pytest.mark.parametrize("variant", VARIANTS)
def test_closed_form_matches_independent_quadrature(variant):
    rng = np.random.default_rng(1)
    for _ in range(4):
        p = dict(
            E_u=1.0,
            E_l=0.0,
            gamma_u=rng.uniform(0.005, 0.05),
            gamma_l=rng.uniform(0.005, 0.05),
            mu_u=rng.uniform(-0.1, 0.3),
            mu_l=rng.uniform(-0.1, 0.3),
            T=rng.uniform(0.01, 0.1),
        )
        deltas = np.array([-0.4, -0.07, -0.01, 0.003, 0.05, 0.3])
        G, err = bloch_gain(1.0 + deltas, **p, variant=variant, return_error=True)
        ref = np.array([quad_reference(d, p, variant) for d in deltas])
        np.testing.assert_allclose(np.asarray(G), ref, rtol=1e-10, atol=1e-12)
        assert np.all(np.asarray(err) < 1e-12)


@pytest.mark.parametrize("distribution", ["fermi", "boltzmann"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gauss_legendre_path_agrees_with_closed_form_and_error_estimate(variant, distribution):
    p = dict(INVERTED, mu_u=-0.02, mu_l=-0.1) if distribution == "boltzmann" else INVERTED
    omega = np.linspace(0.6, 1.4, 33)
    G, _ = bloch_gain(omega, **p, variant=variant, distribution=distribution, return_error=True)
    Gq, err_q = bloch_gain(
        omega, **p, variant=variant, distribution=distribution, method="quadrature", return_error=True
    )
    G, Gq, err_q = map(np.asarray, (G, Gq, err_q))
    scale = np.max(np.abs(G))
    assert np.all(err_q < 1e-12 * max(scale, 1.0))
    assert np.all(np.abs(Gq - G) <= 4 * err_q + 1e-13 * scale)
    # a deliberately under-resolved quadrature (panels ~ 13 T wide) has a real error, and its
    # error estimate covers it
    Gc, err_c = bloch_gain(
        omega,
        **p,
        variant=variant,
        distribution=distribution,
        method="quadrature",
        return_error=True,
        panels=4,
        order=8,
    )
    actual = np.abs(np.asarray(Gc) - G)
    assert actual.max() > 1e-13 * scale
    assert np.all(actual <= np.asarray(err_c) + 1e-14 * scale)


def test_k_resolved_rate_matches_eq31_written_out():
    p = INVERTED
    E = np.linspace(0, 0.5, 11)[:, None]
    d = np.array([-0.1, 0.02, 0.2])[None, :]
    for v in VARIANTS:
        got = np.asarray(bloch_rate_k(E, 1.0 + d, **p, variant=v))
        np.testing.assert_allclose(got, rate_k_numpy(E, d, p, v), rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------- equal occupations: Bloch gain


@pytest.mark.parametrize("distribution", ["fermi", "boltzmann"])
def test_equal_occupations_naive_zero_bloch_gain_dispersive(distribution):
    deltas = np.concatenate([-np.geomspace(0.3, 1e-4, 25), np.geomspace(1e-4, 0.3, 25)])
    for p in (EQUAL, dict(EQUAL, gamma_u=0.05, gamma_l=0.01, mu_u=-0.1, mu_l=-0.1, T=0.02)):
        G = {v: np.asarray(bloch_gain(1.0 + deltas, **p, variant=v, distribution=distribution))
             for v in VARIANTS}  # fmt: skip
        assert np.all(G["naive"] == 0.0)
        for v in ("density_matrix", "effective"):
            assert np.all(G[v][deltas < 0] > 0), v  # gain below the transition energy
            assert np.all(G[v][deltas > 0] < 0), v  # absorption above
        # and the gain is of first order in Delta: G ~ -f(0) Delta L(Delta) (F'(0) = -f(0))
        gam = p["gamma_u"] + p["gamma_l"]
        f0 = np_fermi(0.0, p["mu_u"], p["T"]) if distribution == "fermi" else math.exp(p["mu_u"] / p["T"])
        small = np.abs(deltas) < 1e-3 * p["T"]
        lead = -f0 * deltas * gam / (deltas**2 + gam**2 / 4)
        np.testing.assert_allclose(G["density_matrix"][small], lead[small], rtol=1e-2)


def test_dm_and_effective_agree_to_first_order_in_delta_over_T():
    """G_DM - G_eff = L(Delta) a b (F_u''(0) - F_l''(0)) Delta^2/2 + O(Delta^3): the two agree to
    first order in Delta/T for any occupations (relative deviation <= (Delta/T)^2 tested),
    and for equal occupations through second order, with the leading difference
    L F'''(0) Delta^3 a b / 2 (tested to 5 % at Delta/T <= 0.02)."""
    for p in (EQUAL, INVERTED, dict(EQUAL, gamma_u=0.06, gamma_l=0.01, mu_u=0.02, mu_l=0.02)):
        T = p["T"]
        x = np.array([-0.1, -0.03, -0.01, 0.01, 0.03, 0.1])  # Delta/T
        d = x * T
        g_dm = np.asarray(bloch_gain(1.0 + d, **p, variant="density_matrix"))
        g_eff = np.asarray(bloch_gain(1.0 + d, **p, variant="effective"))
        rel = np.abs(g_dm - g_eff) / np.abs(g_dm)
        assert np.all(rel <= x**2), (rel, x**2)
        # the deviation really is of higher order: slope of log(rel) vs log|x| >= 1.9
        pos = x > 0
        slope = np.polyfit(np.log(x[pos]), np.log(rel[pos]), 1)[0]
        assert slope > 1.9, slope
    # leading term for equal occupations
    p = EQUAL
    gu, gl, T = p["gamma_u"], p["gamma_l"], p["T"]
    gam = gu + gl
    a, b = gu / gam, gl / gam
    d = np.array([-0.02, -0.01, 0.01, 0.02]) * T
    diff = np.asarray(bloch_gain(1.0 + d, **p)) - np.asarray(bloch_gain(1.0 + d, **p, variant="effective"))
    lead = gam / (d**2 + gam**2 / 4) * np_F3(0.0, p["mu_u"], T) * d**3 * a * b / 2
    np.testing.assert_allclose(diff, lead, rtol=5e-2)


def test_equal_rates_and_occupations_give_an_exactly_odd_spectrum():
    p = dict(EQUAL, gamma_u=0.03, gamma_l=0.03)
    d = np.geomspace(1e-3, 0.5, 20)
    for v in ("density_matrix", "effective"):
        gp = np.asarray(bloch_gain(1.0 + d, **p, variant=v))
        gm = np.asarray(bloch_gain(1.0 - d, **p, variant=v))
        np.testing.assert_allclose(gm, -gp, rtol=1e-11, atol=1e-15)


# ----------------------------------------------------------------- sum rule


def test_tails_from_occupations_below_the_subband_bottom():
    """Delta -> +inf: G -> -gamma_l/Delta; Delta -> -inf: G -> +gamma_u/|Delta| (DM, effective)."""
    p = INVERTED
    for v in ("density_matrix", "effective"):
        for D in (2e3, 2e4):
            gp = float(bloch_gain(1.0 + D, **p, variant=v))
            gm = float(bloch_gain(1.0 - D, **p, variant=v))
            assert abs(gp * D / -p["gamma_l"] - 1) < 200 / D
            assert abs(gm * D / p["gamma_u"] - 1) < 200 / D


def test_sum_rule_naive_is_exact():
    """int_{-W}^{W} G_naive = 4 atan(2W/Gamma) (N_u - N_l) -> 2 pi (N_u - N_l)."""
    p = INVERTED
    gam = p["gamma_u"] + p["gamma_l"]
    N_u, N_l = np_F(0, p["mu_u"], p["T"]), np_F(0, p["mu_l"], p["T"])
    np.testing.assert_allclose(float(subband_density(p["mu_u"], p["T"])), N_u, rtol=1e-14)
    for W in (1.0, 50.0):
        area = spectrum_area(p, "naive", W)
        np.testing.assert_allclose(area, 4 * math.atan(2 * W / gam) * (N_u - N_l), rtol=1e-10)


@pytest.mark.parametrize("variant", ["density_matrix", "effective"])
@pytest.mark.parametrize("occ", ["equal", "inverted"])
def test_sum_rule_narrow_line_limit(variant, occ):
    """Derived sum rule (symmetric window |Delta| < W, W >> T, expansion in the rates):

        int G dDelta = 4 atan(2W/Gamma) (N_u - N_l)                        [-> 2 pi (N_u - N_l)]
                       + gamma_u A_u(W_u) - gamma_l A_l(W_l)               [first order]
                       - (pi/4) (c_u F_u''(0) - c_l F_l''(0)) + O(gamma^3) [second order]

    with W_u = W_l = W, c_a = Gamma gamma_a (density matrix) or W_u = a W, W_l = b W,
    c_a = gamma_a^2 (effective). So the area tends to 2 pi (N_u - N_l) -- zero for equal
    occupations -- as the broadening vanishes. Tested: the remainder after the first-order
    terms equals the second-order term within 5 % (rates s) and 2 % (rates s/4)."""
    base = EQUAL if occ == "equal" else INVERTED
    T, W = base["T"], 0.5
    N_u, N_l = np_F(0, base["mu_u"], T), np_F(0, base["mu_l"], T)
    target = 2 * math.pi * (N_u - N_l)
    deviations = []
    for s, tol in ((1.0, 0.05), (0.25, 0.02)):
        p = dict(base, gamma_u=0.004 * s, gamma_l=0.010 * s)
        gu, gl = p["gamma_u"], p["gamma_l"]
        gam = gu + gl
        if variant == "density_matrix":
            wu, wl, cu, cl = W, W, gam * gu, gam * gl
        else:
            wu, wl, cu, cl = gu / gam * W, gl / gam * W, gu**2, gl**2
        zeroth = 4 * math.atan(2 * W / gam) * (N_u - N_l)
        first = gu * A_first_order(wu, p["mu_u"], T) - gl * A_first_order(wl, p["mu_l"], T)
        second = -math.pi / 4 * (cu * np_F2(0.0, p["mu_u"], T) - cl * np_F2(0.0, p["mu_l"], T))
        area = spectrum_area(p, variant, W)
        assert abs(area - zeroth - first - second) < tol * abs(second), (area, zeroth, first, second)
        deviations.append(abs(area - target))
    # the narrow-line limit itself: the deviation from 2 pi (N_u - N_l) shrinks with the rates
    assert deviations[1] < 0.3 * deviations[0]
    if occ == "inverted":
        assert deviations[1] < 0.01 * target


# ----------------------------------------------------------------- API


def test_broadcasting_and_shapes():
    omega = np.linspace(0.8, 1.2, 5)[:, None]
    T = np.array([0.02, 0.05, 0.1])
    G = bloch_gain(omega, **dict(EQUAL, T=T))
    assert G.shape == (5, 3)
    for i in range(5):
        for j in range(3):
            one = bloch_gain(float(omega[i, 0]), **dict(EQUAL, T=float(T[j])))
            assert one.shape == ()
            np.testing.assert_allclose(float(G[i, j]), float(one), rtol=1e-14)
    Gq = bloch_gain(omega, **dict(EQUAL, T=T), method="quadrature")
    np.testing.assert_allclose(np.asarray(Gq), np.asarray(G), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(
    "change, name",
    [
        (dict(gamma_u=-0.01), "gamma_u"),
        (dict(gamma_l=0.0), "gamma_l"),
        (dict(T=0.0), "T"),
        (dict(T=-1.0), "T"),
        (dict(mu_u=float("nan")), "mu_u"),
        (dict(E_l=float("inf")), "E_l"),
    ],
)
def test_invalid_parameters_raise_naming_them(change, name):
    with pytest.raises(ValueError, match=name):
        bloch_gain(1.0, **dict(EQUAL, **change))


def test_invalid_choices_raise():
    with pytest.raises(ValueError, match="variant"):
        bloch_gain(1.0, **EQUAL, variant="exact")
    with pytest.raises(ValueError, match="distribution"):
        bloch_gain(1.0, **EQUAL, distribution="bose")
    with pytest.raises(ValueError, match="method"):
        bloch_gain(1.0, **EQUAL, method="simpson")
    with pytest.raises(ValueError, match="omega"):
        bloch_gain(np.array([1.0, np.nan]), **EQUAL)


def test_second_call_with_new_values_does_not_recompile():
    import logging

    import jax

    class Messages(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    bloch_gain(np.linspace(0.9, 1.1, 7), **EQUAL)
    handler = Messages()
    logging.getLogger("jax").addHandler(handler)
    try:
        with jax.log_compiles():
            bloch_gain(np.linspace(0.5, 1.5, 7), **dict(INVERTED, T=0.03))
    finally:
        logging.getLogger("jax").removeHandler(handler)
    assert not [m for m in handler.messages if m.startswith("Compiling")], handler.messages
