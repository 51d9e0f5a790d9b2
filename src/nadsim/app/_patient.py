"""The patient verb: one patient's runs under a regimen, each compared with the same patient
simulated without it.

A dose response is only meaningful against the same subject undosed on the same grid (its
baseline orbit), and a mood change only against a placebo arm with the same visits: that is
the part of the change any drip brings (expectancy, natural course), not the compound. The CLI
(``nadsim simulate``, ``nadsim demo``) and the web page both ask for these runs here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from nadsim._errors import InputError
from nadsim.calibration import min_draws, prediction_intervals
from nadsim.dosing import Regimen
from nadsim.library import PROFILE_RANGES, get_model, with_trial_arm
from nadsim.model import Model
from nadsim.simulate import PRESETS, Tolerances, simulate

__all__ = ["IMPROVES_DOWNWARD", "INTERVAL_OUTPUTS", "PATIENT_TOLERANCES", "PatientRequest", "PatientRuns", "default_profile",
           "default_weight_kg", "patient_profile", "simulate_patient"]

#: symptom scores, where a fall is an improvement: a face shows their change as "negative =
#: improvement" (and the claims and ``nadsim measure`` their *benefit*, the fall, as positive)
IMPROVES_DOWNWARD = ("HAMD", "PHQ9")

#: the solver tolerances of one patient's runs on every face (``nadsim simulate``, ``nadsim demo``,
#: the web page): the engine's "default" preset, rtol 1e-8. The web ran at rtol 1e-6 "for
#: interactive answers", but a request took 24 vs 17 ms (300 mg drip, 24 h) and 27 vs 26 ms
#: (3 daily oral doses, 72 h) on this box: not worth two sets of numbers for one patient.
PATIENT_TOLERANCES: Tolerances = PRESETS["default"]

#: outputs that get prediction intervals (those the model has): the NAD+ pools the calibration
#: constrains, the inflammation markers and the mood score
INTERVAL_OUTPUTS = ("whole_blood_NAD", "pbmc_NAD", "plasma_NAM", "liver_NAD", "muscle_NAD", "brain_NAD", "IL6", "CRP",
                    "HAMD")


def patient_profile(*, crp_mg_L: float | None = None, hamd: float | None = None, age: float | None = None,
                    sleep: float | None = None) -> dict[str, float]:
    """A patient's covariates as :func:`nadsim.library.get_model` takes them (``profile=``),
    the ones not given left out, so that the model keeps its defaults for them. The one
    mapping from the faces' names (``--crp``, ``profile.psqi``, ...) to the library's keys."""
    given = {"crp_mg_L": crp_mg_L, "hamd": hamd, "age": age, "sleep": sleep}
    return {k: v for k, v in given.items() if v is not None}


def default_profile(model: str = "full") -> dict[str, float]:
    """The default patient in :func:`patient_profile`'s keys: the model's own covariate
    parameters (``CRP0``, ``HAMD0``, ``age``, ``PSQI0`` in the library's ``parameters.toml``),
    which a face shows and sends when the user gives none, so that every face simulates the
    same patient."""
    params = get_model(model).parameters
    return {key: params[spec[0]].value for key, spec in PROFILE_RANGES.items() if spec[0] in params}


def default_weight_kg(model: str = "full") -> float:
    """The default body weight (kg): the model's ``BW`` parameter."""
    return get_model(model).parameters["BW"].value


@dataclass(frozen=True)
class PatientRequest:
    """What to simulate for one patient (every field already parsed into canonical units)."""

    regimen: Regimen
    times: np.ndarray
    model: str = "full"
    profile: Mapping[str, float | None] = field(default_factory=dict)
    evidence: str | None = None
    #: the placebo arm itself: the same drips and visits, no compound
    placebo: bool = False
    #: also the undosed run and (for a model with a trial arm) the placebo arm
    compare: bool = True
    tolerances: Tolerances | str | None = PATIENT_TOLERANCES
    #: parameter draws for 90 % prediction intervals of :data:`INTERVAL_OUTPUTS` (0: none)
    intervals: int = 0
    interval_seed: int = 0


@dataclass(frozen=True)
class PatientRuns:
    """``dosed`` (or the placebo arm when asked for), ``undosed`` (same patient, no regimen) and
    ``placebo`` (same visits, expectancy from the first dose, no compound), each an
    :class:`xarray.Dataset` over time; ``None`` where not simulated."""

    model: Model
    dosed: xr.Dataset
    undosed: xr.Dataset | None
    placebo: xr.Dataset | None
    #: :func:`nadsim.calibration.prediction_intervals` of the dosed run (``None``: not asked)
    intervals: xr.Dataset | None = None


def interval_outputs(model: Model) -> list[str]:
    """The :data:`INTERVAL_OUTPUTS` that ``model`` has."""
    return [o for o in INTERVAL_OUTPUTS if o in model.outputs]


def patient_intervals(model: Model, regimen: Regimen | None, times: np.ndarray, *, draws: int,
                      seed: int = 0) -> xr.Dataset:
    """90 % prediction intervals (parameter uncertainty: the calibration's posterior, the
    unconstrained tissue parameters from their priors) of the patient's outputs over time."""
    if not isinstance(draws, int) or draws < min_draws(0.9):
        raise InputError("intervals", f"a whole number of parameter draws >= {min_draws(0.9)} (each 5 % tail of the "
                                      "90 % interval needs a draw)", draws)
    return prediction_intervals(model, regimen if regimen is not None else Regimen.none(), times, n=draws, seed=seed,
                                outputs=interval_outputs(model))


def simulate_patient(request: PatientRequest, *, progress: Callable[[int, int], None] | None = None) -> PatientRuns:
    """Simulate ``request``; ``progress(done, total)`` after each run."""
    model = get_model(request.model, profile=request.profile, evidence=request.evidence)
    regimen, t, tol = request.regimen, request.times, request.tolerances
    has_arm = "trial_on" in model.parameters
    if request.placebo and not (has_arm and regimen.doses):
        raise InputError("--placebo", "a dosed regimen and a model with the HAM-D endpoint", model.name)
    todo: dict[str, tuple[Model, Regimen | None]] = {}
    if request.placebo:
        todo["dosed"] = (with_trial_arm(model, start_h=regimen.doses[0].time_h), None)
    else:
        todo["dosed"] = (model, regimen)
    if request.compare or request.placebo:
        todo["undosed"] = (model, None)
    if request.compare and not request.placebo and has_arm and regimen.doses:
        todo["placebo"] = (with_trial_arm(model, start_h=regimen.doses[0].time_h), None)
    runs: dict[str, xr.Dataset] = {}
    for name, (m, reg) in todo.items():
        runs[name] = simulate(m, reg, t, tolerances=tol)
        if progress is not None:
            progress(len(runs), len(todo))
    if request.placebo:
        runs["dosed"].attrs["regimen"] = f"placebo drips ({regimen.describe()} without the compound)"
    if request.evidence:
        runs["dosed"].attrs["evidence_filter"] = f"links graded {request.evidence} or better"
    intervals = None
    if request.intervals:
        dosed_model, dosed_regimen = todo["dosed"]  # the placebo arm's own model when that is asked
        intervals = patient_intervals(dosed_model, dosed_regimen, t, draws=request.intervals,
                                      seed=request.interval_seed)
    return PatientRuns(model=model, dosed=runs["dosed"], undosed=runs.get("undosed"), placebo=runs.get("placebo"),
                       intervals=intervals)
