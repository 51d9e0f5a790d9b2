"""Fit uncertain parameters to published summary statistics (weighted log fold errors)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from nadsim._errors import CalibrationError, NadsimError, SolverError
from nadsim.calibration._targets import (
    Experiment,
    Target,
    evaluate,
    no_change_value,
    rise_kind,
)
from nadsim.model import Model
from nadsim.simulate import Status, Tolerances, compile_model, solve

__all__ = ["FIT_PARAMETERS", "RISE_FLOOR", "gmfe", "predict", "predict_with_reference",
           "qualification_table", "rise_fold_error"]

#: a rise below this fraction of the no-change value is read as no rise (assay resolution); it
#: keeps the fold error on the rise finite when a prediction does not rise at all
RISE_FLOOR = 0.01

#: the uncertain parameters calibration may move (all within their table bounds)
FIT_PARAMETERS: tuple[str, ...] = (
    "NAMPT_reserve", "t_half_NAD_rbc", "t_half_NAD_wbc", "NRK_capacity_blood", "NRK_capacity_rbc", "NRK_capacity",
    "NAPRT_capacity", "f_NAAD_wbc", "k_NADS", "k_deamid", "ka_colon", "k_transit", "Vmax_CD38_p", "Km_CD38_NAD", "k_ENPP",
    "CL_AOX", "CL_ren_MeNAM", "CL_ren_PY", "ka_NR", "NAM0", "R_diet",
)
def _simulate_experiment(args: tuple[Model, Experiment, float]) -> tuple[str, np.ndarray | None, dict[str, np.ndarray]]:
    """Simulate one experiment; a failed simulation returns ``None`` times (its targets become NaN)."""
    try:
        return _simulate_experiment_or_raise(args)
    except NadsimError:
        return args[1].id, None, {}


def _simulate_experiment_or_raise(args: tuple[Model, Experiment, float]) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    model, exp, rtol = args
    cm = compile_model(model)
    t = exp.times()
    res = solve(model, exp.regimen, t, cm.base_parameters()[None, :], tolerances=Tolerances(rtol=rtol, atol=1e-10))
    if res.status[0] != Status.OK:
        raise SolverError("solver", "a successful integration", Status(int(res.status[0])).message, hint=exp.id)
    return exp.id, res.times, {n: res.rules[0, :, i] for i, n in enumerate(cm.rule_names)}


def predict_with_reference(model: Model, experiments: dict[str, Experiment], targets: Sequence[Target], *,
                           rtol: float = 1e-7, workers: int = 1,
                           progress: Callable[[int, int], None] | None = None
                           ) -> tuple[dict[str, float], dict[str, float]]:
    """Each target's predicted statistic and its no-change value (the statistic of a flat curve at
    the predicted baseline: 1 for folds, the baseline level or AUC otherwise, NaN for times).

    NaN where the simulation failed. ``progress(done, total)`` is called as each experiment finishes.
    """
    needed = sorted({t.experiment for t in targets})
    jobs = [(model, experiments[e], rtol) for e in needed]
    results: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}
    done = []
    with contextlib.ExitStack() as stack:
        if workers > 1 and len(jobs) > 1:
            runs = stack.enter_context(ProcessPoolExecutor(max_workers=workers)).map(_simulate_experiment, jobs)
        else:
            runs = map(_simulate_experiment, jobs)
        for r in runs:
            done.append(r)
            if progress is not None:
                progress(len(done), len(jobs))
    for eid, t, out in done:
        if t is not None:
            results[eid] = (t, out)
    pred, ref = {}, {}
    for tg in targets:
        if tg.experiment not in results:
            pred[tg.id] = ref[tg.id] = float("nan")
            continue
        t, out = results[tg.experiment]
        if tg.output not in out:
            raise CalibrationError(f"target {tg.id}.output", "a model output", tg.output)
        pred[tg.id] = evaluate(tg, t, out[tg.output])
        ref[tg.id] = no_change_value(tg, t, out[tg.output])
    return pred, ref


def predict(model: Model, experiments: dict[str, Experiment], targets: Sequence[Target], *,
            rtol: float = 1e-7, workers: int = 1,
            progress: Callable[[int, int], None] | None = None) -> dict[str, float]:
    """Model predictions for each target (NaN where the simulation failed)."""
    return predict_with_reference(model, experiments, targets, rtol=rtol, workers=workers, progress=progress)[0]


def rise_fold_error(target: Target, predicted: float, reference: float) -> tuple[float, float, float]:
    """(predicted rise, observed rise, fold error on the rise) of one row.

    The rise is the change from baseline: statistic minus its no-change value ``reference``. A
    rise below :data:`RISE_FLOOR` of the reference (or below the row's ``null_rise`` for a
    "no change" observation) counts as that floor, so a flat prediction of a real rise, or a rise
    where none was seen, gets a large but finite fold error. Times are judged as they are;
    baseline levels have no rise (NaN).
    """
    kind = rise_kind(target)
    if kind == "level" or not np.isfinite(predicted):
        return float("nan"), float("nan"), float("nan")
    if kind == "time":
        return predicted, target.observed, predicted / target.observed if predicted > 0 else float("nan")
    obs_rise = 0.0 if target.null_rise is not None else target.observed - reference
    floor = target.null_rise if target.null_rise is not None else RISE_FLOOR * abs(reference)
    pred_rise = predicted - reference
    return pred_rise, obs_rise, max(pred_rise, floor) / max(obs_rise, floor)


def qualification_table(targets: Sequence[Target], pred: dict[str, float],
                        reference: dict[str, float] | None = None) -> list[dict]:
    """One row per target: level fold error (pred / obs) and fold error on the rise.

    ``reference`` holds each target's no-change value (from :func:`predict_with_reference`);
    without it, fold statistics use 1 and other rises are NaN.
    """
    rows = []
    for tg in targets:
        p = pred[tg.id]
        ref = (reference or {}).get(tg.id, 1.0 if tg.statistic in ("fold_at", "peak_fold", "mean_fold") else float("nan"))
        fe = p / tg.observed if np.isfinite(p) and p > 0 else float("nan")
        pr, orr, fer = rise_fold_error(tg, p, ref)
        rows.append({"id": tg.id, "experiment": tg.experiment, "output": tg.output, "statistic": tg.statistic,
                     "observed": tg.observed, "predicted": p, "unit": tg.unit, "fold_error": fe,
                     "abs_log_fold_error": abs(np.log(fe)) if np.isfinite(fe) else float("nan"),
                     "rise_kind": rise_kind(tg), "no_change": ref, "observed_rise": orr, "predicted_rise": pr,
                     "fold_error_rise": fer,
                     "abs_log_fold_error_rise": abs(np.log(fer)) if np.isfinite(fer) and fer > 0 else float("nan"),
                     "weight": tg.weight, "role": tg.role, "source": tg.source, "row": tg.row,
                     "reason": tg.reason, "n": tg.n, "null_rise": tg.null_rise})
    return rows


def gmfe(rows: Sequence[Mapping[str, Any]], *, on: str = "level") -> float:
    """Geometric mean fold error exp(mean |ln(pred/obs)|) on the level (``on="level"``) or on the
    change from baseline (``on="rise"``, over the rows that have one); inf if a prediction failed,
    NaN if no row has the statistic."""
    if on not in ("level", "rise"):
        raise CalibrationError("on", "'level' or 'rise'", on)
    if on == "rise":
        v = [r["abs_log_fold_error_rise"] for r in rows if r["rise_kind"] != "level"]
    else:
        v = [r["abs_log_fold_error"] for r in rows]
    if not v:
        return float("nan")  # no row to judge: not a failure
    return float(np.exp(np.mean(v))) if all(np.isfinite(v)) else float("inf")
