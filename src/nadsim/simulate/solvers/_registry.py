"""The solver registry: name -> (module, class), resolved when a solver is first asked for."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from nadsim._errors import InputError
from nadsim.simulate.solvers._base import AbstractSolver

__all__ = ["DEFAULT_SOLVER", "SOLVERS", "get_solver", "make_solver", "solver_class"]

#: every solver, by name -> (module, class): the conformance suite runs over this
SOLVERS: dict[str, tuple[str, str]] = {
    "native": ("nadsim.simulate.solvers._native", "NativeSolver"),
    "scipy": ("nadsim.simulate.solvers._scipy", "ScipySolver"),
    "jax": ("nadsim.simulate.solvers._jax", "JaxSolver"),
}
#: the fastest correct solver on a CPU
DEFAULT_SOLVER = "native"


def solver_class(name: str) -> type[AbstractSolver]:
    """The class registered as ``name`` (its module is imported now)."""
    if name not in SOLVERS:
        raise InputError("solver", f"one of {', '.join(SOLVERS)}", name)
    module, cls = SOLVERS[name]
    return getattr(importlib.import_module(module), cls)


def make_solver(name: str, **options: Any) -> AbstractSolver:
    """An instance of the solver ``name`` with its options (``threads=`` native, ``device=`` jax,
    ``method=`` scipy)."""
    cls: Any = solver_class(name)
    return cls(**options)


def get_solver(solver: str | AbstractSolver | None = None) -> AbstractSolver:
    """A ready solver: ``None`` is the default (native, or SciPy with a one-line warning where
    the native solver cannot run); a name must be one of :data:`SOLVERS`."""
    if isinstance(solver, AbstractSolver):
        return solver
    name = DEFAULT_SOLVER if solver is None else solver
    cls = solver_class(name)
    reason = cls.unavailable_reason()
    if reason is None:
        return cls()
    if solver is None:
        warnings.warn(f"nadsim: native solver unavailable ({reason}); using the SciPy reference", stacklevel=2)
        return solver_class("scipy")()
    raise InputError("solver", f"a solver that can run here ({name}: {reason})", name)
