"""The native solver: the model and a BDF integrator compiled together with Numba (LLVM).

For each model *structure* one Python module is written under the cache directory
(``$NADSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/nadsim`` or ``~/.cache/nadsim``): the model
functions from :func:`._native_codegen.model_source`, followed by the integrator template
:mod:`._native_kernel`. Numba compiles it on first use and caches the machine code beside it
(``cache=True``), so a second process loads it instead of compiling. The file name carries a
hash of its whole text and of the Numba and Python versions, so any change of model structure,
kernel or toolchain gets a fresh module, and parameter values never do (they are arguments).

Work is spread over threads: the compiled functions release the GIL, and each thread takes
small ranges of subjects from a shared counter, so subjects of unequal cost balance out.
Installing needs no C compiler: Numba and llvmlite are wheels. Where Numba cannot be
imported or compilation fails, :func:`available` says why and the engine falls back to the
SciPy reference with a one-line warning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from nadsim._files import cache_dir
from nadsim.model import Model
from nadsim.simulate._baseline import (
    ANDERSON_DEPTH,
    ANDERSON_MAX_ITER,
    MAX_JUMP,
    N_PHASES,
    PRECONDITION_A,
    SCALE_FLOOR,
    STEADY_TOL,
    anderson_orbit,
    orbit_indices,
    periods,
)
from nadsim.simulate._compile import CompiledModel
from nadsim.simulate._schedule import Schedule, volume_index
from nadsim.simulate._tolerances import Tolerances
from nadsim.simulate.solvers._base import AbstractSolver, PeriodMap, Progress, Solution
from nadsim.simulate.solvers._native_codegen import model_source

__all__ = ["NativeSolver", "cache_dir", "default_threads", "load", "run_ranges"]

_MARKER = "# --- END OF MODEL INTERFACE"
_LOCK = threading.Lock()
_MODULES: dict[str, ModuleType] = {}


def default_threads() -> int:
    """Threads for the native solver: ``$NADSIM_THREADS`` or every core this process may use."""
    env = os.environ.get("NADSIM_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _kernel_text() -> str:
    text = Path(__file__).with_name("_native_kernel.py").read_text(encoding="utf-8")
    return text[text.index("\n", text.index(_MARKER)) + 1:]


def module_text(model: Model) -> str:
    """The full source of the compiled module for ``model``'s structure."""
    return model_source(model) + "\n\n# --- integrator (from _native_kernel.py) ---\n" + _kernel_text()


def _write_once(path: Path, text: str) -> None:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)  # atomic: a concurrent process sees the old file or the new one
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


_WARM = """
import importlib.util, sys
from nadsim._procs import die_with_parent
die_with_parent({parent})
spec = importlib.util.spec_from_file_location({name!r}, {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[{name!r}] = module
spec.loader.exec_module(module)
module.warm()
"""


def _compile_in_child(path: Path, name: str) -> None:
    """Compile the module's entry points into Numba's on-disk cache in a child process, once
    per module file, so that this process loads the cached machine code like every later one.

    Why: the machine code of a process that compiled for itself and the code it cached differ
    (measured on nad_core: 6e-10 relative in a trial's outcome, reproducibly), so a run and its
    resume in another process would not agree bit for bit. Where the child cannot run, this
    process compiles for itself (correct, but only reproducible to round-off)."""
    done = path.with_suffix(".compiled")
    if done.exists():
        return
    code = _WARM.format(parent=os.getpid(), name=name, path=str(path))
    try:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return
    if res.returncode == 0:
        done.touch()


def load(model: Model) -> ModuleType:
    """The compiled module for ``model``'s structure (written and imported once per process)."""
    import numba

    text = module_text(model)
    key = hashlib.sha256("\n".join((text, numba.__version__, sys.version)).encode()).hexdigest()[:20]
    with _LOCK:
        if key in _MODULES:
            return _MODULES[key]
        name = f"nadsim_native_{key}"
        path = cache_dir() / "native" / key / f"{name}.py"
        try:
            _write_once(path, text)
        except OSError:  # a read-only home: compile in a private directory, without reuse
            path = Path(tempfile.mkdtemp(prefix="nadsim-native-")) / f"{name}.py"
            _write_once(path, text)
        _compile_in_child(path, name)
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        # registered before it runs: Numba's cache finds a function's module by name when it
        # loads cached machine code
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        _MODULES[key] = module
        return module


def run_ranges(fn: Callable[[int, int], Any], n: int, *, threads: int, block: int = 4,
               progress: Callable[[int, int], None] | None = None) -> None:
    """Call ``fn(lo, hi)`` over ``[0, n)`` in blocks of ``block`` subjects on ``threads`` threads
    (``fn`` must release the GIL to run in parallel); ``progress(done, n)`` after each block."""
    if threads <= 1 or n <= block:
        for lo in range(0, n, block):
            fn(lo, min(lo + block, n))
            if progress is not None:
                progress(min(lo + block, n), n)
        return
    starts = iter(range(0, n, block))
    take = threading.Lock()
    done = [0]

    def worker() -> None:
        while True:
            with take:
                lo = next(starts, None)
            if lo is None:
                return
            hi = min(lo + block, n)
            fn(lo, hi)
            if progress is not None:
                with take:
                    done[0] += hi - lo
                    progress(done[0], n)

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nadsim-native") as pool:
        for fut in [pool.submit(worker) for _ in range(min(threads, (n + block - 1) // block))]:
            fut.result()


def _arg(a: Any, dtype: type) -> np.ndarray:
    """An argument for the compiled code: C-contiguous and writeable, so that every call has the
    types the cache was compiled for (a read-only memory map would be typed apart, and compiled
    again in this process)."""
    return np.require(a, dtype=dtype, requirements=("C", "W"))


def _unavailable() -> str | None:
    try:
        import numba  # noqa: F401
    except ImportError as exc:  # pragma: no cover - numba is a dependency
        return f"Numba cannot be imported ({exc})"
    return None


class NativeSolver(AbstractSolver):
    """The model and a variable-order BDF compiled together (Numba/LLVM); subjects in parallel
    on ``threads`` threads (default: every core this process may use, or ``$NADSIM_THREADS``)."""

    name: ClassVar[str] = "native"
    capabilities: ClassVar[frozenset[str]] = frozenset({"threads", "time_budget"})

    def __init__(self, threads: int | None = None, block: int = 4):
        self.threads = threads
        self.block = block

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _unavailable()

    def describe(self) -> str:
        return "nadsim.native[bdf, numba]"

    def prepare(self, model: Model) -> None:
        """Compile (in a child process, once per machine) or load the model's module now."""
        load(model)

    def _threads(self) -> int:
        return self.threads or default_threads()

    def run(self, cm: CompiledModel, schedule: Schedule, Y0: np.ndarray, P: np.ndarray, times: np.ndarray,
            tol: Tolerances, *, progress: Progress | None = None) -> Solution:
        mod = load(cm.model)
        n = P.shape[0]
        Y0 = _arg(Y0, np.float64)
        P = _arg(P, np.float64)
        times = _arg(times, np.float64)
        out = np.empty((n, times.size, cm.n_states))
        status = np.zeros(n, dtype=np.int64)
        stats = np.zeros((n, mod.N_STATS), dtype=np.int64)
        starts = _arg(schedule.starts, np.float64)
        ends = _arg(schedule.ends, np.float64)
        bolus = _arg(schedule.bolus, np.float64)
        rates = _arg(schedule.rates, np.float64)
        in_idx = _arg(schedule.input_idx, np.int64)
        vol = volume_index(cm.model)

        def work(lo: int, hi: int) -> None:
            mod.solve_range(Y0, P, starts, ends, bolus, vol, in_idx, rates, times, out, tol.rtol, tol.atol,
                            tol.max_steps, tol.max_wall_s, status, stats, lo, hi)

        run_ranges(work, n, threads=self._threads(), block=self.block, progress=progress)
        return Solution(out, status, {"steps": stats[:, mod.ST_STEPS], "rejected": stats[:, mod.ST_REJECTED],
                                      "nfev": stats[:, mod.ST_NFEV], "njev": stats[:, mod.ST_NJEV],
                                      "nlu": stats[:, mod.ST_NLU], **({"nchange": stats[:, mod.ST_NCHANGE]} if hasattr(mod, "ST_NCHANGE") else {})})

    def period_map(self, cm: CompiledModel, P: np.ndarray, tol: Tolerances) -> PeriodMap:
        mod = load(cm.model)
        P = _arg(np.atleast_2d(P), np.float64)
        T = _arg(periods(cm, P), np.float64)
        threads = self._threads()

        def period_map(Y: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out = np.array(Y, dtype=np.float64, order="C")
            ok = np.zeros(out.shape[0], dtype=np.bool_)
            act = _arg(active, np.bool_)
            stats = np.zeros((out.shape[0], mod.N_STATS), dtype=np.int64)

            def work(lo: int, hi: int) -> None:
                mod.period_map_range(out, P, T, act, tol.baseline_rtol, tol.baseline_atol, tol.max_steps, tol.max_wall_s, ok,
                                     stats, lo, hi)

            run_ranges(work, out.shape[0], threads=threads, block=self.block)
            return out, ok & act

        return period_map

    def orbit(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, tol: Tolerances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The orbit search compiled: Anderson acceleration of the day map per subject,
        preconditioned by the averaged Jacobian at the start as in the NumPy procedure, no
        Python between periods (the NumPy procedure cost ~0.4 ms a subject on top of the maps)."""
        mod = load(cm.model)
        P = _arg(np.atleast_2d(P), np.float64)
        out = np.array(Y, dtype=np.float64, order="C")
        free, species = orbit_indices(cm)
        clip = np.ascontiguousarray(np.isin(free, species))
        T = _arg(periods(cm, P), np.float64)
        ok = np.zeros(out.shape[0], dtype=np.bool_)
        iters = np.zeros(out.shape[0], dtype=np.int64)
        free_idx = _arg(free, np.int64)

        def work(lo: int, hi: int) -> None:
            mod.orbit_range(out, P, T, free_idx, clip, ANDERSON_DEPTH, ANDERSON_MAX_ITER, tol.orbit_tol, SCALE_FLOOR,
                            MAX_JUMP, tol.baseline_rtol, tol.baseline_atol, tol.max_steps, tol.max_wall_s,
                            PRECONDITION_A, N_PHASES, ok, iters, lo, hi)

        run_ranges(work, out.shape[0], threads=self._threads(), block=self.block)
        retry = np.flatnonzero(~ok)
        if retry.size:
            # stragglers (about one subject in 10^4 of the engine benchmark) get the NumPy
            # procedure over period maps 10x tighter. Measured on the two seen so far: (1) a slow
            # oscillation of mood that the compiled search did not settle in 40 periods after
            # restarting its history at a wild step, where the reference overwrites the history
            # with the plain iterate; (2) a subject whose residual stalled at 3-8e-7 in
            # cortisol_pl, the noise of its day map at rtol/30 just above the acceptance of
            # rtol/3. With maps at rtol/300 it converged in 15 periods, 8e-6 from the orbit
            # found by a deeper history at the usual tolerance. The retry is plain Anderson
            # (no preconditioner), the slower route that does not lean on the averaged Jacobian
            tight = replace(tol, rtol=tol.rtol / 10.0, atol=tol.atol / 10.0)
            Yr, okr, itr = anderson_orbit(self.period_map(cm, P[retry], tight),
                                          np.asarray(Y, dtype=np.float64)[retry], free, species, tol=tol.orbit_tol)
            out[retry[okr]] = Yr[okr]
            ok[retry] = okr
            iters[retry] += itr
        return out, ok, iters

    def averaged_jacobian(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int) -> np.ndarray:
        mod = load(cm.model)
        P = _arg(np.atleast_2d(P), np.float64)
        Y = _arg(np.atleast_2d(Y), np.float64)
        free_idx = _arg(orbit_indices(cm)[0], np.int64)
        T = _arg(periods(cm, P), np.float64)
        J = np.zeros((P.shape[0], free_idx.size, free_idx.size))

        def work(lo: int, hi: int) -> None:
            mod.averaged_jacobian_range(Y, P, T, n_phases, free_idx, J, lo, hi)

        run_ranges(work, P.shape[0], threads=self._threads(), block=self.block)
        return J

    def averaged_start(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int) -> tuple[np.ndarray, np.ndarray]:
        mod = load(cm.model)
        P = _arg(np.atleast_2d(P), np.float64)
        out = np.array(Y, dtype=np.float64, order="C")
        free, species = orbit_indices(cm)
        free_mask = np.zeros(cm.n_states, dtype=np.bool_)
        free_mask[free] = True
        species_mask = np.zeros(cm.n_states, dtype=np.bool_)
        species_mask[species] = True
        T = _arg(periods(cm, P), np.float64)
        resid = np.full(out.shape[0], np.inf)

        def work(lo: int, hi: int) -> None:
            mod.averaged_start_range(out, P, T, n_phases, free_mask, species_mask, 100, STEADY_TOL, resid, lo, hi)

        run_ranges(work, out.shape[0], threads=self._threads(), block=self.block)
        return out, resid
