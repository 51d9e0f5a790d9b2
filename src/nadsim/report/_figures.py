"""Report figures shared by the CLI, the trial report and the qualification report.

Each function takes plain data (a DataFrame, lists of rows), draws one figure by the rules of
:mod:`nadsim.report.plots` (units on every axis, titles that say what is drawn and fit,
readable sizes) and writes a PNG. The numbers are the caller's; these functions only draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from nadsim.model import GRADES
from nadsim.report._labels import display_unit
from nadsim.report.plots import DISCLAIMER_LINE, GRADE_COLOURS, new_figure, save, wrap

__all__ = ["forest_figure", "power_figure", "qualification_figure", "sobol_figure", "timecourse_figure",
           "tornado_figure"]


def _grade_legend(ax: Any, grades: Sequence[str], **kw: Any) -> None:
    shown = [g for g in GRADE_COLOURS if g in set(grades)]
    ax.legend(handles=[Patch(color=GRADE_COLOURS[g], label=f"{g}: {GRADES[g]}") for g in shown],
              title="evidence grade of the parameter", fontsize=8, title_fontsize=8, **kw)


def tornado_figure(df: pd.DataFrame, path: Path | str, *, output: str, output_unit: str, metric: str,
                   regimen: str, top: int = 15, rel_step: float = 0.01) -> Path:
    """Local sensitivity as a tornado: for each parameter, the change of the metric (% of its
    value) with the parameter ``rel_step`` lower (hatched bar) and higher (solid bar), coloured
    by the parameter's evidence grade; largest effects on top. Needs the columns of
    :func:`nadsim.analysis.sensitivity.local_sensitivity` plus ``grade`` and ``unit``."""
    d = df.head(top).iloc[::-1].reset_index(drop=True)
    y0 = d["output"].abs().replace(0, np.nan)
    low = 100 * (d["output_down"] - d["output"]) / y0
    high = 100 * (d["output_up"] - d["output"]) / y0
    colours = [GRADE_COLOURS.get(g, "#57606a") for g in d["grade"]]
    labels = [f"{p} ({v:.3g} {u})".replace(" dimensionless", "") for p, v, u in zip(d["parameter"], d["value"], d["unit"], strict=True)]
    # the figure widens with its longest label (and holds the legend), so no label is clipped
    fig, ax = new_figure(8.5 + 0.075 * max((len(x) for x in labels), default=0), 2.2 + 0.36 * len(d))
    pos = np.arange(len(d))
    ax.barh(pos, low, color=colours, hatch="///", edgecolor="white", linewidth=0)
    ax.barh(pos, high, color=colours)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(pos, labels, fontsize=8)
    u = display_unit(output, output_unit)
    ax.set_xlabel(wrap(f"change of the metric (%): {metric} of {output}{f' in {u}' if u else ''}", 70) + "\n"
                  f"hatched: parameter {rel_step:.0%} lower, solid: {rel_step:.0%} higher", fontsize=9)
    ax.set_title(wrap(f"Local sensitivity of {output} ({metric}) after {regimen}", 80), fontsize=10)
    _grade_legend(ax, list(d["grade"]), loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, not on them
    fig.text(0.01, 0.005, DISCLAIMER_LINE, fontsize=7, color="#57606a")
    return save(fig, path)


def sobol_figure(df: pd.DataFrame, path: Path | str, *, output: str, metric: str, regimen: str) -> Path:
    """First-order (S1) and total (ST) Sobol indices with their confidence intervals; bars edged
    by the parameter's evidence grade."""
    x = np.arange(len(df))
    fig, ax = new_figure(max(5.5, 0.9 * len(df) + 2.5), 4.4)
    edge = [GRADE_COLOURS.get(g, "#57606a") for g in df.get("grade", ["E"] * len(df))]
    ax.bar(x - 0.2, df["S1"], 0.4, yerr=df["S1_conf"], capsize=3, label="first order S1", color="#8fb8f5",
           edgecolor=edge, linewidth=2)
    ax.bar(x + 0.2, df["ST"], 0.4, yerr=df["ST_conf"], capsize=3, label="total ST", color="#1f6feb",
           edgecolor=edge, linewidth=2)
    ax.set_xticks(x, df["parameter"], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("Sobol index (share of output variance, 0-1)")
    ax.set_title(wrap(f"Global sensitivity of {output} ({metric}) after {regimen}", 70), fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)


def forest_figure(rows: Sequence[tuple[str, float, float, float]], path: Path | str, *, endpoint: str,
                  unit: str, favours: str = "lower values favour the active arm") -> Path:
    """Treatment effects with 95 % CIs: ``rows`` of ``(label, estimate, ci_low, ci_high)``."""
    n = len(rows)
    longest = max((len(r[0]) for r in rows), default=0)
    # room for the longest row label beside an 5.5-inch plot; the x label wraps under it
    fig, ax = new_figure(5.5 + 0.085 * longest, 2.6 + 0.5 * n)
    for i, (_label, est, lo, hi) in enumerate(rows):
        ax.plot([lo, hi], [i, i], color="k", lw=1.6)
        ax.plot(est, i, "s", color="#1f6feb", markersize=8)
    ax.axvline(0, color="#57606a", ls=":")
    ax.set_yticks(range(n), [r[0] for r in rows], fontsize=10)
    ax.set_ylim(n - 0.4, -0.6)  # first row on top, half a row of room at each end
    u = display_unit(endpoint, unit)
    ax.set_xlabel(wrap(f"treatment effect on {endpoint}{f' ({u})' if u else ''}, 95 % CI", 60) + f"\n{favours}",
                  fontsize=10)
    ax.set_title(wrap(f"Treatment effect vs control: {endpoint}, all subjects and subgroups", 70), fontsize=11)
    ax.tick_params(axis="x", labelsize=10)
    return save(fig, path)


def power_figure(curve: Sequence[Mapping[str, float]], path: Path | str, *, target: float, title: str) -> Path:
    """Power (with Monte Carlo 95 % error bars) against subjects per arm, log axis."""
    n = np.array([c["n"] for c in curve])
    pw = np.array([c["power"] for c in curve])
    se = np.array([c["mc_se"] for c in curve])
    fig, ax = new_figure(7.0, 4.2)
    ax.errorbar(n, pw, yerr=1.96 * se, marker="o", capsize=3)
    ax.axhline(target, ls="--", color="#57606a", label=f"target {target:.0%}")
    ax.set_ylim(0, 1.02)
    ax.set_xscale("log")
    # ticks at the grid's own n, written plainly (20, not 2x10^1)
    ax.set_xticks(n, [f"{v:g}" for v in n])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("subjects per arm (log scale)")
    ax.set_ylabel("power (probability of p < alpha)")
    ax.set_title(wrap(title, 70), fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, path)


def timecourse_figure(weeks: np.ndarray, arms: Mapping[str, np.ndarray], path: Path | str, *, output: str,
                      unit: str) -> Path:
    """Per arm: mean, 95 % CI of the mean (dark band), 5-95 % of subjects (light band).
    ``arms[name]`` is a (subjects, visits) array of model values."""
    fig, ax = new_figure(8.0, 4.6)
    for arm, X in arms.items():
        if X.size == 0:
            continue
        m = X.mean(axis=0)
        lo, hi = np.percentile(X, [5, 95], axis=0)
        se = X.std(axis=0, ddof=1) / np.sqrt(X.shape[0]) if X.shape[0] > 1 else np.zeros_like(m)
        line, = ax.plot(weeks, m, marker="o", label=f"{arm}: mean (95 % CI dark)")
        ax.fill_between(weeks, lo, hi, color=line.get_color(), alpha=0.13, label=f"{arm}: 5-95 % of subjects")
        ax.fill_between(weeks, m - 1.96 * se, m + 1.96 * se, color=line.get_color(), alpha=0.35)
    u = display_unit(output, unit)
    ax.set_xlabel("time from randomisation (weeks)")
    ax.set_ylabel(f"{output} ({u})" if u else output)
    ax.set_title(wrap(f"{output} by arm (model values, no measurement error)", 70), fontsize=10)
    ax.legend(fontsize=8, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))  # below: bands stay visible
    return save(fig, path)


ROLE_COLOURS = {"fit": "#1f6feb", "validate": "#d4622b", "excluded": "#8c959f"}
ROLE_LABELS = {"fit": "calibration (fitted)", "validate": "validation (held out)", "excluded": "excluded"}


def qualification_figure(rows: Sequence[Mapping[str, Any]], path: Path | str) -> Path:
    """Observed vs predicted (log-log, 2-fold lines) and the fold error of every row, coloured by
    role. Points are not labelled one by one (the ids overlapped); the bar panel names each row."""
    finite = [r for r in rows if np.isfinite(r["predicted"]) and r["observed"] > 0 and r["predicted"] > 0]
    fig, (a, b) = new_figure(13.0, max(5.0, 0.22 * len(rows) + 1.5), ncols=2, width_ratios=[1, 1.1])
    for role, colour in ROLE_COLOURS.items():
        pts = [r for r in finite if r["role"] == role]
        if pts:
            a.scatter([r["observed"] for r in pts], [r["predicted"] for r in pts], color=colour, s=22,
                      marker="o" if role == "fit" else "s", label=ROLE_LABELS[role])
    if finite:
        lo = min(min(r["observed"], r["predicted"]) for r in finite) / 3
        hi = max(max(r["observed"], r["predicted"]) for r in finite) * 3
        a.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        a.plot([lo, hi], [2 * lo, 2 * hi], "k--", lw=0.5)
        a.plot([lo, hi], [lo / 2, hi / 2], "k--", lw=0.5)
        a.set_xlim(lo, hi)
        a.set_ylim(lo, hi)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("observed (each row's own unit, log scale)")
    a.set_ylabel("predicted (same unit, log scale)")
    a.set_title("Observed vs predicted; dashed: 2-fold", fontsize=10)
    a.legend(fontsize=8)
    ids = [str(r["id"]) for r in rows]
    fe = np.array([r["fold_error"] if np.isfinite(r["fold_error"]) and r["fold_error"] > 0 else np.nan for r in rows])
    b.barh(np.arange(len(rows)), np.log2(fe), color=[ROLE_COLOURS[r["role"]] for r in rows])
    b.set_yticks(np.arange(len(rows)), ids, fontsize=7)
    b.invert_yaxis()
    b.axvline(0, color="k", lw=0.6)
    for x in (-1, 1):
        b.axvline(x, color="k", ls="--", lw=0.5)
    b.set_xlabel("log2 fold error (predicted / observed); dashed: 2-fold")
    b.set_title("Fold error of every row", fontsize=10)
    fig.suptitle(wrap(f"Qualification: {len(rows)} rows · {DISCLAIMER_LINE}", 120), fontsize=10)
    return save(fig, path)
