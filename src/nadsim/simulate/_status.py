"""Per-subject outcome of a simulation. Values are stable (they are stored in result files)."""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    """What happened to one subject; :attr:`message` says it in words (diffrax's ``RESULTS``)."""

    OK = 0
    NO_BASELINE = 1
    STEP_TOO_SMALL = 2
    NON_FINITE = 3
    STEP_LIMIT = 4
    TIME_LIMIT = 5

    @property
    def message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    Status.OK: "ok",
    Status.NO_BASELINE: "no undosed baseline (steady state or periodic orbit) found for these parameters",
    Status.STEP_TOO_SMALL: "the solver's step size fell below the resolution of time (stiff blow-up or discontinuity)",
    Status.NON_FINITE: "non-finite values in the trajectory",
    Status.STEP_LIMIT: "the solver needed more steps than the subject's budget (max_steps)",
    Status.TIME_LIMIT: "the subject ran past its wall-clock budget",
}
