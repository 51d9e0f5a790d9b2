"""NumPy backend of :func:`nadsim.simulate.batch.simulate_batch`.

The baseline of every subject in a chunk is found at once: a damped Newton iteration on
the stacked, vectorised right-hand side (finite-difference Jacobian, one batched
``numpy.linalg.solve`` per iteration) for unforced models, with the reference
:func:`~nadsim.simulate._solve.steady_state` as fallback; the periodic orbit of
:mod:`nadsim.simulate._orbit` for forced ones. The regimen itself is integrated
with the reference SciPy solver, subject by subject, so this backend *is* the reference.
"""

from __future__ import annotations

import numpy as np

from nadsim._errors import SolverError
from nadsim.dosing import Regimen
from nadsim.simulate._compile import CompiledModel
from nadsim.simulate._orbit import state_sets
from nadsim.simulate._solve import integrate, steady_state

__all__ = ["baseline_batch", "simulate_chunk"]


def newton(f, x0: np.ndarray, *, tol: float, max_iter: int,
           nonneg: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Damped Newton on ``f(x, rows) = 0`` for every row of ``x0`` at once (finite-difference
    Jacobians, one batched solve per iteration, the step halved until the residual falls).

    Returns ``(x, done)``; a row is done when max |f| < ``tol`` (and, with ``nonneg``, no
    component is below -1e-9). Rows whose Jacobian is singular or not finite are given up.
    """
    x = np.array(x0, dtype=float)
    n = x.shape[0]
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
            conv = np.max(np.abs(fa), axis=1) < tol
            if nonneg:
                conv &= np.all(xa > -1e-9, axis=1)
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
    """Undosed baselines of all subjects (rows of derived parameters ``P``).

    Returns ``(Y0, ok)``: states (n, n_states) and a boolean mask of subjects whose
    baseline was found (the rest are NaN). Unforced models: the steady state by a batched
    Newton, accepted as the reference accepts it (max |rhs / scale| < ``tol`` on the
    non-accumulating states, all states >= 0), with the reference as fallback. Forced models:
    the reference periodic orbit (:mod:`nadsim.simulate._orbit`, SciPy period map).
    """
    from nadsim.simulate._orbit import periodic_orbit, scipy_period_map
    from nadsim.simulate._solve import forced_states

    n = P.shape[0]
    if forced_states(cm.model):
        try:
            out, ok, _ = periodic_orbit(cm, P, scipy_period_map(cm, P))
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            out, ok = np.full((n, cm.n_states), np.nan), np.zeros(n, dtype=bool)
        ok &= np.all(np.isfinite(out), axis=1)
        out[~ok] = np.nan
        return out, ok
    free, acc = state_sets(cm)
    y = np.asarray(cm.initial_guess(P), dtype=float).copy()
    y[:, acc] = 0.0
    scale = np.maximum(np.abs(y[:, free]), 1e-3)

    def f(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
        yy = y[rows].copy()
        yy[:, free] = x * scale[rows]
        return cm.rhs(0.0, yy, P[rows])[:, free] / scale[rows]

    x, ok = newton(f, y[:, free] / scale, tol=tol * 0.1, max_iter=max_iter, nonneg=True)
    out = y.copy()
    out[:, free] = np.maximum(x * scale, 0.0)
    for i in np.nonzero(~ok)[0].tolist():  # the reference fallback: Newton, continuation, Newton
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
