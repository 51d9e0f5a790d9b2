"""Many subjects at once: :func:`simulate_batch`, the population entry point.

One regimen, one output grid, one parameter row per subject, each subject from its own undosed
baseline (cached per parameter set). Work is cut into chunks: each is an independent,
deterministic call of the engine, run in this process (the native solver already spreads a chunk
over every core) or on Dask workers (``cluster``); results are identical either way. With
``out=DIR`` the arrays are written chunk by chunk to ``.npy`` files and returned as memory maps,
so memory stays flat in the number of subjects. A subject whose baseline or integration fails
gets a non-zero ``status`` (:class:`~nadsim.simulate.Status`) and NaN rows; the batch goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from nadsim._errors import InputError
from nadsim._files import atomic_write_text
from nadsim._parallel import map_chunks
from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate._api import dataset, metadata
from nadsim.simulate._compile import compile_model
from nadsim.simulate._engine import BASELINES, BaselineCache, check_times, solve
from nadsim.simulate._tolerances import Tolerances, resolve_tolerances
from nadsim.simulate.solvers import AbstractSolver, get_solver, make_solver

__all__ = ["default_chunk_size", "simulate_batch"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _ChunkSpec:
    """Everything a chunk needs besides the model and its parameter rows (sent once to workers)."""

    regimen: Regimen
    times: np.ndarray
    solver: AbstractSolver
    tolerances: Tolerances
    keep_states: bool


def _chunk_task(model: Model, spec: _ChunkSpec, P: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    res = solve(model, spec.regimen, spec.times, P, solver=spec.solver, tolerances=spec.tolerances)
    return (res.states if spec.keep_states else None), res.rules, res.status


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


class _Sink:
    """Where chunk results go: in-memory arrays, or ``.npy`` memory maps under ``out``."""

    def __init__(self, n: int, T: int, n_states: int, n_rules: int, keep_states: bool, out: Path | None):
        self.out = out
        if out is None:
            self.states = np.empty((n, T, n_states)) if keep_states else None
            self.rules = np.empty((n, T, n_rules))
            self.status = np.empty(n, dtype=np.int64)
        else:
            from numpy.lib.format import open_memmap

            out.mkdir(parents=True, exist_ok=True)
            self.states = open_memmap(out / "states.npy", "w+", np.float64, (n, T, n_states)) if keep_states else None
            self.rules = open_memmap(out / "rules.npy", "w+", np.float64, (n, T, n_rules))
            self.status = open_memmap(out / "status.npy", "w+", np.int64, (n,))

    def put(self, a: int, b: int, Y: np.ndarray | None, R: np.ndarray, S: np.ndarray) -> None:
        if self.states is not None and Y is not None:
            self.states[a:b] = Y
        self.rules[a:b] = R
        self.status[a:b] = S

    def close(self) -> None:
        for arr in (self.states, self.rules, self.status):
            if arr is not None and hasattr(arr, "flush"):
                arr.flush()


def default_chunk_size(solver: AbstractSolver, n: int) -> int:
    """Subjects per chunk: large enough to keep every thread busy, small enough that a chunk's
    states (T x 48 x 8 B a subject) stay in memory; a GPU needs tens of thousands of lanes."""
    if "gpu" in solver.capabilities and getattr(solver, "device", "cpu") == "gpu":
        return min(n, 100_000)
    if solver.name == "native":
        return min(n, 2_048)
    return min(n, 256)


def simulate_batch(model: Model, regimen: Regimen | None, times: Sequence[float] | np.ndarray,
                   params: np.ndarray, *, solver: str | AbstractSolver | None = None,
                   tolerances: Tolerances | str | None = None, rtol: float | None = None,
                   atol: float | None = None, keep_states: bool = False, cluster: Any = None,
                   chunk_size: int | None = None, out: str | os.PathLike[str] | None = None,
                   progress: Progress | None = None, baseline_cache: BaselineCache | None = BASELINES,
                   ) -> xr.Dataset:
    """Simulate many subjects under one regimen, each from its own undosed baseline.

    Parameters
    ----------
    model : the model (:func:`nadsim.library.get_model` builds the library's).
    regimen : doses (``None``: no dosing).
    times : output grid in h, strictly increasing, from at or before the first dose.
    params : (n_subjects, n_parameters) free parameter values in canonical units, columns in
        ``compile_model(model).parameter_names`` order; derived columns are recomputed. A 1-D
        row is one subject. A dosed subject whose ``trial_on`` switch is 0 enters the treatment
        arm at the first dose, as in :func:`simulate`.
    solver : ``"native"`` (default), ``"scipy"`` or ``"jax"``, or an instance.
    tolerances : preset name or :class:`Tolerances` (default ``"fast"``: rtol 1e-6);
        ``rtol``/``atol`` override it.
    keep_states : also return every state (memory: n x T x n_states x 8 bytes).
    cluster : Dask scheduler address, ``"local"`` (a local cluster), a ``distributed.Client``,
        or ``None`` (this process; the native solver already uses every core).
    chunk_size : subjects per chunk.
    out : directory: arrays are written there chunk by chunk as ``.npy`` and returned as
        read-only memory maps (memory flat in the number of subjects), with ``meta.json``.
    progress : called as ``progress(done, total)`` as subjects finish.
    baseline_cache : where baselines are reused from (``None``: compute every one).

    Returns
    -------
    xarray.Dataset over ``(subject, time)`` with ``status`` over ``subject``; failed subjects
    have ``status != 0`` and NaN rows.
    """
    regimen = regimen or Regimen.none()
    cm = compile_model(model)
    t = check_times(times, regimen)
    tol = resolve_tolerances(tolerances, rtol=rtol, atol=atol, default="fast")
    slv = get_solver(solver)
    P = np.asarray(params, dtype=float) if not isinstance(params, np.ndarray) else params
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2 or P.shape[0] < 1:
        raise InputError("params", f"an (n_subjects, {len(cm.parameter_names)}) array", f"shape {np.shape(params)}")
    if chunk_size is not None and (not isinstance(chunk_size, int | np.integer) or chunk_size < 1):
        raise InputError("chunk_size", "a positive whole number of subjects", chunk_size)
    n = P.shape[0]
    size = int(chunk_size or default_chunk_size(slv, n))
    spans = _chunks(n, size)
    outdir = Path(out) if out is not None else None
    sink = _Sink(n, t.size, cm.n_states, len(cm.rule_names), keep_states, outdir)
    done = [0]

    def chunk_progress(a: int) -> Progress | None:
        if progress is None:
            return None
        return lambda d, _total: progress(min(a + d, n), n)

    results: Iterator[tuple[int, tuple[np.ndarray | None, np.ndarray, np.ndarray]]]
    if cluster is None:
        def local() -> Iterator[tuple[int, tuple[np.ndarray | None, np.ndarray, np.ndarray]]]:
            for i, (a, b) in enumerate(spans):
                res = solve(model, regimen, t, P[a:b], solver=slv, tolerances=tol, baseline_cache=baseline_cache,
                            progress=chunk_progress(a))
                yield i, ((res.states if keep_states else None), res.rules, res.status)

        results = local()
    else:
        worker_solver = make_solver("native", threads=1) if slv.name == "native" else slv
        spec = _ChunkSpec(regimen, t, worker_solver, tol, bool(keep_states))
        results = map_chunks(_chunk_task, [P[a:b] for a, b in spans], shared=(model, spec), cluster=cluster)
    for i, (Y, R, S) in results:
        a, b = spans[i]
        sink.put(a, b, Y, R, S)
        done[0] += b - a
        if progress is not None and cluster is not None:
            progress(done[0], n)
    sink.close()
    attrs = metadata(model, regimen, None, slv.describe(), tol, n_subjects=n,
                      n_failed=int(np.count_nonzero(np.asarray(sink.status))))
    if outdir is not None:
        atomic_write_text(outdir / "meta.json", json.dumps({
            **attrs, "times": t.tolist(), "state_names": list(cm.state_names), "rule_names": list(cm.rule_names),
            "keep_states": bool(keep_states)}))
        states = np.load(outdir / "states.npy", mmap_mode="r") if keep_states else None
        return dataset(cm, t, np.load(outdir / "rules.npy", mmap_mode="r"), states,
                        np.load(outdir / "status.npy", mmap_mode="r"), attrs, squeeze=False)
    return dataset(cm, t, sink.rules, sink.states, sink.status, attrs, squeeze=False)
