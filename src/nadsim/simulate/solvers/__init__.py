"""Solvers behind one interface (:class:`AbstractSolver`), and their registry.

=========  ====================================================================  ==============
name       what                                                                  where
=========  ====================================================================  ==============
native     model + variable-order BDF compiled with Numba; sparse LU; threads     every CPU path
scipy      SciPy ``solve_ivp`` (LSODA), subject by subject                        the reference
jax        lockstep BDF over a chunk, compiled with XLA; sparse LU                GPU (and CPU)
=========  ====================================================================  ==============

The registry names each solver's module and class; a solver's module (and what it imports:
SciPy's integrators, JAX) is loaded when that solver is first asked for, so that a run on the
native solver never pays for the others' imports. :func:`get_solver` turns a name (or an
instance) into a solver and checks that it can run here.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from nadsim._errors import InputError
from nadsim.simulate.solvers._base import AbstractSolver as AbstractSolver
from nadsim.simulate.solvers._base import Solution as Solution

if TYPE_CHECKING:
    from nadsim.simulate.solvers._jax import JaxSolver as JaxSolver
    from nadsim.simulate.solvers._native import NativeSolver as NativeSolver
    from nadsim.simulate.solvers._scipy import ScipySolver as ScipySolver

__all__ = ["DEFAULT_SOLVER", "SOLVERS", "AbstractSolver", "JaxSolver", "NativeSolver", "ScipySolver", "Solution",
           "get_solver", "make_solver", "solver_class"]

#: every solver, by name -> (module, class): the conformance suite runs over this
SOLVERS: dict[str, tuple[str, str]] = {
    "native": ("nadsim.simulate.solvers._native", "NativeSolver"),
    "scipy": ("nadsim.simulate.solvers._scipy", "ScipySolver"),
    "jax": ("nadsim.simulate.solvers._jax", "JaxSolver"),
}
#: the fastest correct solver on a CPU
DEFAULT_SOLVER = "native"
_CLASSES = {cls: name for name, (_mod, cls) in SOLVERS.items()}


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


def __getattr__(attr: str) -> Any:  # the solver classes, loaded on first use (PEP 562)
    if attr in _CLASSES:
        return solver_class(_CLASSES[attr])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


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
