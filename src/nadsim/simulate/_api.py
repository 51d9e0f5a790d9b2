"""``simulate`` (one subject) and ``simulate_batch`` (many): the engine's public faces.

Both return one result type, an :class:`xarray.Dataset`: every output (assignment rule) and,
for ``simulate`` or with ``keep_states``, every state, over ``(subject, time)``; ``status``
over ``subject`` (:class:`~nadsim.simulate.Status` values); units in each variable's
``attrs["units"]``; run metadata (nadsim version, model hash, solver, tolerances, regimen) in
``Dataset.attrs``. ``simulate`` squeezes the ``subject`` dimension away and raises for a failed
subject; ``simulate_batch`` never raises for one subject.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from nadsim._errors import InputError, SolverError
from nadsim._version import __version__
from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate._compile import CompiledModel, compile_model
from nadsim.simulate._engine import EngineResult, solve
from nadsim.simulate._status import Status
from nadsim.simulate._tolerances import Tolerances, resolve_tolerances
from nadsim.simulate.solvers import AbstractSolver

__all__ = ["DISCLAIMER", "dataset", "metadata", "simulate", "time_grid"]

DISCLAIMER = (
    "nadsim is a research model, not medical advice: its predictions rest on graded, "
    "mostly indirect evidence and are not a basis for treatment decisions."
)

Progress = Callable[[int, int], None]


def time_grid(until_h: float, *, step_h: float | None = None, regimen: Regimen | None = None) -> np.ndarray:
    """An output grid from 0 to ``until_h`` that also contains every dose event time."""
    if not np.isfinite(until_h) or until_h <= 0:
        raise InputError("until", "a positive duration", until_h)
    if step_h is None:
        step_h = min(0.25, until_h / 200) if until_h <= 72 else min(1.0, until_h / 2000)
    if not np.isfinite(step_h) or step_h <= 0 or until_h / step_h > 2_000_000:
        raise InputError("step", f"positive and at most {until_h / 2_000_000:g} h... or coarser", step_h)
    n = int(np.floor(until_h / step_h + 1e-9))
    grid = np.linspace(0.0, n * step_h, n + 1)
    extra = [b for b in (regimen.breakpoints if regimen else ()) if 0 < b < until_h]
    return np.unique(np.concatenate([grid, extra, [until_h]]))


def metadata(model: Model, regimen: Regimen, result: EngineResult | None, solver: str, tol: Tolerances,
              **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "nadsim_version": __version__,
        "model": model.name,
        "model_hash": model.hash(),
        "solver": solver,
        "rtol": tol.rtol,
        "atol": tol.atol,
        "tolerances": json.dumps(tol.as_dict()),
        "regimen": regimen.describe(),
        "n_doses": len(regimen.doses),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "disclaimer": DISCLAIMER,
    }
    if result is not None and "nfev" in result.stats:
        meta["nfev"] = int(np.sum(result.stats["nfev"]))
    meta.update(extra)
    return meta


def variable(dims: tuple[str, ...], values: np.ndarray, attrs: dict[str, Any]) -> xr.Variable:
    """An xarray Variable over NumPy ``values`` (float or integer), made without xarray's
    duck-array checks: for a plain ndarray they import ``dask.array`` whenever Dask is installed,
    0.3-0.6 s of the first result in every fresh process (cProfile, 2026-12-04)."""
    values = np.asarray(values)  # a memory map as a plain ndarray view, no copy, as xarray would
    if values.dtype.kind not in "fiu":
        raise TypeError(f"float or integer values, not {values.dtype}")  # a programming error
    return xr.Variable(dims, values, attrs=attrs, fastpath=True)


def dataset(cm: CompiledModel, times: np.ndarray, rules: np.ndarray, states: np.ndarray | None,
             status: np.ndarray, attrs: dict[str, Any], *, squeeze: bool) -> xr.Dataset:
    """The result Dataset over (subject, time), or over time alone with ``squeeze``."""
    model = cm.model
    dims: tuple[str, ...] = ("time",) if squeeze else ("subject", "time")
    pick: Callable[[np.ndarray, int], np.ndarray] = (lambda a, i: a[0, :, i]) if squeeze else (lambda a, i: a[:, :, i])
    data: dict[str, xr.Variable] = {}
    for i, n in enumerate(cm.rule_names):
        data[n] = variable(dims, pick(rules, i), {"units": model.unit_of(n), "kind": "output"})
    if states is not None:
        for i, n in enumerate(cm.state_names):
            data[n] = variable(dims, pick(states, i), {"units": model.unit_of(n), "kind": "state"})
    coords: dict[str, Any] = {"time": variable(("time",), times, {"units": "h"})}
    if not squeeze:
        data["status"] = variable(("subject",), np.asarray(status), {
            "kind": "status", "meaning": "; ".join(f"{s.value} = {s.message}" for s in Status)})
        coords["subject"] = variable(("subject",), np.arange(status.shape[0]), {})
    return xr.Dataset(data, coords=coords, attrs=attrs)


def simulate(model: Model, regimen: Regimen | None = None,
             times: Sequence[float] | np.ndarray | None = None, *,
             parameters: Mapping[str, float] | None = None, tolerances: Tolerances | str | None = None,
             rtol: float | None = None, atol: float | None = None,
             solver: str | AbstractSolver | None = None) -> xr.Dataset:
    """Simulate one subject from its undosed baseline.

    Parameters
    ----------
    model : the model (:func:`nadsim.library.get_model` builds the library's).
    regimen : doses; ``None`` simulates the baseline.
    times : output times in h from the first dose (default 0-24 h on a quarter-hour grid).
    parameters : free-parameter overrides in canonical units (uM, L, h, umol).
    tolerances : a preset name (``"fast"``, ``"default"``, ``"reference"``) or a
        :class:`Tolerances`; ``rtol``/``atol`` override it.
    solver : ``"native"`` (default), ``"scipy"`` (the reference) or ``"jax"``, or an instance.

    Returns
    -------
    xarray.Dataset over ``time`` (h): every output and state, units in ``attrs["units"]``,
    run metadata in ``Dataset.attrs``.

    Raises
    ------
    InputError for bad input; SolverError when the subject's baseline or integration fails.
    """
    regimen = regimen or Regimen.none()
    if parameters:
        model = model.with_parameters(parameters)
    t = np.asarray(times if times is not None else time_grid(24.0, regimen=regimen), dtype=float)
    if t.ndim == 1 and t.size and t[0] > 0:
        t = np.concatenate([[0.0], t])
    tol = resolve_tolerances(tolerances, rtol=rtol, atol=atol)
    cm = compile_model(model)
    P = cm.base_parameters()[None, :]
    res = solve(model, regimen, t, P, solver=solver, tolerances=tol)
    st = Status(int(res.status[0]))
    if st is not Status.OK:
        raise SolverError("solver", "a successful integration", st.message,
                          hint="check the parameter set and the regimen")
    return dataset(cm, res.times, res.rules, res.states, res.status,
                    metadata(model, regimen, res, res.solver, tol), squeeze=True)
