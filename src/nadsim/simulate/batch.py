"""Many subjects at once: one regimen, one output grid, one parameter row per subject.

:func:`simulate_batch` is the population entry point. It takes a matrix of free parameter
values (one row per subject, columns in ``compile_model(model).parameter_names`` order,
canonical units), starts every subject from its own undosed baseline and integrates the
regimen with dose events handled exactly (the time axis is cut at every bolus and
infusion start/stop, as in :func:`nadsim.simulate._solve.segments`).

Backends
--------
``"numpy"``  the reference SciPy solver (``_solve.integrate``), one subject after another;
             the baseline of a chunk is a batched Newton iteration (the reference
             ``steady_state`` for periodically forced models).
``"jax"``    a variable-order BDF method that advances all subjects of a chunk in lockstep
             (shared step size and order, error = the largest over subjects; Jacobian and
             iteration matrix reused over many steps; :mod:`nadsim.simulate._bdf`), compiled
             with XLA, float64; ``device="gpu"`` runs it on a CUDA device. Rodas5P
             (per-subject steps, :mod:`nadsim.simulate._rosenbrock`) and diffrax's Kvaerno5 are
             available to :func:`nadsim.simulate._jax.simulate_chunk` as ``method=``.
             JAX is imported only when this backend is asked for. Because a chunk shares its
             steps, a subject's result depends on its chunk companions within the solver
             tolerance; runs with the same chunk size are bit-for-bit reproducible.

Work is cut into chunks of ``chunk_size`` subjects. With ``cluster`` the chunks run on
Dask workers (``"local"`` starts a local cluster); results are identical to a
single-process run because each chunk is an independent, deterministic computation.
With ``out=DIR`` the arrays are written chunk by chunk to ``.npy`` files in ``DIR`` and
returned as memory maps, so memory stays flat in the number of subjects.

A subject whose baseline or integration fails gets ``status != 0`` (see :data:`STATUS`)
and NaN rows; the batch goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate._compile import CompiledModel, compile_model
from nadsim.simulate._solve import segments

__all__ = ["BACKENDS", "STATUS", "BatchResult", "Schedule", "free_parameter_mask", "schedule", "simulate_batch"]

#: status codes of a subject (diffrax ``RESULTS`` / SciPy ``status`` in spirit)
STATUS: dict[int, str] = {
    0: "ok",
    1: "no undosed baseline found for these parameters",
    2: "the ODE solver failed during the regimen",
    3: "non-finite values in the trajectory",
}
BACKENDS = ("numpy", "jax")
DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class BatchResult:
    """Trajectories of ``n`` subjects on one time grid.

    ``times`` (T,) h; ``states`` (n, T, n_states) in each state's unit, or ``None`` when
    not kept; ``rules`` (n, T, n_rules) model outputs; ``status`` (n,) int, 0 = ok (codes in
    :data:`STATUS`); failed subjects carry NaN rows.
    """

    times: np.ndarray
    states: np.ndarray | None
    rules: np.ndarray
    status: np.ndarray
    state_names: tuple[str, ...]
    rule_names: tuple[str, ...]

    @property
    def n_subjects(self) -> int:
        return int(self.status.shape[0])

    def rule(self, name: str) -> np.ndarray:
        """One output for every subject, shape (n, T)."""
        if name not in self.rule_names:
            raise InputError("rule", f"one of {', '.join(self.rule_names)}", name)
        return self.rules[:, :, self.rule_names.index(name)]


@dataclass(frozen=True)
class Schedule:
    """The regimen cut into segments, with per-subject bolus increments.

    ``starts``/``ends`` (K,) h; ``bolus`` (n, K, n_states) concentration added at each
    segment start; ``input_idx`` (m,) parameter columns of the infusion inputs;
    ``rates`` (K, m) umol/h in each segment; ``seg_of`` (T,) the segment that owns each
    output time (times ``>= start`` and ``< end``; the last segment also owns its end).
    """

    starts: np.ndarray
    ends: np.ndarray
    bolus: np.ndarray
    input_idx: np.ndarray
    rates: np.ndarray
    seg_of: np.ndarray


def schedule(cm: CompiledModel, regimen: Regimen, P: np.ndarray, times: np.ndarray) -> Schedule:
    """Cut ``[times[0], times[-1]]`` at dose events, for subjects with derived parameters ``P``."""
    t0, t1 = float(times[0]), float(times[-1])
    segs = segments(cm, regimen, P[0], t0, t1)
    K = len(segs)
    inputs = sorted({pi for s in segs for pi, _ in s.inputs})
    rates = np.zeros((K, len(inputs)))
    bolus = np.zeros((P.shape[0], K, cm.n_states))
    model = cm.model
    for k, s in enumerate(segs):
        for pi, r in s.inputs:
            rates[k, inputs.index(pi)] = r
        for si, inc in s.bolus:
            # increments are amount / volume: rescale by each subject's own volume
            vol_idx = cm.pidx(model.compartment_of[cm.state_names[si]].volume)
            bolus[:, k, si] = inc * P[0, vol_idx] / P[:, vol_idx]
    starts = np.array([s.start for s in segs])
    ends = np.array([s.end for s in segs])
    seg_of = np.searchsorted(ends, times, side="right")
    seg_of = np.minimum(seg_of, K - 1)
    return Schedule(starts, ends, bolus, np.array(inputs, dtype=int), rates, seg_of)


def free_parameter_mask(cm: CompiledModel) -> np.ndarray:
    """True for parameters a user sets; False for derived ones (recomputed by ``derive``)."""
    return np.array([cm.model.parameters[n].expr is None for n in cm.parameter_names])


def _check_inputs(cm: CompiledModel, regimen: Regimen, times: Any, params: Any, backend: str,
                  device: str, rtol: float, atol: float, chunk_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    if backend not in BACKENDS:
        raise InputError("backend", f"one of {', '.join(BACKENDS)}", backend)
    if device not in DEVICES:
        raise InputError("device", f"one of {', '.join(DEVICES)}", device)
    if device == "gpu" and backend != "jax":
        raise InputError("device", "'cpu' for the numpy backend (use backend='jax' on a GPU)", device)
    if not (0 < rtol < 1) or not (0 < atol < 1):
        raise InputError("rtol/atol", "tolerances in (0, 1)", (rtol, atol))
    if chunk_size is not None and (not isinstance(chunk_size, int | np.integer) or chunk_size < 1):
        raise InputError("chunk_size", "a positive whole number of subjects", chunk_size)
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0) or t[0] < 0 or not np.all(np.isfinite(t)):
        raise InputError("times", "a strictly increasing 1-D grid of at least 2 times >= 0 h", f"shape {t.shape}")
    if regimen.doses and regimen.doses[-1].time_h > t[-1]:
        raise InputError("times", f"reaching at least the last dose ({regimen.doses[-1].time_h:g} h)", f"{t[-1]:g} h")
    if regimen.doses and regimen.doses[0].time_h < t[0]:
        raise InputError("times", f"starting at or before the first dose ({regimen.doses[0].time_h:g} h)", f"{t[0]:g} h")
    P = np.asarray(params, dtype=float)
    if P.ndim == 1:
        P = P[None, :]
    n_par = len(cm.parameter_names)
    if P.ndim != 2 or P.shape[1] != n_par:
        raise InputError("params", f"an (n_subjects, {n_par}) array in compile_model(model).parameter_names order",
                         f"shape {np.shape(params)}")
    if P.shape[0] < 1:
        raise InputError("params", "at least one subject (row)", "0 rows")
    free = free_parameter_mask(cm)
    bad = ~np.isfinite(P[:, free])
    if bad.any():
        j = int(np.nonzero(bad.any(axis=0))[0][0])
        raise InputError("params", "finite free parameter values",
                         f"non-finite {np.asarray(cm.parameter_names)[free][j]}")
    P = P.copy()
    names = cm.parameter_names
    if regimen.doses and "trial_on" in names and "t_trial_start" in names:
        # as nadsim.simulate does: a dosed subject whose trial switch is off enters the
        # treatment arm at the first dose
        off = P[:, names.index("trial_on")] == 0.0
        P[off, names.index("trial_on")] = 1.0
        P[off, names.index("t_trial_start")] = regimen.doses[0].time_h
    return t, P


# --------------------------------------------------------------------------- chunk kernel

def _run_chunk(model: Model, regimen: Regimen, times: np.ndarray, P: np.ndarray, backend: str,
               device: str, rtol: float, atol: float, keep_states: bool,
               method: str = "bdf") -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Simulate one chunk of subjects (free parameters ``P``); returns (states, rules, status)."""
    cm = compile_model(model)
    P = np.asarray(cm.derive(P), dtype=float)
    if backend == "jax":
        from nadsim.simulate import _jax

        Y, status = _jax.simulate_chunk(cm, regimen, times, P, rtol=rtol, atol=atol, device=device, method=method)
    else:
        from nadsim.simulate import _numpy_batch

        Y, status = _numpy_batch.simulate_chunk(cm, regimen, times, P, rtol=rtol, atol=atol)
    bad = ~np.all(np.isfinite(Y), axis=(1, 2))
    status = np.where((status == 0) & bad, 3, status)
    Y[status != 0] = np.nan
    R = np.empty((P.shape[0], times.size, len(cm.rule_names)))
    step = 256  # blocks of subjects keep the temporaries small
    with np.errstate(all="ignore"):
        for a in range(0, P.shape[0], step):
            R[a:a + step] = cm.rules(times[None, :], Y[a:a + step], P[a:a + step, None, :])
    R[status != 0] = np.nan  # rules of parameters or time alone would otherwise stay finite
    return (Y if keep_states else None), R, status


@dataclass(frozen=True)
class _Spec:
    """Everything a chunk needs besides the model and its parameter rows (sent once)."""

    regimen: Regimen
    times: np.ndarray
    backend: str
    device: str
    rtol: float
    atol: float
    keep_states: bool
    method: str = "bdf"


def _chunk_task(model: Model, spec: _Spec, P: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    return _run_chunk(model, spec.regimen, spec.times, P, spec.backend, spec.device, spec.rtol,
                      spec.atol, spec.keep_states, spec.method)


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


def default_chunk_size(backend: str, device: str, n: int) -> int:
    if backend == "jax":
        # CPU: small chunks keep each lane's 48x48 matrices in cache; 16 lanes gave the most
        # subjects/s on 2 cores (8: 2.7/s, 16: 3.8/s, 32: 3.1/s, 64: 3.0/s, 256: 1.9/s;
        # benchmarks/RESULTS.md); a GPU needs tens of thousands of lanes to fill
        return min(n, 100_000 if device == "gpu" else 16)
    return min(n, 1_000)


def simulate_batch(model: Model | None, regimen: Regimen | None, times: Sequence[float] | np.ndarray,
                   params: np.ndarray, *, backend: str = "numpy", device: str = "cpu",
                   rtol: float = 1e-8, atol: float = 1e-10, keep_states: bool = False,
                   cluster: str | None = None, chunk_size: int | None = None,
                   out: str | os.PathLike[str] | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   method: str | None = None) -> BatchResult:
    """Simulate many subjects under one regimen, each from its own undosed baseline.

    Parameters
    ----------
    model : the model (``None``: the default NAD+ model).
    regimen : doses (``None``: no dosing).
    times : output grid in h, strictly increasing, from at or before the first dose.
    params : (n_subjects, n_parameters) free parameter values in canonical units, columns in
        ``compile_model(model).parameter_names`` order; derived columns are ignored and
        recomputed with ``cm.derive``. A 1-D row is one subject. As in
        :func:`nadsim.simulate.simulate`, a dosed subject whose ``trial_on`` switch is 0 is
        put in the treatment arm from the first dose (``trial_on = 1``, ``t_trial_start``).
    backend : ``"numpy"`` (SciPy LSODA per subject) or ``"jax"`` (lockstep BDF over a chunk).
    device : ``"cpu"`` or ``"gpu"`` (jax only).
    rtol, atol : solver tolerances (relative; absolute in state units, uM).
    keep_states : also return every state (memory: n * T * n_states * 8 bytes).
    cluster : Dask scheduler address, ``"local"`` for a local cluster, or ``None`` (this process).
        One process runs one JAX chunk at a time, even when called from several threads; to use
        every core, give ``"local"`` (one single-threaded worker process per core).
    chunk_size : subjects per chunk (default: 1000 numpy, 16 jax-cpu, 100000 jax-gpu).
    out : directory; arrays are written there chunk by chunk as ``.npy`` and returned as
        read-only memory maps (memory flat in the number of subjects).
    progress : called as ``progress(done, total)`` after each chunk.
    method : integrator of the jax backend: ``"bdf"`` (default), ``"rodas5p"`` or ``"kvaerno5"``.

    Returns
    -------
    BatchResult ; failed subjects have ``status != 0`` and NaN rows.

    Raises
    ------
    InputError : bad grid, parameter matrix shape, backend, device or tolerance.
    """
    from nadsim.simulate._api import default_model

    model = model or default_model()
    regimen = regimen or Regimen.none()
    cm = compile_model(model)
    t, P = _check_inputs(cm, regimen, times, params, backend, device, rtol, atol, chunk_size)
    if backend == "jax":
        from nadsim.simulate import _jax

        if method is not None and method not in _jax.METHODS:
            raise InputError("method", f"one of {', '.join(_jax.METHODS)}", method)
        _jax.require()
    elif method is not None:
        raise InputError("method", "no method for the numpy backend (it is the reference LSODA)", method)
    n = P.shape[0]
    size = chunk_size or default_chunk_size(backend, device, n)
    spans = _chunks(n, size)
    outdir = Path(out) if out is not None else None
    sink = _Sink(n, t.size, cm.n_states, len(cm.rule_names), keep_states, outdir)
    spec = _Spec(regimen, t, backend, device, float(rtol), float(atol), bool(keep_states), method or "bdf")
    if cluster is None:
        results: Iterator[tuple[int, tuple]] = (
            (i, _chunk_task(model, spec, P[a:b])) for i, (a, b) in enumerate(spans))
    else:
        from nadsim.scale import run_chunks

        results = run_chunks(cluster, _chunk_task, model, spec, [P[a:b] for a, b in spans])
    done = 0
    for i, (Y, R, S) in results:
        a, b = spans[i]
        sink.put(a, b, Y, R, S)
        done += b - a
        if progress is not None:
            progress(done, n)
    sink.close()
    if outdir is not None:
        (outdir / "meta.json").write_text(json.dumps({
            "times": t.tolist(), "state_names": list(cm.state_names), "rule_names": list(cm.rule_names),
            "model": model.name, "model_hash": model.hash(), "regimen": regimen.describe(),
            "backend": backend, "device": device, "rtol": rtol, "atol": atol, "n_subjects": n,
        }), encoding="utf-8")
        states = np.load(outdir / "states.npy", mmap_mode="r") if keep_states else None
        return BatchResult(t, states, np.load(outdir / "rules.npy", mmap_mode="r"),
                           np.load(outdir / "status.npy", mmap_mode="r"), cm.state_names, cm.rule_names)
    return BatchResult(t, sink.states, sink.rules, sink.status, cm.state_names, cm.rule_names)
