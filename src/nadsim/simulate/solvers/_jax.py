"""The JAX solver: a lockstep BDF over a chunk of subjects, compiled with XLA (CPU or GPU).

The same generated right-hand side as every other solver, run with ``xp = jax.numpy``; the
integrator is :mod:`._jax_bdf` (every lane of a chunk shares step size and order, so the
decision to reuse the Jacobian and the factorisation is one scalar and the skipped work is
really skipped; the model's sparse LU over lane vectors). Made for GPUs, where a chunk of
10^5 lanes fills the device; on a CPU the native solver is much faster.

JAX is optional: :meth:`JaxSolver.unavailable_reason` says how to install it. One chunk runs at a
time per process: with JAX 0.10.2 on a CPU, two threads running these programs at once hung
(reproduced, also with a bare ``lu`` in a loop); use Dask worker processes for parallel chunks.
Because lanes share steps, a subject's result depends on its chunk companions within the
tolerance; runs with the same chunk size are bit-for-bit reproducible. Chunks are padded to a
power of two (at least :data:`MIN_BUCKET`) so that nearby sizes share one compiled program.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from nadsim._errors import InputError
from nadsim._optional import missing, require
from nadsim.simulate._baseline import periods
from nadsim.simulate._compile import CompiledModel
from nadsim.simulate._schedule import Schedule, volume_index
from nadsim.simulate._sparsity import sparsity
from nadsim.simulate._status import Status
from nadsim.simulate._tolerances import Tolerances
from nadsim.simulate.solvers._base import AbstractSolver, PeriodMap, Progress, Solution
from nadsim.simulate.solvers._native import NativeSolver

__all__ = ["MIN_BUCKET", "JaxSolver"]

#: smallest padded chunk (a benchmark may raise it so that every run shares one program)
MIN_BUCKET = 8
DEVICES = ("cpu", "gpu")
_RUN_LOCK = threading.Lock()


def _unavailable() -> str | None:
    return missing("jax")


def _require() -> Any:
    jax = require("jax", field="solver")
    jax.config.update("jax_enable_x64", True)
    return jax


def _device(kind: str) -> Any:
    jax = _require()
    try:
        devs = jax.devices("gpu" if kind == "gpu" else "cpu")
    except RuntimeError:
        devs = []
    if not devs:
        raise InputError("device", "a device JAX can see ('gpu' needs a CUDA build of jaxlib)", kind)
    return devs[0]


@lru_cache(maxsize=16)
def _program(cm: CompiledModel) -> Any:
    """Compiled ``run(Y0, P, inc, starts, ends, rates, input_idx, times, rtol, atol, max_steps)``:
    the segments ``starts``/``ends`` (K,), infusion ``rates`` (K, m) and output ``times`` (T,) are
    shared by the lanes; ``Y0`` (n, S), ``P`` (n, p) and bolus increments ``inc`` (n, K, S) are
    per subject."""
    jax = _require()
    import jax.numpy as jnp

    from nadsim.simulate.solvers._jax_bdf import make_lockstep_solver

    def run(Y0: Any, P: Any, inc: Any, starts: Any, ends: Any, rates: Any, input_idx: Any,
            times: Any, rtol: Any, atol: Any, max_steps: Any) -> tuple[Any, Any, Any]:
        solve = make_lockstep_solver(lambda t, y, q: cm.rhs(t, y, q, jnp), sparsity(cm.model), max_steps=max_steps)
        n, S = Y0.shape
        T = times.shape[0]
        out = jnp.full((n, T, S), jnp.nan)

        def seg(carry: tuple, xs: tuple) -> tuple[tuple, None]:
            Y, j, out, ok, nst = carry
            b, t0, t1, r = xs
            Q = P.at[:, input_idx].set(jnp.broadcast_to(r, (n, r.shape[0])))
            Y, out, j, ns, good = solve(Y + b, Q, t0, t1, times, j, out, rtol, atol)
            return (Y, j, out, ok & good, nst + ns), None

        init = (Y0, jnp.asarray(0), out, jnp.ones(n, bool), jnp.zeros(3, dtype=int))
        (Y, j, out, ok, nst), _ = jax.lax.scan(seg, init, (jnp.swapaxes(inc, 0, 1), starts, ends, rates))
        out = out.at[:, jnp.where(j < T, j, T)].set(Y, mode="drop")  # the grid's last time
        return out, ok, nst

    return jax.jit(run, static_argnums=(10,))


class JaxSolver(AbstractSolver):
    """Lockstep BDF in JAX on ``device`` ("cpu" or "gpu")."""

    name: ClassVar[str] = "jax"
    capabilities: ClassVar[frozenset[str]] = frozenset({"gpu", "lockstep"})

    def __init__(self, device: str = "cpu"):
        if device not in DEVICES:
            raise InputError("device", f"one of {', '.join(DEVICES)}", device)
        self.device = device

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return _unavailable()

    def describe(self) -> str:
        return f"nadsim.jax[lockstep bdf, {self.device}]"

    def _call(self, cm: CompiledModel, Y0: np.ndarray, P: np.ndarray, inc: np.ndarray, starts: np.ndarray,
              ends: np.ndarray, rates: np.ndarray, input_idx: np.ndarray, times: np.ndarray, rtol: float,
              atol: float, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
        jax = _require()
        dev = _device(self.device)
        n_real = P.shape[0]
        n_pad = max(MIN_BUCKET, 1 << (n_real - 1).bit_length())
        if n_pad > n_real:  # padding lanes ride as copies of the last subject
            rep = n_pad - n_real
            Y0 = np.concatenate([Y0, np.repeat(Y0[-1:], rep, axis=0)])
            P = np.concatenate([P, np.repeat(P[-1:], rep, axis=0)])
            inc = np.concatenate([inc, np.repeat(inc[-1:], rep, axis=0)])
        with _RUN_LOCK, jax.default_device(dev):
            out, good, _ = _program(cm)(jax.device_put(Y0, dev), jax.device_put(P, dev), jax.device_put(inc, dev),
                                        starts, ends, rates, input_idx, times, float(rtol), float(atol),
                                        int(max_steps))
            return np.array(out)[:n_real], np.array(good)[:n_real]

    def run(self, cm: CompiledModel, schedule: Schedule, Y0: np.ndarray, P: np.ndarray, times: np.ndarray,
            tol: Tolerances, *, progress: Progress | None = None) -> Solution:
        inc = schedule.increments(P, volume_index(cm.model))
        out, good = self._call(cm, Y0, P, inc, schedule.starts, schedule.ends, schedule.rates, schedule.input_idx,
                               times, tol.rtol, tol.atol, tol.max_steps)
        status = np.where(good, int(Status.OK), int(Status.STEP_TOO_SMALL)).astype(np.int64)
        out[~good] = np.nan
        if progress is not None:
            progress(P.shape[0], P.shape[0])
        return Solution(out, status, {})

    def averaged_start(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int) -> tuple[np.ndarray, np.ndarray]:
        """On the host CPU with the native solver's compiled iteration (~0.4 ms a subject on one
        core; the NumPy reference takes ~20 ms), or the NumPy reference without Numba."""
        if NativeSolver.unavailable_reason() is None:
            return NativeSolver().averaged_start(cm, P, Y, n_phases)
        return super().averaged_start(cm, P, Y, n_phases)

    def averaged_jacobian(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int) -> np.ndarray:
        """On the host CPU with the native compiled code, as :meth:`averaged_start`."""
        if NativeSolver.unavailable_reason() is None:
            return NativeSolver().averaged_jacobian(cm, P, Y, n_phases)
        return super().averaged_jacobian(cm, P, Y, n_phases)

    def period_map(self, cm: CompiledModel, P: np.ndarray, tol: Tolerances) -> PeriodMap:
        P = np.atleast_2d(P)
        T = periods(cm, P)
        groups = {float(v): np.nonzero(v == T)[0] for v in np.unique(T)}  # lockstep needs one period
        n_states = cm.n_states

        def period_map(Y: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            out, ok = Y.copy(), np.zeros(Y.shape[0], dtype=bool)
            for period, rows in groups.items():
                live = active[rows]
                if not live.any():
                    continue
                # settled lanes ride along as copies of a live one, so that the chunk keeps its
                # compiled shape and a settled lane does not take part in the step control
                k = rows[int(np.argmax(live))]
                Yg = np.where(live[:, None], Y[rows], Y[k])
                Pg = np.where(live[:, None], P[rows], P[k])
                res, good = self._call(cm, Yg, Pg, np.zeros((rows.size, 1, n_states)), np.zeros(1),
                                       np.array([period]), np.zeros((1, 0)), np.zeros(0, dtype=np.int64),
                                       np.array([0.0, period]), tol.baseline_rtol, tol.baseline_atol, tol.max_steps)
                out[rows] = np.where(live[:, None], res[:, -1], Y[rows])
                ok[rows] = good & live
            return out, ok

        return period_map
