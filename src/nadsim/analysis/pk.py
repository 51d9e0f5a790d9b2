"""Dose-response metrics of a simulated time course, relative to the undosed baseline orbit.

Every NAD+ pool and mechanism output of the full model swings with the day (the circadian
clock forces NAMPT), so "peak minus the value at t = 0" measures the swing as much as the dose:
for the article's single drip the plasma and muscle "time of peak" used to land at 21.75 h and
47.25 h, the top of the daily rhythm, not after the drip. The response here is the difference
from the same subject simulated *without dosing on the same grid* (its periodic baseline
orbit): ``r(t) = y_dosed(t) - y_undosed(t)``. For a falling score (HAM-D) the largest change is
the most negative one, so one column serves both directions.

Without a reference (an undosed run is not at hand) the value at t = 0 stands in for the
baseline, and the table says so in ``reference``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from nadsim.report._labels import auc_unit

__all__ = ["NAD_POOLS", "summarize"]

NAD_POOLS = ("whole_blood_NAD", "pbmc_NAD", "plasma_NAD", "liver_NAD", "muscle_NAD", "brain_NAD")


def _pct(change: float, base: float) -> float:
    return 100.0 * change / base if base else float("nan")


def summarize(ds: xr.Dataset, variables: Sequence[str] = NAD_POOLS, *,
              reference: xr.Dataset | None = None) -> pd.DataFrame:
    """One row per variable of ``ds``: the response to the dose, relative to ``reference``.

    Parameters
    ----------
    ds : the dosed run (``time`` in h).
    variables : outputs to summarise (missing ones are skipped).
    reference : the same subject undosed on the same grid (``simulate(model, None, ds.time)``);
        ``None``: the value at t = 0 as a flat baseline.

    Returns
    -------
    DataFrame with ``variable, unit, baseline`` (reference at t = 0), ``largest_change`` (signed,
    the change of largest magnitude), ``largest_change_pct`` (of the reference at that time),
    ``time_of_largest_change_h``, ``end_change``, ``end_change_pct``, ``auc_change`` (integral of
    the change, trapezoid, ``auc_unit``) and ``reference`` ("undosed baseline orbit" or "t = 0").
    """
    t = np.asarray(ds["time"].values, dtype=float)
    if reference is not None and not np.array_equal(np.asarray(reference["time"].values, dtype=float), t):
        raise ValueError("reference must be simulated on the same time grid as ds")
    rows = []
    for v in variables:
        if v not in ds:
            continue
        y = np.asarray(ds[v].values, dtype=float)
        ref = np.asarray(reference[v].values, dtype=float) if reference is not None else np.full_like(y, y[0])
        r = y - ref
        i = int(np.nanargmax(np.abs(r))) if np.any(np.isfinite(r)) else 0
        unit = ds[v].attrs.get("units", "")
        rows.append({
            "variable": v,
            "unit": unit,
            "baseline": float(ref[0]),
            "largest_change": float(r[i]),
            "largest_change_pct": _pct(float(r[i]), float(ref[i])),
            "time_of_largest_change_h": float(t[i]),
            "end_change": float(r[-1]),
            "end_change_pct": _pct(float(r[-1]), float(ref[-1])),
            "auc_change": float(np.trapezoid(r, t)),
            "auc_unit": auc_unit(v, unit),  # e.g. (HAM-D-17 points)*h: a rating's AUC is not hours
            "reference": "undosed baseline orbit" if reference is not None else "t = 0",
        })
    return pd.DataFrame(rows)
