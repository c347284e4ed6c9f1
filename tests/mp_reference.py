"""Extended-precision references (mpmath) for Models A and B, independent of jaxtls.

- `classical`: the closed form of Appendix A (A8-A12, Eqs. 11-15) evaluated in mpmath.
- `cavity`: the Jaynes-Cummings master equation (Eqs. 8, 17) written out here from sparse
  operators, restricted to the steady-state sector of equal (Q = n_u + a^+ a, N_S) on both sides
  of rho (PHYSICS.md, Model B), and solved by an mpmath LU with the trace condition.

Inputs are the float64 values a test passes to jaxtls, taken exactly (mpf of a binary float), so
the difference to jaxtls is jaxtls's own error, not input rounding. Occupations follow the given
prescription ("bare" or "effective"), computed in mpmath.
"""

from __future__ import annotations

import itertools

import mpmath as mp

DPS = 50


def _f(x):
    return mp.mpf(float(x))


def fermi(e, mu, t):
    return 1 / (mp.exp((e - mu) / t) + 1)


def bose(e, t):
    return 1 / mp.expm1(e / t)


def classical(E_u, E_l, omega, eps, gamma_u, gamma_l, mu_u, mu_l, T_u, T_l, occupations="effective") -> dict:
    """Model A in the RWA, closed form (A8-A12, Eqs. 11-15), `DPS` digits."""
    with mp.workdps(DPS):
        eu, el, w, gu, gl, muu, mul, tu, tl = map(_f, (E_u, E_l, omega, gamma_u, gamma_l, mu_u, mu_l, T_u, T_l))
        e = mp.mpc(complex(eps))
        gam = gu + gl
        delta = w - (eu - el)
        eu_t, el_t = eu + gu * delta / gam, el - gl * delta / gam  # Eq. 14
        if occupations == "effective":
            fu, fl = fermi(eu_t, muu, tu), fermi(el_t, mul, tl)
        else:
            fu, fl = fermi(eu, muu, tu), fermi(el, mul, tl)
        alpha = abs(e) ** 2 * gam / (gam**2 / 4 + delta**2)
        h = gu * gl / (gu * gl + alpha * gam)
        r = alpha * h * (fu - fl)
        s_uu = (alpha * (gu * fu + gl * fl) + gu * gl * fu) / (gu * gl + alpha * gam)
        s_ll = (alpha * (gu * fu + gl * fl) + gu * gl * fl) / (gu * gl + alpha * gam)
        udot = {"u": eu_t * r, "l": -el_t * r}
        ndot = {"u": r, "l": -r}
        sdot = {a: (-udot[a] + mu * ndot[a]) / t for a, mu, t in (("u", muu, tu), ("l", mul, tl))}
        return {
            "rate": r,
            "particle_current": ndot,
            "energy_current": udot,
            "power": -w * r,
            "entropy_production": sdot["u"] + sdot["l"],
            "populations": {"u": s_uu, "l": s_ll},
            "occupation": {"u": fu, "l": fl},
            "effective_energy": {"u": eu_t, "l": el_t},
            "gross_rate": gu + gl,
        }


# ---------------------------------------------------------------------------------------- cavity


def _states(n_max):
    """Basis |n_u, n_l, n>, in the order of itertools.product."""
    return list(itertools.product((0, 1), (0, 1), range(n_max + 1)))


def _op_c(states, which):
    """Fermionic annihilator (Jordan-Wigner order u, l: c_l carries the sign (-1)^{n_u})."""
    index = {s: i for i, s in enumerate(states)}
    out = {}
    for s in states:
        nu, nl, n = s
        if which == "u" and nu == 1:
            out[(index[(0, nl, n)], index[s])] = mp.mpf(1)
        if which == "l" and nl == 1:
            out[(index[(nu, 0, n)], index[s])] = mp.mpf(-1 if nu else 1)
    return out


def _op_a(states, n_max):
    index = {s: i for i, s in enumerate(states)}
    return {(index[(nu, nl, n - 1)], index[(nu, nl, n)]): mp.sqrt(n) for (nu, nl, n) in states if n > 0}


def _dag(op):
    return {(j, i): mp.conj(v) for (i, j), v in op.items()}


def _mul(a, b):
    out = {}
    by_row = {}
    for (k, j), v in b.items():
        by_row.setdefault(k, []).append((j, v))
    for (i, k), v in a.items():
        for j, w in by_row.get(k, ()):
            out[(i, j)] = out.get((i, j), 0) + v * w
    return out


def _add(*terms):
    out = {}
    for c, op in terms:
        for k, v in op.items():
            out[k] = out.get(k, 0) + c * v
    return out


def cavity(E_u, E_l, omega_cav, g, gamma_u, gamma_l, gamma_b, mu_u, mu_l, T_u, T_l, T_b, n_max,
           occupations="effective") -> dict:  # fmt: skip
    """Model B (Jaynes-Cummings with leads and a photon bath), exact steady state of the truncated
    master equation in `DPS` digits; flows as in Eq. 5, R = 2 Im{g* <c_l^+ c_u a^+>}."""
    with mp.workdps(DPS):
        eu, el, w, gu, gl, gb, muu, mul, tu, tl, tb = map(
            _f, (E_u, E_l, omega_cav, gamma_u, gamma_l, gamma_b, mu_u, mu_l, T_u, T_l, T_b)
        )
        gc = mp.mpc(complex(g))
        states = _states(n_max)
        d = len(states)
        cu, cl, a = _op_c(states, "u"), _op_c(states, "l"), _op_a(states, n_max)
        nu, nl, na = _mul(_dag(cu), cu), _mul(_dag(cl), cl), _mul(_dag(a), a)
        x = _mul(_mul(_dag(cu), cl), a)  # c_u^+ c_l a
        h = _add((eu, nu), (el, nl), (w, na), (gc, x), (mp.conj(gc), _dag(x)))
        g3 = gu + gl + gb
        dcav = w - (eu - el)
        e_t = {"u": eu + gu * dcav / g3, "l": el - gl * dcav / g3, "ph": w - gb * dcav / g3}  # Eq. 21
        if occupations == "effective":
            fu, fl, nb = fermi(e_t["u"], muu, tu), fermi(e_t["l"], mul, tl), bose(e_t["ph"], tb)
        else:
            fu, fl, nb = fermi(eu, muu, tu), fermi(el, mul, tl), bose(w, tb)
        jumps = {
            "u": [(gu * fu, _dag(cu)), (gu * (1 - fu), cu)],
            "l": [(gl * fl, _dag(cl)), (gl * (1 - fl), cl)],
            "b": [(gb * (nb + 1), a), (gb * nb, _dag(a))],
        }
        q = [s[0] + s[2] for s in states]
        nn = [s[0] + s[1] for s in states]
        keys = [(i, j) for i in range(d) for j in range(d) if q[i] == q[j] and nn[i] == nn[j]]
        pos = {k: n for n, k in enumerate(keys)}

        def lindblad_image(i, j):
            """L(|i><j|) as a dict over keys (Hamiltonian and all jumps)."""
            out = {}

            def put(k, v):
                if k in pos:
                    out[k] = out.get(k, 0) + v
                elif v != 0:
                    raise AssertionError("sector not invariant")

            for (r, c), v in h.items():
                if c == i:
                    put((r, j), -1j * v)
                if r == j:
                    put((i, c), 1j * v)
            for lst in jumps.values():
                for rate, s in lst:
                    sds = _mul(_dag(s), s)
                    for (r, c), v in s.items():
                        if c != i:
                            continue
                        for (r2, c2), v2 in s.items():
                            if c2 == j:
                                put((r, r2), rate * v * mp.conj(v2))
                    for (r, c), v in sds.items():
                        if c == i:
                            put((r, j), -rate * v / 2)
                        if r == j:
                            put((i, c), -rate * v / 2)
            return out

        n_k = len(keys)
        mat = mp.zeros(n_k, n_k)
        for col, (i, j) in enumerate(keys):
            for k, v in lindblad_image(i, j).items():
                mat[pos[k], col] += v
        rhs = mp.zeros(n_k, 1)
        row0 = pos[(0, 0)]
        for col, (i, j) in enumerate(keys):
            mat[row0, col] = 1 if i == j else 0
        rhs[row0] = 1
        sol = mp.lu_solve(mat, rhs)
        rho = {k: sol[pos[k]] for k in keys}

        def expect(op):
            return sum(v * rho.get((c, r), 0) for (r, c), v in op.items())

        def dissipated(op, lst):
            """Tr{op D_lst[rho]} = sum rate Tr{(s^+ op s - {s^+ s, op}/2) rho}."""
            total = 0
            for rate, s in lst:
                sd = _dag(s)
                adj = _add((1, _mul(_mul(sd, op), s)), (-0.5, _mul(_mul(sd, s), op)), (-0.5, _mul(op, _mul(sd, s))))
                total += rate * expect(adj)
            return total

        n_s = _add((1, nu), (1, nl))
        udot = {r: mp.re(dissipated(h, jumps[r])) for r in jumps}
        ndot = {"u": mp.re(dissipated(n_s, jumps["u"])), "l": mp.re(dissipated(n_s, jumps["l"])),
                "b": mp.re(dissipated(na, jumps["b"]))}  # fmt: skip
        y = mp.conj(gc) * expect(_dag(x))
        rate = 2 * mp.im(y)
        mus = {"u": muu, "l": mul, "b": mp.mpf(0)}
        ts = {"u": tu, "l": tl, "b": tb}
        sdot = {r: (-udot[r] + mus[r] * (ndot[r] if r != "b" else 0)) / ts[r] for r in jumps}
        return {
            "rate": rate,
            "particle_current": ndot,
            "energy_current": udot,
            "entropy_production": sdot["u"] + sdot["l"] + sdot["b"],
            "populations": {"u": mp.re(expect(nu)), "l": mp.re(expect(nl)), "ph": mp.re(expect(na))},
            "effective_energy": e_t,
            "occupation": {"u": fu, "l": fl, "b": nb},
            "fock_tail": sum(mp.re(rho[(i, i)]) for i, s in enumerate(states) if s[2] == n_max),
            "gross_rate": gu + gl + gb,
        }
