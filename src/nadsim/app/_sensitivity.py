"""The sensitivity verb: local (normalised coefficients) or global (Sobol) sensitivity of one
model output, reduced to one number by a metric, to the model's parameters (``nadsim
sensitivity``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nadsim._errors import InputError
from nadsim.analysis.sensitivity import bounds_for, local_sensitivity, model_metric, sobol_indices
from nadsim.dosing import Regimen
from nadsim.library import get_model
from nadsim.model import Model

__all__ = ["SensitivityRequest", "SensitivityResult", "default_parameters", "sensitivity"]


@dataclass(frozen=True)
class SensitivityRequest:
    """One sensitivity analysis (every field parsed; ``parameters`` ``None``: every free,
    non-zero parameter with a range, for ``local`` only)."""

    regimen: Regimen
    times: np.ndarray
    output: str = "whole_blood_NAD"
    metric: str = "change_final"
    method: str = "local"
    parameters: Sequence[str] | None = None
    model: str = "full"
    #: Sobol: base sample size, ranges value/(1+s)..value*(1+s) instead of the bounds, seed
    n: int = 64
    spread: float | None = None
    seed: int = 0
    backend: str = "native"
    device: str = "cpu"


@dataclass(frozen=True)
class SensitivityResult:
    """``table``: one row per parameter (``parameter``, ``grade``, ``unit``, then the method's
    columns); ``model``: the model analysed."""

    model: Model
    table: pd.DataFrame


def default_parameters(model: Model) -> list[str]:
    """Free, non-zero parameters with a range (infusion settings excluded)."""
    return [p for p in model.parameter_names if model.parameters[p].expr is None and model.parameters[p].value != 0
            and not p.startswith("inf_") and model.parameters[p].bounds[0] < model.parameters[p].bounds[1]]


def sensitivity(request: SensitivityRequest, *, progress: Callable[[int, int], None] | None = None) -> SensitivityResult:
    """Run ``request``; ``progress(done, total)`` in simulations."""
    if request.method not in ("local", "sobol"):
        raise InputError("--method", "local or sobol", request.method)
    m = get_model(request.model)
    if request.parameters:
        names = list(request.parameters)
    elif request.method == "local":
        names = default_parameters(m)
    else:
        raise InputError("--parameters", "a comma-separated list of parameters for sobol", None)
    f = model_metric(m, request.regimen, request.times, request.output, names, metric=request.metric,
                     backend=request.backend, device=request.device, progress=progress)
    if request.method == "local":
        df = local_sensitivity(f, names, [m.parameters[p].value for p in names])
    else:
        b = bounds_for(m, names, spread=request.spread)
        logs = [lo > 0 and hi / lo > 10 for lo, hi in b]
        df = sobol_indices(f, names, b, n=request.n, seed=request.seed, log_scale=logs)
    df.insert(1, "grade", [m.parameters[p].provenance.grade for p in df["parameter"]])
    df.insert(2, "unit", [m.parameters[p].unit for p in df["parameter"]])
    return SensitivityResult(model=m, table=df)
