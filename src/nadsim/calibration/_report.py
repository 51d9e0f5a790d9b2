"""The qualification report: every calibration and validation row, observed vs predicted."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nadsim.calibration._fit import gmfe
from nadsim.report._figures import qualification_figure

__all__ = ["write_report"]


def _fmt(x: object) -> str:
    v = float(x)  # type: ignore[arg-type]
    return "n/a" if not np.isfinite(v) else f"{v:.4g}"


def write_report(rows: Sequence[dict], out_dir: Path | str, *, model_hash: str, fitted: dict[str, dict] | None = None,
                 title: str = "nadsim qualification report") -> dict:
    """Write ``qualification.md``, ``qualification.json`` and ``qualification.png`` into ``out_dir``.

    Returns the summary (GMFE overall, per study, for fit and validation rows).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fit = [r for r in rows if r["role"] == "fit"]
    val = [r for r in rows if r["role"] == "validate"]
    excluded = [r for r in rows if r["role"] == "excluded"]
    counted = fit + val
    by_study: dict[str, list[dict]] = defaultdict(list)
    for r in counted:
        by_study[r["experiment"]].append(r)
    summary = {
        "model_hash": model_hash,
        "gmfe_fit": gmfe(fit),
        "gmfe_validation": gmfe(val),
        "gmfe_all": gmfe(counted),
        "n_excluded": len(excluded),
        "n_fit": len(fit),
        "n_validation": len(val),
        "gmfe_by_study": {k: gmfe(v) for k, v in by_study.items()},
        "within_2fold_fit": sum(1 for r in fit if np.isfinite(r["fold_error"]) and 0.5 <= r["fold_error"] <= 2.0),
    }
    L = [f"# {title}", "",
         "nadsim is a research model, not medical advice. Fold error = predicted / observed; "
         "GMFE = exp(mean |ln fold error|).", "",
         f"Model hash `{model_hash}`.", "",
         "| set | rows | GMFE |", "|---|---:|---:|",
         f"| calibration (fitted) | {len(fit)} | {_fmt(summary['gmfe_fit'])} |",
         f"| validation (held out, never fitted) | {len(val)} | {_fmt(summary['gmfe_validation'])} |",
         f"| all counted | {len(counted)} | {_fmt(summary['gmfe_all'])} |", "",
         f"{len(excluded)} row(s) are shown below but neither fitted nor counted; the table gives the reason.", "",
         "## GMFE per study", "", "| study (experiment) | rows | GMFE |", "|---|---:|---:|"]
    for k, v in by_study.items():
        L.append(f"| {k} | {len(v)} | {_fmt(gmfe(v))} |")
    L += ["", "## Every row", "",
          "| id | role | output | statistic | observed | predicted | unit | fold error | weight | source row |",
          "|---|---|---|---|---:|---:|---|---:|---:|---|"]
    for r in rows:
        L.append(f"| {r['id']} | {r['role']} | {r['output']} | {r['statistic']} | {_fmt(r['observed'])} | "
                 f"{_fmt(r['predicted'])} | {r['unit']} | {_fmt(r['fold_error'])} | {r['weight']:g} | "
                 f"{r['source']}: {r['row']}{' — excluded: ' + r['reason'] if r.get('reason') else ''} |")
    if fitted:
        L += ["", "## Fitted parameters", "", "| parameter | value | unit | bounds | fitted to |", "|---|---:|---|---|---|"]
        for n, d in fitted.items():
            L.append(f"| {n} | {d['value']:.4g} | {d['unit']} | [{d['bounds'][0]:.3g}, {d['bounds'][1]:.3g}] | {', '.join(d['fitted_to'])} |")
    L += ["", "![observed vs predicted](qualification.png)", ""]
    (out / "qualification.md").write_text("\n".join(L), encoding="utf-8")
    (out / "qualification.json").write_text(json.dumps({"summary": summary, "rows": list(rows)}, indent=1, default=float),
                                            encoding="utf-8")

    qualification_figure(rows, out / "qualification.png")
    return summary
