"""``nadsim.simulate``: one entry point from a model and a regimen to labelled results."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate._compile import compile_model
from nadsim.simulate._solve import integrate, steady_state

__all__ = ["DISCLAIMER", "default_model", "simulate", "time_grid"]

DISCLAIMER = (
    "nadsim is a research model, not medical advice: its predictions rest on graded, "
    "mostly indirect evidence and are not a basis for treatment decisions."
)


def default_model() -> Model:
    from nadsim.model.library import build_full

    return build_full()


def time_grid(until_h: float, *, step_h: float | None = None, regimen: Regimen | None = None) -> np.ndarray:
    """An output grid from 0 to ``until_h`` that also contains every dose event time."""
    if not np.isfinite(until_h) or until_h <= 0:
        raise InputError("until", "a positive duration", until_h)
    if step_h is None:
        step_h = min(0.25, until_h / 200) if until_h <= 72 else min(1.0, until_h / 2000)
    if step_h <= 0 or until_h / step_h > 2_000_000:
        raise InputError("step", f"positive and at most {until_h / 2_000_000:g} h... or coarser", step_h)
    n = int(np.floor(until_h / step_h + 1e-9))
    grid = np.linspace(0.0, n * step_h, n + 1)
    extra = [b for b in (regimen.breakpoints if regimen else ()) if 0 < b < until_h]
    return np.unique(np.concatenate([grid, extra, [until_h]]))


def simulate(model: Model | None = None, regimen: Regimen | None = None,
             times: Sequence[float] | np.ndarray | None = None, *,
             parameters: Mapping[str, float] | None = None, rtol: float = 1e-8, atol: float = 1e-10,
             method: str = "LSODA") -> xr.Dataset:
    """Simulate one subject from its undosed baseline.

    Parameters
    ----------
    model : the model (default: ``build_full()``, the NAD+ metabolome with the mechanism modules).
    regimen : doses; ``None`` simulates the baseline.
    times : output times in h from the first dose (default 0-24 h).
    parameters : free-parameter overrides in canonical units (uM, L, h, umol).
    rtol, atol : solver tolerances (relative; absolute in state units).
    method : SciPy method: "LSODA" (default; stiff/non-stiff switching), "BDF" or "Radau".

    Returns
    -------
    xarray.Dataset with dimension ``time`` (h): every model output and state, units in each
    variable's ``attrs["units"]``, and run metadata in ``Dataset.attrs``.
    """
    from nadsim import __version__

    model = model or default_model()
    regimen = regimen or Regimen.none()
    if parameters:
        model = model.with_parameters(parameters)
    if regimen.doses and "trial_on" in model.parameters and model.parameters["trial_on"].value == 0.0:
        # a dosed patient is in a treatment arm from the first dose: expectancy/visit effects apply
        # (a placebo arm is nadsim.model.library.full.with_trial_arm on an undosed run)
        model = model.with_parameters(trial_on=1.0, t_trial_start=regimen.doses[0].time_h)
    t = np.asarray(times if times is not None else time_grid(24.0, regimen=regimen), dtype=float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0) or t[0] < 0:
        raise InputError("times", "a strictly increasing 1-D grid of at least 2 times >= 0 h", f"shape {t.shape}")
    if regimen.doses and regimen.doses[-1].time_h > t[-1]:
        raise InputError("until", f"at or after the last dose ({regimen.doses[-1].time_h:g} h)", f"{t[-1]:g} h")
    if t[0] > 0:
        t = np.concatenate([[0.0], t])
    if not (0 < rtol < 1) or not (0 < atol < 1):
        raise InputError("rtol/atol", "tolerances in (0, 1)", (rtol, atol))
    cm = compile_model(model)
    p = cm.base_parameters()
    y0 = steady_state(cm, p)
    Y, stats = integrate(cm, y0, p, regimen, t, rtol=rtol, atol=atol, method=method)
    R = cm.rules(t, Y, p)  # t (T,) broadcasts against Y (T, n); t[:, None] made (T, T) for time-dependent rules
    data: dict[str, Any] = {}
    for i, n in enumerate(cm.rule_names):
        data[n] = xr.DataArray(R[:, i], dims="time", attrs={"units": model.unit_of(n), "kind": "output"})
    for i, n in enumerate(cm.state_names):
        data[n] = xr.DataArray(Y[:, i], dims="time", attrs={"units": model.unit_of(n), "kind": "state"})
    ds = xr.Dataset(data, coords={"time": xr.DataArray(t, dims="time", attrs={"units": "h"})})
    ds.attrs.update({
        "nadsim_version": __version__,
        "model": model.name,
        "model_hash": model.hash(),
        "solver": f"scipy.integrate.solve_ivp[{method}]",
        "rtol": rtol,
        "atol": atol,
        "regimen": regimen.describe(),
        "n_doses": len(regimen.doses),
        "nfev": stats["nfev"],
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "disclaimer": DISCLAIMER,
    })
    return ds
