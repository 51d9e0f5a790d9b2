"""The one model factory, :func:`get_model`.

Each folder holds a model's structure (``model.py``) and numbers (``parameters.toml``);
``full`` composes the NAD+ metabolome (``nad_core``) with the mechanism modules and the HAM-D
endpoint. The library sits above the engine (building ``full`` solves nad_core's undosed
steady state once) and below everything that uses a model: the CLI, the web page, trials,
calibration and the claim audit all get their models here, so a patient profile, an evidence
filter and a trial arm mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from nadsim._errors import InputError
from nadsim.library._stored import stored
from nadsim.library.full import PROFILE_RANGES, apply_profile, build_full, with_trial_arm
from nadsim.library.nad_core.model import build as build_nad_core
from nadsim.model import Model, apply_evidence_filter

__all__ = ["MODELS", "get_model"]

#: model names :func:`get_model` knows, with what each holds
MODELS: dict[str, str] = {
    "full": "NAD+ metabolome, the four mechanism groups and the HAM-D endpoint",
    "nad_core": "the NAD+ metabolome alone (dosing, blood, liver, muscle, brain, urine)",
}


def get_model(name: str = "full", *, profile: Mapping[str, float | None] | None = None,
              evidence: str | None = None, arm: float | None = None) -> Model:
    """The model ``name`` for one patient, evidence level and trial context.

    Parameters
    ----------
    name : one of :data:`MODELS`.
    profile : baseline covariates, any of ``crp_mg_L``, ``hamd``, ``age``, ``sleep``
        (:data:`PROFILE_RANGES` gives their ranges); ``None`` values are left as they are.
    evidence : keep only mechanism links graded this or better (``"A"``-``"E"``).
    arm : the time (h) the patient enters a trial arm, placebo or active, so that the
        expectancy and visit response applies from then on. A dosed subject enters the arm at
        the first dose anyway (the engine's arm switch); this is for a placebo arm.

    Raises
    ------
    InputError naming the field (``model``, the profile's CLI option, ``--evidence``).
    """
    if name not in MODELS:
        raise InputError("model", f"one of {', '.join(MODELS)}", name)
    items = tuple(sorted((k, v) for k, v in (profile or {}).items() if v is not None))
    unknown = sorted(k for k, _ in items if k not in PROFILE_RANGES)
    if unknown:
        raise InputError("profile", f"keys among {', '.join(PROFILE_RANGES)}", ", ".join(unknown))
    try:
        hash((items, evidence, arm))
    except TypeError:
        raise InputError("profile", "numbers (and a grade letter, a time in h)", repr(items)) from None
    return _build(name, items, evidence, arm)


@lru_cache(maxsize=256)
def _build(name: str, profile: tuple[tuple[str, float], ...], evidence: str | None, arm: float | None) -> Model:
    # models are immutable values, so a web server or a trial asking again for the same patient
    # gets the same object without re-checking units and moieties
    if profile:
        model = apply_profile(_base(name, None), **dict(profile))
        if evidence is not None:
            model = apply_evidence_filter(model, evidence)
    else:
        model = _base(name, evidence)
    if arm is not None:
        model = with_trial_arm(model, start_h=arm)  # new values only: nothing to re-check
    return model


def _base(name: str, evidence: str | None) -> Model:
    """The library's model, evidence-filtered: from the disk store in a fresh process (a handful
    of entries: one per model and grade), built and checked otherwise."""

    def build() -> Model:
        model = build_full() if name == "full" else build_nad_core()
        return model if evidence is None else apply_evidence_filter(model, evidence)

    return stored(repr((name, evidence)), build)
