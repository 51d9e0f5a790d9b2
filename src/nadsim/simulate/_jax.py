"""JAX backend of :func:`nadsim.simulate.batch.simulate_batch` (optional).

The same generated right-hand side as the SciPy backend, run with ``xp = jax.numpy``.
Each subject is integrated segment by segment (a ``lax.scan`` over the regimen's
segments, the inputs constant inside each), so dose events are exact; the whole chunk is
``vmap``-ed and compiled once by XLA. Solver: Rodas5P (:mod:`nadsim.simulate._rosenbrock`,
per-lane step sizes) or, by default, a BDF method that advances the whole chunk in lockstep and
reuses its Jacobian and iteration matrix over many steps (:mod:`nadsim.simulate._bdf`);
diffrax's Kvaerno5 is kept as ``method="kvaerno5"`` for cross-checks. Baseline: for day-forced models the reference procedure of
:mod:`nadsim.simulate._orbit` with this solver as its day map (all lanes at once); for unforced
models a vmapped Newton on the GPU and the NumPy Newton on a CPU. Subjects whose baseline
fails go to the NumPy fallback.

JAX is imported lazily: nadsim runs without it, and :func:`require` raises an
:class:`~nadsim._errors.InputError` with an install hint when it is missing."""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.simulate._compile import CompiledModel

__all__ = ["METHODS", "available", "require", "simulate_chunk"]

#: integrators of this backend (the first is the default)
METHODS = ("bdf", "rodas5p", "kvaerno5")

#: largest number of solver steps in one segment before a subject is marked failed
MAX_STEPS = 100_000


def available() -> bool:
    try:
        import diffrax  # noqa: F401
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Import JAX in float64 mode, or explain how to get it."""
    if not available():
        raise InputError("backend", "an installed JAX + diffrax for backend='jax'", "jax",
                         hint="install the extra: pip install 'nadsim[jax]'")
    import jax

    jax.config.update("jax_enable_x64", True)


def _device(kind: str) -> Any:
    import jax

    try:
        devs = jax.devices("gpu" if kind == "gpu" else "cpu")
    except RuntimeError:
        devs = []
    if not devs:
        raise InputError("device", "a device JAX can see ('gpu' needs a CUDA build of jaxlib)", kind)
    return devs[0]


#: smallest padded chunk (a benchmark may raise it so that every run shares one program)
MIN_BUCKET = 8

#: one chunk at a time per process. With JAX 0.10.2 on a CPU, two threads running these
#: programs (while loops around LAPACK calls) at once hung (reproduced, also with a bare
#: `lu` in a loop). Threads would not add speed anyway: XLA already owns the cores; use
#: worker processes (`cluster="local"`) for parallel chunks.
_RUN_LOCK = threading.Lock()


@lru_cache(maxsize=16)
def _baseline_fn(cm: CompiledModel, iters: int = 40) -> Any:
    """Vmapped damped Newton for the steady state of an unforced model (GPU runs)."""
    import jax
    import jax.numpy as jnp

    from nadsim.simulate._orbit import state_sets

    free, acc = state_sets(cm)
    free_j = jnp.asarray(free)
    lams = jnp.asarray([1.0, 0.5, 0.25, 0.125, 0.0625, 1 / 32, 1 / 64, 1 / 128])

    def one(p: Any) -> tuple[Any, Any]:
        y = cm.initial_guess(p, jnp).at[jnp.asarray(acc, dtype=int)].set(0.0) if acc.size else cm.initial_guess(p, jnp)
        scale = jnp.maximum(jnp.abs(y[free_j]), 1e-3)

        def f(x: Any) -> Any:
            return cm.rhs(0.0, y.at[free_j].set(x * scale), p, jnp)[free_j] / scale

        def body(_: int, x: Any) -> Any:
            fx = f(x)
            J = jax.jacfwd(f)(x)
            dx = jnp.linalg.solve(J, -fx)
            r0 = jnp.max(jnp.abs(fx))
            trials = x[None, :] + lams[:, None] * dx[None, :]
            r = jax.vmap(lambda z: jnp.max(jnp.abs(f(z))))(trials)
            good = jnp.isfinite(r) & (r < r0)
            k = jnp.argmax(good)
            step = jnp.where(jnp.any(good) & (r0 > 0), lams[k], 0.0)
            xn = x + step * dx
            return jnp.where(jnp.all(jnp.isfinite(xn)), xn, x)

        x = jax.lax.fori_loop(0, iters, body, y[free_j] / scale)
        res = jnp.max(jnp.abs(f(x)))
        return y.at[free_j].set(jnp.maximum(x * scale, 0.0)), (res < 1e-10) & jnp.all(x > -1e-9)

    return jax.jit(jax.vmap(one))


@lru_cache(maxsize=16)
def _averaged_start_fn(cm: CompiledModel, iters: int = 100) -> Any:
    """:func:`nadsim.simulate._orbit.averaged_start` for a GPU: the same pseudo-transient
    continuation (step 0.5 h, doubled after each step that keeps the residual bounded, quartered
    otherwise), vmapped over subjects, with a forward-mode Jacobian instead of finite
    differences. Only a starting point: the orbit iteration decides the baseline."""
    import jax
    import jax.numpy as jnp

    from nadsim.simulate._orbit import orbit_indices

    free, species = orbit_indices(cm)
    fixed = np.setdiff1d(np.arange(cm.n_states), free)
    free_j, species_j = jnp.asarray(free), jnp.asarray(species)
    nonneg = jnp.asarray(np.isin(free, species))
    T_idx = cm.pidx("T_day") if "T_day" in cm.parameter_names else None

    def one(p: Any) -> Any:
        y = cm.initial_guess(p, jnp).at[jnp.asarray(fixed, dtype=int)].set(0.0)
        scale = jnp.maximum(jnp.abs(y[free_j]), 1e-3)
        period = p[T_idx] if T_idx is not None else 24.0
        phases = period * jnp.linspace(0.0, 1.0, 12, endpoint=False)

        def f(x: Any) -> Any:
            yy = y.at[free_j].set(x * scale)
            return jax.vmap(lambda ph: cm.rhs(ph, yy, p, jnp))(phases).mean(axis=0)[free_j] / scale

        def body(_: int, c: tuple) -> tuple:
            x, r, step = c
            J = jax.jacfwd(f)(x)
            fx = f(x)
            dx = jnp.linalg.solve(jnp.eye(x.size) / step - J, fx)
            xn = x + dx
            rn = jnp.max(jnp.abs(f(xn)))
            good = (jnp.isfinite(rn) & jnp.all(jnp.isfinite(xn)) & (rn < 10 * r)
                    & jnp.all(jnp.where(nonneg, xn > -1e-9, True)) & (r >= 1e-10))
            return (jnp.where(good, xn, x), jnp.where(good, rn, r),
                    jnp.where(good, jnp.minimum(2 * step, 1e8), jnp.where(r >= 1e-10, step / 4, step)))

        x0 = y[free_j] / scale
        x, _r, _ = jax.lax.fori_loop(0, iters, body, (x0, jnp.max(jnp.abs(f(x0))), 0.5))
        yn = y.at[free_j].set(x * scale)
        return yn.at[species_j].set(jnp.maximum(yn[species_j], 0.0))

    return jax.jit(jax.vmap(one))


@lru_cache(maxsize=16)
def _solve_fn(cm: CompiledModel, rtol: float, atol: float) -> Any:
    import diffrax
    import jax
    import jax.numpy as jnp

    term = diffrax.ODETerm(lambda t, y, q: cm.rhs(t, y, q, jnp))
    solver = diffrax.Kvaerno5()
    ctrl = diffrax.PIDController(rtol=rtol, atol=atol)

    def one(y0: Any, p: Any, bolus: Any, starts: Any, ends: Any, rates: Any, input_idx: Any,
            ts: Any, seg_of: Any, pos: Any) -> tuple[Any, Any]:
        def seg(y: Any, xs: Any) -> tuple[Any, Any]:
            b, t0, t1, r, tk = xs
            y = y + b
            q = p.at[input_idx].set(r)
            sol = diffrax.diffeqsolve(term, solver, t0, t1, None, y, args=q,
                                      saveat=diffrax.SaveAt(ts=tk), stepsize_controller=ctrl,
                                      max_steps=MAX_STEPS, throw=False)
            ok = sol.result == diffrax.RESULTS.successful
            return sol.ys[-1], (sol.ys, ok)

        _, (ys, ok) = jax.lax.scan(seg, y0, (bolus, starts, ends, rates, ts))
        return ys[seg_of, pos], jnp.all(ok)

    in_axes = (0, 0, 0, None, None, None, None, None, None, None)
    return jax.jit(jax.vmap(one, in_axes=in_axes))


@lru_cache(maxsize=16)
def _rodas_fn(cm: CompiledModel) -> Any:
    """Compiled ``run(Y0, P, bolus, starts, ends, rates, input_idx, times, rtol, atol)``.

    Every argument but ``input_idx`` is per subject (leading axis), and all are traced:
    runs with the same shapes (subjects, segments, output times) share one program.
    """
    import jax
    import jax.numpy as jnp

    from nadsim.simulate._rosenbrock import make_segment_solver

    solve = make_segment_solver(lambda t, y, q: cm.rhs(t, y, q, jnp), max_steps=MAX_STEPS)

    def one(y0: Any, p: Any, bolus: Any, starts: Any, ends: Any, rates: Any, input_idx: Any,
            times: Any, rtol: Any, atol: Any) -> tuple[Any, Any, Any]:
        T = times.shape[0]
        out = jnp.full((T, y0.shape[0]), jnp.nan)

        def seg(carry: tuple, xs: tuple) -> tuple[tuple, None]:
            y, j, out, ok, nst = carry
            b, t0, t1, r = xs
            q = p.at[input_idx].set(r)
            y, out, j, ns, good = solve(y + b, q, t0, t1, times, j, out, rtol, atol)
            return (y, j, out, ok & good, nst + ns), None

        init = (y0, jnp.asarray(0), out, jnp.asarray(True), jnp.asarray(0))
        (y, j, out, ok, nst), _ = jax.lax.scan(seg, init, (bolus, starts, ends, rates))
        out = out.at[jnp.where(j < T, j, T)].set(y, mode="drop")  # the grid's last time
        return out, ok, nst

    in_axes = (0, 0, 0, 0, 0, 0, None, 0, None, None)
    return jax.jit(jax.vmap(one, in_axes=in_axes))


@lru_cache(maxsize=16)
def _bdf_fn(cm: CompiledModel) -> Any:
    """Compiled ``run(Y0, P, bolus, starts, ends, rates, input_idx, times, rtol, atol)`` of the
    lockstep BDF (:mod:`nadsim.simulate._bdf`): the chunk's lanes advance together, so the
    segment edges (``starts``, ``ends``: (K,)), infusion ``rates`` (K, m) and output ``times``
    (T,) are shared; ``Y0`` (n, S), ``P`` (n, p) and ``bolus`` (n, K, S) are per subject.
    """
    import jax
    import jax.numpy as jnp

    from nadsim.simulate._bdf import make_lockstep_solver

    solve = make_lockstep_solver(lambda t, y, q: cm.rhs(t, y, q, jnp), max_steps=MAX_STEPS)

    def run(Y0: Any, P: Any, bolus: Any, starts: Any, ends: Any, rates: Any, input_idx: Any,
            times: Any, rtol: Any, atol: Any) -> tuple[Any, Any, Any]:
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
        (Y, j, out, ok, nst), _ = jax.lax.scan(seg, init, (jnp.swapaxes(bolus, 0, 1), starts, ends, rates))
        out = out.at[:, jnp.where(j < T, j, T)].set(Y, mode="drop")  # the grid's last time
        return out, ok, nst

    return jax.jit(run)


def _periodic_baseline(cm: CompiledModel, P: np.ndarray, K: int, T: int, dev: Any,
                       method: str = "bdf") -> tuple[np.ndarray, np.ndarray]:
    """Batched twin of :func:`nadsim.simulate._solve.periodic_baseline` (forced models): the same
    :func:`nadsim.simulate._orbit.periodic_orbit`, with this backend's solver as the period map.
    The map reuses the main run's compiled program: one period on the same number of segments
    (K; all but the first empty) and output times (T >= 2), every lane at once. The lockstep BDF needs one
    period for the whole chunk; with differing periods the map falls back to Rodas5P."""
    import jax

    from nadsim.simulate._orbit import MAP_ATOL, MAP_RTOL, periodic_orbit, periods

    n = P.shape[0]
    period = periods(cm, P)
    # one segment spans the day; the other K - 1 are empty (no steps): a restart at every
    # segment edge would cost a multistep method its whole order ramp-up
    edges = period[:, None] * np.minimum(np.arange(K + 1), 1)[None, :]
    grid = period[:, None] * np.linspace(0.0, 1.0, T)[None, :]
    shared = method == "bdf" and np.all(period == period[0])
    if shared:
        run = _bdf_fn(cm)
        args = (np.zeros((n, K, cm.n_states)), edges[0, :-1], edges[0, 1:],
                np.zeros((K, 0)), np.zeros(0, dtype=int), grid[0], MAP_RTOL, MAP_ATOL)
    else:
        run = _rodas_fn(cm)
        args = (np.zeros((n, K, cm.n_states)), edges[:, :-1], edges[:, 1:],
                np.zeros((n, K, 0)), np.zeros(0, dtype=int), grid, MAP_RTOL, MAP_ATOL)

    def period_map(Y: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Pm = P
        if shared and active.any() and not active.all():
            # settled or failed lanes ride along as copies of an active one: in lockstep they
            # would otherwise still take part in the step-size control
            k = int(np.argmax(active))
            Y = np.where(active[:, None], Y, Y[k])
            Pm = np.where(active[:, None], P, P[k])
        out, ok, _ = run(jax.device_put(Y, dev), jax.device_put(Pm, dev), *args)
        return np.array(out)[:, -1], np.array(ok) & active

    # on a GPU the host's NumPy start would take longer than the orbit itself
    start = np.array(_averaged_start_fn(cm)(jax.device_put(P, dev))) if dev.platform == "gpu" else None
    Y, ok, _ = periodic_orbit(cm, P, period_map, start)
    return Y, ok


def _save_grid(starts: np.ndarray, ends: np.ndarray, times: np.ndarray, seg_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-segment save times padded with the segment end (which is always saved last)."""
    K = starts.size
    counts = np.bincount(seg_of, minlength=K)
    M = int(counts.max()) + 1
    ts = np.repeat(ends[:, None], M, axis=1)
    pos = np.zeros(times.size, dtype=int)
    for k in range(K):
        idx = np.nonzero(seg_of == k)[0]
        ts[k, : idx.size] = times[idx]
        pos[idx] = np.arange(idx.size)
    return ts, pos


def simulate_chunk(cm: CompiledModel, regimen: Regimen, times: np.ndarray, P: np.ndarray, *,
                   rtol: float, atol: float, device: str = "cpu",
                   method: str = "bdf") -> tuple[np.ndarray, np.ndarray]:
    """States (n, T, n_states) and status (n,) for subjects with derived parameters ``P``.

    ``method``: ``"bdf"`` (default; the chunk in lockstep, :mod:`nadsim.simulate._bdf`),
    ``"rodas5p"`` (per-subject steps, :mod:`nadsim.simulate._rosenbrock`) or ``"kvaerno5"``
    (diffrax's ESDIRK; slower on this model, kept for cross-checks).
    """
    if method not in METHODS:
        raise InputError("method", f"one of {', '.join(METHODS)}", method)
    require()
    with _RUN_LOCK:
        return _simulate_chunk(cm, regimen, times, P, rtol=rtol, atol=atol, device=device, method=method)


def _simulate_chunk(cm: CompiledModel, regimen: Regimen, times: np.ndarray, P: np.ndarray, *,
                    rtol: float, atol: float, device: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    import jax

    from nadsim.simulate._solve import forced_states
    from nadsim.simulate.batch import schedule

    dev = _device(device)
    n_real = P.shape[0]
    # pad the chunk to a bucket size (a power of two, at least 8) so that chunks of nearby
    # sizes share one compiled program: compiling costs far more than a few idle lanes
    n_pad = max(MIN_BUCKET, 1 << (n_real - 1).bit_length())
    if n_pad > n_real:
        P = np.concatenate([P, np.repeat(P[-1:], n_pad - n_real, axis=0)])
    sch = schedule(cm, regimen, P, times)
    K = sch.starts.size
    with jax.default_device(dev):
        if method != "kvaerno5" and forced_states(cm.model):
            Y0, ok = _periodic_baseline(cm, P, K, max(times.size, 2), dev, method)
        elif device == "gpu":
            Y0, ok = _baseline_fn(cm)(jax.device_put(P, dev))
            Y0 = np.array(Y0)
            ok = np.array(ok)
        else:  # on a CPU the NumPy Newton is as quick and saves ~10 s of compilation
            Y0 = np.zeros((P.shape[0], cm.n_states))
            ok = np.zeros(P.shape[0], dtype=bool)
        if not ok[:n_real].all():
            from nadsim.simulate._numpy_batch import baseline_batch

            bad = np.nonzero(~ok[:n_real])[0]
            Y0[bad], ok[bad] = baseline_batch(cm, P[bad])
        status = np.where(ok, 0, 1).astype(np.int64)
        if method == "bdf" and ok.any() and not ok.all():
            # lanes without a baseline ride along as copies of a good lane (reported as failed):
            # in lockstep, a lane far from any orbit would set everyone's step size
            first = int(np.argmax(ok))
            P = np.where(ok[:, None], P, P[first])
            Y0 = np.where(ok[:, None], Y0, Y0[first])
        Y0 = np.where(ok[:, None], Y0, np.nan_to_num(cm.initial_guess(P)))  # keep the solver finite
        Pj = jax.device_put(P, dev)
        n = P.shape[0]
        if method == "bdf":
            Y, good, _ = _bdf_fn(cm)(
                jax.device_put(Y0, dev), Pj, jax.device_put(sch.bolus, dev), sch.starts, sch.ends,
                sch.rates, sch.input_idx, times, float(rtol), float(atol))
        elif method == "rodas5p":
            Y, good, _ = _rodas_fn(cm)(
                jax.device_put(Y0, dev), Pj, jax.device_put(sch.bolus, dev), np.tile(sch.starts, (n, 1)),
                np.tile(sch.ends, (n, 1)), np.tile(sch.rates, (n, 1, 1)), sch.input_idx,
                np.tile(times, (n, 1)), float(rtol), float(atol))
        else:
            ts, pos = _save_grid(sch.starts, sch.ends, times, sch.seg_of)
            Y, good = _solve_fn(cm, float(rtol), float(atol))(
                jax.device_put(Y0, dev), Pj, jax.device_put(sch.bolus, dev), sch.starts, sch.ends,
                sch.rates, sch.input_idx, ts, sch.seg_of, pos)
        Y = np.array(Y)
        good = np.array(good)
    Y = Y[:n_real]
    status = status[:n_real]
    status[(status == 0) & ~good[:n_real]] = 2
    Y[status != 0] = np.nan
    return Y, status
