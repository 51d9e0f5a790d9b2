"""90 % prediction intervals: parameter draws propagated through the engine.

:func:`prediction_intervals` simulates one regimen for ``n`` parameter draws
(:func:`nadsim.calibration.parameter_draws`, the calibration's posterior by default) with
:func:`nadsim.simulate.simulate_batch`, and returns the quantiles of every output and of its
change from each draw's own baseline. :func:`target_intervals` does the same for each
qualification row's summary statistic, adding the between-study effect on reported rises (a new
study's mean differs from the model's by its own assay and sample, prior SD
:data:`nadsim.calibration._posterior.STUDY_EFFECT_SD` on the log scale), so that the interval
is for what a new trial would report, which is what the validation rows are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import xarray as xr

from nadsim._errors import InputError
from nadsim.calibration._posterior import STUDY_EFFECT_SD, study_of
from nadsim.calibration._targets import Experiment, Target, evaluate, no_change_value, rise_kind
from nadsim.calibration._uncertainty import default_source, parameter_draws
from nadsim.dosing import Regimen
from nadsim.model import Model
from nadsim.simulate import compile_model, simulate_batch

__all__ = ["RowInterval", "draws_matrix", "min_draws", "prediction_intervals", "target_intervals"]


class RowInterval(NamedTuple):
    """One target's spread over the parameter draws.

    ``lower``/``upper``: the interval of what a new study would report (with its study effect);
    ``median``: the posterior predictive median of the statistic (no study effect), as the
    no-change value plus the median of each draw's rise over its own; ``no_change``: the median
    no-change value (NaN for times)."""

    lower: float
    upper: float
    median: float
    no_change: float


def draws_matrix(model: Model, draws: Sequence[Mapping[str, float]]) -> np.ndarray:
    """(n_draws, n_parameters) in ``compile_model(model).parameter_names`` order."""
    cm = compile_model(model)
    P = np.tile(cm.base_parameters(), (len(draws), 1))
    for i, d in enumerate(draws):
        for name, v in d.items():
            P[i, cm.pidx(name)] = v
    return P


def min_draws(level: float = 0.9) -> int:
    """The fewest draws whose ``level`` interval is not just the sample's extremes: each tail,
    (1 - level) / 2 of the draws, must hold at least one draw (20 for a 90 % interval)."""
    return math.ceil(2.0 / (1.0 - level) - 1e-9)


def _check_level(level: float) -> None:
    if not 0.5 <= level < 1.0:
        raise InputError("level", "a coverage in [0.5, 1)", level)


def prediction_intervals(model: Model, regimen: Regimen, times: Sequence[float] | np.ndarray, *, n: int = 100,
                         level: float = 0.9, source: str | None = None, seed: int = 0,
                         outputs: Sequence[str] | None = None, solver: str | None = None) -> xr.Dataset:
    """Quantiles (lower, median, upper) over ``n`` parameter draws of every output over time.

    Each output ``x`` gives ``x`` (the level) and ``change_x`` (minus that draw's value at the
    first time, the undosed baseline when dosing starts there), over dims ``(quantile, time)``.
    ``attrs``: draws, failed draws, source, level.
    """
    _check_level(level)
    if not isinstance(n, int | np.integer) or n < min_draws(level):
        raise InputError("n", f"a whole number of draws >= {min_draws(level)} for a {100 * level:g} % interval "
                              "(fewer leave a tail without a draw)", n)
    source = default_source() if source is None else source
    draws = parameter_draws(model, n, seed=seed, source=source)
    ds = simulate_batch(model, regimen, times, draws_matrix(model, draws), solver=solver)
    ok = ds["status"].values == 0
    if not ok.any():
        raise InputError("model", "at least one parameter draw that simulates", "every draw failed")
    q = [(1 - level) / 2, 0.5, (1 + level) / 2]
    names = list(outputs) if outputs is not None else [v for v in ds.data_vars if ds[v].attrs.get("kind") == "output"]
    data = {}
    for v in names:
        if v not in ds:
            raise InputError("outputs", f"model outputs ({', '.join(str(x) for x in ds.data_vars)})", v)
        y = ds[v].values[ok]
        for key, arr in ((v, y), (f"change_{v}", y - y[:, :1])):
            data[key] = xr.Variable(("quantile", "time"), np.quantile(arr, q, axis=0), attrs=dict(ds[v].attrs))
    return xr.Dataset(data, coords={"quantile": ("quantile", ["lower", "median", "upper"]), "time": ds["time"]},
                      attrs={"draws": int(ok.sum()), "failed_draws": int((~ok).sum()), "source": source,
                             "level": level, "note": "parameter uncertainty only (research model, not medical advice)"})


def target_intervals(model: Model, experiments: Mapping[str, Experiment], targets: Sequence[Target], *,
                     n: int = 100, level: float = 0.9, source: str | None = None, seed: int = 0,
                     study_effect_sd: float = STUDY_EFFECT_SD) -> dict[str, RowInterval]:
    """Each target's :class:`RowInterval` over ``n`` draws: the ``level`` interval carries a new
    study's effect on its reported rise (log-normal, SD ``study_effect_sd``) for rows that have one;
    the median does not (the effect's median is 1, and it is noise for a central prediction)."""
    _check_level(level)
    source = default_source() if source is None else source
    draws = parameter_draws(model, n, seed=seed, source=source)
    P = draws_matrix(model, draws)
    rng = np.random.default_rng(seed + 1)
    effect = np.exp(rng.normal(0.0, study_effect_sd, size=n))
    nan = float("nan")
    out: dict[str, RowInterval] = {}
    for eid in sorted({t.experiment for t in targets}):
        exp = experiments[eid]
        ds = simulate_batch(model, exp.regimen, exp.times(), P)
        t = ds["time"].values
        ok = np.nonzero(ds["status"].values == 0)[0]
        for tg in (x for x in targets if x.experiment == eid):
            Y = ds[tg.output].values
            value = np.array([evaluate(tg, t, Y[i]) for i in ok], dtype=float)
            ref = np.array([no_change_value(tg, t, Y[i]) for i in ok], dtype=float)
            reported = value
            if rise_kind(tg) == "change" and study_of(tg) is not None:
                reported = ref + (value - ref) * effect[ok]
            good = np.isfinite(reported)
            if not good.any():
                out[tg.id] = RowInterval(nan, nan, nan, nan)
                continue
            lo, hi = np.quantile(reported[good], [(1 - level) / 2, (1 + level) / 2])
            if np.isfinite(ref[good]).all():
                ref0 = float(np.median(ref[good]))
                median = ref0 + float(np.median(value[good] - ref[good]))
            else:  # times have no no-change value
                ref0, median = nan, float(np.median(value[good]))
            out[tg.id] = RowInterval(float(lo), float(hi), median, ref0)
    return out
