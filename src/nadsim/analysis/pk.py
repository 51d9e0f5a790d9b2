"""Exposure metrics of a simulated time course: baseline, peak, time of peak, AUC above baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["NAD_POOLS", "summarize"]

NAD_POOLS = ("whole_blood_NAD", "pbmc_NAD", "plasma_NAD", "liver_NAD", "muscle_NAD", "brain_NAD")


def summarize(ds: xr.Dataset, variables: Sequence[str] = NAD_POOLS) -> pd.DataFrame:
    """One row per variable: baseline (t=0), peak, time of peak, AUC above baseline (trapezoid)."""
    t = ds["time"].values
    rows = []
    for v in variables:
        if v not in ds:
            continue
        y = ds[v].values
        base = float(y[0])
        i = int(np.argmax(y))
        above = y - base
        rows.append({
            "variable": v,
            "unit": ds[v].attrs.get("units", ""),
            "baseline": base,
            "peak": float(y[i]),
            "time_of_peak_h": float(t[i]),
            "peak_change_pct": 100.0 * (float(y[i]) - base) / base if base else float("nan"),
            "auc_above_baseline": float(np.trapezoid(above, t)),
            "auc_unit": f"{ds[v].attrs.get('units', '')}*h",
        })
    return pd.DataFrame(rows)
