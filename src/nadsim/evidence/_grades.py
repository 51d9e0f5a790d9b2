"""Evidence grades, the evidence filter and attribution of a predicted change to grades.

Grades, strongest first: A human randomised trial, B human observational or genetic, C animal,
D in vitro or biochemical, E hypothesis only. Every causal step of the mechanism chain is a
:class:`~nadsim.model.Link` whose gate parameter multiplies the step's deviation from baseline.

* :func:`apply_evidence_filter` keeps the links at a grade or better and sets the others' gates to
  0 (no effect). The NAD+ metabolome itself is not link-gated.
* :func:`attribute_by_grade` first separates what any treatment arm brings (placebo response and
  natural course: a placebo arm minus the untreated subject) from the compound's effect (dosed
  minus placebo arm), then switches gates on grade by grade (none, A, A-B, ..., A-E) and reports
  each grade's increment *of the compound's effect*: those parts sum exactly to it. Crediting
  the placebo response to grade-A evidence, as a plain gate sweep does, would make a drip look
  evidence-based for points that a saline drip earns too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.model._grading import GRADE_ORDER, apply_evidence_filter, check_grade, weakest
from nadsim.simulate import simulate

__all__ = ["CONTEXT_LINKS", "GRADE_ORDER", "Attribution", "apply_evidence_filter", "attribute_by_grade", "check_grade",
           "weakest"]

#: links whose effect any treatment arm has, with or without the compound (placebo response:
#: expectancy and study visits; natural course: time in care). They are never credited to the
#: compound's evidence.
CONTEXT_LINKS: tuple[str, ...] = ("placebo_hamd", "course_hamd")


@dataclass(frozen=True)
class Attribution:
    """A predicted change at one time, split honestly.

    ``total`` = dosed run - the same subject untreated (undosed, no trial arm). ``context`` = a
    placebo arm (same visits, expectancy from the first dose, no compound) - untreated: the
    placebo response and natural course. ``compound`` = total - context, the part the model
    attributes to the compound; ``parts`` splits *only that part* into the metabolome's own
    response (every mechanism link off) and each grade's increment, so that
    ``sum(parts) == compound``.
    """

    output: str
    unit: str
    time_h: float
    total: float
    context: float
    compound: float
    #: "metabolome" and each grade A-E -> increment of the compound's effect
    parts: dict[str, float]

    def shares(self) -> dict[str, float]:
        """Each part's share of the compound's effect (by magnitude)."""
        tot = sum(abs(v) for v in self.parts.values())
        return {k: (abs(v) / tot if tot else 0.0) for k, v in self.parts.items()}


def _levels(model: Model, level: str | None, keep: set[str]) -> Model:
    """Links graded ``level`` or better as in ``model``, weaker ones off; ``keep`` links as they
    are (so the last level, E, is ``model`` itself, evidence filter included)."""
    cut = -1 if level is None else GRADE_ORDER.index(level)
    updates = {ln.gate: (model.parameters[ln.gate].value if GRADE_ORDER.index(ln.grade) <= cut else 0.0)
               for ln in model.links if ln.name not in keep}
    return model.with_parameters(updates) if updates else model


def attribute_by_grade(model: Model, regimen: Regimen, times: Sequence[float] | np.ndarray,
                       outputs: Sequence[str], *, at_h: float | None = None,
                       rtol: float = 1e-6, atol: float = 1e-9) -> list[Attribution]:
    """Split the predicted change of ``outputs`` at ``at_h`` (default: last time).

    Runs: the untreated subject; for a model with a trial arm (``trial_on``) a placebo arm from
    the first dose; and the dosed run. The compound's effect (dosed - placebo arm) is then
    recomputed with the mechanism links switched on grade by grade (none, A, A-B, ..., A-E),
    the placebo and natural-course links (:data:`CONTEXT_LINKS`) staying on in both arms, and
    each grade's part is the increment it adds.
    """

    t = np.asarray(times, dtype=float)
    at = float(t[-1] if at_h is None else at_h)
    idx = int(np.argmin(np.abs(t - at)))
    keep = {ln.name for ln in model.links if ln.name in CONTEXT_LINKS}
    has_arm = "trial_on" in model.parameters and bool(regimen.doses)
    untreated = model.with_parameters(trial_on=0.0) if has_arm else model
    placebo = (untreated.with_parameters(trial_on=1.0, t_trial_start=float(regimen.doses[0].time_h))
               if has_arm else untreated)

    def at_idx(m: Model, reg: Regimen | None) -> np.ndarray:
        ds = simulate(m, reg, t, rtol=rtol, atol=atol)
        return np.array([float(ds[o].values[idx]) for o in outputs])

    base = at_idx(untreated, None)
    effect: dict[str | None, np.ndarray] = {}
    for lv in [None, *GRADE_ORDER]:
        a = at_idx(_levels(model, lv, keep), regimen)
        b = at_idx(_levels(placebo, lv, keep), None)
        effect[lv] = a - b
        if lv == GRADE_ORDER[-1]:  # every link as in the model: the dosed run and the placebo arm
            dosed, pbo = a, b
    out = []
    for k, o in enumerate(outputs):
        parts = {"metabolome": float(effect[None][k])}
        prev = effect[None][k]
        for g in GRADE_ORDER:
            parts[g] = float(effect[g][k] - prev)
            prev = effect[g][k]
        out.append(Attribution(o, model.unit_of(o), float(t[idx]), float(dosed[k] - base[k]),
                               float(pbo[k] - base[k]), float(effect["E"][k]), parts))
    return out
