"""Simulation: one engine, pluggable solvers, labelled results.

``simulate`` runs one subject, ``simulate_batch`` many (chunks, Dask, memory maps); both go
through :func:`nadsim.simulate._engine.solve`, which composes parameters, the dose schedule,
the (cached) baseline and a solver from :mod:`nadsim.simulate.solvers`.

The package is callable: ``nadsim.simulate(model, regimen)`` is :func:`simulate`. Python sets
``nadsim.simulate`` to this package as soon as anything imports it (the model library does),
which would hide the function of the same name that ``nadsim`` exports.
"""

import sys
import types

from nadsim.simulate._api import DISCLAIMER as DISCLAIMER
from nadsim.simulate._api import simulate as simulate
from nadsim.simulate._api import time_grid as time_grid
from nadsim.simulate._compile import CompiledModel as CompiledModel
from nadsim.simulate._compile import compile_model as compile_model
from nadsim.simulate._engine import BASELINES as BASELINES
from nadsim.simulate._engine import BaselineCache as BaselineCache
from nadsim.simulate._engine import EngineResult as EngineResult
from nadsim.simulate._engine import baselines as baselines
from nadsim.simulate._engine import free_parameter_mask as free_parameter_mask
from nadsim.simulate._engine import reference_steady_states as reference_steady_states
from nadsim.simulate._engine import solve as solve
from nadsim.simulate._schedule import Schedule as Schedule
from nadsim.simulate._schedule import dose_events as dose_events
from nadsim.simulate._schedule import schedule as schedule
from nadsim.simulate._status import Status as Status
from nadsim.simulate._tolerances import PRESETS as PRESETS
from nadsim.simulate._tolerances import Tolerances as Tolerances
from nadsim.simulate._tolerances import resolve_tolerances as resolve_tolerances
from nadsim.simulate.batch import simulate_batch as simulate_batch
from nadsim.simulate.solvers import SOLVERS as SOLVERS
from nadsim.simulate.solvers import AbstractSolver as AbstractSolver
from nadsim.simulate.solvers import get_solver as get_solver

__all__ = [
    "BASELINES",
    "DISCLAIMER",
    "PRESETS",
    "SOLVERS",
    "AbstractSolver",
    "BaselineCache",
    "CompiledModel",
    "EngineResult",
    "Schedule",
    "Status",
    "Tolerances",
    "baselines",
    "compile_model",
    "dose_events",
    "free_parameter_mask",
    "get_solver",
    "reference_steady_states",
    "resolve_tolerances",
    "schedule",
    "simulate",
    "simulate_batch",
    "solve",
    "time_grid",
]


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
