"""The attribution verb: a predicted change split into the placebo response and natural course
(any drip) and the compound's effect by evidence grade (``nadsim attribute``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.evidence import Attribution, attribute_by_grade
from nadsim.library import get_model

__all__ = ["AttributeRequest", "attribute"]


@dataclass(frozen=True)
class AttributeRequest:
    regimen: Regimen
    times: np.ndarray
    outputs: Sequence[str] = ("HAMD",)
    #: covariates as :func:`nadsim.library.get_model` takes them (:func:`patient_profile`)
    profile: Mapping[str, float] = field(default_factory=dict)


def attribute(request: AttributeRequest) -> list[Attribution]:
    """The change of each output at the last time, split by :func:`nadsim.evidence.attribute_by_grade`."""
    model = get_model(profile=request.profile)
    known = set(model.outputs) | {r.name for r in model.rules}
    unknown = [o for o in request.outputs if o not in known]
    if unknown:
        raise InputError("--output", "model outputs such as HAMD, CRP, SIRT1_activity", unknown)
    return attribute_by_grade(model, request.regimen, request.times, list(request.outputs))
