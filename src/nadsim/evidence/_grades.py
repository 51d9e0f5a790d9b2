"""Evidence grades, the evidence filter and attribution of a predicted change to grades.

Grades, strongest first: A human randomised trial, B human observational or genetic, C animal,
D in vitro or biochemical, E hypothesis only. Every causal step of the mechanism chain is a
:class:`~nadsim.model.Link` whose gate parameter multiplies the step's deviation from baseline.

* :func:`apply_evidence_filter` keeps the links at a grade or better and sets the others' gates to
  0 (no effect). The NAD+ metabolome itself is not link-gated.
* :func:`attribute_by_grade` switches gates on grade by grade (none, A, A-B, ..., A-E) and reports
  the increment of the predicted change at each step: the parts sum exactly to the full change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.model import GRADES, Model

__all__ = ["GRADE_ORDER", "Attribution", "apply_evidence_filter", "attribute_by_grade", "check_grade",
           "weakest"]

GRADE_ORDER: tuple[str, ...] = tuple(GRADES)


def check_grade(grade: object, field: str = "--evidence") -> str:
    """Normalise a grade letter; raise :class:`InputError` naming ``field`` otherwise."""
    g = str(grade).strip().upper() if isinstance(grade, str) else grade
    if g not in GRADE_ORDER:
        raise InputError(field, f"one of {', '.join(GRADE_ORDER)} (A strongest: human RCT)", grade)
    return str(g)


def weakest(grades: Sequence[str]) -> str:
    """The weakest of some grades (the grade of a chain is the grade of its weakest link)."""
    return max(grades, key=GRADE_ORDER.index) if grades else "A"


def _gates_off_weaker_than(model: Model, grade: str | None) -> Model:
    cut = -1 if grade is None else GRADE_ORDER.index(grade)
    updates = {ln.gate: (1.0 if GRADE_ORDER.index(ln.grade) <= cut else 0.0) for ln in model.links}
    return model.with_parameters(updates) if updates else model


def apply_evidence_filter(model: Model, grade: str) -> Model:
    """The model with only links graded ``grade`` or better active (other gates set to 0)."""
    return _gates_off_weaker_than(model, check_grade(grade))


@dataclass(frozen=True)
class Attribution:
    """How much of a predicted change rests on each evidence grade (at one time point)."""

    output: str
    unit: str
    time_h: float
    total: float
    #: "metabolome" (no link needed) and each grade A-E -> increment of the change
    parts: dict[str, float]

    def shares(self) -> dict[str, float]:
        tot = sum(abs(v) for v in self.parts.values())
        return {k: (abs(v) / tot if tot else 0.0) for k, v in self.parts.items()}


def attribute_by_grade(model: Model, regimen: Regimen, times: Sequence[float] | np.ndarray,
                       outputs: Sequence[str], *, comparator: Model | None = None,
                       comparator_regimen: Regimen | None = None, at_h: float | None = None,
                       rtol: float = 1e-6, atol: float = 1e-9) -> list[Attribution]:
    """Attribute the predicted change of ``outputs`` at ``at_h`` (default: last time) to grades.

    The change is ``output(model, regimen) - output(comparator, comparator_regimen)``; by default
    the comparator is the same model undosed and untreated (its baseline). Both runs are repeated
    with the gates switched on grade by grade; each grade's part is the increment it adds.
    """
    from nadsim.simulate import simulate

    t = np.asarray(times, dtype=float)
    at = float(t[-1] if at_h is None else at_h)
    idx = int(np.argmin(np.abs(t - at)))
    comp = comparator or model
    levels: list[str | None] = [None, *GRADE_ORDER]
    change: dict[str | None, np.ndarray] = {}
    for lv in levels:
        a = simulate(_gates_off_weaker_than(model, lv), regimen, t, rtol=rtol, atol=atol)
        b = simulate(_gates_off_weaker_than(comp, lv), comparator_regimen, t, rtol=rtol, atol=atol)
        change[lv] = np.array([float(a[o].values[idx] - b[o].values[idx]) for o in outputs])
    out = []
    for k, o in enumerate(outputs):
        parts = {"metabolome": float(change[None][k])}
        prev = change[None][k]
        for g in GRADE_ORDER:
            parts[g] = float(change[g][k] - prev)
            prev = change[g][k]
        out.append(Attribution(o, model.unit_of(o), float(t[idx]), float(change["E"][k]), parts))
    return out
