"""Calibration targets: experiments (regimens) and the summary statistics papers report."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nadsim._errors import CalibrationError
from nadsim.dosing import Dose, Regimen

__all__ = ["STATISTICS", "TIME_STATISTICS", "Experiment", "Target", "evaluate", "load_targets", "no_change_value",
           "rise_kind"]

TARGETS_FILE = Path(__file__).with_name("targets.toml")
STATISTICS = ("value_at", "fold_at", "peak_fold", "tmax", "peak_value", "mean_fold", "auc",
              "t_frac_rise", "washout_half_life")
#: statistics that are times: their rise is the statistic itself (a delay has no baseline)
TIME_STATISTICS = ("tmax", "t_frac_rise", "washout_half_life")


@dataclass(frozen=True)
class Experiment:
    id: str
    description: str
    regimen: Regimen
    until_h: float

    def times(self) -> np.ndarray:
        step = 0.1 if self.until_h <= 48 else 1.0
        grid = np.arange(0.0, self.until_h + 1e-9, step)
        extra = [b for b in self.regimen.breakpoints if 0 < b < self.until_h]
        return np.unique(np.concatenate([grid, extra, [self.until_h]]))


@dataclass(frozen=True)
class Target:
    id: str
    experiment: str
    output: str
    statistic: str
    observed: float
    unit: str
    weight: float
    role: str
    source: str
    row: str
    at_h: float | None = None
    window_h: tuple[float, float] | None = None
    frac: float | None = None
    ref_h: float | None = None
    stop_h: float | None = None
    reason: str = ""
    #: for a "no change" row: the largest rise (in the statistic's unit, above the no-change value)
    #: the study could have missed; the fold error on the rise is then max(rise, this) / this
    null_rise: float | None = None
    #: subjects behind the number (weights follow sqrt(n) x confidence; see _fit.row_weight)
    n: int | None = None

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise CalibrationError(f"target {self.id}.statistic", f"one of {STATISTICS}", self.statistic)
        if self.role not in ("fit", "validate", "excluded"):
            raise CalibrationError(f"target {self.id}.role", "'fit', 'validate' or 'excluded'", self.role)
        if self.role == "excluded" and not self.reason:
            raise CalibrationError(f"target {self.id}.reason", "a reason for excluding the row", "")
        if self.null_rise is not None and not self.null_rise > 0:
            raise CalibrationError(f"target {self.id}.null_rise", "a positive undetectable rise", self.null_rise)
        if not (self.observed > 0 and self.weight > 0):
            raise CalibrationError(f"target {self.id}", "positive observed value and weight", (self.observed, self.weight))


def _regimen(raw: dict) -> Regimen:
    doses = [Dose(d["compound"], d["route"], float(d["mg"]), float(d["at_h"]), float(d.get("duration_h", 0.0)))
             for d in raw.get("doses", [])]
    for s in raw.get("schedule", []):
        doses += [Dose(s["compound"], s["route"], float(s["mg"]), float(s["start_h"]) + i * float(s["every_h"]),
                       float(s.get("duration_h", 0.0))) for i in range(int(s["n"]))]
    return Regimen(tuple(doses))


def load_targets(path: Path | str = TARGETS_FILE) -> tuple[dict[str, Experiment], list[Target]]:
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    exps = {e["id"]: Experiment(e["id"], e.get("description", ""), _regimen(e), float(e["until_h"]))
            for e in data["experiment"]}
    targets = []
    for t in data["target"]:
        if t["experiment"] not in exps:
            raise CalibrationError(f"target {t['id']}.experiment", f"one of {sorted(exps)}", t["experiment"])
        kw = {k: t[k] for k in ("at_h", "frac", "ref_h", "stop_h", "reason", "null_rise", "n") if k in t}
        if "window_h" in t:
            kw["window_h"] = (float(t["window_h"][0]), float(t["window_h"][1]))
        targets.append(Target(id=t["id"], experiment=t["experiment"], output=t["output"],
                              statistic=t["statistic"], observed=float(t["observed"]), unit=t["unit"],
                              weight=float(t["weight"]), role=t["role"], source=t["source"], row=t["row"], **kw))
    return exps, targets


def rise_kind(target: Target) -> str:
    """How a row is judged on the change from baseline.

    ``"change"``: the rise is the statistic minus its no-change value (fold - 1, AUC above the
    baseline AUC, a peak above the baseline level); ``"time"``: a delay or half-life, judged as it
    is; ``"level"``: a baseline concentration, which has no rise (judged on the level alone).
    """
    if target.statistic in TIME_STATISTICS:
        return "time"
    if target.statistic == "value_at" and not (target.at_h or 0.0) > 0:
        return "level"
    return "change"


def no_change_value(target: Target, t: np.ndarray, y: np.ndarray) -> float:
    """The statistic of a flat curve at the baseline ``y[0]`` (NaN for times: they have none)."""
    s = target.statistic
    if s in TIME_STATISTICS:
        return float("nan")
    if s in ("fold_at", "peak_fold", "mean_fold"):
        return 1.0
    base = float(y[0])
    if s == "auc":
        lo, hi = target.window_h or (float(t[0]), float(t[-1]))
        return base * (hi - lo)
    return base


def _at(t: np.ndarray, y: np.ndarray, when: float) -> float:
    return float(np.interp(when, t, y))


def _peak_time(t: np.ndarray, y: np.ndarray) -> float:
    """Time of the maximum, refined by the parabola through the grid maximum and its neighbours
    (smooth in the parameters, unlike the grid time itself, so the fit sees a slope)."""
    k = int(np.argmax(y))
    if k == 0 or k == y.size - 1:
        return float(t[k])
    t0, t1, t2 = t[k - 1], t[k], t[k + 1]
    y0, y1, y2 = y[k - 1], y[k], y[k + 1]
    denom = (t0 - t1) * (t0 - t2) * (t1 - t2)
    a = (t2 * (y1 - y0) + t1 * (y0 - y2) + t0 * (y2 - y1)) / denom
    b = (t2 ** 2 * (y0 - y1) + t1 ** 2 * (y2 - y0) + t0 ** 2 * (y1 - y2)) / denom
    if not a < 0:
        return float(t1)
    return float(np.clip(-b / (2 * a), t0, t2))


def evaluate(target: Target, t: np.ndarray, y: np.ndarray) -> float:
    """The model's value of ``target``'s statistic from a time course ``y(t)``."""
    s = target.statistic
    base = float(y[0])
    if s == "value_at":
        return _at(t, y, target.at_h or 0.0)
    if s == "fold_at":
        return _at(t, y, target.at_h or 0.0) / base
    lo, hi = target.window_h or (float(t[0]), float(t[-1]))
    m = (t >= lo - 1e-9) & (t <= hi + 1e-9)
    tw, yw = t[m], y[m]
    if s == "peak_fold":
        return float(yw.max()) / base
    if s == "peak_value":
        return float(yw.max())
    if s == "tmax":
        return _peak_time(tw, yw)
    if s == "mean_fold":
        return float(np.trapezoid(yw, tw) / (tw[-1] - tw[0])) / base
    if s == "auc":
        return float(np.trapezoid(yw, tw))
    if s == "t_frac_rise":
        ref = _at(t, y, target.ref_h or float(t[-1])) - base
        goal = base + (target.frac or 0.9) * ref
        above = np.nonzero((y >= goal) if ref > 0 else (y <= goal))[0]
        if not above.size:
            return float("nan")
        k = int(above[0])
        if k == 0 or y[k] == y[k - 1]:
            return float(t[k])
        # linear interpolation of the crossing: a grid time would make the cost a step function
        # of the parameters, and the optimiser's finite differences would see no slope
        return float(t[k - 1] + (goal - y[k - 1]) / (y[k] - y[k - 1]) * (t[k] - t[k - 1]))
    if s == "washout_half_life":
        # log-linear fit of the excess over baseline after the last dose
        ex = yw - base
        ok = ex > 1e-6 * max(abs(base), 1.0)
        if ok.sum() < 3:
            return float("nan")
        slope = np.polyfit(tw[ok], np.log(ex[ok]), 1)[0]
        return float(np.log(2) / -slope) if slope < 0 else float("inf")
    raise CalibrationError("statistic", f"one of {STATISTICS}", s)
