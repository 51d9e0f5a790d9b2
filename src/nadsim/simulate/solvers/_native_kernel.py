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
implements it (backward-difference array ``D``, order and step selection after ``order + 1``
equal steps), with the nonlinear solver and reuse rules of CVODE (Hindmarsh et al. 2005, ACM
TOMS 31:363, doi:10.1145/1089014.1089020), so that most steps cost one or two right-hand sides
and sparse triangular solves:

* Newton stops when its remaining error (the last correction times the convergence rate,
  which is carried from step to step) adds at most 10 % to the local error test, so a step
  often needs one iteration (SciPy's test needs two: it cannot judge the rate after one);
* the iteration matrix ``I - c J`` is refactorised when ``c`` has moved by more than 30 % since
  it was factorised or 20 steps have passed; in between, Newton updates are scaled by
  ``2 / (1 + c / c_lu)``;
* the Jacobian (coloured finite differences, 9 right-hand sides on the default model) is
  recomputed every 51 steps or when Newton fails with an old one;
* a proposed step-size increase below 1.5x is not taken (it would cost a refactorisation);
* outputs come from the BDF interpolant, so output times do not cut steps.

Dose events are exact: each segment of the schedule (constant inputs) is integrated on its
own, restarted at order 1 with a fresh initial-step estimate (Hairer, Norsett & Wanner, Solving
ODEs I, sec. II.4), boluses added at segment starts. A subject that fails gets a status code,
never an exception: its remaining outputs are NaN and the other subjects go on.
"""


from __future__ import annotations

import math
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

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
TIME_LIMIT = 5
#: steps between two looks at the clock (one look costs ~20 ns through the vDSO)
CLOCK_EVERY = 64

MAX_ORDER = 5
NEWTON_MAXITER = 4  # in the step-size safety factor (SciPy's formula)
NEWTON_MAXCOR = 3  # Newton iterations per attempt (CVODE's maxcor)
NLSCOEF = 0.01  # Newton error allowed, as a share of the local error test (CVODE)
CRDOWN = 0.3  # the convergence rate estimate falls at most by this factor per iteration (CVODE)
RDIV = 2.0  # a correction this much larger than the last one means divergence (CVODE)
ETACF = 0.25  # step factor after a Newton failure (CVODE)
MSBP = 20  # refactorise the iteration matrix at least every MSBP steps (CVODE)
MSBJ = 51  # recompute the Jacobian at least every MSBJ steps (CVODE)
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
KEEP_BELOW = 1.5  # a step-size increase smaller than this is not taken (CVODE)
REFACTOR = 0.3  # refactorise I - cJ when c has moved by more than this fraction (CVODE)
EPS = 2.220446049250313e-16
#: floating-point freedoms of the integrator's own loops (never of the model's expressions):
#: reassociation lets LLVM vectorise the norms and sums over states, contraction fuses
#: multiply-adds; no assumption about NaN or infinity is made, since failures are detected
KERNEL_MATH = {"reassoc", "contract"}

KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
GAMMA = np.array([0.0, 1.0, 1.5, 1.8333333333333333, 2.083333333333333, 2.283333333333333])
ALPHA = (1.0 - KAPPA) * GAMMA
ERROR_CONST = KAPPA * GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2)

# counters in each subject's stats row
ST_STEPS, ST_REJECTED, ST_NFEV, ST_NJEV, ST_NLU, ST_NCHANGE = 0, 1, 2, 3, 4, 5
N_STATS = 6


@intrinsic
def _clock_gettime_monotonic(typingctx):
    """libc's ``clock_gettime(CLOCK_MONOTONIC)`` in seconds. Numba has no clock in compiled
    code; an external declaration (resolved from the process's libc when the code is linked)
    keeps the function cacheable, where a ctypes pointer would not be."""

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        timespec = ir.LiteralStructType([i64, i64])
        ts = cgutils.alloca_once(builder, timespec)
        fnty = ir.FunctionType(ir.IntType(32), [ir.IntType(32), timespec.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "clock_gettime")
        builder.call(fn, [ir.Constant(ir.IntType(32), CLOCK_MONOTONIC), ts])
        sec = builder.sitofp(builder.load(cgutils.gep_inbounds(builder, ts, 0, 0)), ir.DoubleType())
        nsec = builder.sitofp(builder.load(cgutils.gep_inbounds(builder, ts, 0, 1)), ir.DoubleType())
        return builder.fadd(sec, builder.fmul(nsec, ir.Constant(ir.DoubleType(), 1e-9)))

    return types.float64(), codegen


CLOCK_MONOTONIC = time.CLOCK_MONOTONIC  # this platform's id of the clock of time.monotonic()


@njit(cache=True, nogil=True)
def monotonic():
    """Seconds on the clock of ``time.monotonic()`` (POSIX), for the wall-clock budget."""
    return _clock_gettime_monotonic()  # type: ignore[call-arg]  # numba supplies typingctx


@njit(cache=True, nogil=True, error_model="numpy")
def _compute_R(order, factor, R):
    """SciPy's ``compute_R``: the (order + 1)-square matrix that rescales differences."""
    for i in range(order + 1):
        for j in range(order + 1):
            R[i, j] = 1.0 if i == 0 else (i - 1.0 - factor * j) / i
    for i in range(1, order + 1):
        for j in range(order + 1):
            R[i, j] *= R[i - 1, j]


@njit(cache=True, nogil=True, fastmath=KERNEL_MATH, error_model="numpy")
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
    for j in range(order + 1):  # tmp = RU^T D[:order + 1], the state index innermost (vectorised)
        c = RU[0, j]
        for i in range(n):
            tmp[j, i] = c * D[0, i]
        for k in range(1, order + 1):
            c = RU[k, j]
            for i in range(n):
                tmp[j, i] += c * D[k, i]
    for j in range(order + 1):
        for i in range(n):
            D[j, i] = tmp[j, i]


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, fastmath=KERNEL_MATH, error_model="numpy")
def _segment(t0, t1, y, p, hq, times, j, last, out, rtol, atol, max_steps, deadline, stats, f, ytmp, ftmp, y_pred, wt, psi,
             d, b, D, Jv, lu, R, U, RU, tmp):
    """Integrate ``y`` (in place) from ``t0`` to ``t1`` with inputs fixed; write the outputs
    ``times[j:]`` that fall in ``(t0, t1)`` (``t1`` too if ``last``). Returns (status, j)."""
    n = y.shape[0]
    T = times.shape[0]
    # work vectors, each its own allocation (views of one buffer would alias, and LLVM would
    # then reload every value after every store): f, ytmp, ftmp, the predictor y_pred, the
    # error weights wt = 1 / (atol + rtol |y|), psi, the correction d and the Newton update b

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
    crate = 1.0  # Newton convergence rate, carried from step to step (CVODE)
    steps_since_jac = 0
    steps_since_lu = 0

    while t < t1:
        if stats[ST_STEPS] >= max_steps:
            return STEP_LIMIT, j
        if stats[ST_STEPS] % CLOCK_EVERY == 0 and monotonic() > deadline:
            return TIME_LIMIT, j
        min_step = 10.0 * EPS * max(abs(t), abs(t1))  # ~10 ulps of t
        if h < min_step:
            return STEP_TOO_SMALL, j
        # land exactly on the segment end
        if t + h > t1:
            _change_D(D, order, (t1 - t) / h, R, U, RU, tmp)
            stats[ST_NCHANGE] += 1
            h = t1 - t
            n_equal = 0
        t_new = t1 if t + h >= t1 else t + h
        c = h / ALPHA[order]
        # predictor, Newton's constant term psi, and the error weights 1 / (atol + rtol |y|)
        for i in range(n):
            y_pred[i] = D[0, i]
            psi[i] = 0.0
        for k in range(1, order + 1):
            g = GAMMA[k]
            for i in range(n):
                y_pred[i] += D[k, i]
                psi[i] += g * D[k, i]
        inv_alpha = 1.0 / ALPHA[order]
        for i in range(n):
            psi[i] *= inv_alpha
            wt[i] = 1.0 / (atol + rtol * abs(y_pred[i]))

        # simplified Newton on the NDF system (CVODE's nonlinear solver): the Jacobian is
        # refreshed every MSBJ steps or after a failure with an old one, the iteration matrix
        # every MSBP steps or when c moved by more than REFACTOR
        if steps_since_jac >= MSBJ:
            have_jac = False
        if steps_since_lu >= MSBP:
            c_lu = 0.0
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
                steps_since_jac = 0
                c_lu = 0.0
            if c_lu == 0.0 or abs(c / c_lu - 1.0) > REFACTOR:
                if not lu_factor(Jv, c, lu):
                    c_lu = 0.0
                    break  # a tiny pivot: treated as a Newton failure (smaller step)
                c_lu = c
                crate = 1.0
                steps_since_lu = 0
                stats[ST_NLU] += 1
            corr = 2.0 / (1.0 + c / c_lu)
            for i in range(n):
                ytmp[i] = y_pred[i]
                d[i] = 0.0
            # converged when the remaining Newton error, estimated as the last correction
            # times the convergence rate, adds at most NLSCOEF to the local error test
            conv_scale = min(1.0, crate) * ERROR_CONST[order] / NLSCOEF
            del_prev = 0.0
            for k in range(NEWTON_MAXCOR):
                rhs(t_new, ytmp, p, hq, f)
                stats[ST_NFEV] += 1
                for i in range(n):
                    b[i] = c * f[i] - psi[i] - d[i]
                lu_solve(lu, b)  # a non-finite f makes the norm below non-finite: a failure
                dl = 0.0
                for i in range(n):
                    b[i] *= corr
                    ytmp[i] += b[i]
                    d[i] += b[i]
                    v = b[i] * wt[i]
                    dl += v * v
                dl = math.sqrt(dl / n)
                if not math.isfinite(dl):
                    break
                if k > 0:
                    crate = max(CRDOWN * crate, dl / del_prev)
                    conv_scale = min(1.0, crate) * ERROR_CONST[order] / NLSCOEF
                n_iter = k + 1
                if dl * conv_scale <= 1.0:
                    converged = True
                    break
                if k > 0 and dl > RDIV * del_prev:
                    break  # diverging
                del_prev = dl
            if converged or jac_current:
                break
            have_jac = False  # failed with an old Jacobian: a fresh one, same step

        if not converged:  # a quarter of the step and try again (CVODE's ETACF)
            stats[ST_REJECTED] += 1
            stats[ST_STEPS] += 1
            _change_D(D, order, ETACF, R, U, RU, tmp)
            h *= ETACF
            n_equal = 0
            continue

        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
        err = 0.0
        for i in range(n):
            wt[i] = 1.0 / (atol + rtol * abs(ytmp[i]))
            v = d[i] * wt[i]
            err += v * v
        err = ERROR_CONST[order] * math.sqrt(err / n)
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
        steps_since_jac += 1
        steps_since_lu += 1
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
                v = D[order, i] * wt[i]
                s += v * v
            e_m = ERROR_CONST[order - 1] * math.sqrt(s / n)
        if order < MAX_ORDER:
            s = 0.0
            for i in range(n):
                v = D[order + 2, i] * wt[i]
                s += v * v
            e_p = ERROR_CONST[order + 1] * math.sqrt(s / n)
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
        stats[ST_NCHANGE] += 1
        h *= factor
        n_equal = 0
    return OK, j


@njit(cache=True, nogil=True, fastmath=KERNEL_MATH, error_model="numpy")
def _subject(y0, p, starts, ends, bolus, vol_idx, in_idx, rates, times, out, rtol, atol, max_steps, deadline, stats):
    """One subject over the whole schedule; ``out`` (T, N) receives the outputs. ``deadline``:
    the ``monotonic()`` second after which the subject stops with ``TIME_LIMIT``."""
    n = y0.shape[0]
    T = times.shape[0]
    y = y0.copy()
    q = p.copy()
    hq = np.empty(max(NH, 1))
    f = np.empty(n)
    ytmp = np.empty(n)
    ftmp = np.empty(n)
    y_pred = np.empty(n)
    wt = np.empty(n)
    psi = np.empty(n)
    d = np.empty(n)
    b = np.empty(n)
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
                                 max_steps, deadline, stats, f, ytmp, ftmp, y_pred, wt, psi, d, b, D, Jv, lu, R, U, RU, tmp)
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


@njit(cache=True, nogil=True, error_model="numpy")
def solve_range(Y0, P, starts, ends, bolus, vol_idx, in_idx, rates, times, out, rtol, atol, max_steps,
                max_wall, status, stats, lo, hi):
    """Subjects ``lo:hi``: ``out[i]`` (T, N), ``status[i]``, ``stats[i]`` (N_STATS,). Releases
    the GIL, so threads can run disjoint ranges at once."""
    for i in range(lo, hi):
        status[i] = _subject(Y0[i], P[i], starts, ends, bolus, vol_idx, in_idx, rates, times, out[i],
                             rtol, atol, max_steps, monotonic() + max_wall, stats[i])


@njit(cache=True, nogil=True, error_model="numpy")
def period_map_range(Y, P, periods, active, rtol, atol, max_steps, max_wall, ok, stats, lo, hi):
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
                         max_steps, monotonic() + max_wall, stats[i]) == OK
        for k in range(n):
            Y[i, k] = out[0, k]


@njit(cache=True, nogil=True, error_model="numpy")
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


@njit(cache=True, nogil=True, error_model="numpy")
def _averaged_residual(fbar, scale, free):
    r = 0.0
    for i in range(fbar.shape[0]):
        if free[i]:
            v = abs(fbar[i]) / scale[i]
            if not math.isfinite(v):
                return math.inf
            r = max(r, v)
    return r


@njit(cache=True, nogil=True, error_model="numpy")
def _averaged_jacobian(y, p, hq, phases, free, fbar, f, fpert, ytmp, Jv):
    """Coloured forward differences of the averaged derivative at ``y`` (whose averaged
    derivative is ``fbar``), into the sparse Jacobian values ``Jv`` (by column)."""
    n = y.shape[0]
    srur = math.sqrt(EPS)
    for g in range(N_COLOURS):
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


@njit(cache=True, nogil=True, error_model="numpy")
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
            _averaged_jacobian(y, p, hq, phases, free, fbar, f, fpert, ytmp, Jv)
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


@njit(cache=True, nogil=True, error_model="numpy")
def _anderson_step(X, F, m, x_out, Q, Rm, gam):
    """Anderson's extrapolation from the last ``m + 1`` iterates ``X[:m + 1]`` and their images
    ``F``: x = F_m - dF gamma with gamma the least-squares fit of the residual differences
    (modified Gram-Schmidt on at most 6 columns). Falls back to the plain iterate F_m when the
    columns are (nearly) dependent. Same procedure as ``_baseline._anderson_step``."""
    d = X.shape[1]
    k = m  # number of difference columns
    for c in range(k):  # Q[:, c] = (G_{c+1} - G_c), G = F - X
        for i in range(d):
            Q[c, i] = (F[c + 1, i] - X[c + 1, i]) - (F[c, i] - X[c, i])
    rmax = 0.0
    for c in range(k):
        for r in range(c):
            s = 0.0
            for i in range(d):
                s += Q[r, i] * Q[c, i]
            Rm[r, c] = s
            for i in range(d):
                Q[c, i] -= s * Q[r, i]
        s = 0.0
        for i in range(d):
            s += Q[c, i] * Q[c, i]
        s = math.sqrt(s)
        Rm[c, c] = s
        rmax = max(rmax, s)
        if s > 0.0:
            for i in range(d):
                Q[c, i] /= s
    for c in range(k):
        if not (Rm[c, c] > 1e-12 * max(rmax, 1e-300)):
            for i in range(d):
                x_out[i] = F[m, i]
            return
    for c in range(k):  # Q^T g with g = G_m
        s = 0.0
        for i in range(d):
            s += Q[c, i] * (F[m, i] - X[m, i])
        gam[c] = s
    for c in range(k - 1, -1, -1):  # R gamma = Q^T g
        s = gam[c]
        for r in range(c + 1, k):
            s -= Rm[c, r] * gam[r]
        gam[c] = s / Rm[c, c]
    for i in range(d):
        s = F[m, i]
        for c in range(k):
            s -= (F[c + 1, i] - F[c, i]) * gam[c]
        x_out[i] = s
    for i in range(d):
        if not math.isfinite(x_out[i]):
            for j in range(d):
                x_out[j] = F[m, j]
            return


@njit(cache=True, nogil=True, error_model="numpy")
def _dense_lu(A, piv):
    """LU with partial pivoting of the small dense matrix ``A``, in place; False when a pivot
    is zero or not finite (the caller then does without the matrix)."""
    d = A.shape[0]
    for k in range(d):
        q = k
        amax = abs(A[k, k])
        for i in range(k + 1, d):
            if abs(A[i, k]) > amax:
                amax = abs(A[i, k])
                q = i
        if not (amax > 1e-300) or not math.isfinite(amax):
            return False
        piv[k] = q
        if q != k:
            for j in range(d):
                A[k, j], A[q, j] = A[q, j], A[k, j]
        inv = 1.0 / A[k, k]
        for i in range(k + 1, d):
            lik = A[i, k] * inv
            A[i, k] = lik
            if lik != 0.0:
                for j in range(k + 1, d):
                    A[i, j] -= lik * A[k, j]
    return True


@njit(cache=True, nogil=True, error_model="numpy")
def _dense_lu_solve(A, piv, b):
    """Solve with the factors of :func:`_dense_lu`, ``b`` in place."""
    d = A.shape[0]
    for k in range(d):
        q = piv[k]
        if q != k:
            b[k], b[q] = b[q], b[k]
    for i in range(d):
        s = b[i]
        for j in range(i):
            s -= A[i, j] * b[j]
        b[i] = s
    for i in range(d - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, d):
            s -= A[i, j] * b[j]
        b[i] = s / A[i, i]


@njit(cache=True, nogil=True, error_model="numpy")
def _dense_averaged_jacobian(y, p, period, n_phases, isfree, free_idx, out):
    """The Jacobian of the derivative averaged over ``n_phases`` phases of ``period`` at ``y``,
    over the free states ``free_idx`` (dense, ``out[i, j]`` = d f_i / d y_j, states' units)."""
    n = y.shape[0]
    dfree = free_idx.shape[0]
    hq = np.empty(max(NH, 1))
    hoist(p, hq)
    phases = np.empty(n_phases)
    for k in range(n_phases):
        phases[k] = period * k / n_phases
    f = np.empty(n)
    fbar = np.empty(n)
    fpert = np.empty(n)
    ytmp = np.empty(n)
    Jv = np.empty(max(NNZ, 1))
    _averaged_rhs(y, p, hq, phases, isfree, f, fbar)
    _averaged_jacobian(y, p, hq, phases, isfree, fbar, f, fpert, ytmp, Jv)
    pos = np.full(n, -1, dtype=np.int64)
    for k in range(dfree):
        pos[free_idx[k]] = k
    for i in range(dfree):
        for j in range(dfree):
            out[i, j] = 0.0
    for k in range(dfree):
        j = free_idx[k]
        for q in range(COL_PTR[j], COL_PTR[j + 1]):
            r = pos[JAC_ROWS[q]]
            if r >= 0:
                out[r, k] = Jv[q]


@njit(cache=True, nogil=True, error_model="numpy")
def averaged_jacobian_range(Y, P, periods, n_phases, free_idx, J, lo, hi):
    """``J[s]``: the averaged Jacobian over the free states at ``Y[s]`` (accumulating outputs
    taken as zero) for every subject in ``lo:hi``; what the NumPy orbit search preconditions
    with when another solver (JAX) integrates the periods."""
    n = Y.shape[1]
    isfree = np.zeros(n, dtype=np.bool_)
    for k in range(free_idx.shape[0]):
        isfree[free_idx[k]] = True
    y = np.empty(n)
    for s in range(lo, hi):
        for i in range(n):
            y[i] = Y[s, i] if isfree[i] else 0.0
        _dense_averaged_jacobian(y, P[s], periods[s], n_phases, isfree, free_idx, J[s])


@njit(cache=True, nogil=True, error_model="numpy")
def _orbit_preconditioner(y, p, period, n_phases, isfree, free_idx, a, M1, piv1, M2, piv2):
    """Factors of T*Jbar and a*I - T*Jbar over the free states, Jbar the period-averaged
    Jacobian at ``y`` (see ``_baseline.orbit_preconditioner`` for the operator they make);
    False when either is singular."""
    dfree = free_idx.shape[0]
    _dense_averaged_jacobian(y, p, period, n_phases, isfree, free_idx, M1)
    for i in range(dfree):
        for j in range(dfree):
            M1[i, j] *= period
            M2[i, j] = -M1[i, j]
        M2[i, i] += a
    return _dense_lu(M1, piv1) and _dense_lu(M2, piv2)


@njit(cache=True, nogil=True, error_model="numpy")
def orbit_range(Y, P, periods, free_idx, clip, depth, max_iter, tol, scale_floor, max_jump, rtol, atol,
                max_steps, max_wall, precondition_a, n_phases, ok, iters, lo, hi):
    """The periodic orbit of every subject in ``lo:hi`` by Anderson acceleration of the
    one-period map, entirely compiled (``_baseline.anderson_orbit`` is the same procedure in
    NumPy, for the other solvers). ``Y[i]`` holds the start (the averaged start) and receives
    the last integrated state; only ``free_idx`` states are iterated (the others are reset to
    zero each period), ``clip[k]`` marks free states kept non-negative. Converged when one
    period moves no free state by more than ``tol`` relative to max(|y0|, ``scale_floor``).
    With ``precondition_a > 0`` the residual of each period is preconditioned by the operator
    of ``_baseline.orbit_preconditioner`` (averaged Jacobian over ``n_phases`` phases at the
    start) before Anderson's extrapolation; a subject whose operator is singular, or whose
    preconditioned step is not finite or is distrusted, goes on without it."""
    n = Y.shape[1]
    dfree = free_idx.shape[0]
    starts = np.zeros(1)
    ends = np.empty(1)
    times = np.empty(1)
    bolus = np.zeros((1, n))
    vol_idx = np.zeros(n, dtype=np.int64)
    in_idx = np.zeros(0, dtype=np.int64)
    rates = np.zeros((1, 0))
    out = np.empty((1, n))
    stats = np.zeros(N_STATS, dtype=np.int64)
    y = np.empty(n)
    X = np.empty((depth + 1, dfree))
    F = np.empty((depth + 1, dfree))
    Q = np.empty((depth, dfree))
    Rm = np.empty((depth, depth))
    gam = np.empty(depth)
    x = np.empty(dfree)
    xn = np.empty(dfree)
    sc = np.empty(dfree)
    isfree = np.zeros(n, dtype=np.bool_)
    for k in range(dfree):
        isfree[free_idx[k]] = True
    M1 = np.empty((dfree, dfree))
    M2 = np.empty((dfree, dfree))
    piv1 = np.empty(dfree, dtype=np.int64)
    piv2 = np.empty(dfree, dtype=np.int64)
    r = np.empty(dfree)
    v1 = np.empty(dfree)
    v2 = np.empty(dfree)
    xg = np.empty(dfree)
    for s in range(lo, hi):
        ends[0] = periods[s]
        times[0] = periods[s]
        for k in range(dfree):
            sc[k] = max(abs(Y[s, free_idx[k]]), scale_floor)
            x[k] = Y[s, free_idx[k]] / sc[k]
        use_pc = False
        if precondition_a > 0.0:
            for i in range(n):
                y[i] = Y[s, i] if isfree[i] else 0.0
            use_pc = _orbit_preconditioner(y, P[s], periods[s], n_phases, isfree, free_idx, precondition_a,
                                           M1, piv1, M2, piv2)
        m = -1  # index of the newest history entry
        ok[s] = False
        deadline = monotonic() + max_wall  # one budget for the subject's whole orbit search
        iters[s] = 0
        for _it in range(max_iter):
            for i in range(n):
                y[i] = 0.0
            for k in range(dfree):
                y[free_idx[k]] = x[k] * sc[k]
            status = _subject(y, P[s], starts, ends, bolus, vol_idx, in_idx, rates, times, out, rtol, atol,
                              max_steps, deadline, stats)
            iters[s] += 1
            for i in range(n):
                Y[s, i] = out[0, i]
            if status != OK:
                break
            resid = 0.0
            finite = True
            for k in range(dfree):
                fx = out[0, free_idx[k]] / sc[k]
                xn[k] = fx
                if not math.isfinite(fx):
                    finite = False
                resid = max(resid, abs(fx - x[k]))
            if not finite:
                break
            if resid < tol:
                ok[s] = True
                break
            for k in range(dfree):
                xg[k] = xn[k]
            if use_pc:  # xg = x + P (Phi(x) - x), P applied in the states' own units
                for k in range(dfree):
                    r[k] = (xn[k] - x[k]) * sc[k]
                    v1[k] = r[k]
                    v2[k] = r[k]
                _dense_lu_solve(M1, piv1, v1)
                _dense_lu_solve(M2, piv2, v2)
                for k in range(dfree):
                    xg[k] = x[k] + (r[k] - v1[k] - 0.5 * precondition_a * v2[k]) / sc[k]
                    if not math.isfinite(xg[k]):
                        use_pc = False
                if not use_pc:
                    for k in range(dfree):
                        xg[k] = xn[k]
            if m == depth:  # drop the oldest entry
                for q in range(depth):
                    for k in range(dfree):
                        X[q, k] = X[q + 1, k]
                        F[q, k] = F[q + 1, k]
            else:
                m += 1
            for k in range(dfree):
                X[m, k] = x[k]
                F[m, k] = xg[k]
            if m >= 1:
                _anderson_step(X, F, m, x, Q, Rm, gam)
            else:
                for k in range(dfree):
                    x[k] = xg[k]
            wild = False
            for k in range(dfree):
                if abs(x[k] - xn[k]) / max(abs(xn[k]), 1.0) > max_jump:
                    wild = True
            if wild:  # distrust the step: restart from the plain iterate, without the operator
                for k in range(dfree):
                    x[k] = xn[k]
                    X[0, k] = xn[k]
                    F[0, k] = xn[k]
                m = -1
                use_pc = False
            for k in range(dfree):
                if clip[k] and x[k] < 0.0:
                    x[k] = 0.0
        for i in range(n):
            if not isfree[i]:
                Y[s, i] = 0.0  # accumulating outputs start every run at zero
            elif not math.isfinite(Y[s, i]):
                ok[s] = False


ENTRIES = ("solve_range", "period_map_range", "orbit_range", "averaged_start_range", "averaged_jacobian_range")


def warm():
    """Compile (or load) every entry point for the argument types ``NativeSolver`` passes, over
    an empty range of subjects. ``_native.load`` runs this in a child process, so that every
    process, the first included, runs the machine code from the cache (measured: the code of a
    process that compiled for itself differed from the cached code at 2e-10 relative)."""
    f2 = np.zeros((1, 1))
    f1 = np.zeros(1)
    i1 = np.zeros(1, dtype=np.int64)
    b1 = np.zeros(1, dtype=np.bool_)
    i2 = np.zeros((1, N_STATS), dtype=np.int64)
    solve_range(f2, f2, f1, f1, f2, i1, i1, f2, f1, np.zeros((1, 1, 1)), 1e-6, 1e-9, 1, 1.0, i1, i2, 0, 0)
    period_map_range(f2, f2, f1, b1, 1e-6, 1e-9, 1, 1.0, b1, i2, 0, 0)
    orbit_range(f2, f2, f1, i1, b1, 1, 1, 1e-6, 1e-6, 1.0, 1e-6, 1e-9, 1, 1.0, 3.0, 12, b1, i1, 0, 0)
    averaged_start_range(f2, f2, f1, 1, b1, b1, 1, 1e-6, f1, 0, 0)
    averaged_jacobian_range(f2, f2, f1, 12, i1, np.zeros((1, 1, 1)), 0, 0)
