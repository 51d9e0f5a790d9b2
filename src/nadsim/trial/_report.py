"""HTML report of a finished run: tables from ``summary.json`` and matplotlib figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadsim.report._figures import forest_figure, power_figure, timecourse_figure
from nadsim.report._html import render, translator
from nadsim.trial._registry import Registry, atomic_write_bytes
from nadsim.trial._run import effective_spec

__all__ = ["endpoint_order", "write_report"]


def endpoint_order(names: list[str], primary: str, file_order: list[str]) -> list[str]:
    """``names`` with the primary endpoint first, then the others in the trial file's order
    (summary.json stores its keys sorted, so the file's order comes from the spec)."""
    rank = {n: i for i, n in enumerate(file_order)}
    rest = sorted((n for n in names if n != primary), key=lambda n: rank.get(n, len(rank)))
    return ([primary] if primary in names else []) + rest


def _in_order(block: dict[str, Any], order: list[str]) -> dict[str, Any]:
    return {k: block[k] for k in order if k in block} | {k: v for k, v in block.items() if k not in order}


def _plot_timecourses(subj: pd.DataFrame, summary: dict[str, Any], path: Path) -> list[str]:
    files = []
    times = np.array(summary["visit_times_h"]) / 168.0
    units = {b["output"]: b.get("unit", "") for b in summary["endpoints"].values()}
    for o in sorted(units):
        cols = [f"{o}@{t:g}h_true" for t in summary["visit_times_h"]]
        if not all(c in subj for c in cols):
            continue
        arms = {arm: subj.loc[(subj["arm"] == arm) & (subj["status"] == 0), cols].to_numpy(dtype=float)
                for arm in summary["arms"]}
        files.append(timecourse_figure(times, arms, path / f"timecourse_{o}.png", output=o, unit=units[o]).name)
    return files


def _plot_power(summary: dict[str, Any], path: Path) -> list[str]:
    return [power_figure(p["curve"], path / f"power_{arm}.png", target=p["n_for_target"]["target"],
                         title=f"Power: {p['contrast']} ({p['endpoint']})").name
            for arm, p in summary["power"].items()]


def _plot_forest(summary: dict[str, Any], path: Path) -> list[str]:
    ep = summary["primary_endpoint"]
    rows = []
    for arm, eff in summary["endpoints"][ep]["effects"].items():
        if eff.get("estimate") is not None:
            rows.append((f"all: {arm}", eff["estimate"], *eff["ci"]))
        for sg, block in summary["subgroups"].items():
            e2 = block["endpoints"].get(ep, {}).get("effects", {}).get(arm, {})
            if e2.get("estimate") is not None:
                rows.append((f"{sg}: {arm}", e2["estimate"], *e2["ci"]))
    if not rows:
        return []
    unit = summary["endpoints"][ep].get("unit", "")
    return [forest_figure(rows, path / "forest.png", endpoint=ep, unit=unit).name]


def _noise_text(noise: Any) -> str:
    """``{"sd": 2.0, "round": true}`` as ``sd 2, round yes`` (the report shows no raw JSON)."""
    if not isinstance(noise, dict) or not noise:
        return "none" if not noise else str(noise)
    shown = {True: "yes", False: "no", None: "-"}
    return ", ".join(f"{k.replace('_', ' ')} {shown.get(v, v) if isinstance(v, bool | None) else v}" for k, v in noise.items())


def write_report(run_id: str, registry: Registry | None = None, *, lang: str = "en") -> Path:
    """Write ``report.html`` (and its PNG figures) into the run's output directory; ``lang`` en or ja
    (the template and the page's i18n files: nadsim.report)."""
    reg = registry or Registry()
    row = reg.run(run_id)
    out = Path(row["out_dir"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    subj = pd.read_parquet(out / "subjects.parquet")
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    images = _plot_timecourses(subj, summary, figs) + _plot_power(summary, figs) + _plot_forest(summary, figs)
    spec = effective_spec(row["trial_text"], row["overrides"])
    order = endpoint_order(list(summary["endpoints"]), summary["primary_endpoint"], [e.name for e in spec.endpoints])
    endpoints = _in_order(summary["endpoints"], order)
    subgroups = {k: {**b, "endpoints": _in_order(b["endpoints"], order)} for k, b in summary["subgroups"].items()}
    page = render("trial.html.j2", lang=lang, trial=summary["trial"], disclaimer=summary["disclaimer"], run_id=run_id,
                  seed=summary["seed"], model=summary["model"], model_hash=summary["model_hash"],
                  n_per_arm=summary["n_per_arm"], arms=list(summary["arms"].items()),
                  endpoints=list(endpoints.items()), primary=summary["primary_endpoint"],
                  noise={k: _noise_text(b.get("noise")) for k, b in summary["endpoints"].items()},
                  subgroups=list(subgroups.items()), power=list(summary["power"].values()),
                  warnings=summary.get("warnings", []), placebo_response=summary.get("placebo_response"),
                  skipped=list(summary["skipped_endpoints"].items()), figures=images,
                  footer=translator(lang)("report.footer.trial", version=summary.get("nadsim_version", "")))
    target = out / "report.html"
    atomic_write_bytes(target, page.encode())
    return target
