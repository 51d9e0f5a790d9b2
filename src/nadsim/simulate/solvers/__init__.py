"""Solvers behind one interface (:class:`AbstractSolver`), and their registry.

=========  ====================================================================  ==============
name       what                                                                  where
=========  ====================================================================  ==============
native     model + variable-order BDF compiled with Numba; sparse LU; threads     every CPU path
scipy      SciPy ``solve_ivp`` (LSODA), subject by subject                        the reference
jax        lockstep BDF over a chunk, compiled with XLA; sparse LU                GPU (and CPU)
=========  ====================================================================  ==============

:func:`get_solver` turns a name (or an instance) into a solver and checks that it can run here.
"""

from __future__ import annotations

import warnings

from nadsim._errors import InputError
from nadsim.simulate.solvers._base import AbstractSolver as AbstractSolver
from nadsim.simulate.solvers._base import Solution as Solution
from nadsim.simulate.solvers._jax import JaxSolver as JaxSolver
from nadsim.simulate.solvers._native import NativeSolver as NativeSolver
from nadsim.simulate.solvers._scipy import ScipySolver as ScipySolver

__all__ = ["DEFAULT_SOLVER", "SOLVERS", "AbstractSolver", "JaxSolver", "NativeSolver", "ScipySolver", "Solution",
           "get_solver"]

#: every solver, by name: the conformance suite runs over this
SOLVERS: dict[str, type[AbstractSolver]] = {"native": NativeSolver, "scipy": ScipySolver, "jax": JaxSolver}
#: the fastest correct solver on a CPU
DEFAULT_SOLVER = "native"


def get_solver(solver: str | AbstractSolver | None = None) -> AbstractSolver:
    """A ready solver: ``None`` is the default (native, or SciPy with a one-line warning where
    the native solver cannot run); a name must be one of :data:`SOLVERS`."""
    if isinstance(solver, AbstractSolver):
        return solver
    name = DEFAULT_SOLVER if solver is None else solver
    if name not in SOLVERS:
        raise InputError("solver", f"one of {', '.join(SOLVERS)}", name)
    cls = SOLVERS[name]
    reason = cls.unavailable_reason()
    if reason is None:
        return cls()
    if solver is None:
        warnings.warn(f"nadsim: native solver unavailable ({reason}); using the SciPy reference", stacklevel=2)
        return ScipySolver()
    raise InputError("solver", f"a solver that can run here ({name}: {reason})", name)
