"""Periodic orbit of a forced model: Anderson-accelerated fixed point of the period map.

A periodically forced model (the full model's light, cortisol and NAMPT day cycle) has no
fixed point; its undosed baseline is the state ``y*`` at t = 0 on the periodic orbit, the fixed
point of the period map ``Phi`` (integrate one forcing period from t = 0). Plain iteration
``y <- Phi(y)`` converges as slowly as the slowest pool (other-tissue NAM and the mood filter
shrink their distance to the orbit by only ~5-10 % a day), and a per-state extrapolation is
wrong where several slow modes mix (mood follows stress load and tissue NAM). Anderson
acceleration (Walker & Ni 2011, SIAM J. Numer. Anal. 49:1715, doi:10.1137/10078356X) uses the
last few iterates together; for a linear contraction it is equivalent to GMRES, so a handful of
slow modes costs a handful of periods.

The iteration is deterministic and works on a batch of lanes (subjects) at once: the reference
backend passes a map that runs SciPy subject by subject, the batched backends one that runs the
whole chunk, so every backend settles on the same orbit up to its own integration error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import solve_ivp

from nadsim.simulate._compile import CompiledModel

__all__ = ["MAP_ATOL", "MAP_RTOL", "ORBIT_TOL", "anderson_orbit", "averaged_start", "periodic_orbit",
           "scipy_period_map"]

PeriodMap = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

#: tolerances of each period-map integration: tighter than the main run (1e-8), so that the
#: fixed point's own noise stays well under the 1e-4 agreement asked of the backends
MAP_RTOL, MAP_ATOL = 1e-9, 1e-12
#: accepted when one period moves no free state by more than this, relative to
#: max(|y|, SCALE_FLOOR); with the slowest mode shrinking ~5 % a day, the distance to the orbit
#: is then below ~2e-7
ORBIT_TOL = 1e-8
#: absolute floor (in each state's unit) of the scale that residuals are measured against:
#: a residual of ORBIT_TOL * SCALE_FLOOR = 1e-9 uM (or HAM-D points) is far below any output's
#: resolution, and states near zero (the mood state sits near 0 HAM-D points) would otherwise
#: chase the integrator's own noise
SCALE_FLOOR = 0.1
#: an Anderson step that moves a state further than this (relative to max(|y|, SCALE_FLOOR))
#: away from the plain iterate is not trusted: the history is dropped and the plain iterate taken
#: (guards against a wild extrapolation where the map is far from linear)
MAX_JUMP = 10.0


def periods(cm: CompiledModel, P: np.ndarray) -> np.ndarray:
    """Forcing period of every row of ``P`` (the model's ``T_day``; 24 h if it has none)."""
    P = np.atleast_2d(P)
    return P[:, cm.pidx("T_day")] if "T_day" in cm.parameter_names else np.full(P.shape[0], 24.0)


def state_sets(cm: CompiledModel) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the states a baseline solves for, and of the accumulating outputs (urine,
    faeces), which start every run at zero. Species come first in the state vector."""
    acc = np.array([s.accumulates for s in cm.model.species] + [False] * len(cm.model.states))
    return np.nonzero(~acc)[0], np.nonzero(acc)[0]


def orbit_indices(cm: CompiledModel) -> tuple[np.ndarray, np.ndarray]:
    """State indices the orbit solver iterates (all but accumulating outputs) and the species
    among them (kept non-negative)."""
    free, _acc = state_sets(cm)
    return free, free[free < len(cm.model.species)]


def averaged_start(cm: CompiledModel, P: np.ndarray, *, max_iter: int = 100, n_phases: int = 12) -> np.ndarray:
    """Starting states (n, n_states) near the orbit: the fixed point of the period-averaged system.

    The averaged (autonomous) system, its derivative the mean over 12 phases of one period, is
    solved by pseudo-transient continuation (Kelley & Keyes 1998, SIAM J. Numer. Anal. 35:508,
    doi:10.1137/S0036142996304796): implicit-Euler steps whose length doubles from 0.5 h after
    each step that keeps the residual bounded, so the iteration follows the relaxation of the
    system first and turns into Newton once the step is long. Started from the
    parameter-derived guess, plain Newton can land on a far root when a tissue's salvage is
    substrate-limited. Every row iterates on its own (batched arithmetic, no shared step size),
    so a subject's start does not depend on the other subjects in its chunk (beyond round-off
    of the batched arithmetic, ~1e-12). For an unforced
    model pass ``n_phases=1``: the average is then the right-hand side itself, and the result
    is the steady state (to max |rhs / scale| < 1e-10).
    """
    from nadsim.simulate._numpy_batch import _fd_jacobian

    P = np.atleast_2d(np.asarray(P, dtype=float))
    n = P.shape[0]
    free, species = orbit_indices(cm)
    y = np.asarray(cm.initial_guess(P), dtype=float).copy()
    y[:, state_sets(cm)[1]] = 0.0
    scale = np.maximum(np.abs(y[:, free]), 1e-3)
    phases = periods(cm, P)[:, None] * np.linspace(0.0, 1.0, n_phases, endpoint=False)[None, :]
    nonneg = np.isin(free, species)
    eye = np.eye(free.size)

    def f(x: np.ndarray, rows: np.ndarray) -> np.ndarray:  # derivative averaged over one period
        yy = np.repeat(y[rows][:, None, :], phases.shape[1], axis=1)
        yy[:, :, free] = (x * scale[rows])[:, None, :]
        d = cm.rhs(phases[rows], yy, P[rows][:, None, :]).mean(axis=1)
        return d[:, free] / scale[rows]

    rows = np.arange(n)
    x = y[:, free] / scale
    step = np.full(n, 0.5)  # h
    with np.errstate(all="ignore"):
        r = np.max(np.abs(f(x, rows)), axis=1)
        for _ in range(max_iter):
            act = rows[(r >= 1e-10) & np.isfinite(r)]
            if act.size == 0:
                break
            fa = f(x[act], act)
            J, _fin = _fd_jacobian(f, x[act], fa, act)
            try:
                dx = np.linalg.solve(eye / step[act][:, None, None] - J, fa[..., None])[..., 0]
            except np.linalg.LinAlgError:
                dx = np.stack([_solve_or_nan(eye / step[k] - J[i], fa[i]) for i, k in enumerate(act)])
            xn = x[act] + dx
            rn = np.max(np.abs(f(xn, act)), axis=1)
            good = (np.isfinite(rn) & np.all(np.isfinite(xn), axis=1) & (rn < 10 * r[act])
                    & np.all(xn[:, nonneg] > -1e-9, axis=1))
            x[act[good]], r[act[good]] = xn[good], rn[good]
            step[act] = np.where(good, np.minimum(2 * step[act], 1e8), step[act] / 4)
    y[:, free] = x * scale
    y[:, species] = np.maximum(y[:, species], 0.0)
    return y


def _solve_or_nan(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        return np.full(b.shape, np.nan)


def scipy_period_map(cm: CompiledModel, P: np.ndarray) -> PeriodMap:
    """The period map of the reference solver: SciPy's LSODA over one period, row by row."""
    T = periods(cm, P)
    funs = [cm.rhs_scalar(p) for p in np.atleast_2d(P)]

    def period_map(Y: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out, ok = Y.copy(), active.copy()
        for i in np.nonzero(active)[0]:
            try:
                with np.errstate(all="ignore"):
                    r = solve_ivp(funs[i], (0.0, float(T[i])), Y[i], method="LSODA", rtol=MAP_RTOL, atol=MAP_ATOL)
                ok[i] = r.success
                out[i] = r.y[:, -1]
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):  # one subject, not the chunk
                ok[i] = False
        return out, ok

    return period_map


def periodic_orbit(cm: CompiledModel, P: np.ndarray, period_map: PeriodMap,
                   start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undosed baselines (n, n_states) on the periodic orbit, whether each converged, and the
    number of periods each took: :func:`averaged_start` (or a given ``start``, e.g. the same
    iteration run on a GPU), then :func:`anderson_orbit`."""
    free, species = orbit_indices(cm)
    return anderson_orbit(period_map, averaged_start(cm, P) if start is None else start, free, species)


def anderson_orbit(period_map: PeriodMap, Y0: np.ndarray,
                   free: np.ndarray, nonneg: np.ndarray, *, depth: int = 6, max_iter: int = 40,
                   tol: float = ORBIT_TOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed points of ``period_map`` for every lane of ``Y0`` (n, n_states).

    ``period_map(Y, active) -> (Phi(Y), ok)`` integrates each lane over one period (it may skip
    lanes that are not ``active``: their rows are ignored). Only the ``free``
    state indices are iterated (accumulating outputs such as urine are reset to zero each
    period); ``nonneg`` indices (species) are clipped at zero. Returns ``(Y, ok, iterations)``:
    ``Y`` is the last integrated state of each lane, ``ok`` whether its residual fell below
    ``tol``; lanes stop iterating (and keep their value) once they converge or fail.
    """
    Y0 = np.array(Y0, dtype=float)
    n = Y0.shape[0]
    free = np.asarray(free, dtype=int)
    fixed = np.setdiff1d(np.arange(Y0.shape[1]), free)
    template = Y0.copy()
    template[:, fixed] = 0.0
    scale = np.maximum(np.abs(Y0[:, free]), SCALE_FLOOR)
    clip = np.isin(free, np.asarray(nonneg, dtype=int))

    def full(x: np.ndarray) -> np.ndarray:
        y = template.copy()
        y[:, free] = x * scale
        return y

    x = Y0[:, free] / scale
    xs: list[np.ndarray] = []  # x_k and Phi(x_k) of the last depth + 1 iterations
    fs: list[np.ndarray] = []
    active = np.ones(n, dtype=bool)
    ok = np.zeros(n, dtype=bool)
    iters = np.zeros(n, dtype=int)
    out = full(x)
    for _ in range(max_iter):
        Fy, good = period_map(full(x), active.copy())
        fx = Fy[:, free] / scale
        good = good & np.all(np.isfinite(fx), axis=1)
        resid = np.max(np.abs(fx - x), axis=1)
        iters[active] += 1
        out[active] = Fy[active]
        done = active & good & (resid < tol)
        ok |= done
        active &= good & ~done
        if not active.any():
            break
        xs.append(x)
        fs.append(fx)
        del xs[:-(depth + 1)], fs[:-(depth + 1)]
        x = _anderson_step(np.stack(xs, -1), np.stack(fs, -1), fx)
        wild = np.max(np.abs(x - fx) / np.maximum(np.abs(fx), 1.0), axis=1) > MAX_JUMP
        if wild.any():
            x[wild] = fx[wild]
            for h in (*xs, *fs):  # restart those lanes' history from the plain iterate
                h[wild] = fx[wild]
        x[:, clip] = np.maximum(x[:, clip], 0.0)
    out[:, fixed] = 0.0
    return out, ok, iters


def _anderson_step(X: np.ndarray, F: np.ndarray, fx: np.ndarray) -> np.ndarray:
    """Next iterate from the history X (n, d, m+1) and F = Phi(X); lanes where the least-squares
    problem is degenerate or the step is not finite fall back to the plain iterate ``fx``."""
    if X.shape[-1] < 2:
        return fx.copy()
    G = F - X  # residuals
    dG = np.diff(G, axis=-1)
    dF = np.diff(F, axis=-1)
    Q, R = np.linalg.qr(dG)  # batched over lanes
    rhs = np.einsum("ndm,nd->nm", Q, G[..., -1])
    diag = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
    well = np.all(diag > 1e-12 * np.maximum(diag.max(axis=-1, keepdims=True), 1e-300), axis=-1)
    gamma = np.zeros(rhs.shape)
    if well.any():
        gamma[well] = np.linalg.solve(R[well], rhs[well][..., None])[..., 0]
    x = F[..., -1] - np.einsum("ndm,nm->nd", dF, gamma)
    bad = ~np.all(np.isfinite(x), axis=1)
    x[bad] = fx[bad]
    return x
