"""The regimen verb: one patient under one regimen against a reference run, with the
uncertainty the web page draws.

The reference is the same patient on the same grid without the compound: undosed, or, in a
trial context, the placebo arm (same visits, expectancy from the first dose), so the change
from it is what the model attributes to the compound either way. Without a trial context the
placebo and natural-course links are off, so HAM-D shows the modelled mechanisms alone.

Two kinds of uncertainty, both optional:

- a *band*: Latin-hypercube draws of the uncertain mechanism parameters, uniform within their
  bounds (the claim audit's sampler), central quantiles across draws;
- *prediction intervals*: :func:`nadsim.calibration.prediction_intervals` over draws from the
  calibration's posterior (unconstrained tissue parameters from their priors), as
  ``nadsim simulate --interval`` prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from nadsim._errors import InputError
from nadsim.analysis import summarize
from nadsim.app._patient import PATIENT_TOLERANCES, patient_intervals
from nadsim.dosing import Regimen
from nadsim.evidence import CONTEXT_LINKS
from nadsim.evidence._claims import latin_hypercube, uncertain_parameters
from nadsim.library import get_model
from nadsim.model import Model
from nadsim.simulate import Tolerances, compile_model, simulate, time_grid
from nadsim.simulate.batch import simulate_batch
from nadsim.simulate.solvers import get_solver

__all__ = ["RegimenRequest", "RegimenRun", "base_model", "patient_model", "prepare_solver", "regimen_grid",
           "simulate_regimen"]

#: output points per series for long runs (dose events are always kept)
MAX_POINTS = 1200


@dataclass(frozen=True)
class RegimenRequest:
    """One patient, one regimen (every field parsed into canonical units)."""

    regimen: Regimen
    until_h: float
    #: covariates as :func:`nadsim.library.get_model` takes them (:func:`patient_profile`)
    profile: Mapping[str, float | None] = field(default_factory=dict)
    weight_kg: float | None = None
    #: weakest grade of the mechanism links kept (``None``: all)
    evidence: str | None = None
    #: the patient is in a trial arm from the first dose: expectancy and natural course apply,
    #: and the reference is the placebo arm; off: those links are switched off
    trial_context: bool = False
    band_samples: int = 0
    band_seed: int = 0
    band_level: float = 0.9
    #: parameter draws for 90 % prediction intervals (0: none)
    intervals: int = 0
    interval_seed: int = 0
    #: the same tolerances as ``nadsim simulate`` (:data:`PATIENT_TOLERANCES`), band included
    tolerances: Tolerances = PATIENT_TOLERANCES


@dataclass(frozen=True)
class RegimenRun:
    """The runs of :func:`simulate_regimen`, each an :class:`xarray.Dataset` over ``time``."""

    model: Model
    regimen: Regimen
    #: what the model was built with: ``profile`` (library keys, and ``BW``), ``evidence``,
    #: ``links_off`` (links below the evidence grade), ``trial_context``
    applied: Mapping[str, Any]
    dosed: xr.Dataset
    reference: xr.Dataset
    #: the model's declared outputs that are not zero everywhere in the run, in model order
    outputs: tuple[str, ...]
    #: the response to the dose of the asked outputs (:func:`nadsim.analysis.summarize`)
    summary: pd.DataFrame
    #: output -> (lower, upper) over time, and how it was drawn; ``None``: not asked
    band: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None
    band_info: Mapping[str, Any] | None = None
    #: :func:`nadsim.calibration.prediction_intervals` of the dosed run; ``None``: not asked
    intervals: xr.Dataset | None = None


def patient_model(request: RegimenRequest, name: str = "full") -> tuple[Model, dict[str, Any]]:
    """The patient's model from :func:`nadsim.library.get_model`, and what was applied."""
    doses = request.regimen.doses
    arm = doses[0].time_h if request.trial_context and doses else None
    base = get_model(name, profile=request.profile, evidence=request.evidence, arm=arm)
    updates: dict[str, float] = {}
    weight = None
    if request.weight_kg is not None and "BW" in base.parameters and base.parameters["BW"].expr is None:
        weight = updates["BW"] = float(request.weight_kg)
    if not request.trial_context:
        # a dosed patient is always in a treatment arm (the engine's arm switch), so "no trial
        # context" switches the placebo and natural-course links off (issue #16)
        updates.update({lk.gate: 0.0 for lk in base.links if lk.name in CONTEXT_LINKS})
    updates = {k: v for k, v in updates.items() if base.parameters[k].value != v}
    model = base.with_parameters(updates) if updates else base
    unfiltered = get_model(name, profile=request.profile, arm=arm) if request.evidence else base
    applied = {
        "profile": sorted(k for k, v in request.profile.items() if v is not None) + (["BW"] if weight is not None else []),
        "evidence": request.evidence,
        "links_off": sorted(lk.name for lk in base.links
                            if base.parameters[lk.gate].value == 0 and unfiltered.parameters[lk.gate].value != 0),
        "trial_context": arm is not None,
    }
    return model, applied


def regimen_grid(until_h: float, regimen: Regimen) -> np.ndarray:
    """Output times 0..``until_h``: fine for up to 3 days, at most :data:`MAX_POINTS` beyond."""
    if not until_h > 0:
        raise InputError("until", "a positive duration (h)", until_h)
    if until_h < regimen.last_time_h:
        raise InputError("until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", until_h)
    step = None if until_h <= 72 else max(until_h / MAX_POINTS, min(1.0, until_h / 2000))
    return time_grid(until_h, step_h=step, regimen=regimen)


def _band(model: Model, request: RegimenRequest, times: np.ndarray,
          names: tuple[str, ...]) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, Any]]:
    cm = compile_model(model)
    base = np.array([model.parameters[k].value for k in cm.parameter_names], dtype=float)
    P = np.tile(base, (request.band_samples, 1))
    for i, draw in enumerate(latin_hypercube(uncertain_parameters(model), request.band_samples, request.band_seed)):
        for k, v in draw.items():
            P[i, cm.parameter_names.index(k)] = v
    res = simulate_batch(model, request.regimen, times, P, tolerances=request.tolerances)
    ok = res["status"].values == 0
    lo_q, hi_q = (1 - request.band_level) / 2, 1 - (1 - request.band_level) / 2
    rules = {r.name for r in model.rules}
    band = {}
    if ok.any():
        for n in names:
            if n in rules:
                Y = res[n].values[ok]
                band[n] = (np.quantile(Y, lo_q, axis=0), np.quantile(Y, hi_q, axis=0))
    info = {"samples": int(res.sizes["subject"]), "ok": int(ok.sum()), "level": request.band_level,
            "seed": request.band_seed,
            "method": "Latin-hypercube draws of the uncertain mechanism parameters, uniform within their bounds "
                      "(nadsim.evidence, as in the claim audit); band = central quantiles across draws"}
    return band, info


def simulate_regimen(request: RegimenRequest, summary_outputs: tuple[str, ...] = ()) -> RegimenRun:
    """Simulate ``request``; ``summary_outputs``: the outputs whose dose response is summarised."""
    model, applied = patient_model(request)
    times = regimen_grid(request.until_h, request.regimen)
    dosed = simulate(model, request.regimen, times, tolerances=request.tolerances)
    t = dosed["time"].values
    reference = simulate(model, None, t, tolerances=request.tolerances)
    outputs = tuple(v for v in model.outputs if v in dosed and np.any(np.nan_to_num(dosed[v].values) != 0))
    summary = summarize(dosed, [n for n in outputs if n in summary_outputs], reference=reference)
    band = band_info = None
    if request.band_samples > 0:
        band, band_info = _band(model, request, t, outputs)
    intervals = None
    if request.intervals > 0:
        intervals = patient_intervals(model, request.regimen, t, draws=request.intervals, seed=request.interval_seed)
    return RegimenRun(model=model, regimen=request.regimen, applied=applied, dosed=dosed, reference=reference, outputs=outputs,
                      summary=summary, band=band, band_info=band_info, intervals=intervals)


def base_model(name: str = "full") -> Model:
    """The model ``name`` with its defaults (no patient): what the faces list (parameters,
    links, outputs), from :func:`nadsim.library.get_model`."""
    return get_model(name)


def prepare_solver(name: str = "full") -> None:
    """Compile or load the default solver's machine code for the model ``name`` (seconds on a
    fresh machine), so that a later request does not pay for it."""
    get_solver().prepare(get_model(name))
