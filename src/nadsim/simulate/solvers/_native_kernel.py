"""The native solver's integrator: a variable-order BDF in Numba, compiled with each model.

This file is a template. The native solver (:mod:`nadsim.simulate.solvers._native`) writes
one module per model structure: the model's generated functions (right-hand side, hoisted
parameter subexpressions, the straight-line sparse LU) followed by the text of this file after
the ``END OF MODEL INTERFACE`` marker. Numba compiles that module once and caches it on disk, so
the integrator and the model are optimised together (LLVM inlines the right-hand side into the
Newton loop) and no Python runs inside the step loop. The stubs above the marker only make the
template importable and checkable on its own.

Method: the variable-order (1-5), quasi-constant step-size BDF in the NDF form of Shampine &
Reichelt (1997, SIAM J. Sci. Comput. 18:1, doi:10.1137/S1064827594276424), as SciPy's ``BDF``
implements it (backward-difference array ``D``, simplified Newton with a convergence-rate test,
order and step selection after ``order + 1`` equal steps), with the reuse rules of CVODE
(Hindmarsh et al. 2005, ACM TOMS 31:363, doi:10.1145/1089014.1089020) so that a step costs one
or two right-hand sides and sparse triangular solves:

* the iteration matrix ``I - c J`` is refactorised only when ``c`` has moved by more than 30 %
  since it was factorised; in between, Newton updates are scaled by ``2 / (1 + c / c_lu)``;
* the Jacobian (coloured finite differences, 9 right-hand sides on the default model) is
  recomputed only when Newton fails with an old one;
* a proposed step-size increase below 1.5x is not taken (it would cost a refactorisation);
* outputs come from the BDF interpolant, so output times do not cut steps.

Dose events are exact: each segment of the schedule (constant inputs) is integrated on its
own, restarted at order 1 with a fresh initial-step estimate (Hairer, Norsett & Wanner, Solving
ODEs I, sec. II.4), boluses added at segment starts. A subject that fails gets a status code,
never an exception: its remaining outputs are NaN and the other subjects go on.
"""


from __future__ import annotations

import math

import numpy as np
from numba import njit

# --- model interface stubs (replaced by the generated model code) ---------------------------
N = 1  # states
NH = 1  # hoisted parameter-only subexpressions
NNZ = 1  # structural Jacobian nonzeros, by column
NLU = 1  # slots of the LU factors
N_COLOURS = 1
COL_PTR = np.zeros(2, dtype=np.int64)  # Jacobian nonzeros of column j: COL_PTR[j]:COL_PTR[j + 1]
JAC_ROWS = np.zeros(1, dtype=np.int64)
COLOUR_PTR = np.zeros(2, dtype=np.int64)  # columns of colour g: COLOUR_COLS[COLOUR_PTR[g]:...]
COLOUR_COLS = np.zeros(1, dtype=np.int64)


@njit(cache=False)
def hoist(p, h):  # pragma: no cover - stub
    h[0] = p[0]


@njit(cache=False)
def rhs(t, y, p, h, dy):  # pragma: no cover - stub
    dy[0] = -p[0] * y[0]


@njit(cache=False)
def lu_factor(J, c, lu):  # pragma: no cover - stub
    lu[0] = 1.0 / (1.0 - c * J[0])
    return True


@njit(cache=False)
def lu_solve(lu, b):  # pragma: no cover - stub
    b[0] = b[0] * lu[0]
# --- END OF MODEL INTERFACE -----------------------------------------------------------------

#: status codes (``nadsim.simulate.Status`` carries the messages)
OK = 0
STEP_TOO_SMALL = 2
NON_FINITE = 3
STEP_LIMIT = 4

MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
KEEP_BELOW = 1.5  # a step-size increase smaller than this is not taken (CVODE)
REFACTOR = 0.3  # refactorise I - cJ when c has moved by more than this fraction (CVODE)
EPS = 2.220446049250313e-16

KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
GAMMA = np.array([0.0, 1.0, 1.5, 1.8333333333333333, 2.083333333333333, 2.283333333333333])
ALPHA = (1.0 - KAPPA) * GAMMA
ERROR_CONST = KAPPA * GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)

# counters in each subject's stats row
ST_STEPS, ST_REJECTED, ST_NFEV, ST_NJEV, ST_NLU = 0, 1, 2, 3, 4
N_STATS = 5


@njit(cache=True, nogil=True)
def _rms(x, scale):
    s = 0.0
    for i in range(x.shape[0]):
        v = x[i] / scale[i]
        s += v * v
    return math.sqrt(s / x.shape[0])


@njit(cache=True, nogil=True)
def _compute_R(order, factor, R):
    """SciPy's ``compute_R``: the (order + 1)-square matrix that rescales differences."""
    for i in range(order + 1):
        for j in range(order + 1):
            R[i, j] = 1.0 if i == 0 else (i - 1.0 - factor * j) / i
    for i in range(1, order + 1):
        for j in range(order + 1):
            R[i, j] *= R[i - 1, j]


@njit(cache=True, nogil=True)
def _change_D(D, order, factor, R, U, RU, tmp):
    """Rescale the difference array to a step ``factor`` times the current one."""
    _compute_R(order, factor, R)
    _compute_R(order, 1.0, U)
    for i in range(order + 1):
        for j in range(order + 1):
            s = 0.0
            for k in range(order + 1):
                s += R[i, k] * U[k, j]
            RU[i, j] = s
    n = D.shape[1]
    for j in range(order + 1):  # tmp = RU^T D[:order + 1]
        for i in range(n):
            s = 0.0
            for k in range(order + 1):
                s += RU[k, j] * D[k, i]
            tmp[j, i] = s
    for j in range(order + 1):
        for i in range(n):
            D[j, i] = tmp[j, i]


@njit(cache=True, nogil=True)
def _jacobian(t, y, p, h, f0, Jv, ytmp, ftmp, rtol, atol):
    """Coloured forward differences: one right-hand side per colour; increments as CVODE's
    difference-quotient Jacobian scales them (sqrt(eps) of the state, floored at atol / rtol)."""
    srur = math.sqrt(EPS)
    floor = atol / rtol
    for g in range(N_COLOURS):
        for i in range(y.shape[0]):
            ytmp[i] = y[i]
        for c in range(COLOUR_PTR[g], COLOUR_PTR[g + 1]):
            j = COLOUR_COLS[c]
            ytmp[j] = y[j] + srur * max(abs(y[j]), floor)
        rhs(t, ytmp, p, h, ftmp)
        for c in range(COLOUR_PTR[g], COLOUR_PTR[g + 1]):
            j = COLOUR_COLS[c]
            inc = ytmp[j] - y[j]  # the increment actually represented in floating point
            for k in range(COL_PTR[j], COL_PTR[j + 1]):
                r = JAC_ROWS[k]
                Jv[k] = (ftmp[r] - f0[r]) / inc


@njit(cache=True, nogil=True)
def _initial_step(t0, t1, y, f0, p, h, ytmp, ftmp, rtol, atol):
    """Hairer-Norsett-Wanner's starting step for a first-order method (as SciPy selects it)."""
    span = t1 - t0
    d0 = 0.0
    d1 = 0.0
    n = y.shape[0]
    for i in range(n):
        sc = atol + rtol * abs(y[i])
        d0 += (y[i] / sc) ** 2
        d1 += (f0[i] / sc) ** 2
    d0 = math.sqrt(d0 / n)
    d1 = math.sqrt(d1 / n)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    h0 = min(h0, span)
    for i in range(n):
        ytmp[i] = y[i] + h0 * f0[i]
    rhs(t0 + h0, ytmp, p, h, ftmp)
    d2 = 0.0
    for i in range(n):
        sc = atol + rtol * abs(y[i])
        d2 += ((ftmp[i] - f0[i]) / sc) ** 2
    d2 = math.sqrt(d2 / n) / h0
    h1 = max(1e-6, h0 * 1e-3) if (d1 <= 1e-15 and d2 <= 1e-15) else (0.01 / max(d1, d2)) ** 0.5
    return min(100.0 * h0, h1, span)


@njit(cache=True, nogil=True)
def _segment(t0, t1, y, p, hq, times, j, last, out, rtol, atol, max_steps, stats, W, D, Jv, lu, R, U, RU, tmp):
    """Integrate ``y`` (in place) from ``t0`` to ``t1`` with inputs fixed; write the outputs
    ``times[j:]`` that fall in ``(t0, t1)`` (``t1`` too if ``last``). Returns (status, j)."""
    n = y.shape[0]
    T = times.shape[0]
    f = W[0]
    ytmp = W[1]
    ftmp = W[2]
    y_pred = W[3]
    scale = W[4]
    psi = W[5]
    d = W[6]
    b = W[7]
    newton_tol = max(10.0 * EPS / rtol, min(0.03, math.sqrt(rtol)))

    rhs(t0, y, p, hq, f)
    stats[ST_NFEV] += 1
    for i in range(n):
        if not math.isfinite(f[i]):
            return NON_FINITE, j
    h = _initial_step(t0, t1, y, f, p, hq, ytmp, ftmp, rtol, atol)
    stats[ST_NFEV] += 1
    for k in range(D.shape[0]):
        for i in range(n):
            D[k, i] = 0.0
    for i in range(n):
        D[0, i] = y[i]
        D[1, i] = f[i] * h
    order = 1
    n_equal = 0
    t = t0
    have_jac = False  # a Jacobian exists for this segment
    jac_current = False  # ... and was computed at the current step
    c_lu = 0.0  # c of the current factorisation (0: none)

    while t < t1:
        if stats[ST_STEPS] >= max_steps:
            return STEP_LIMIT, j
        min_step = 10.0 * EPS * max(abs(t), abs(t1))  # ~10 ulps of t
        if h < min_step:
            return STEP_TOO_SMALL, j
        # land exactly on the segment end
        if t + h > t1:
            _change_D(D, order, (t1 - t) / h, R, U, RU, tmp)
            h = t1 - t
            n_equal = 0
        t_new = t1 if t + h >= t1 else t + h
        c = h / ALPHA[order]
        for i in range(n):
            s = 0.0
            for k in range(order + 1):
                s += D[k, i]
            y_pred[i] = s
            scale[i] = atol + rtol * abs(s)
            s = 0.0
            for k in range(1, order + 1):
                s += GAMMA[k] * D[k, i]
            psi[i] = s / ALPHA[order]

        # simplified Newton on the NDF system, refreshing the matrix and the Jacobian as needed
        converged = False
        n_iter = 0
        while True:
            if not have_jac:
                rhs(t_new, y_pred, p, hq, f)
                _jacobian(t_new, y_pred, p, hq, f, Jv, ytmp, ftmp, rtol, atol)
                stats[ST_NFEV] += 1 + N_COLOURS
                stats[ST_NJEV] += 1
                have_jac = True
                jac_current = True
                c_lu = 0.0
            if c_lu == 0.0 or abs(c / c_lu - 1.0) > REFACTOR:
                if not lu_factor(Jv, c, lu):
                    c_lu = 0.0
                    break  # a tiny pivot: treated as a Newton failure (smaller step)
                c_lu = c
                stats[ST_NLU] += 1
            corr = 2.0 / (1.0 + c / c_lu)
            for i in range(n):
                ytmp[i] = y_pred[i]
                d[i] = 0.0
            dy_old = -1.0
            rate = 0.0
            for k in range(NEWTON_MAXITER):
                rhs(t_new, ytmp, p, hq, f)
                stats[ST_NFEV] += 1
                finite = True
                for i in range(n):
                    if not math.isfinite(f[i]):
                        finite = False
                    b[i] = c * f[i] - psi[i] - d[i]
                if not finite:
                    break
                lu_solve(lu, b)
                dy_norm = 0.0
                for i in range(n):
                    b[i] *= corr
                    v = b[i] / scale[i]
                    dy_norm += v * v
                dy_norm = math.sqrt(dy_norm / n)
                if not math.isfinite(dy_norm):
                    break
                if dy_old >= 0.0:
                    rate = dy_norm / dy_old
                    if rate >= 1.0 or rate ** (NEWTON_MAXITER - k) / (1.0 - rate) * dy_norm > newton_tol:
                        break
                for i in range(n):
                    ytmp[i] += b[i]
                    d[i] += b[i]
                n_iter = k + 1
                if dy_norm == 0.0 or (dy_old >= 0.0 and rate / (1.0 - rate) * dy_norm < newton_tol):
                    converged = True
                    break
                dy_old = dy_norm
            if converged or jac_current:
                break
            have_jac = False  # failed with an old Jacobian: a fresh one, same step

        if not converged:  # halve the step and try again
            stats[ST_REJECTED] += 1
            stats[ST_STEPS] += 1
            _change_D(D, order, 0.5, R, U, RU, tmp)
            h *= 0.5
            n_equal = 0
            continue

        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
        for i in range(n):
            scale[i] = atol + rtol * abs(ytmp[i])
        err = 0.0
        for i in range(n):
            v = ERROR_CONST[order] * d[i] / scale[i]
            err += v * v
        err = math.sqrt(err / n)
        stats[ST_STEPS] += 1
        if not (err <= 1.0):
            stats[ST_REJECTED] += 1
            factor = max(MIN_FACTOR, safety * err ** (-1.0 / (order + 1))) if math.isfinite(err) else MIN_FACTOR
            _change_D(D, order, factor, R, U, RU, tmp)
            h *= factor
            n_equal = 0
            continue

        # accepted: update the differences (SciPy's recurrence)
        jac_current = False
        for i in range(n):
            D[order + 2, i] = d[i] - D[order + 1, i]
            D[order + 1, i] = d[i]
        for k in range(order, -1, -1):
            for i in range(n):
                D[k, i] += D[k + 1, i]
        # outputs in (t, t_new] from the interpolant of this step
        while j < T and times[j] <= t_new and (times[j] < t1 or last):
            te = times[j]
            for i in range(n):
                out[j, i] = D[0, i]
            prod = 1.0
            for m in range(order):
                prod *= (te - (t_new - h * m)) / (h * (1 + m))
                for i in range(n):
                    out[j, i] += prod * D[m + 1, i]
            j += 1
        t = t_new
        for i in range(n):
            y[i] = D[0, i]
        n_equal += 1
        if n_equal < order + 1:
            continue
        # order and step size after order + 1 equal steps
        e_m = math.inf
        e_p = math.inf
        if order > 1:
            s = 0.0
            for i in range(n):
                v = ERROR_CONST[order - 1] * D[order, i] / scale[i]
                s += v * v
            e_m = math.sqrt(s / n)
        if order < MAX_ORDER:
            s = 0.0
            for i in range(n):
                v = ERROR_CONST[order + 1] * D[order + 2, i] / scale[i]
                s += v * v
            e_p = math.sqrt(s / n)
        f_m = max(e_m, 1e-300) ** (-1.0 / order) if order > 1 else 0.0
        f_0 = max(err, 1e-300) ** (-1.0 / (order + 1))
        f_p = max(e_p, 1e-300) ** (-1.0 / (order + 2)) if order < MAX_ORDER else 0.0
        delta = 0
        best = f_0
        if f_m > best:
            delta, best = -1, f_m
        if f_p > best:
            delta, best = 1, f_p
        factor = min(MAX_FACTOR, safety * best)
        if delta == 0 and KEEP_BELOW > factor >= 1.0:
            continue  # keep h and the factorisation
        order += delta
        _change_D(D, order, factor, R, U, RU, tmp)
        h *= factor
        n_equal = 0
    return OK, j


@njit(cache=True, nogil=True)
def _subject(y0, p, starts, ends, bolus, vol_idx, in_idx, rates, times, out, rtol, atol, max_steps, stats):
    """One subject over the whole schedule; ``out`` (T, N) receives the outputs."""
    n = y0.shape[0]
    T = times.shape[0]
    y = y0.copy()
    q = p.copy()
    hq = np.empty(max(NH, 1))
    W = np.empty((8, n))
    D = np.empty((MAX_ORDER + 3, n))
    Jv = np.empty(max(NNZ, 1))
    lu = np.empty(max(NLU, 1))
    R = np.empty((MAX_ORDER + 1, MAX_ORDER + 1))
    U = np.empty((MAX_ORDER + 1, MAX_ORDER + 1))
    RU = np.empty((MAX_ORDER + 1, MAX_ORDER + 1))
    tmp = np.empty((MAX_ORDER + 1, n))
    for k in range(stats.shape[0]):
        stats[k] = 0
    j = 0
    K = starts.shape[0]
    status = OK
    for s in range(K):
        for i in range(n):
            if bolus[s, i] != 0.0:
                y[i] += bolus[s, i] / q[vol_idx[i]]
        for m in range(in_idx.shape[0]):
            q[in_idx[m]] = rates[s, m]
        hoist(q, hq)
        while j < T and times[j] <= starts[s]:  # the state at a segment start is exact
            for i in range(n):
                out[j, i] = y[i]
            j += 1
        if ends[s] > starts[s]:
            status, j = _segment(starts[s], ends[s], y, q, hq, times, j, s == K - 1, out, rtol, atol,
                                 max_steps, stats, W, D, Jv, lu, R, U, RU, tmp)
            if status != OK:
                break
    if status == OK:
        for i in range(n):
            if not math.isfinite(y[i]):
                status = NON_FINITE
    if status != OK:
        for jj in range(T):
            for i in range(n):
                out[jj, i] = np.nan
    return status


@njit(cache=True, nogil=True)
def solve_range(Y0, P, starts, ends, bolus, vol_idx, in_idx, rates, times, out, rtol, atol, max_steps,
                status, stats, lo, hi):
    """Subjects ``lo:hi``: ``out[i]`` (T, N), ``status[i]``, ``stats[i]`` (N_STATS,). Releases
    the GIL, so threads can run disjoint ranges at once."""
    for i in range(lo, hi):
        status[i] = _subject(Y0[i], P[i], starts, ends, bolus, vol_idx, in_idx, rates, times, out[i],
                             rtol, atol, max_steps, stats[i])


@njit(cache=True, nogil=True)
def period_map_range(Y, P, periods, active, rtol, atol, max_steps, ok, stats, lo, hi):
    """One undosed forcing period for every active subject in ``lo:hi``: ``Y[i]`` is replaced
    by the state one period later, ``ok[i]`` says whether that integration succeeded."""
    n = Y.shape[1]
    starts = np.zeros(1)
    ends = np.empty(1)
    times = np.empty(1)
    bolus = np.zeros((1, n))
    vol_idx = np.zeros(n, dtype=np.int64)
    in_idx = np.zeros(0, dtype=np.int64)
    rates = np.zeros((1, 0))
    out = np.empty((1, n))
    for i in range(lo, hi):
        if not active[i]:
            continue
        ends[0] = periods[i]
        times[0] = periods[i]
        ok[i] = _subject(Y[i], P[i], starts, ends, bolus, vol_idx, in_idx, rates, times, out, rtol, atol,
                         max_steps, stats[i]) == OK
        for k in range(n):
            Y[i, k] = out[0, k]


@njit(cache=True, nogil=True)
def _averaged_rhs(y, p, hq, phases, free, f, out):
    """The derivative averaged over the forcing ``phases`` (``out``); zero outside ``free``."""
    n = y.shape[0]
    for i in range(n):
        out[i] = 0.0
    for k in range(phases.shape[0]):
        rhs(phases[k], y, p, hq, f)
        for i in range(n):
            out[i] += f[i]
    for i in range(n):
        out[i] = out[i] / phases.shape[0] if free[i] else 0.0


@njit(cache=True, nogil=True)
def _averaged_residual(fbar, scale, free):
    r = 0.0
    for i in range(fbar.shape[0]):
        if free[i]:
            v = abs(fbar[i]) / scale[i]
            if not math.isfinite(v):
                return math.inf
            r = max(r, v)
    return r


@njit(cache=True, nogil=True)
def averaged_start_range(Y, P, periods, n_phases, free, species, max_iter, tol, resid, lo, hi):
    """Start of the orbit search: the fixed point of the period-averaged system by
    pseudo-transient continuation (Kelley & Keyes 1998, SIAM J. Numer. Anal. 35:508,
    doi:10.1137/S0036142996304796), in place on ``Y[lo:hi]``.

    Implicit-Euler steps ``(I - s Jbar) dx = s fbar`` on the averaged derivative ``fbar``, the
    pseudo step ``s`` doubled (from 0.5 h) after each step that keeps the residual bounded and
    quartered otherwise, so the iteration follows the relaxation first and turns into Newton once
    ``s`` is long. The averaged Jacobian has the model's sparsity, so the sparse LU serves.
    ``free`` marks the states solved for (accumulating outputs are held at zero), ``species``
    those kept non-negative. ``resid[i]`` is the final max |fbar / scale|; ``n_phases = 1``
    gives the steady state of an unforced model."""
    n = Y.shape[1]
    hq = np.empty(max(NH, 1))
    f = np.empty(n)
    fbar = np.empty(n)
    fpert = np.empty(n)
    ytmp = np.empty(n)
    yn = np.empty(n)
    dx = np.empty(n)
    scale = np.empty(n)
    Jv = np.empty(max(NNZ, 1))
    lu = np.empty(max(NLU, 1))
    phases = np.empty(n_phases)
    srur = math.sqrt(EPS)
    for s in range(lo, hi):
        y = Y[s]
        p = P[s]
        hoist(p, hq)
        for k in range(n_phases):
            phases[k] = periods[s] * k / n_phases
        for i in range(n):
            if not free[i]:
                y[i] = 0.0
            scale[i] = max(abs(y[i]), 1e-3)
        _averaged_rhs(y, p, hq, phases, free, f, fbar)
        r = _averaged_residual(fbar, scale, free)
        step = 0.5
        for _it in range(max_iter):
            if not (r >= tol) or not math.isfinite(r):
                break
            for g in range(N_COLOURS):  # coloured differences of the averaged derivative
                for i in range(n):
                    ytmp[i] = y[i]
                for c in range(COLOUR_PTR[g], COLOUR_PTR[g + 1]):
                    j = COLOUR_COLS[c]
                    ytmp[j] = y[j] + srur * max(abs(y[j]), 1e-3)
                _averaged_rhs(ytmp, p, hq, phases, free, f, fpert)
                for c in range(COLOUR_PTR[g], COLOUR_PTR[g + 1]):
                    j = COLOUR_COLS[c]
                    inc = ytmp[j] - y[j]
                    for k in range(COL_PTR[j], COL_PTR[j + 1]):
                        Jv[k] = (fpert[JAC_ROWS[k]] - fbar[JAC_ROWS[k]]) / inc
            if not lu_factor(Jv, step, lu):
                step /= 4.0
                continue
            for i in range(n):
                dx[i] = step * fbar[i]
            lu_solve(lu, dx)
            good = True
            for i in range(n):
                yn[i] = y[i] + dx[i] if free[i] else 0.0
                if not math.isfinite(yn[i]) or (species[i] and yn[i] < -1e-9 * scale[i]):
                    good = False
            rn = math.inf
            if good:
                _averaged_rhs(yn, p, hq, phases, free, f, fpert)
                rn = _averaged_residual(fpert, scale, free)
                good = rn < 10.0 * r
            if good:
                for i in range(n):
                    y[i] = yn[i]
                    fbar[i] = fpert[i]
                r = rn
                step = min(2.0 * step, 1e8)
            else:
                step /= 4.0
        for i in range(n):
            if species[i] and y[i] < 0.0:
                y[i] = 0.0
        resid[s] = r
