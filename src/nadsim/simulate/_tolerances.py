"""Solver tolerances: one object, named presets, recorded in every result.

``rtol``/``atol`` govern the integration of the regimen (error per step, weighted by
``atol + rtol * |y|``, as SciPy and CVODE weight it). The baseline's own settings are derived
from them so that the baseline is never the weakest link: each one-period map of the orbit
search runs ``BASELINE_FACTOR`` times tighter, and the orbit is accepted when one period moves
no state by more than ``orbit_tol`` (relative to max(|y|, 0.1)), i.e. when the distance to the
orbit (about 20x that, with the slowest pool contracting ~5 % a day) is below the run's own
error. ``max_steps`` bounds the work of one subject (all segments together) and ``max_wall_s`` its
wall-clock time (the baseline search and the run each get it): a subject that needs more gets a
failure status (``STEP_LIMIT``, ``TIME_LIMIT``) instead of running on. A subject of the default
model takes ~10 ms, so the default of 60 s is only ever reached by a runaway solve.

Presets: ``"fast"`` (rtol 1e-6: populations, trials, calibration, the web), ``"default"``
(1e-8: one ``simulate``), ``"reference"`` (1e-10: agreement tests).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from nadsim._errors import InputError

__all__ = ["PRESETS", "Tolerances", "resolve_tolerances"]

#: baseline maps run this many times tighter than the regimen
BASELINE_FACTOR = 30.0


@dataclass(frozen=True)
class Tolerances:
    """Relative and absolute tolerance of the integration, and the work bounds per subject."""

    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 2_000_000
    max_wall_s: float = 60.0

    def __post_init__(self) -> None:
        for name, lo in (("rtol", 1e-14), ("atol", 1e-300)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not (lo <= v <= 1e-2):
                raise InputError(name, f"a tolerance between {lo:g} and 1e-2", v)
        if not isinstance(self.max_steps, int) or not (100 <= self.max_steps <= 100_000_000):
            raise InputError("max_steps", "a whole number of solver steps between 100 and 1e8", self.max_steps)
        w = self.max_wall_s
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or not (1e-3 <= w <= 86_400):
            raise InputError("max_wall_s", "seconds of wall-clock time per subject between 0.001 and 86400", w)

    @property
    def baseline_rtol(self) -> float:
        return max(self.rtol / BASELINE_FACTOR, 1e-12)

    @property
    def baseline_atol(self) -> float:
        return max(self.atol / BASELINE_FACTOR, 1e-15)

    @property
    def orbit_tol(self) -> float:
        """Orbit acceptance: one period moves no state by more than this (relative)."""
        return max(self.rtol / 3.0, 1e-10)

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "baseline_rtol": self.baseline_rtol, "orbit_tol": self.orbit_tol}


PRESETS: dict[str, Tolerances] = {
    "fast": Tolerances(rtol=1e-6, atol=1e-8),
    "default": Tolerances(rtol=1e-8, atol=1e-10),
    "reference": Tolerances(rtol=1e-10, atol=1e-12),
}


def resolve_tolerances(tolerances: Tolerances | str | None = None, *, rtol: float | None = None,
                       atol: float | None = None, default: str = "default") -> Tolerances:
    """A :class:`Tolerances` from a preset name, an object, or loose ``rtol``/``atol``
    (which override the preset's; ``atol`` defaults to ``rtol / 100`` when only ``rtol`` is
    given)."""
    if tolerances is None:
        tolerances = default
    if isinstance(tolerances, str):
        if tolerances not in PRESETS:
            raise InputError("tolerances", f"one of {', '.join(PRESETS)} or a Tolerances object", tolerances)
        tolerances = PRESETS[tolerances]
    if not isinstance(tolerances, Tolerances):
        raise InputError("tolerances", f"one of {', '.join(PRESETS)} or a Tolerances object", tolerances)
    if rtol is None and atol is None:
        return tolerances
    r = tolerances.rtol if rtol is None else rtol
    a = (r / 100.0 if rtol is not None else tolerances.atol) if atol is None else atol
    return Tolerances(rtol=r, atol=a, max_steps=tolerances.max_steps, max_wall_s=tolerances.max_wall_s)
