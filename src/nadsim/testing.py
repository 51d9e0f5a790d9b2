"""Helpers for testing nadsim and models built with it (as ``xarray.testing`` and
``pint.testing`` ship theirs): one definition of the relative error the agreement tests use,
one perturbed population, and one-subject shortcuts into the engine."""

from __future__ import annotations

import numpy as np

from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate import (
    PRESETS,
    Status,
    Tolerances,
    baselines,
    compile_model,
    free_parameter_mask,
    get_solver,
    solve,
)
from nadsim.simulate._compile import CompiledModel

__all__ = ["RELATIVE_FLOOR", "baseline", "perturbed_population", "rel_err", "trajectory"]

#: in :func:`rel_err`, values smaller than this fraction of an output's largest magnitude (over
#: all subjects and times) are judged against that fraction instead: a quantity that crosses
#: zero (the clock signal, a HAM-D contribution) has no meaningful relative error near zero
RELATIVE_FLOOR = 1e-3


def rel_err(a: np.ndarray, b: np.ndarray, *, floor: float = RELATIVE_FLOOR, absolute: float = 1e-12) -> np.ndarray:
    """|a - b| / max(|b|, floor * max|b|, absolute) per output, the last axis being outputs and
    every other axis (subjects, times) pooled for the scale; returns the worst error of each
    output. NaN in ``b`` is ignored; NaN in ``a`` where ``b`` is finite counts as infinite."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    axes = tuple(range(a.ndim - 1))
    scale = np.nanmax(np.abs(b), axis=axes, keepdims=True)
    den = np.maximum(np.abs(b), np.maximum(floor * scale, absolute))
    err = np.abs(a - b) / den
    err = np.where(np.isfinite(b) & ~np.isfinite(a), np.inf, err)
    return np.nanmax(err, axis=axes)


def perturbed_population(model: Model, n: int, *, seed: int = 5, sd: float = 0.1) -> np.ndarray:
    """``n`` subjects (rows of free parameters): the first the reference adult, the others with
    every free parameter scaled by exp(N(0, sd)), clipped to its documented bounds."""
    cm = compile_model(model)
    base = np.array([model.parameters[p].value for p in cm.parameter_names])
    lo = np.array([model.parameters[p].bounds[0] for p in cm.parameter_names])
    hi = np.array([model.parameters[p].bounds[1] for p in cm.parameter_names])
    rng = np.random.default_rng(seed)
    P = np.clip(base * rng.lognormal(0.0, sd, (n, base.size)), lo, hi)
    P = np.where(free_parameter_mask(cm), P, base)
    P[0] = base
    return P


def baseline(cm: CompiledModel, p: np.ndarray, *, solver: str | None = None,
             tolerances: Tolerances | str = "default") -> np.ndarray:
    """The engine's undosed baseline of one parameter vector (raises if none is found)."""
    tol = PRESETS[tolerances] if isinstance(tolerances, str) else tolerances
    Y, ok = baselines(cm, np.asarray(p, dtype=float)[None, :], get_solver(solver), tol)
    if not ok[0]:
        raise AssertionError("no baseline for these parameters")
    return Y[0]


def trajectory(cm: CompiledModel, y0: np.ndarray, p: np.ndarray, regimen: Regimen, times: np.ndarray, *,
               rtol: float = 1e-8, atol: float = 1e-10, solver: str | None = None) -> np.ndarray:
    """States (T, n_states) of one subject from ``y0`` through ``regimen`` (raises on failure)."""
    res = solve(cm.model, regimen, np.asarray(times, dtype=float), np.asarray(p, dtype=float)[None, :],
                solver=solver, tolerances=Tolerances(rtol=rtol, atol=atol), Y0=np.asarray(y0, dtype=float))
    if res.status[0] != Status.OK:
        raise AssertionError(Status(int(res.status[0])).message)
    return res.states[0]
