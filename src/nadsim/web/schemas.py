"""Request and response models of the web API (pydantic v2).

Every request model forbids unknown fields and bounds every number, so that a bad request
fails with HTTP 422 naming the field *before* any science runs. The bounds are the web
layer's safety limits (simulated time, number of doses, population size), not physiology:
the library checks physiology again and its :class:`~nadsim._errors.InputError` is also
mapped to 422 with the field named.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nadsim import app
from nadsim.calibration import min_draws

__all__ = [
    "LIMITS",
    "ClaimAuditRequest",
    "ErrorBody",
    "ErrorResponse",
    "JobInfo",
    "ParameterOut",
    "PatientProfile",
    "PredictionIntervals",
    "RegimenIn",
    "SimulateRequest",
    "TrialRequest",
    "Uncertainty",
]

#: Safety limits of the web API (the CLI and the library allow more).
LIMITS = {
    "max_until_h": 24.0 * 56,  # 8 weeks of simulated time per request
    "max_doses": 28,  # 4 weeks daily or 8 weeks twice weekly; keeps one request under ~10 s
    "max_dose_mg": 10_000.0,
    "max_infusion_min": 24 * 60.0,
    "max_interval_h": 24.0 * 28,
    "max_samples": 20,  # uncertainty band: parameter draws per simulate request (~0.7 s each)
    "max_interval_draws": 50,  # prediction intervals: calibration draws per simulate request
    "max_population": 50,  # virtual subjects per trial arm (a subject-week costs ~1.5 s of CPU)
    "max_trial_weeks": 8,
    "max_request_bytes": 32 * 1024,
    "header_timeout_s": 10.0,  # request line and headers complete within this (slowloris)
    "body_timeout_s": 30.0,  # the whole body within this
    "max_connections_per_client": 16,
    "max_concurrent_simulations": 4,
    "max_queued_simulations": 16,
    "simulation_timeout_s": 60.0,
    "max_concurrent_jobs": 2,
    "max_stored_jobs": 50,
    "job_timeout_s": 600.0,
}

Compound = Literal["NMN", "NR", "NAD", "NAM"]
Route = Literal["iv", "iv_bolus", "oral"]
Grade = Literal["A", "B", "C", "D", "E"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegimenIn(_Strict):
    """One repeated dose. Infusions are given either as a duration or as volume at a rate."""

    compound: Compound = Field("NMN", description="Precursor that is dosed.")
    route: Route = Field("iv", description="iv (infusion), iv_bolus or oral.")
    dose_mg: float = Field(300.0, gt=0, le=LIMITS["max_dose_mg"], description="Amount per dose (mg).")
    infusion_min: float | None = Field(
        None, gt=0, le=LIMITS["max_infusion_min"],
        description="IV infusion duration (min). Leave empty to give volume and rate instead.")
    infusion_volume_mL: float | None = Field(None, gt=0, le=5000, description="IV infusion volume (mL).")
    infusion_rate_mL_min: float | None = Field(None, gt=0, le=1000, description="IV infusion rate (mL/min).")
    every_h: float | None = Field(None, gt=0, le=LIMITS["max_interval_h"], description="Dosing interval (h).")
    doses: int = Field(1, ge=1, le=LIMITS["max_doses"], description="Number of doses.")

    @field_validator("infusion_rate_mL_min")
    @classmethod
    def _volume_and_rate(cls, v: float | None, info: ValidationInfo) -> float | None:
        vol = info.data.get("infusion_volume_mL")
        if vol is None and v is not None:
            raise ValueError("give infusion_volume_mL together with infusion_rate_mL_min")
        if vol is not None and v is not None and vol / v > LIMITS["max_infusion_min"]:
            raise ValueError(f"infusion_volume_mL / infusion_rate_mL_min must be at most {LIMITS['max_infusion_min']:g} min")
        return v

    @field_validator("doses")
    @classmethod
    def _interval_given(cls, v: int, info: ValidationInfo) -> int:
        if v > 1 and info.data.get("every_h") is None:
            raise ValueError("every_h (the dosing interval) is required when doses > 1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> RegimenIn:
        vol = self.infusion_volume_mL
        if vol is not None and self.infusion_rate_mL_min is None:
            raise ValueError("give infusion_rate_mL_min together with infusion_volume_mL")
        if self.route != "iv" and (self.infusion_min is not None or vol is not None):
            raise ValueError(f"an infusion (infusion_min or volume and rate) is given only with route 'iv', not '{self.route}'")
        if self.infusion_min is not None and vol is not None:
            raise ValueError("give the infusion either as infusion_min or as volume and rate, not both")
        return self

    @property
    def infusion_text(self) -> str | None:
        if self.route != "iv":
            return None
        if self.infusion_volume_mL is not None:
            return f"{self.infusion_volume_mL!r} mL at {self.infusion_rate_mL_min!r} mL/min"
        if self.infusion_min is not None:
            return f"{self.infusion_min!r} min"
        return None


#: the default patient of every face (:func:`nadsim.app.default_profile`: the model's own covariates)
_PATIENT = app.default_profile()


class PatientProfile(_Strict):
    """Covariates of one patient, in the ranges the mechanism model accepts
    (:data:`nadsim.library.full.PROFILE_RANGES`; body weight: the ``BW`` parameter's bounds).
    The defaults are the CLI's patient (:func:`nadsim.app.default_profile`)."""

    age_y: float = Field(_PATIENT["age"], ge=18, le=100, description="Age (years).")
    weight_kg: float = Field(app.default_weight_kg(), ge=40, le=150, description="Body weight (kg).")
    crp_mg_L: float = Field(_PATIENT["crp_mg_L"], ge=0.05, le=50, description="Baseline hs-CRP (mg/L).")
    hamd: float = Field(_PATIENT["hamd"], ge=0, le=52, description="HAM-D-17 total score at baseline.")
    psqi: float = Field(_PATIENT["sleep"], ge=0, le=21,
                        description="Sleep: Pittsburgh Sleep Quality Index, 0-21 (> 5 = poor sleep).")


class Uncertainty(_Strict):
    samples: int = Field(0, ge=0, le=LIMITS["max_samples"],
                         description="Parameter draws for the uncertainty band (0 = none).")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    level: float = Field(0.9, gt=0.5, lt=1.0, description="Central probability of the band.")


class PredictionIntervals(_Strict):
    draws: int = Field(0, ge=0, le=LIMITS["max_interval_draws"],
                       description=f"Parameter draws from the calibration's posterior for 90 % prediction intervals "
                                   f"(0 = none, else at least {min_draws(0.9)}).")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("draws")
    @classmethod
    def _enough_draws(cls, v: int) -> int:
        # fewer draws than this leave a 5 % tail without a draw (nadsim.calibration.min_draws)
        if 0 < v < min_draws(0.9):
            raise ValueError(f"0 (none) or at least {min_draws(0.9)} draws for a 90 % interval")
        return v


def _last_dose_h(info: ValidationInfo) -> float:
    """Time of the last dose (h) of the request's already validated ``regimen`` (0 if it failed)."""
    r = info.data.get("regimen")
    return (r.doses - 1) * (r.every_h or 0.0) if r is not None else 0.0


def _until_after_last_dose(v: float, info: ValidationInfo) -> float:
    """``until_h`` validator shared by the requests that simulate past the last dose."""
    last = _last_dose_h(info)
    if last >= v:
        raise ValueError(f"until_h ({v:g} h) must be later than the last dose ({last:g} h)")
    return v


class SimulateRequest(_Strict):
    regimen: RegimenIn = Field(default_factory=RegimenIn)
    profile: PatientProfile = Field(default_factory=PatientProfile)
    until_h: float = Field(72.0, gt=0, le=LIMITS["max_until_h"], description="Simulated time from the first dose (h).")
    min_grade: Grade = Field("E", description="Weakest evidence grade of mechanism links kept active.")
    uncertainty: Uncertainty = Field(default_factory=Uncertainty)
    intervals: PredictionIntervals = Field(default_factory=PredictionIntervals)
    trial_context: bool = Field(
        False, description="Add the natural course and expectancy (placebo) response of a trial arm to HAM-D; "
                           "off: HAM-D shows only the modelled mechanism effect.")

    _until_after_doses = field_validator("until_h")(_until_after_last_dose)


class TrialRequest(_Strict):
    """A virtual trial: one active arm with the given regimen against placebo, the population
    centred on the profile. It runs the full evidence set (no grade filter)."""

    regimen: RegimenIn = Field(default_factory=lambda: RegimenIn(infusion_volume_mL=100.0, infusion_rate_mL_min=5.0,
                                                                 every_h=168.0, doses=2))
    profile: PatientProfile = Field(default_factory=PatientProfile)
    n_per_arm: int = Field(10, ge=5, le=LIMITS["max_population"], description="Virtual subjects per arm.")
    weeks: int = Field(2, ge=1, le=LIMITS["max_trial_weeks"], description="Trial length (weeks).")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("weeks")
    @classmethod
    def _doses_fit(cls, v: int, info: ValidationInfo) -> int:
        last = _last_dose_h(info)
        if last >= v * 168.0:
            raise ValueError(f"the last dose ({last:g} h) must fall inside the trial ({v} weeks = {v * 168} h)")
        return v


class ClaimAuditRequest(_Strict):
    """The claim audit for one regimen and profile (each claim checked against the placebo arm)."""

    regimen: RegimenIn = Field(default_factory=lambda: RegimenIn(infusion_volume_mL=100.0, infusion_rate_mL_min=5.0,
                                                                 every_h=168.0, doses=4))
    profile: PatientProfile = Field(default_factory=PatientProfile)
    until_h: float = Field(672.0, gt=0, le=LIMITS["max_until_h"], description="Audit horizon from the first dose (h).")
    min_grade: Grade = Field("E", description="Weakest evidence grade of mechanism links kept active.")
    samples: int = Field(2, ge=0, le=8, description="Latin-hypercube draws of uncertain mechanism parameters.")
    seed: int = Field(0, ge=0, le=2**31 - 1)

    _until_after_doses = field_validator("until_h")(_until_after_last_dose)


class ErrorBody(BaseModel):
    field: str
    message: str
    expected: str = ""
    got: str = ""
    type: str = ""


class ErrorResponse(BaseModel):
    """Every 4xx body the API writes: a one-line ``detail`` and the errors, each naming its field."""

    detail: str
    errors: list[ErrorBody] = []


class JobInfo(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed", "cancelled", "timeout"]
    progress: float = Field(ge=0, le=1)
    message: str = ""
    created: float
    started: float | None = None
    finished: float | None = None
    error: ErrorBody | None = None


class ParameterOut(BaseModel):
    name: str
    value: float
    unit: str
    bounds: tuple[float, float]
    kind: str
    grade: str
    source: str
    locator: str
    note: str
    expr: str | None = None
    original: str = ""
