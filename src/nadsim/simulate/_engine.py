"""The engine: the one path from (model, regimen, times, parameters) to trajectories.

Every integration in nadsim comes through :func:`solve`: ``simulate`` and ``simulate_batch``,
populations, trials, calibration, sensitivity, the claims audit, the web and the SBML
importer's simulator. It composes, the same way for every solver:

1. parameters: free values -> derived ones (``CompiledModel.derive``); the treatment-arm switch
   for dosed subjects (see :func:`arm_parameters`);
2. the dose :mod:`schedule <nadsim.simulate._schedule>` (the only place time is cut);
3. baselines (:mod:`nadsim.simulate._baseline`) with the solver's own integrator, each
   computed once per parameter set and reused (:class:`BaselineCache`) across arms,
   replicates and calls;
4. the solver's run (:mod:`nadsim.simulate.solvers`), which reports a status per subject;
5. outputs (assignment rules) at the output times, NaN for failed subjects.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate._baseline import averaged_start, forced_states, periodic_orbit, steady_states
from nadsim.simulate._compile import CompiledModel, compile_model
from nadsim.simulate._schedule import Schedule, schedule
from nadsim.simulate._status import Status
from nadsim.simulate._tolerances import Tolerances
from nadsim.simulate.solvers import AbstractSolver, get_solver, solver_class

__all__ = ["BaselineCache", "EngineResult", "arm_parameters", "baselines", "check_times", "free_parameter_mask",
           "prepare_parameters", "solve"]

Progress = Callable[[int, int], None]

#: parameters that put a subject into a treatment arm (expectancy and visit effects) from
#: ``t_trial_start``; the engine switches them on for a dosed subject whose switch is off. They
#: act on outputs only, never on states, so the baseline is computed with the switch off and
#: shared by the arms.
ARM_SWITCH, ARM_START = "trial_on", "t_trial_start"


@dataclass(frozen=True)
class EngineResult:
    """Trajectories of ``n`` subjects: ``states`` (n, T, n_states), ``rules`` (n, T, n_rules),
    ``status`` (n,), ``baseline`` (n, n_states), solver counters ``stats``, and the solver and
    tolerances actually used."""

    times: np.ndarray
    states: np.ndarray
    rules: np.ndarray
    status: np.ndarray
    baseline: np.ndarray
    stats: dict[str, np.ndarray]
    solver: str
    tolerances: Tolerances
    parameters: np.ndarray = field(repr=False)


class BaselineCache:
    """Baselines by (model structure, parameter values, solver, tolerances), kept in memory
    (least recently used first out). Thread-safe. A baseline is a property of the untreated
    patient, so one entry serves every arm, replicate and resume of that patient."""

    def __init__(self, max_entries: int = 200_000):
        self.max_entries = max_entries
        self._data: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def keys(cm: CompiledModel, P: np.ndarray, solver: str, tol: Tolerances) -> list[bytes]:
        head = f"{cm.model.name}|{cm.source_hash}|{solver}|{tol.baseline_rtol!r}|{tol.baseline_atol!r}|{tol.orbit_tol!r}"
        base = hashlib.sha256(head.encode())
        out = []
        for row in np.ascontiguousarray(P, dtype=np.float64):
            h = base.copy()
            h.update(row.tobytes())
            out.append(h.digest())
        return out

    def get(self, keys: list[bytes]) -> tuple[np.ndarray, list[np.ndarray | None]]:
        with self._lock:
            found: list[np.ndarray | None] = []
            for k in keys:
                v = self._data.get(k)
                if v is not None:
                    self._data.move_to_end(k)
                found.append(v)
            hit = np.array([v is not None for v in found], dtype=bool)
            self.hits += int(hit.sum())
            self.misses += int((~hit).sum())
            return hit, found

    def put(self, keys: list[bytes], Y: np.ndarray) -> None:
        with self._lock:
            for k, y in zip(keys, Y, strict=True):
                self._data[k] = np.array(y, dtype=np.float64)
                self._data.move_to_end(k)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


#: the process-wide cache every call uses unless given its own
BASELINES = BaselineCache()


def free_parameter_mask(cm: CompiledModel) -> np.ndarray:
    """True for parameters a user sets; False for derived ones (recomputed by ``derive``)."""
    return np.array([cm.model.parameters[n].expr is None for n in cm.parameter_names])


def check_times(times: object, regimen: Regimen) -> np.ndarray:
    """A valid output grid for ``regimen``, or an :class:`InputError` naming ``times``."""
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise InputError("times", "a strictly increasing 1-D grid of times in h", type(times).__name__) from None
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0) or t[0] < 0:
        raise InputError("times", "a strictly increasing 1-D grid of at least 2 finite times >= 0 h",
                         f"shape {t.shape}")
    if regimen.doses and regimen.doses[-1].time_h > t[-1]:
        raise InputError("times", f"reaching at least the last dose ({regimen.doses[-1].time_h:g} h)", f"{t[-1]:g} h")
    if regimen.doses and regimen.doses[0].time_h < t[0]:
        raise InputError("times", f"starting at or before the first dose ({regimen.doses[0].time_h:g} h)", f"{t[0]:g} h")
    return t


def prepare_parameters(cm: CompiledModel, params: object) -> np.ndarray:
    """Free parameter rows (n, n_parameters) -> rows with derived parameters filled in."""
    try:
        P = np.array(params, dtype=float)
    except (TypeError, ValueError):
        raise InputError("params", "a numeric (n_subjects, n_parameters) array", type(params).__name__) from None
    if P.ndim == 1:
        P = P[None, :]
    n_par = len(cm.parameter_names)
    if P.ndim != 2 or P.shape[1] != n_par or P.shape[0] < 1:
        raise InputError("params", f"an (n_subjects >= 1, {n_par}) array in compile_model(model).parameter_names order",
                         f"shape {P.shape}")
    free = free_parameter_mask(cm)
    bad = ~np.isfinite(P[:, free])
    if bad.any():
        j = int(np.nonzero(bad.any(axis=0))[0][0])
        raise InputError("params", "finite free parameter values", f"non-finite {np.asarray(cm.parameter_names)[free][j]}")
    return np.asarray(cm.derive(P), dtype=float)


def arm_parameters(cm: CompiledModel, P: np.ndarray, regimen: Regimen) -> np.ndarray:
    """A dosed subject whose arm switch is off enters the treatment arm at the first dose."""
    names = cm.parameter_names
    if not regimen.doses or ARM_SWITCH not in names or ARM_START not in names:
        return P
    P = P.copy()
    off = P[:, names.index(ARM_SWITCH)] == 0.0
    P[off, names.index(ARM_SWITCH)] = 1.0
    P[off, names.index(ARM_START)] = regimen.doses[0].time_h
    return P


def _untreated(cm: CompiledModel, P: np.ndarray) -> np.ndarray:
    """The rows a baseline is computed (and cached) for: the arm switch off."""
    if ARM_SWITCH not in cm.parameter_names:
        return P
    B = P.copy()
    B[:, cm.pidx(ARM_SWITCH)] = 0.0
    if ARM_START in cm.parameter_names:
        B[:, cm.pidx(ARM_START)] = 0.0
    return B


def baselines(cm: CompiledModel, P: np.ndarray, solver: AbstractSolver, tol: Tolerances, *,
              cache: BaselineCache | None = BASELINES) -> tuple[np.ndarray, np.ndarray]:
    """Undosed baselines (n, n_states) of subjects with derived parameters ``P``, and which were
    found. Cached per parameter set (``cache=None``: no cache)."""
    B = _untreated(cm, P)
    n = B.shape[0]
    Y = np.full((n, cm.n_states), np.nan)
    ok = np.zeros(n, dtype=bool)
    keys = BaselineCache.keys(cm, B, solver.name, tol) if cache is not None else []
    if cache is not None:
        hit, found = cache.get(keys)
        for i in np.nonzero(hit)[0]:
            Y[i] = found[i]
        ok[hit] = True
    todo = np.nonzero(~ok)[0]
    if todo.size:
        Bt = B[todo]

        def start(Pp: np.ndarray, Yg: np.ndarray, n_phases: int) -> tuple[np.ndarray, np.ndarray]:
            return solver.averaged_start(cm, Pp, Yg, n_phases)

        with np.errstate(all="ignore"):
            if forced_states(cm.model):
                Yt, okt, _ = periodic_orbit(cm, Bt, start, lambda Pp, Ys: solver.orbit(cm, Pp, Ys, tol))
            else:
                Yt, okt = steady_states(cm, Bt, start)
        okt &= np.all(np.isfinite(Yt), axis=1)
        Y[todo[okt]] = Yt[okt]
        ok[todo[okt]] = True
        if cache is not None and okt.any():
            cache.put([keys[i] for i in todo[okt]], Yt[okt])
    return Y, ok


def reference_steady_states(cm: CompiledModel, P: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undosed steady states (n, n_states) of an unforced model, and which were found, by the
    NumPy reference procedure alone (pseudo-transient continuation, ~50 ms): no solver is
    imported and nothing is compiled, which is what the model library needs while it builds
    (asking the registry for a solver there imported SciPy's integrators, ~0.5 s of every
    fresh process)."""
    if forced_states(cm.model):
        raise InputError("model", "a model without periodic forcing (a forced one needs a solver: baselines())",
                         cm.model.name)
    with np.errstate(all="ignore"):
        Y, ok = steady_states(cm, _untreated(cm, P), lambda Pp, Yg, n: averaged_start(cm, Pp, Yg, n))
    return Y, ok & np.all(np.isfinite(Y), axis=1)


def _native_failed(exc: BaseException) -> bool:
    try:
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, NumbaError)


def solve(model: Model, regimen: Regimen, times: np.ndarray, params: np.ndarray, *,
          solver: str | AbstractSolver | None = None, tolerances: Tolerances,
          baseline_cache: BaselineCache | None = BASELINES, progress: Progress | None = None,
          Y0: np.ndarray | None = None) -> EngineResult:
    """Integrate every row of free parameters ``params`` through ``regimen`` from its baseline.

    ``Y0`` (n, n_states) replaces the baseline (a given initial state, e.g. an imported SBML
    model's). Failed subjects get a non-zero status and NaN rows; nothing is raised for them.
    """
    cm = compile_model(model)
    t = check_times(times, regimen)
    P = prepare_parameters(cm, params)
    Pt = arm_parameters(cm, P, regimen)
    sch: Schedule = schedule(model, regimen, float(t[0]), float(t[-1]))
    slv = get_solver(solver)
    try:
        return _solve(cm, sch, t, P, Pt, slv, tolerances, baseline_cache, progress, Y0)
    except Exception as exc:
        if slv.name != "native" or not _native_failed(exc):
            raise
        warnings.warn(f"nadsim: the native solver could not compile this model ({type(exc).__name__}); "
                      "using the SciPy reference", stacklevel=2)
        return _solve(cm, sch, t, P, Pt, solver_class("scipy")(), tolerances, baseline_cache, progress, Y0)


def _solve(cm: CompiledModel, sch: Schedule, t: np.ndarray, P: np.ndarray, Pt: np.ndarray, slv: AbstractSolver,
           tol: Tolerances, cache: BaselineCache | None, progress: Progress | None,
           Y0: np.ndarray | None) -> EngineResult:
    n = P.shape[0]
    if Y0 is None:
        Y0, ok = baselines(cm, P, slv, tol, cache=cache)
    else:
        Y0 = np.array(np.broadcast_to(Y0, (n, cm.n_states)), dtype=float)
        ok = np.all(np.isfinite(Y0), axis=1)
    status = np.where(ok, int(Status.OK), int(Status.NO_BASELINE)).astype(np.int64)
    stats: dict[str, np.ndarray] = {}
    run = np.nonzero(ok)[0]
    if run.size == n:  # every subject has a baseline: the solver's (writeable) array is the result, no copy
        sol = slv.run(cm, sch, Y0, Pt, t, tol, progress=progress)
        states = np.require(sol.states, dtype=np.float64, requirements="W")
    else:
        states = np.full((n, t.size, cm.n_states), np.nan)
        if run.size:
            sol = slv.run(cm, sch, Y0[run], Pt[run], t, tol, progress=progress)
            states[run] = sol.states
    if run.size:
        status[run] = sol.status
        for k, v in sol.stats.items():
            stats[k] = np.zeros(n, dtype=v.dtype)
            stats[k][run] = v
    bad = (status == int(Status.OK)) & ~np.all(np.isfinite(states), axis=(1, 2))
    status[bad] = int(Status.NON_FINITE)
    states[status != int(Status.OK)] = np.nan
    rules = np.empty((n, t.size, len(cm.rule_names)))
    step = 256  # blocks of subjects keep the temporaries small
    with np.errstate(all="ignore"):
        for a in range(0, n, step):
            rules[a:a + step] = cm.rules(t[None, :], states[a:a + step], Pt[a:a + step, None, :])
    rules[status != int(Status.OK)] = np.nan  # rules of parameters or time alone would stay finite
    return EngineResult(times=t, states=states, rules=rules, status=status, baseline=Y0, stats=stats,
                        solver=slv.describe(), tolerances=tol, parameters=Pt)
