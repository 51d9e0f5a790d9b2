"""The solver interface: what every integrator of nadsim provides, and nothing more.

A solver integrates many subjects of one compiled model through one dose :class:`Schedule`,
each from its own baseline state, and reports a :class:`~nadsim.simulate.Status` per subject;
it never raises for one subject's failure. It also provides the two functions the baseline
procedure (:mod:`nadsim.simulate._baseline`) needs: a period map and an averaged start. The
engine (:mod:`nadsim.simulate._engine`) composes the rest (parameters, schedule, baseline,
caching, outputs) the same way for every solver, as diffrax's ``AbstractSolver`` and PySB's
simulator base separate the integrator from the problem.

To add a solver: subclass :class:`AbstractSolver`, set ``name`` and ``capabilities``, implement
:meth:`run` and :meth:`period_map` (and :meth:`averaged_start`, :meth:`averaged_jacobian` and :meth:`orbit` if it can do
better than the NumPy reference procedures), and register it in :data:`nadsim.simulate.solvers.SOLVERS`. The conformance
suite (``tests/simulate/test_solver_conformance.py``) runs over every registered solver.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from nadsim.model import Model
from nadsim.simulate._baseline import (
    N_PHASES,
    anderson_orbit,
    averaged_jacobian,
    averaged_start,
    orbit_indices,
    orbit_preconditioner,
    periods,
)
from nadsim.simulate._compile import CompiledModel
from nadsim.simulate._schedule import Schedule
from nadsim.simulate._tolerances import Tolerances

__all__ = ["AbstractSolver", "PeriodMap", "Solution"]

PeriodMap = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Solution:
    """States (n, T, n_states) at the output times; ``status`` (n,) (``Status`` values);
    ``stats`` per-subject solver counters (e.g. ``steps``, ``nfev``), each (n,)."""

    states: np.ndarray
    status: np.ndarray
    stats: dict[str, np.ndarray] = field(default_factory=dict)


class AbstractSolver(abc.ABC):
    """An integrator behind the engine. Instances are immutable settings (thread counts,
    devices); the work happens in :meth:`run`."""

    #: registry key, recorded in every result's metadata
    name: ClassVar[str]
    #: what it offers: "reference" (the yardstick others are tested against), "threads",
    #: "gpu", "lockstep" (subjects of a chunk share steps, so results depend on the chunk),
    #: "time_budget" (a subject past ``Tolerances.max_wall_s`` stops with ``TIME_LIMIT``; a
    #: compiled JAX loop cannot look at a clock, so there only ``max_steps`` bounds the work)
    capabilities: ClassVar[frozenset[str]]

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this solver cannot run here (a missing optional dependency), or ``None``."""
        return None

    @abc.abstractmethod
    def run(self, cm: CompiledModel, schedule: Schedule, Y0: np.ndarray, P: np.ndarray, times: np.ndarray,
            tol: Tolerances, *, progress: Progress | None = None) -> Solution:
        """Integrate subjects with derived parameters ``P`` (n, n_parameters) from states
        ``Y0`` (n, n_states) at ``times[0]`` through ``schedule``; outputs at ``times`` (T,)."""

    @abc.abstractmethod
    def period_map(self, cm: CompiledModel, P: np.ndarray, tol: Tolerances) -> PeriodMap:
        """``(Y, active) -> (Phi(Y), ok)``: one undosed forcing period from t = 0, at the
        baseline tolerances (``tol.baseline_rtol``)."""

    def averaged_start(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int) -> tuple[np.ndarray, np.ndarray]:
        """Fixed point of the period-averaged system (see :func:`~nadsim.simulate._baseline.averaged_start`)."""
        return averaged_start(cm, P, Y, n_phases)

    def averaged_jacobian(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, n_phases: int) -> np.ndarray:
        """Jacobian of the period-averaged system over the free states at ``Y`` (see
        :func:`~nadsim.simulate._baseline.averaged_jacobian`), which preconditions :meth:`orbit`."""
        return averaged_jacobian(cm, P, Y, n_phases)

    def orbit(self, cm: CompiledModel, P: np.ndarray, Y: np.ndarray, tol: Tolerances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Periodic orbits from starts ``Y`` (the averaged starts): Anderson acceleration of
        :meth:`period_map`, preconditioned by the averaged Jacobian at the start
        (:func:`~nadsim.simulate._baseline.anderson_orbit`). Returns (Y0, ok, periods)."""
        free, species = orbit_indices(cm)
        pc = orbit_preconditioner(self.averaged_jacobian(cm, P, Y, N_PHASES), periods(cm, P))
        return anderson_orbit(self.period_map(cm, P, tol), Y, free, species, tol=tol.orbit_tol, precondition=pc)

    def describe(self) -> str:
        return self.name

    def prepare(self, model: Model) -> None:
        """Do the one-time work for ``model`` now (compiling, loading code), so that the first
        run does not pay for it; a no-op for solvers that have none."""
        return None
