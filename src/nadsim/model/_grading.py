"""Evidence grades as model data: normalising a grade, the weakest of several, and the evidence
filter (a model with only the links of a grade or better switched on).

Grades, strongest first: A human randomised trial, B human observational or genetic, C animal,
D in vitro or biochemical, E hypothesis only. Every causal step of the mechanism chain is a
:class:`~nadsim.model.Link` whose gate parameter multiplies the step's deviation from baseline,
so the filter only sets gate parameters: it is a pure function of the model, which is why it
lives here and not with the attribution in :mod:`nadsim.evidence` (the model factory
:func:`nadsim.library.get_model` applies it, below the evidence package).
"""

from __future__ import annotations

from collections.abc import Sequence

from nadsim._errors import InputError
from nadsim.model._model import Model
from nadsim.model._parameter import GRADES

__all__ = ["GRADE_ORDER", "apply_evidence_filter", "check_grade", "gates_off_weaker_than", "weakest"]

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


def gates_off_weaker_than(model: Model, grade: str | None) -> Model:
    """Gates of links graded ``grade`` or better on (1), the others off (``None``: all off)."""
    cut = -1 if grade is None else GRADE_ORDER.index(grade)
    updates = {ln.gate: (1.0 if GRADE_ORDER.index(ln.grade) <= cut else 0.0) for ln in model.links}
    return model.with_parameters(updates) if updates else model


def apply_evidence_filter(model: Model, grade: str) -> Model:
    """The model with only links graded ``grade`` or better active (other gates set to 0)."""
    return gates_off_weaker_than(model, check_grade(grade))
