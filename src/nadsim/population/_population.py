"""Virtual populations: covariates + variability + uncertainty -> one parameter row per subject."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import ndtr

from nadsim._errors import InputError
from nadsim._version import __version__
from nadsim.dosing import Regimen
from nadsim.library import PROFILE_RANGES, get_model
from nadsim.model import Model
from nadsim.population._batch import run_batch
from nadsim.population._covariates import KEY_CLASS, CovariateModel, subject_normals
from nadsim.population._memory import check_population_memory
from nadsim.population._variability import Uncertainty, Variability, class_multipliers
from nadsim.simulate import DISCLAIMER

__all__ = ["VirtualPopulation", "covariate_parameters", "sample_population", "simulate_population"]

KEY_IIV = 5

#: covariates that set a model parameter directly (same unit)
DIRECT: dict[str, str] = {"BW": "BW", "NAD_whole_blood": "NAD0_whole_blood"}
#: covariates passed to the mechanisms library's ``apply_profile`` (argument name <- covariate)
PROFILE_ARGS: dict[str, str] = {"crp_mg_L": "CRP", "hamd": "HAMD", "age": "age", "sleep": "PSQI"}


def _profile_map(model: Model) -> dict[str, tuple[str, float, float]]:
    """covariate -> (parameter, low, high) for the patient-profile parameters the model has."""
    out = {}
    for option, cov in PROFILE_ARGS.items():
        if option in PROFILE_RANGES:
            par, lo, hi = PROFILE_RANGES[option][:3]
            if par in model.parameters and model.parameters[par].expr is None:
                out[cov] = (par, float(lo), float(hi))
    return out


def covariate_parameters(model: Model, covariates: pd.DataFrame, base: np.ndarray | None = None) -> np.ndarray:
    """Free-parameter rows ``(n, P)`` (``model.parameter_names`` order) set from covariates.

    BW and baseline whole-blood NAD+ set ``BW`` and ``NAD0_whole_blood``. CRP, HAM-D, age and
    sleep (PSQI) set the patient-profile parameters that ``nadsim.library.full.apply_profile``
    sets (``CRP0``, ``HAMD0``, ``age``, ``PSQI0``), clipped to its ranges, when the model has them;
    otherwise they stay covariates only (used for subgroups).
    """
    names = model.parameter_names
    if base is None:
        base = np.array([model.parameters[n].value for n in names], dtype=float)
    P = np.tile(base, (len(covariates), 1))
    for cov, (par, lo, hi) in _profile_map(model).items():
        if cov in covariates:
            P[:, names.index(par)] = np.clip(covariates[cov].to_numpy(dtype=float), lo, hi)
    for cov, par in DIRECT.items():
        if cov in covariates and par in names and model.parameters[par].expr is None:
            P[:, names.index(par)] = covariates[cov].to_numpy(dtype=float)
    return P


@dataclass(frozen=True)
class VirtualPopulation:
    """Subjects with covariates and parameter rows.

    ``params`` is ``(n, P)`` in ``parameter_names`` order (free values; derived entries are
    recomputed by the solver); ``draw`` is each subject's uncertainty draw.
    """

    seed: int
    subjects: np.ndarray
    covariates: pd.DataFrame
    parameter_names: tuple[str, ...]
    params: np.ndarray
    draw: np.ndarray
    model_hash: str

    def __len__(self) -> int:
        return int(self.subjects.size)

    def take(self, rows: Sequence[int] | np.ndarray) -> VirtualPopulation:
        rows = np.asarray(rows, dtype=int)
        return VirtualPopulation(self.seed, self.subjects[rows], self.covariates.iloc[rows], self.parameter_names,
                                 self.params[rows], self.draw[rows], self.model_hash)

    def frame(self, parameters: Sequence[str] = ()) -> pd.DataFrame:
        df = self.covariates.copy()
        df["draw"] = self.draw
        for n in parameters:
            df[n] = self.params[:, self.parameter_names.index(n)]
        return df


def sample_population(n: int | None = None, *, model: Model | None = None, seed: int = 0,
                      subjects: Sequence[int] | np.ndarray | None = None,
                      covariates: CovariateModel | None = None, variability: Variability | None = None,
                      uncertainty: Uncertainty | None = None) -> VirtualPopulation:
    """Draw virtual subjects reproducibly.

    Parameters
    ----------
    n : number of subjects (indices ``0..n-1``), or give ``subjects`` (any indices).
    model : the model whose parameters are set (default: nadsim's default model).
    seed : root seed; subject ``i`` depends only on ``(seed, i)``, so any subset or chunking
        of a population gives the same rows.
    covariates, variability, uncertainty : the distributions (defaults: :data:`COVARIATES`,
        :data:`DEFAULT_IIV`, no uncertainty).
    """
    model = model or get_model()
    if subjects is None:
        if n is None or int(n) < 1 or int(n) > 10_000_000:
            raise InputError("population", "a number of subjects in [1, 10000000]", n)
        subjects = np.arange(int(n))
    subjects = np.asarray(subjects, dtype=int)
    if subjects.ndim != 1 or subjects.size == 0 or np.any(subjects < 0):
        raise InputError("subjects", "a non-empty 1-D array of indices >= 0", subjects.shape)
    covariates = covariates or CovariateModel()
    variability = variability if variability is not None else Variability().for_model(model)
    uncertainty = uncertainty or Uncertainty()
    names = model.parameter_names
    check_population_memory(subjects.size, 0, 0, n_parameters=len(names), field="population")
    classes = variability.classes_for(model)
    for what, pars in (("variability", variability.names), ("variability.classes", tuple(classes)),
                       ("uncertainty", tuple(uncertainty.cv))):
        for par in pars:
            if par not in names:
                raise InputError(what, f"parameters of model '{model.name}'", par)
            if model.parameters[par].expr is not None:
                raise InputError(f"{what}.{par}", "a free parameter (it is derived from others)", par)
    cov = covariates.sample(seed, subjects)
    P = covariate_parameters(model, cov)
    # calibration uncertainty: subject i belongs to draw i mod draws
    draw = subjects % int(uncertainty.draws)
    if uncertainty.cv:
        eps = uncertainty.log_factors(seed)
        for k, par in enumerate(uncertainty.cv):
            P[:, names.index(par)] *= np.exp(eps[draw, k])
    # between-subject variability
    if variability.names:
        eta = variability.etas(subject_normals(seed, subjects, len(variability.names), key=KEY_IIV))
        for k, par in enumerate(variability.names):
            P[:, names.index(par)] *= np.exp(eta[:, k])
    # responder classes (Stone 2022 for the placebo-arm improvement): one categorical draw per
    # subject and classed parameter, from its own stream so the IIV draws above are unchanged
    if classes:
        mult = class_multipliers(classes, ndtr(subject_normals(seed, subjects, len(classes), key=KEY_CLASS)))
        for k, par in enumerate(classes):
            P[:, names.index(par)] *= mult[:, k]
    lo = np.array([model.parameters[p].bounds[0] for p in names])
    hi = np.array([model.parameters[p].bounds[1] for p in names])
    free = np.array([model.parameters[p].expr is None for p in names])
    P[:, free] = np.clip(P[:, free], lo[free], hi[free])
    return VirtualPopulation(int(seed), subjects, cov, names, P, draw, model.hash())


def simulate_population(model: Model | None, regimen: Regimen | None, times: Sequence[float] | np.ndarray,
                        population: VirtualPopulation, *, outputs: Sequence[str] | None = None,
                        backend: str | None = None, device: str = "cpu", rtol: float | None = None,
                        atol: float | None = None, cluster: Any = None, chunk_size: int | None = None,
                        progress: Callable[[int, int], None] | None = None) -> xr.Dataset:
    """Simulate every subject; returns a Dataset with dims ``(subject, time)``.

    Subjects whose integration failed have ``status != 0`` and NaN outputs (the run goes on).
    ``progress(done, total)`` is called as subjects finish.
    """
    model = model or get_model()
    regimen = regimen or Regimen.none()
    if population.parameter_names != model.parameter_names:
        raise InputError("population", f"drawn for model '{model.name}'", "a population of another model")
    t = np.asarray(times, dtype=float)
    rules = {r.name for r in model.rules}
    states = set(model.state_names)
    outputs = list(outputs) if outputs is not None else [r.name for r in model.rules]
    missing = [o for o in outputs if o not in rules | states]
    if missing:
        raise InputError("outputs", f"outputs or states of model '{model.name}'", missing)
    check_population_memory(len(population), t.size, len(outputs), n_parameters=len(model.parameter_names),
                            field="population", times_field="times")
    res = run_batch(model, regimen, t, population.params, backend=backend, device=device, rtol=rtol, atol=atol,
                    cluster=cluster, chunk_size=chunk_size, keep_states=any(o not in rules for o in outputs),
                    progress=progress)
    data: dict[str, Any] = {}
    for o in outputs:
        data[o] = xr.DataArray(res.get(o), dims=("subject", "time"),
                               attrs={"units": model.unit_of(o), "kind": "output" if o in rules else "state"})
    data["status"] = xr.DataArray(res.status.astype(np.int64), dims="subject")
    data["draw"] = xr.DataArray(population.draw, dims="subject")
    for c in population.covariates.columns:
        data[f"cov_{c}"] = xr.DataArray(population.covariates[c].to_numpy(), dims="subject")
    ds = xr.Dataset(data, coords={"subject": population.subjects,
                                  "time": xr.DataArray(t, dims="time", attrs={"units": "h"})})
    ds.attrs.update({"nadsim_version": __version__, "model": model.name, "model_hash": model.hash(),
                     "seed": population.seed, "backend": backend or "native", "device": device,
                     "solver": res.dataset.attrs["solver"], "rtol": res.dataset.attrs["rtol"],
                     "atol": res.dataset.attrs["atol"], "tolerances": res.dataset.attrs["tolerances"],
                     "regimen": regimen.describe(), "disclaimer": DISCLAIMER})
    return ds
