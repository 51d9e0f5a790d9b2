"""Errors raised by nadsim.

Every error is a :class:`NadsimError` and also the builtin it refines, so that
callers who catch ``ValueError`` keep working::

    NadsimError
    ├── ModelDefinitionError (ValueError)   a model or parameter table is inconsistent
    ├── UnitError (TypeError)               a quantity has the wrong dimension or no unit
    ├── InputError (ValueError)             a user input (dose, schedule, file) is out of range
    ├── CalibrationError (RuntimeError)     a fit could not be carried out
    └── SolverError (RuntimeError)          the ODE solver failed

Errors keep their fields (``field``, ``expected``, ``got``) and build the message
in ``__str__``; the CLI prints that one line, the web API returns the fields.
"""

from __future__ import annotations

__all__ = [
    "CalibrationError",
    "InputError",
    "ModelDefinitionError",
    "NadsimError",
    "SolverError",
    "UnitError",
]


class NadsimError(Exception):
    """Base class of every error nadsim raises on purpose."""

    def __init__(self, field: str, expected: str = "", got: object = None, hint: str = ""):
        self.field = field
        self.expected = expected
        self.got = got
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        msg = f"`{self.field}`"
        if self.expected:
            msg += f" must be {self.expected}"
        if self.got is not None:
            msg += f"; got {self.got!r}"
        if self.hint:
            msg += f". {self.hint}"
        return msg

    def to_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "expected": self.expected,
            "got": "" if self.got is None else str(self.got),
            "message": str(self),
        }


class ModelDefinitionError(NadsimError, ValueError):
    """A model, its parameter table or one of its expressions is inconsistent."""


class UnitError(NadsimError, TypeError):
    """A quantity has no unit, cannot be parsed, or has the wrong dimension."""


class InputError(NadsimError, ValueError):
    """A user input (dose, schedule, patient profile, file) is out of range."""


class CalibrationError(NadsimError, RuntimeError):
    """A calibration target or fit could not be evaluated."""


class SolverError(NadsimError, RuntimeError):
    """The ODE solver failed to integrate."""
