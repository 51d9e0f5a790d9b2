"""Shared helpers of the interoperability tests: tight-tolerance runs and the error measure.

Relative error is ``|a - b| / max(|b|, FLOOR)`` with ``b`` the reference (libRoadRunner or
COPASI) and ``FLOOR = 1e-4`` in the variable's own unit (0.1 nM for concentrations, 1e-4
umol/h for rates): far below any measured value, and it keeps quantities that decay towards
zero (gut contents hours after an oral dose) from turning solver noise at the 1e-11 level into
large "relative" errors.
"""

from __future__ import annotations

import numpy as np

FLOOR = 1e-4
RTOL = 1e-10  # both sides
NADSIM_ATOL = 1e-12
RR_ATOL = 1e-14


def rel_err(a: np.ndarray, b: np.ndarray, floor: float = FLOOR) -> float:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


def roadrunner_run(sbml_text: str, times, selections: list[str]) -> np.ndarray:
    """libRoadRunner time course at exactly ``times``; columns follow ``selections``."""
    import roadrunner

    rr = roadrunner.RoadRunner(sbml_text)
    rr.integrator.relative_tolerance = RTOL
    rr.integrator.absolute_tolerance = RR_ATOL
    rr.integrator.max_steps = 200_000
    rr.timeCourseSelections = ["time", *selections]
    res = np.asarray(rr.simulate(times=[float(t) for t in times]))
    assert np.allclose(res[:, 0], times, rtol=0, atol=1e-12)
    return res[:, 1:]
