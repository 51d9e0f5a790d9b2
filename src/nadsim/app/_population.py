"""The population verb: a virtual population under one regimen (``nadsim simulate --population``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.library import get_model
from nadsim.model import Model
from nadsim.population import (
    VirtualPopulation,
    check_population_memory,
    sample_population,
    simulate_population,
)

__all__ = ["PopulationRequest", "PopulationRun", "run_population"]

MAX_SUBJECTS = 10_000_000


@dataclass(frozen=True)
class PopulationRequest:
    regimen: Regimen
    times: np.ndarray
    n: int
    seed: int = 0
    #: weakest grade of the mechanism links kept (``None``: all)
    evidence: str | None = None
    backend: str = "native"
    device: str = "cpu"
    #: Dask scheduler address, or ``"local"`` (``None``: this process)
    cluster: str | None = None


@dataclass(frozen=True)
class PopulationRun:
    """The model, the sampled subjects (covariates and parameters) and their runs (``subject, time``)."""

    model: Model
    population: VirtualPopulation
    dataset: xr.Dataset


def run_population(request: PopulationRequest, *, progress: Callable[[int, int], None] | None = None) -> PopulationRun:
    """Sample ``request.n`` subjects (seeded) and simulate each under the regimen."""
    if not isinstance(request.n, int) or not 1 <= request.n <= MAX_SUBJECTS:
        raise InputError("--population", f"a number of subjects in [1, {MAX_SUBJECTS}]", request.n)
    model = get_model(evidence=request.evidence)
    # refused before anything is sampled: the whole subject x time x output table is held at once
    check_population_memory(request.n, np.asarray(request.times).size, len(model.rules),
                            n_parameters=len(model.parameter_names), field="--population", times_field="--step")
    pop = sample_population(request.n, model=model, seed=request.seed)
    ds = simulate_population(model, request.regimen, request.times, pop, backend=request.backend,
                             device=request.device, cluster=request.cluster, progress=progress)
    return PopulationRun(model=model, population=pop, dataset=ds)
