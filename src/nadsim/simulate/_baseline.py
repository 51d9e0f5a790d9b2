"""The undosed baseline of every subject: a steady state, or the periodic orbit of a forced model.

One procedure for every solver; a solver contributes only its integrator, as two functions:

``averaged_start(cm, P, Y, n_phases)``  the fixed point of the period-averaged system by
    pseudo-transient continuation (:func:`averaged_start`, the NumPy reference; the native
    solver compiles the same iteration). With ``n_phases = 1`` (an unforced model) that *is* the
    steady state.
``period_map(Y, active) -> (Phi(Y), ok)``  one undosed forcing period from t = 0.

A periodically forced model (the full model's light, cortisol and NAMPT day cycle) has no fixed
point: its baseline is the state ``y*`` at t = 0 on the periodic orbit, the fixed point of the
period map ``Phi``. Plain iteration ``y <- Phi(y)`` converges as slowly as the slowest pool
(other-tissue NAM and the mood filter shrink their distance to the orbit by only ~5-10 % a day),
and a per-state extrapolation is wrong where several slow modes mix. Anderson acceleration
(Walker & Ni 2011, SIAM J. Numer. Anal. 49:1715, doi:10.1137/10078356X) uses the last few iterates
together; for a linear contraction it is equivalent to GMRES, so a handful of slow modes costs a
handful of periods (16 on the default model). Preconditioning each residual with the averaged
Jacobian at the start (:func:`orbit_preconditioner`) brings that to 5 (measured on 4,096
subjects at rtol 1e-6: 15.7 -> 5.2 periods, the same orbits within 5e-5). The averaged start matters: plain Newton from the
parameter-derived guess can land on a far root when a tissue's salvage is substrate-limited, and
starting every subject from one base orbit took more periods and left some unconverged.

Every lane (subject) iterates on its own (batched arithmetic, no shared step size), so a
subject's baseline does not depend on the other subjects of its chunk beyond round-off.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nadsim.model import Model, parse_expr
from nadsim.simulate._compile import CompiledModel

__all__ = ["ANDERSON_DEPTH", "ANDERSON_MAX_ITER", "MAX_JUMP", "N_PHASES", "PRECONDITION_A", "SCALE_FLOOR", "STEADY_TOL",
           "anderson_orbit", "averaged_jacobian", "averaged_start", "forced_states", "orbit_indices",
           "orbit_preconditioner", "periodic_orbit", "periods", "state_sets", "steady_states"]

PeriodMap = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
AveragedStart = Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]]
Orbit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]

#: absolute floor (in each state's unit) of the scale that orbit residuals are measured against:
#: states near zero (the mood state sits near 0 HAM-D points) would otherwise chase the
#: integrator's own noise
SCALE_FLOOR = 0.1
#: an Anderson step that moves a state further than this (relative to max(|y|, 1)) from the plain
#: iterate is not trusted: that lane's history is dropped (a wild extrapolation where the map is
#: far from linear)
MAX_JUMP = 10.0
#: Anderson history (iterates kept) and the most periods iterated
ANDERSON_DEPTH, ANDERSON_MAX_ITER = 6, 40
#: a steady state is accepted when max |dy/dt| / max(|y|, 1e-3) < this (per hour)
STEADY_TOL = 1e-10
#: forcing phases averaged for the orbit's starting point
N_PHASES = 12
#: pole of the rational stand-in for 1 / (1 - exp(z)) in :func:`orbit_preconditioner`
PRECONDITION_A = 3.0


def forced_states(model: Model) -> tuple[str, ...]:
    """States whose derivative depends on time ``t``, directly or through assignment rules."""
    rules = {a.name: parse_expr(a.expr, a.name).symbols for a in model.rules}
    timed: set[str] = set()
    for a in model.rules:  # rules may use earlier rules only, so one pass in order suffices
        if "t" in rules[a.name] or rules[a.name] & timed:
            timed.add(a.name)
    out = [st.name for st in model.states
           if (lambda sy: "t" in sy or bool(sy & timed))(parse_expr(st.rhs, st.name).symbols)]
    for r in model.reactions:
        sy = parse_expr(r.rate, r.name).symbols
        if "t" in sy or sy & timed:
            out += [sp for sp, _ in r.stoichiometry]
    return tuple(dict.fromkeys(out))


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
    """State indices the baseline iterates (all but accumulating outputs) and the species among
    them (kept non-negative)."""
    free, _acc = state_sets(cm)
    return free, free[free < len(cm.model.species)]


def initial_guess(cm: CompiledModel, P: np.ndarray) -> np.ndarray:
    """The parameter-derived guess (n, n_states), accumulating outputs at zero."""
    y = np.array(cm.initial_guess(np.atleast_2d(P)), dtype=float)
    y[:, state_sets(cm)[1]] = 0.0
    return y


def averaged_start(cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int = N_PHASES, *,
                   max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-transient continuation on the period-averaged system (NumPy reference).

    Kelley & Keyes 1998 (SIAM J. Numer. Anal. 35:508, doi:10.1137/S0036142996304796):
    implicit-Euler steps whose length doubles from 0.5 h after each step that keeps the
    residual bounded (and is quartered otherwise), so the iteration follows the relaxation of
    the system first and turns into Newton once the step is long. Returns the states and the
    final residual max |fbar| / max(|y0|, 1e-3) of each row.
    """
    P = np.atleast_2d(np.asarray(P, dtype=float))
    y = np.array(Y, dtype=float)
    n = P.shape[0]
    free, species = orbit_indices(cm)
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
            act = rows[(r >= STEADY_TOL) & np.isfinite(r)]
            if act.size == 0:
                break
            fa = f(x[act], act)
            J = _fd_jacobian(f, x[act], fa, act)
            A = eye / step[act][:, None, None] - J
            try:
                dx = np.linalg.solve(A, fa[..., None])[..., 0]
            except np.linalg.LinAlgError:  # one singular row: solve row by row
                dx = np.stack([_solve_or_nan(A[i], fa[i]) for i in range(act.size)])
            xn = x[act] + dx
            rn = np.max(np.abs(f(xn, act)), axis=1)
            good = (np.isfinite(rn) & np.all(np.isfinite(xn), axis=1) & (rn < 10 * r[act])
                    & np.all(xn[:, nonneg] > -1e-9, axis=1))
            x[act[good]], r[act[good]] = xn[good], rn[good]
            step[act] = np.where(good, np.minimum(2 * step[act], 1e8), step[act] / 4)
    y[:, free] = x * scale
    y[:, species] = np.maximum(y[:, species], 0.0)
    return y, r


def averaged_jacobian(cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int = N_PHASES) -> np.ndarray:
    """Jacobian (n, d, d) of the period-averaged derivative at ``Y`` over the free states of
    :func:`orbit_indices`, in the states' own units (NumPy reference: forward differences one
    column at a time, so memory stays at one (n, n_phases, n_states) evaluation)."""
    P = np.atleast_2d(np.asarray(P, dtype=float))
    Y = np.atleast_2d(np.asarray(Y, dtype=float))
    free, _species = orbit_indices(cm)
    phases = periods(cm, P)[:, None] * np.linspace(0.0, 1.0, n_phases, endpoint=False)[None, :]
    base = Y.copy()
    base[:, np.setdiff1d(np.arange(Y.shape[1]), free)] = 0.0

    def f(y: np.ndarray) -> np.ndarray:
        yy = np.repeat(y[:, None, :], n_phases, axis=1)
        return cm.rhs(phases, yy, P[:, None, :]).mean(axis=1)[:, free]

    f0 = f(base)
    J = np.empty((P.shape[0], free.size, free.size))
    for k, j in enumerate(free):
        h = 1e-7 * np.maximum(np.abs(base[:, j]), 1e-3)
        y = base.copy()
        y[:, j] += h
        J[:, :, k] = (f(y) - f0) / h[:, None]
    return J


def orbit_preconditioner(J: np.ndarray, T: np.ndarray, a: float = PRECONDITION_A) -> np.ndarray:
    """Operators (n, d, d) that turn a period's residual ``Phi(y) - y`` into a step towards the
    orbit, from each subject's averaged Jacobian ``J`` (n, d, d) and period ``T`` (n,).

    For a linear system with Jacobian J the fixed point of the period map is
    ``y + (I - exp(TJ))^-1 (Phi(y) - y)``. The operator here replaces 1 / (1 - e^z) by the
    rational stand-in g(z) = 1 - 1/z - (a/2)/(a - z), exact in its two limits (1 for fast
    modes, -1/z + 1/2 for slow ones; at most 3.8 % off on the negative axis) and needing two
    solves instead of a matrix exponential: ``I - (TJ)^-1 - (a/2)(aI - TJ)^-1``. Measured on
    the benchmark population (RESULTS.md): with Anderson on top, 5.2 periods a subject instead
    of 15.7, the same orbits. A subject whose matrices are singular gets the identity (plain
    Anderson), as in the compiled search."""
    J = np.asarray(J, dtype=float)
    eye = np.eye(J.shape[1])
    Z = np.asarray(T, dtype=float)[:, None, None] * J
    with np.errstate(all="ignore"):
        ops = np.stack([_operator(z, eye, a) for z in Z]) if J.shape[0] else np.empty(J.shape)
    return ops


def _operator(Z: np.ndarray, eye: np.ndarray, a: float) -> np.ndarray:
    try:
        op = eye - np.linalg.inv(Z) - 0.5 * a * np.linalg.inv(a * eye - Z)
    except np.linalg.LinAlgError:
        return eye.copy()
    return op if np.all(np.isfinite(op)) else eye.copy()


def _fd_jacobian(f: Callable[[np.ndarray, np.ndarray], np.ndarray], xa: np.ndarray, fa: np.ndarray,
                 act: np.ndarray) -> np.ndarray:
    """Forward-difference Jacobians of ``f`` for every active row, all columns at once."""
    m = xa.shape[1]
    h = 1e-7 * np.maximum(np.abs(xa), 1.0)
    X = np.repeat(xa[:, None, :], m, axis=1)
    X[:, np.arange(m), np.arange(m)] += h
    F = f(X.reshape(-1, m), np.repeat(act, m)).reshape(act.size, m, m)
    return np.swapaxes((F - fa[:, None, :]) / h[:, :, None], 1, 2)


def _solve_or_nan(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        return np.full(b.shape, np.nan)


def steady_states(cm: CompiledModel, P: np.ndarray, start: AveragedStart) -> tuple[np.ndarray, np.ndarray]:
    """Baselines of an unforced model: pseudo-transient continuation to the steady state,
    accepted when max |dy/dt| / scale < :data:`STEADY_TOL` with every species >= 0."""
    Y, resid = start(P, initial_guess(cm, P), 1)
    ok = (resid < STEADY_TOL) & np.all(np.isfinite(Y), axis=1)
    return Y, ok


def periodic_orbit(cm: CompiledModel, P: np.ndarray, start: AveragedStart, orbit: Orbit
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baselines of a forced model on their periodic orbit: the averaged start, then the
    solver's orbit iteration (:func:`anderson_orbit` over its period map, or a compiled
    equivalent). Returns (Y0, ok, periods iterated)."""
    Y, _resid = start(P, initial_guess(cm, P), N_PHASES)
    return orbit(P, Y)


def anderson_orbit(period_map: PeriodMap, Y0: np.ndarray, free: np.ndarray, nonneg: np.ndarray, *,
                   tol: float, depth: int = ANDERSON_DEPTH, max_iter: int = ANDERSON_MAX_ITER,
                   precondition: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed points of ``period_map`` for every lane of ``Y0`` (n, n_states).

    ``period_map(Y, active) -> (Phi(Y), ok)`` integrates each active lane over one period (rows
    of inactive lanes are ignored). Only the ``free`` state indices are iterated (accumulating
    outputs such as urine are reset to zero each period); ``nonneg`` indices (species) are
    clipped at zero. Returns ``(Y, ok, iterations)``: ``Y`` is the last integrated state of
    each lane, ``ok`` whether one period moved no free state by more than ``tol`` relative to
    max(|y|, :data:`SCALE_FLOOR`); lanes stop iterating once they converge or fail.
    ``precondition`` (n, d, d), from :func:`orbit_preconditioner`, turns each residual into a
    step before the extrapolation; a lane whose preconditioned step is not finite, or whose
    step is distrusted, goes on without it (the compiled search does the same).
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
    use_pc = np.ones(n, dtype=bool)
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
        gx = fx
        if precondition is not None:  # x + P (Phi(x) - x), P applied in the states' own units
            with np.errstate(all="ignore"):
                step = np.einsum("nij,nj->ni", precondition, (fx - x) * scale) / scale
            use_pc &= np.all(np.isfinite(step), axis=1)
            gx = np.where(use_pc[:, None], x + step, fx)
        xs.append(x)
        fs.append(gx)
        del xs[:-(depth + 1)], fs[:-(depth + 1)]
        x = _anderson_step(np.stack(xs, -1), np.stack(fs, -1), gx)
        wild = np.max(np.abs(x - fx) / np.maximum(np.abs(fx), 1.0), axis=1) > MAX_JUMP
        if wild.any():
            x[wild] = fx[wild]
            use_pc &= ~wild
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
    d = X.shape[1]
    if X.shape[-1] > d + 1:  # more differences than dimensions: keep the newest d
        X, F = X[..., -(d + 1):], F[..., -(d + 1):]
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
