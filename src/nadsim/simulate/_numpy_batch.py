"""NumPy backend of :func:`nadsim.simulate.batch.simulate_batch`.

The baseline of every subject in a chunk is found at once by a damped Newton iteration
on the stacked, vectorised right-hand side (finite-difference Jacobian, one batched
``numpy.linalg.solve`` per iteration); subjects it cannot settle fall back to the
reference :func:`~nadsim.simulate._solve.steady_state`. The regimen itself is integrated
with the reference SciPy solver, subject by subject, so this backend *is* the reference.
"""

from __future__ import annotations

import numpy as np

from nadsim._errors import SolverError
from nadsim.dosing import Regimen
from nadsim.simulate._compile import CompiledModel
from nadsim.simulate._solve import integrate, steady_state

__all__ = ["baseline_batch", "simulate_chunk"]


def _free_states(cm: CompiledModel) -> tuple[np.ndarray, np.ndarray]:
    acc = np.array([s.accumulates for s in cm.model.species] + [False] * len(cm.model.states))
    return np.nonzero(~acc)[0], np.nonzero(acc)[0]


def averaged_newton(cm: CompiledModel, P: np.ndarray, period: np.ndarray, *, max_iter: int = 40) -> np.ndarray:
    """Step (1) of the periodic baseline for every row: the reference
    :func:`nadsim.simulate._solve.averaged_start` (relaxation of the period-averaged system, then
    Newton), so that batched baselines start where the reference does. ``period`` and
    ``max_iter`` are kept for the callers' signature."""
    from nadsim.simulate._solve import averaged_start

    return np.stack([averaged_start(cm, P[i]) for i in range(P.shape[0])])


def _newton(cm: CompiledModel, y: np.ndarray, P: np.ndarray, free: np.ndarray, g, *, tol: float,
            max_iter: int) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton on ``g(y, rows)[:, free] / scale = 0`` for all rows; returns (x, ok)."""
    n = y.shape[0]
    scale = np.maximum(np.abs(y[:, free]), 1e-3)

    def f(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        yy = y[rows].copy()
        yy[:, free] = x * scale[rows]
        return g(yy, rows)[:, free] / scale[rows]

    x = y[:, free] / scale
    rows = np.arange(n)
    done = np.zeros(n, dtype=bool)
    dead = ~np.all(np.isfinite(x), axis=1)
    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            act = rows[~done & ~dead]
            if act.size == 0:
                break
            xa = x[act]
            fa = f(xa, act)
            res = np.max(np.abs(fa), axis=1)
            conv = res < tol
            done[act[conv]] = True
            act, xa, fa = act[~conv], xa[~conv], fa[~conv]
            if act.size == 0:
                break
            J, fin = _fd_jacobian(f, xa, fa, act)
            dx = np.zeros_like(xa)
            for k in np.nonzero(fin)[0]:
                try:
                    dx[k] = np.linalg.solve(J[k], -fa[k])
                except np.linalg.LinAlgError:
                    fin[k] = False
            dead[act[~fin]] = True
            lam = np.ones(act.size)
            r0 = np.max(np.abs(fa), axis=1)
            for _ in range(8):
                r1 = np.max(np.abs(f(xa + lam[:, None] * dx, act)), axis=1)
                worse = ~(np.isfinite(r1) & (r1 < r0 * (1 - 1e-4 * lam)))
                if not worse.any():
                    break
                lam = np.where(worse, lam * 0.5, lam)
            x[act] = np.where(fin[:, None], xa + lam[:, None] * dx, xa)
    return x, done


def baseline_batch(cm: CompiledModel, P: np.ndarray, *, tol: float = 1e-10,
                   max_iter: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Undosed steady states of all subjects (rows of derived parameters ``P``).

    Returns ``(Y0, ok)``: states (n, n_states) and a boolean mask of subjects whose
    baseline was found (the rest are NaN). The acceptance test is the reference one:
    max |rhs / scale| < ``tol`` on the non-accumulating states, all states >= 0.
    """
    from nadsim.simulate._solve import forced_states

    n = P.shape[0]
    if forced_states(cm.model):  # periodic orbit: the reference procedure, subject by subject
        out = np.full((n, cm.n_states), np.nan)
        ok = np.zeros(n, dtype=bool)
        for i in range(n):
            try:
                with np.errstate(all="ignore"):
                    out[i] = steady_state(cm, P[i])
                ok[i] = bool(np.all(np.isfinite(out[i])))
            except (SolverError, ValueError, ArithmeticError, np.linalg.LinAlgError):
                pass
        return out, ok
    free, acc = _free_states(cm)
    y = np.asarray(cm.initial_guess(P), dtype=float).copy()
    y[:, acc] = 0.0
    scale = np.maximum(np.abs(y[:, free]), 1e-3)

    def f(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        yy = y[rows].copy()
        yy[:, free] = x * scale[rows]
        return cm.rhs(0.0, yy, P[rows])[:, free] / scale[rows]

    x = y[:, free] / scale
    rows = np.arange(n)
    done = np.zeros(n, dtype=bool)
    dead = ~np.all(np.isfinite(x), axis=1)  # Newton gave up on these: the fallback takes them
    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            act = rows[~done & ~dead]
            if act.size == 0:
                break
            xa = x[act]
            fa = f(xa, act)
            res = np.max(np.abs(fa), axis=1)
            conv = (res < tol * 0.1) & np.all(xa > -1e-9, axis=1)
            done[act[conv]] = True
            act, xa, fa = act[~conv], xa[~conv], fa[~conv]
            if act.size == 0:
                break
            J, fin = _fd_jacobian(f, xa, fa, act)
            dx = np.zeros_like(xa)
            try:
                dx[fin] = np.linalg.solve(J[fin], -fa[fin][..., None])[..., 0]
            except np.linalg.LinAlgError:
                for k in np.nonzero(fin)[0]:
                    try:
                        dx[k] = np.linalg.solve(J[k], -fa[k])
                    except np.linalg.LinAlgError:
                        fin[k] = False
            dead[act[~fin]] = True
            # damping: halve the step until the residual falls (or 8 halvings)
            lam = np.ones(act.size)
            r0 = np.max(np.abs(fa), axis=1)
            for _ in range(8):
                trial = xa + lam[:, None] * dx
                r1 = np.max(np.abs(f(trial, act)), axis=1)
                worse = ~(np.isfinite(r1) & (r1 < r0 * (1 - 1e-4 * lam)))
                if not worse.any():
                    break
                lam = np.where(worse, lam * 0.5, lam)
            x[act] = np.where(fin[:, None], xa + lam[:, None] * dx, xa)
    out = y.copy()
    out[:, free] = np.maximum(x * scale, 0.0)
    ok = done.copy()
    for i in np.nonzero(~ok)[0].tolist():  # the reference fallback: Newton, relaxation, Newton
        try:
            with np.errstate(all="ignore"):
                out[i] = steady_state(cm, P[i])
            ok[i] = bool(np.all(np.isfinite(out[i])))
        except (SolverError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            out[i] = np.nan
    return out, ok


def simulate_chunk(cm: CompiledModel, regimen: Regimen, times: np.ndarray, P: np.ndarray, *,
                   rtol: float, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """States (n, T, n_states) and status (n,) for subjects with derived parameters ``P``."""
    n = P.shape[0]
    Y = np.full((n, times.size, cm.n_states), np.nan)
    status = np.zeros(n, dtype=np.int64)
    Y0, ok = baseline_batch(cm, P)
    status[~ok] = 1
    for i in np.nonzero(ok)[0]:
        try:
            with np.errstate(all="ignore"):
                Y[i], _ = integrate(cm, Y0[i], P[i], regimen, times, rtol=rtol, atol=atol)
        except (SolverError, ValueError, ArithmeticError, np.linalg.LinAlgError):
            status[i] = 2
    return Y, status


def _fd_jacobian(f, xa: np.ndarray, fa: np.ndarray, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward-difference Jacobians of ``f`` for every active subject, all columns in one stacked
    evaluation; also which subjects have a finite Jacobian and residual."""
    m = xa.shape[1]
    h = 1e-7 * np.maximum(np.abs(xa), 1.0)
    X = np.repeat(xa[:, None, :], m, axis=1)
    X[:, np.arange(m), np.arange(m)] += h
    F = f(X.reshape(-1, m), np.repeat(act, m)).reshape(act.size, m, m)
    J = np.swapaxes((F - fa[:, None, :]) / h[:, :, None], 1, 2)
    fin = np.all(np.isfinite(J), axis=(1, 2)) & np.all(np.isfinite(fa), axis=1)
    return J, fin
