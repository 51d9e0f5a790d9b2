"""The reference solver: SciPy's ``solve_ivp`` (LSODA by default), one subject after another.

Slow (the right-hand side is Python, ~50 us an evaluation) but independent of everything else
in nadsim's engine: it is the yardstick the other solvers are tested against, and the fallback
where the native solver cannot be compiled. The work of a subject is bounded by counting its
right-hand-side evaluations (``tol.max_steps`` x 10, since LSODA takes several a step) and its
wall-clock time (``tol.max_wall_s``, looked at every 256 evaluations).
"""

from __future__ import annotations

import time
from typing import ClassVar

import numpy as np
from scipy.integrate import solve_ivp

from nadsim._errors import InputError
from nadsim.simulate._baseline import periods
from nadsim.simulate._compile import CompiledModel
from nadsim.simulate._schedule import Schedule, volume_index
from nadsim.simulate._status import Status
from nadsim.simulate._tolerances import Tolerances
from nadsim.simulate.solvers._base import AbstractSolver, PeriodMap, Progress, Solution

__all__ = ["ScipySolver"]

METHODS = ("LSODA", "BDF", "Radau")


class _Budget(Exception):
    """Raised inside the right-hand side when a subject has used up its evaluations or its
    time; ``status`` says which."""

    def __init__(self, status: Status):
        super().__init__(status.message)
        self.status = status


def _counted(f, limit: int, deadline: float = float("inf")):
    calls = [0]

    def g(t: float, y: np.ndarray) -> np.ndarray:
        calls[0] += 1
        if calls[0] > limit:
            raise _Budget(Status.STEP_LIMIT)
        if calls[0] % 256 == 0 and time.monotonic() > deadline:
            raise _Budget(Status.TIME_LIMIT)
        return f(t, y)

    return g, calls


class ScipySolver(AbstractSolver):
    """``solve_ivp`` with ``method`` (LSODA, BDF or Radau) on each segment of each subject."""

    name: ClassVar[str] = "scipy"
    capabilities: ClassVar[frozenset[str]] = frozenset({"reference", "time_budget"})

    def __init__(self, method: str = "LSODA"):
        if method not in METHODS:
            raise InputError("method", f"one of {', '.join(METHODS)}", method)
        self.method = method

    def describe(self) -> str:
        return f"scipy.integrate.solve_ivp[{self.method}]"

    def _subject(self, cm: CompiledModel, schedule: Schedule, y0: np.ndarray, p: np.ndarray,
                 increments: np.ndarray, times: np.ndarray, tol: Tolerances) -> tuple[np.ndarray, int, int]:
        out = np.full((times.size, cm.n_states), np.nan)
        y = np.array(y0, dtype=float)
        q = np.array(p, dtype=float)
        nfev = 0
        K = schedule.n_segments
        limit = 10 * tol.max_steps
        deadline = time.monotonic() + tol.max_wall_s
        for k in range(K):
            a, b = float(schedule.starts[k]), float(schedule.ends[k])
            y = y + increments[k]
            q[schedule.input_idx] = schedule.rates[k]
            at_start = times == a
            out[at_start] = y  # the state at a segment start is exact
            inside = (times > a) & ((times < b) | ((k == K - 1) & (times <= b)))
            if b <= a:
                continue
            f, calls = _counted(cm.rhs_scalar(q), limit - nfev, deadline)
            t_eval = np.concatenate([times[inside], [b]]) if not (inside.any() and times[inside][-1] == b) else times[inside]
            try:
                with np.errstate(all="ignore"):
                    sol = solve_ivp(f, (a, b), y, method=self.method, t_eval=t_eval, rtol=tol.rtol, atol=tol.atol)
            except _Budget as stop:
                return out * np.nan, int(stop.status), nfev + calls[0]
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                return out * np.nan, int(Status.NON_FINITE), nfev + calls[0]
            nfev += calls[0]
            if not sol.success or sol.y.shape[1] != t_eval.size:
                return out * np.nan, int(Status.STEP_TOO_SMALL), nfev
            if inside.any():
                out[inside] = sol.y[:, : int(inside.sum())].T
            y = sol.y[:, -1].copy()
            if not np.all(np.isfinite(y)):
                return out * np.nan, int(Status.NON_FINITE), nfev
        return out, int(Status.OK), nfev

    def run(self, cm: CompiledModel, schedule: Schedule, Y0: np.ndarray, P: np.ndarray, times: np.ndarray,
            tol: Tolerances, *, progress: Progress | None = None) -> Solution:
        n = P.shape[0]
        inc = schedule.increments(P, volume_index(cm.model))
        states = np.full((n, times.size, cm.n_states), np.nan)
        status = np.zeros(n, dtype=np.int64)
        nfev = np.zeros(n, dtype=np.int64)
        for i in range(n):
            states[i], status[i], nfev[i] = self._subject(cm, schedule, Y0[i], P[i], inc[i], times, tol)
            if progress is not None:
                progress(i + 1, n)
        return Solution(states, status, {"nfev": nfev})

    def period_map(self, cm: CompiledModel, P: np.ndarray, tol: Tolerances) -> PeriodMap:
        T = periods(cm, P)
        funs = [cm.rhs_scalar(p) for p in np.atleast_2d(P)]
        limit = 10 * tol.max_steps

        def period_map(Y: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out, ok = Y.copy(), active.copy()
            for i in np.nonzero(active)[0]:
                f, _ = _counted(funs[i], limit, time.monotonic() + tol.max_wall_s)
                try:
                    with np.errstate(all="ignore"):
                        r = solve_ivp(f, (0.0, float(T[i])), Y[i], method=self.method,
                                      rtol=tol.baseline_rtol, atol=tol.baseline_atol)
                    ok[i] = r.success
                    out[i] = r.y[:, -1]
                except (_Budget, ValueError, ArithmeticError, np.linalg.LinAlgError):  # one subject, not the chunk
                    ok[i] = False
            return out, ok

        return period_map
