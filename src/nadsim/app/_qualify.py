"""The qualification verb: the current parameters against every calibration and validation
row, judged on the rise, with 90 % prediction intervals, written as a report (``nadsim qualify``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nadsim.calibration import (
    kinetic_checks,
    load_targets,
    predict_with_reference,
    qualification_table,
    write_report,
)
from nadsim.calibration._calibrator import (
    STUDY_EFFECT_SD,
    fit_summary,
    load_posterior,
    posterior_matches,
)
from nadsim.calibration._intervals import target_intervals
from nadsim.calibration._uncertainty import default_source
from nadsim.library import get_model

__all__ = ["QualifyRequest", "qualify"]


@dataclass(frozen=True)
class QualifyRequest:
    out: Path
    workers: int = 2
    #: parameter draws for each row's 90 % prediction interval (0: none)
    draws: int = 100


def qualify(request: QualifyRequest, *, progress: Callable[[int, int], None] | None = None) -> Mapping[str, Any]:
    """Simulate every experiment of the shared data, write the report into ``request.out`` and
    return its summary (GMFE on the rise and of the level ratio, coverage, row counts)."""
    model = get_model("nad_core")
    exps, targets = load_targets()
    pred, ref = predict_with_reference(model, exps, targets, workers=request.workers, progress=progress)
    rows = qualification_table(targets, pred, ref)
    note = ""
    if request.draws:
        source = default_source()
        iv = target_intervals(model, exps, targets, n=request.draws, source=source)
        median_rows = {r["id"]: r for r in qualification_table(
            targets, {k: v.median for k, v in iv.items()}, {k: v.no_change for k, v in iv.items()})}
        for r in rows:
            r["lo90"], r["hi90"] = iv[r["id"]].lower, iv[r["id"]].upper
            m = median_rows[r["id"]]
            r["posterior_median"] = m["predicted"]
            r["abs_log_fold_error_rise_median"] = m["abs_log_fold_error_rise"]
        note = (f"90 % prediction intervals: {request.draws} parameter draws from the {source} "
                f"(`nadsim.calibration.parameter_draws`), each simulated with `simulate_batch`; rises reported by a "
                f"study also carry a new study's effect (log-normal, SD {STUDY_EFFECT_SD}). Coverage counts the rows "
                f"whose observed value lies inside its interval; a 'no change' row observed only that the rise "
                f"stayed below its undetectable rise, so it counts as covered when the interval reaches into "
                f"[no change, no change + that rise] (marked in the table).")
    full = get_model("full")
    full_rows = qualification_table(targets, *predict_with_reference(full, exps, targets, workers=request.workers))
    fitted = {n: p for n, p in model.parameters.items() if p.provenance.kind == "fitted"}
    info = {n: {"value": p.value, "unit": p.unit, "bounds": p.bounds, "fitted_to": list(p.provenance.fitted_to)}
            for n, p in fitted.items()}
    post = load_posterior()
    ident = post["identifiability"] if post and posterior_matches(model, post) else None
    return write_report(rows, request.out, model_hash=model.hash(), fitted=info, checks=kinetic_checks(rows),
                        identifiability=ident, fit_info=fit_summary(post) if post and ident else None,
                        interval_note=note, full_model=(full.hash(), full_rows))
