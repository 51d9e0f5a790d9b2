"""HTML report of a finished run: tables from ``summary.json`` and matplotlib figures."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadsim.trial._registry import Registry, atomic_write_bytes

__all__ = ["write_report"]


def _save(fig: Any, file: Path) -> str:
    """Lay out, write (PNG, 110 dpi) and close a report figure; return its file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(file, dpi=110)
    plt.close(fig)
    return file.name


def _plot_timecourses(subj: pd.DataFrame, summary: dict[str, Any], path: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    times = np.array(summary["visit_times_h"]) / 168.0
    outputs = sorted({b["output"] for b in summary["endpoints"].values()})
    for o in outputs:
        cols = [f"{o}@{t:g}h_true" for t in summary["visit_times_h"]]
        if not all(c in subj for c in cols):
            continue
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        for arm in summary["arms"]:
            X = subj.loc[(subj["arm"] == arm) & (subj["status"] == 0), cols].to_numpy(dtype=float)
            if X.size == 0:
                continue
            m = X.mean(axis=0)
            lo, hi = np.percentile(X, [5, 95], axis=0)
            se = X.std(axis=0, ddof=1) / np.sqrt(X.shape[0]) if X.shape[0] > 1 else np.zeros_like(m)
            line, = ax.plot(times, m, marker="o", label=f"{arm} mean")
            ax.fill_between(times, lo, hi, color=line.get_color(), alpha=0.15, label=f"{arm} 5-95 % of subjects")
            ax.fill_between(times, m - 1.96 * se, m + 1.96 * se, color=line.get_color(), alpha=0.35)
        ax.set_xlabel("week")
        ax.set_ylabel(o)
        ax.set_title(f"{o} (model values, no measurement error): mean, 95 % CI of the mean (dark), "
                     "5-95 % of subjects (light)", fontsize=8)
        ax.legend(fontsize=7)
        files.append(_save(fig, path / f"timecourse_{o}.png"))
    return files


def _plot_power(summary: dict[str, Any], path: Path) -> list[str]:
    import matplotlib.pyplot as plt

    files = []
    for arm, p in summary["power"].items():
        fig, ax = plt.subplots(figsize=(6.0, 3.6))
        n = np.array([c["n"] for c in p["curve"]])
        pw = np.array([c["power"] for c in p["curve"]])
        se = np.array([c["mc_se"] for c in p["curve"]])
        ax.errorbar(n, pw, yerr=1.96 * se, marker="o", capsize=3)
        tgt = p["n_for_target"]["target"]
        ax.axhline(tgt, ls="--", color="grey")
        ax.set_ylim(0, 1.02)
        ax.set_xscale("log")
        ax.set_xlabel("subjects per arm")
        ax.set_ylabel("power")
        ax.set_title(f"{p['contrast']} ({p['endpoint']})", fontsize=9)
        files.append(_save(fig, path / f"power_{arm}.png"))
    return files


def _plot_forest(summary: dict[str, Any], path: Path) -> list[str]:
    import matplotlib.pyplot as plt

    ep = summary["primary_endpoint"]
    rows = []
    for arm, eff in summary["endpoints"][ep]["effects"].items():
        if eff.get("estimate") is not None:
            rows.append((f"all: {arm}", eff))
        for sg, block in summary["subgroups"].items():
            e2 = block["endpoints"].get(ep, {}).get("effects", {}).get(arm, {})
            if e2.get("estimate") is not None:
                rows.append((f"{sg}: {arm}", e2))
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(6.0, 0.6 + 0.45 * len(rows)))
    for i, (_label, e) in enumerate(rows):
        ax.plot(e["ci"], [i, i], color="k")
        ax.plot(e["estimate"], i, "s", color="C0")
    ax.axvline(0, color="grey", ls=":")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.set_xlabel(f"treatment effect on {ep} (95 % CI)")
    return [_save(fig, path / "forest.png")]


def _g(x: Any, fmt: str = ".3g") -> str:
    return "-" if x is None else format(x, fmt)


def _table(block: dict[str, Any]) -> str:
    rows = []
    for arm, s in block["arms"].items():
        if "proportion" in s:
            lo, hi = (None if c is None else 100 * c for c in s["ci"])
            val = f"{100 * s['proportion']:.1f} % [{_g(lo, '.1f')}, {_g(hi, '.1f')}]"
        elif "mean" in s:
            val = f"{_g(s['mean'])} [{_g(s['ci'][0])}, {_g(s['ci'][1])}] (SD {_g(s['sd'])})"
        else:
            val = "-"
        rows.append(f"<tr><td>{html.escape(arm)}</td><td>{s.get('n', 0)}</td><td>{val}</td></tr>")
    for e in block["effects"].values():
        if e.get("estimate") is None:
            continue
        rows.append(f"<tr><td><b>effect</b> {html.escape(e['contrast'])}</td><td></td><td>{_g(e['estimate'])} "
                    f"[{_g(e['ci'][0])}, {_g(e['ci'][1])}], p = {_g(e['p'])}</td></tr>")
    return "<table><tr><th>arm</th><th>n</th><th>estimate [95 % CI]</th></tr>" + "".join(rows) + "</table>"


def write_report(run_id: str, registry: Registry | None = None) -> Path:
    """Write ``report.html`` (and its PNG figures) into the run's output directory."""
    reg = registry or Registry()
    row = reg.run(run_id)
    out = Path(row["out_dir"])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    subj = pd.read_parquet(out / "subjects.parquet")
    figs = out / "figures"
    figs.mkdir(exist_ok=True)
    images = _plot_timecourses(subj, summary, figs) + _plot_power(summary, figs) + _plot_forest(summary, figs)
    parts = [f"<h1>In-silico trial {html.escape(summary['trial'])}</h1>",
             f"<p class=warn>{html.escape(summary['disclaimer'])}</p>",
             f"<p>run <code>{html.escape(run_id)}</code>, seed {summary['seed']}, model {html.escape(summary['model'])} "
             f"(<code>{summary['model_hash'][:12]}</code>), {summary['n_per_arm']} subjects per arm.</p>",
             "<h2>Arms</h2><ul>" + "".join(f"<li>{html.escape(a)}: {html.escape(v['regimen'])} "
                                          f"(n = {v['n']}, failed {v['n_failed']})</li>" for a, v in summary["arms"].items()) + "</ul>"]
    for name, block in summary["endpoints"].items():
        star = " (primary)" if name == summary["primary_endpoint"] else ""
        parts.append(f"<h2>{html.escape(name)}{star}</h2><p>{html.escape(block['kind'])} of "
                     f"{html.escape(block['output'])} at {block['visit_h'] / 168:g} weeks; measurement error: "
                     f"{html.escape(json.dumps(block['noise']))}</p>" + _table(block))
    for sg, b in summary["subgroups"].items():
        parts.append(f"<h2>Subgroup {html.escape(sg)} ({html.escape(b['where'])})</h2>")
        for name, block in b["endpoints"].items():
            parts.append(f"<h3>{html.escape(name)}</h3>" + _table(block))
    parts.append("<h2>Power</h2>")
    for _arm, p in summary["power"].items():
        nt = p["n_for_target"]
        me = p.get("model_effect") or {}
        if me:
            parts.append(f"<p>model (noise-free) effect in the simulated pools: {_g(me.get('estimate'))} "
                         f"[{_g(me['ci'][0])}, {_g(me['ci'][1])}]</p>")
        parts.append(f"<p>{html.escape(p['contrast'])}: power {p['at_n_per_arm']:.3f} at n = {summary['n_per_arm']} per arm; "
                     f"n for {nt['target']:.0%}: first grid point {nt['n_first_grid_point']}, probit fit {nt['n_fit']} "
                     f"{html.escape(nt['note'])} ({html.escape(p['method'])})</p>")
    if summary["skipped_endpoints"]:
        parts.append("<h2>Skipped endpoints</h2><ul>" + "".join(
            f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in summary["skipped_endpoints"].items()) + "</ul>")
    parts.append("<h2>Figures</h2>" + "".join(f'<p><img src="figures/{f}" alt="{f}"></p>' for f in images))
    page = ("<!doctype html><html><head><meta charset=utf-8><title>nadsim trial report</title><style>"
            "body{font-family:sans-serif;max-width:60em;margin:auto} table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px} .warn{color:#a40}</style></head><body>"
            + "\n".join(parts) + "</body></html>")
    target = out / "report.html"
    atomic_write_bytes(target, page.encode())
    return target
