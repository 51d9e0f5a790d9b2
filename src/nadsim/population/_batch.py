"""The one call from populations, trials and sensitivity into the engine.

They never integrate on their own: they hand a parameter matrix to
:func:`nadsim.simulate.simulate_batch` and get per-subject arrays back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate import AbstractSolver, Tolerances, simulate_batch
from nadsim.simulate.solvers import SOLVERS, make_solver

__all__ = ["BACKENDS", "BatchOutputs", "run_batch", "solver_for"]

#: the ``--backend`` choices: the solvers, by name (``"numpy"`` is the former name of the
#: reference SciPy path and means ``"scipy"``)
BACKENDS: tuple[str, ...] = (*SOLVERS, "numpy")


@dataclass(frozen=True)
class BatchOutputs:
    """Per-subject trajectories: ``times`` (T,), ``status`` (n,), and every output (and state,
    when kept) through :meth:`get`; ``dataset`` is the engine's result."""

    dataset: xr.Dataset
    rule_names: tuple[str, ...]
    state_names: tuple[str, ...] = ()

    @property
    def times(self) -> np.ndarray:
        return np.asarray(self.dataset["time"].values, dtype=float)

    @property
    def status(self) -> np.ndarray:
        return np.asarray(self.dataset["status"].values)

    @property
    def names(self) -> tuple[str, ...]:
        """Every output that :meth:`get` can return: rules, then states when kept."""
        return self.rule_names + self.state_names

    def get(self, name: str) -> np.ndarray:
        """One output (rule, or state when kept) for every subject, shape (n, T)."""
        if name not in self.names:
            raise InputError("output", f"one of {', '.join(self.names)}", name)
        return np.asarray(self.dataset[name].values, dtype=float)


def solver_for(backend: str | AbstractSolver | None, device: str = "cpu") -> str | AbstractSolver | None:
    """The engine's solver for a ``--backend``/``--device`` pair (``None``: the default)."""
    if isinstance(backend, AbstractSolver) or backend is None:
        if device != "cpu" and backend is None:
            return make_solver("jax", device=device)
        return backend
    if backend not in BACKENDS:
        raise InputError("backend", f"one of {', '.join(BACKENDS)}", backend)
    if device not in ("cpu", "gpu"):
        raise InputError("device", "cpu or gpu", device)
    if device == "gpu" and backend != "jax":
        raise InputError("device", "'cpu' for this backend (use backend 'jax' on a GPU)", device)
    if backend == "jax":
        return make_solver("jax", device=device)
    return "scipy" if backend == "numpy" else backend


def run_batch(model: Model, regimen: Regimen | None, times: np.ndarray, params: np.ndarray, *,
              backend: str | AbstractSolver | None = None, device: str = "cpu", rtol: float | None = None,
              atol: float | None = None, tolerances: Tolerances | str | None = None, cluster: Any = None,
              chunk_size: int | None = None, keep_states: bool = False,
              progress: Callable[[int, int], None] | None = None) -> BatchOutputs:
    """Simulate every row of ``params`` (free values, ``compile_model(model).parameter_names``
    order) with the engine; ``backend`` names a solver (default: native)."""
    params = np.atleast_2d(np.asarray(params, dtype=float))
    ds = simulate_batch(model, regimen, np.asarray(times, dtype=float), params, solver=solver_for(backend, device),
                        tolerances=tolerances, rtol=rtol, atol=atol, keep_states=keep_states, cluster=cluster,
                        chunk_size=chunk_size, progress=progress)
    return BatchOutputs(ds, tuple(r.name for r in model.rules), tuple(model.state_names) if keep_states else ())
