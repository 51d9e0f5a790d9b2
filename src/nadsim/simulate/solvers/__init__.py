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

import typing as _typing

from nadsim.simulate.solvers._base import AbstractSolver as AbstractSolver
from nadsim.simulate.solvers._base import Solution as Solution
from nadsim.simulate.solvers._registry import DEFAULT_SOLVER as DEFAULT_SOLVER
from nadsim.simulate.solvers._registry import SOLVERS as SOLVERS
from nadsim.simulate.solvers._registry import get_solver as get_solver
from nadsim.simulate.solvers._registry import make_solver as make_solver
from nadsim.simulate.solvers._registry import solver_class as solver_class

if _typing.TYPE_CHECKING:
    from nadsim.simulate.solvers._jax import JaxSolver as JaxSolver
    from nadsim.simulate.solvers._native import NativeSolver as NativeSolver
    from nadsim.simulate.solvers._scipy import ScipySolver as ScipySolver

__all__ = ["DEFAULT_SOLVER", "SOLVERS", "AbstractSolver", "JaxSolver", "NativeSolver", "ScipySolver", "Solution",
           "get_solver", "make_solver", "solver_class"]

#: the solver classes, exported lazily (PEP 562): a class's module is imported on first use
_LAZY: dict[str, str] = {cls: name for name, (_module, cls) in SOLVERS.items()}


def __getattr__(attr: str) -> _typing.Any:
    if attr in _LAZY:
        return solver_class(_LAZY[attr])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
