"""The value-of-information verb: the HAM-D effect's interval over joint draws of every
mechanism link inside the human cytokine constraints, and the candidate measurements ranked by
how much each would narrow it (``nadsim measure``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nadsim._errors import InputError
from nadsim.analysis.value import (
    CYTOKINE_CONSTRAINTS,
    Draws,
    hamd_interval,
    noise_floor,
    rejected_by_any,
    rejections,
    run_draws,
    significance_weights,
    value_of_information,
)
from nadsim.dosing import Regimen
from nadsim.library import get_model
from nadsim.simulate import DISCLAIMER

__all__ = ["MeasureRequest", "MeasureResult", "measure"]


@dataclass(frozen=True)
class MeasureRequest:
    regimen: Regimen
    #: when the HAM-D effect is read (weeks from the first dose)
    weeks: float = 8.0
    profile: Mapping[str, float] = field(default_factory=dict)
    draws: int = 300
    n_per_arm: int = 30
    level: float = 0.9
    seed: int = 0


@dataclass(frozen=True)
class MeasureResult:
    """``draws``: the joint draws (for figures); ``payload``: the result as JSON-able data
    (interval of the HAM-D benefit, significance-weighted interval, constraints with the draws each
    rejects (overlapping) and ``n_outside_constraints`` (distinct), ranked measurements, noise floor)."""

    draws: Draws
    payload: Mapping[str, Any]


#: what ``interval`` measures, and its sign (the attribution and simulate tables show the change
#: in HAM-D instead, where negative = improvement)
EFFECT = "HAM-D-17 benefit: placebo arm minus active arm, points; positive = improvement"


def outside_constraints(draws: Draws) -> int:
    """Solved draws outside at least one cytokine constraint, each counted once (a draw can
    fail several, so :func:`nadsim.analysis.value.rejections` overlap)."""
    return rejected_by_any(draws)


def measure(request: MeasureRequest, *, progress: Callable[[int, int], None] | None = None) -> MeasureResult:
    if request.regimen.last_time_h > request.weeks * 7 * 24.0:
        raise InputError("--weeks", f"at or after the last dose ({request.regimen.last_time_h / 168:g} weeks)",
                         request.weeks)
    model = get_model(profile=request.profile)
    d = run_draws(model, n=request.draws, seed=request.seed, regimen=request.regimen, effect_weeks=request.weeks,
                  progress=progress)
    level, seed = request.level, request.seed
    rejected = rejections(d)
    payload = {"regimen": d.regimen, "profile": d.profile, "weeks": request.weeks, "effect": EFFECT,
               "interval": hamd_interval(d, level=level),
               "interval_significance_weighted": hamd_interval(d, level=level, weights=significance_weights(d)),
               "constraints": [{"study": c.name, "outputs": list(c.outputs), "region_ln_ratio": list(c.region),
                                "rejected": rejected[c.name], "source": c.source, "note": c.note}
                               for c in CYTOKINE_CONSTRAINTS],
               "n_solved": int(d.solved.sum()), "n_outside_constraints": outside_constraints(d),
               "n_per_arm": request.n_per_arm,
               "measurements": value_of_information(d, n_per_arm=request.n_per_arm, level=level, seed=seed),
               "noise_floor_pct": noise_floor(d, level=level, seed=seed),
               "disclaimer": DISCLAIMER}
    return MeasureResult(draws=d, payload=payload)
