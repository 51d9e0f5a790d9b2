"""The web page's formatting: a validated request becomes one :mod:`nadsim.app` verb's request,
and the verb's result becomes plain JSON-able dicts.

No science lives here, and no model is built here: every model comes from
:func:`nadsim.library.get_model` through the app's verbs, every number from the verb's runs.
This module picks output groups for the charts, maps request fields to the library's names and
back (so an error names the request field), and writes the downloads through :mod:`nadsim.report`.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nadsim import app
from nadsim.dosing import Regimen
from nadsim.evidence import render_claims
from nadsim.model import GRADES
from nadsim.report._simulation import simulation_csv, simulation_html
from nadsim.simulate import DISCLAIMER
from nadsim.web.schemas import (
    ClaimAuditRequest,
    PatientProfile,
    RegimenIn,
    SimulateRequest,
    TrialRequest,
)

__all__ = [
    "GROUPS",
    "capabilities",
    "csv_headers",
    "csv_text",
    "make_regimen",
    "parameters_table",
    "run_simulation",
]

#: chart groups: NAD+ per compartment, NAD+ precursors and metabolites ("markers"), mechanism
#: outputs, HAM-D, urinary excretion
NAD_POOLS = ("whole_blood_NAD", "pbmc_NAD", "plasma_NAD", "liver_NAD", "muscle_NAD", "brain_NAD")
METABOLITES = ("plasma_NMN", "plasma_NR", "plasma_NAM", "plasma_NA", "plasma_MeNAM", "plasma_PY",
               "pbmc_NAAD", "brain_NAM")
HAMD_NAMES = ("HAMD", "hamd", "HAMD17")
#: mechanism outputs drawn by default (the others can be switched on in the chart legend)
KEY_MECHANISMS = ("SIRT1_activity", "IL6", "CRP", "kynurenine", "sleep_quality", "ATP_capacity")
GROUPS = ("nad", "markers", "mechanisms", "hamd", "excretion")
#: outputs in the summary table (those the run offers)
SUMMARY_OUTPUTS = NAD_POOLS + HAMD_NAMES + ("CRP", "IL6", "SIRT1_activity", "sleep_quality")
#: the app's profile keys (and the body weight parameter) -> the request's field names
PROFILE_FIELDS = {"age": "age_y", "crp_mg_L": "crp_mg_L", "hamd": "hamd", "sleep": "psqi", "BW": "weight_kg"}


# --------------------------------------------------------------------------- requests
def make_regimen(r: RegimenIn) -> Regimen:
    """The request's regimen, from its numbers (no text in between)."""
    duration_h = 0.0
    if r.route == "iv":
        if r.infusion_min is not None:
            duration_h = r.infusion_min / 60.0
        elif r.infusion_volume_mL is not None and r.infusion_rate_mL_min is not None:
            duration_h = r.infusion_volume_mL / r.infusion_rate_mL_min / 60.0
        else:
            duration_h = 1.0 / 3.0  # the library's default drip (20 min), as parse_regimen gives it
    return Regimen.repeated(r.compound, r.route, r.dose_mg, duration_h=duration_h, every_h=r.every_h,
                            n_doses=r.doses)


def patient_profile(p: PatientProfile) -> dict[str, float]:
    return app.patient_profile(crp_mg_L=p.crp_mg_L, hamd=p.hamd, age=p.age_y, sleep=p.psqi)


def regimen_request(req: SimulateRequest) -> app.RegimenRequest:
    return app.RegimenRequest(
        make_regimen(req.regimen), req.until_h, profile=patient_profile(req.profile), weight_kg=req.profile.weight_kg,
        evidence=req.min_grade, trial_context=req.trial_context, band_samples=req.uncertainty.samples,
        band_seed=req.uncertainty.seed, band_level=req.uncertainty.level, intervals=req.intervals.draws,
        interval_seed=req.intervals.seed)


#: library field names -> request field names, so a library InputError names the request field
FIELD_MAP = {
    "--crp": "profile.crp_mg_L", "--hamd": "profile.hamd", "--age": "profile.age_y", "--sleep": "profile.psqi",
    "compound": "regimen.compound", "route": "regimen.route", "dose": "regimen.dose_mg",
    "infusion": "regimen.infusion_min", "every": "regimen.every_h", "doses": "regimen.doses",
    "until": "until_h", "times": "until_h", "--until": "until_h", "--evidence": "min_grade", "--samples": "samples",
    "--interval": "intervals.draws",
}


def request_field(field: str) -> str:
    return FIELD_MAP.get(field, field)


# --------------------------------------------------------------------------- simulate
def _group_of(name: str, model: Any) -> str:
    if name in NAD_POOLS:
        return "nad"
    if name in METABOLITES:
        return "markers"
    if name in HAMD_NAMES:
        return "hamd"
    if name.startswith("urine_"):
        return "excretion"
    return "mechanisms"


def _variables(model: Any, ds: Any) -> list[str]:
    """The model's declared outputs (its stable contract), in order; internal rules are left out."""
    return [v for v in model.outputs if v in ds]


def _descriptions(model: Any) -> dict[str, str]:
    d = {r.name: r.description for r in model.rules}
    d.update({s.name: s.description for s in model.states})
    return d


def _clean(y: Any) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(y, dtype=float).tolist()]


def _finite(x: Any) -> Any:
    return None if isinstance(x, float) and not math.isfinite(x) else x


def _intervals_payload(iv: Any) -> dict[str, Any]:
    """The prediction intervals at the last time, level and change from baseline (the CLI's table)."""
    rows = []
    for v in (n for n in iv.data_vars if not str(n).startswith("change_")):
        lvl, chg = iv[v].values[:, -1], iv[f"change_{v}"].values[:, -1]
        rows.append({"variable": v, "unit": iv[v].attrs.get("units", ""),
                     "lower": _finite(float(lvl[0])), "median": _finite(float(lvl[1])), "upper": _finite(float(lvl[2])),
                     "change_lower": _finite(float(chg[0])), "change_median": _finite(float(chg[1])),
                     "change_upper": _finite(float(chg[2]))})
    return {"level": iv.attrs["level"], "draws": iv.attrs["draws"], "failed_draws": iv.attrs["failed_draws"],
            "source": iv.attrs["source"], "note": iv.attrs.get("note", ""), "time_h": float(iv["time"].values[-1]),
            "rows": rows}


def format_run(run: app.RegimenRun, compute_s: float) -> dict[str, Any]:
    """The page's JSON for one run of :func:`nadsim.app.simulate_regimen`."""
    model, ds, ref = run.model, run.dosed, run.reference
    desc = _descriptions(model)
    series: dict[str, Any] = {}
    for n in run.outputs:
        series[n] = {"unit": ds[n].attrs.get("units", ""), "group": _group_of(n, model),
                     "description": desc.get(n, ""), "key": n in NAD_POOLS + METABOLITES + HAMD_NAMES + KEY_MECHANISMS,
                     "values": _clean(ds[n].values), "undosed": _clean(ref[n].values)}
    for n, (lo, hi) in (run.band or {}).items():
        series[n]["lower"], series[n]["upper"] = _clean(lo), _clean(hi)
    intervals = None
    if run.intervals is not None:
        for v in run.intervals.data_vars:
            if str(v) in series:
                q = run.intervals[v]
                series[str(v)]["interval"] = {k: _clean(q.sel(quantile=k).values) for k in ("lower", "median", "upper")}
        intervals = _intervals_payload(run.intervals)
    applied = run.applied
    meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()}
    meta.update({"applied": {"profile": [PROFILE_FIELDS.get(k, k) for k in applied["profile"]],
                             "min_grade": applied["evidence"], "links_off": list(applied["links_off"]),
                             "trial_context": applied["trial_context"]},
                 "uncertainty": dict(run.band_info) if run.band_info is not None else None,
                 "intervals": intervals, "compute_s": round(compute_s, 4), "n_points": int(ds.sizes["time"])})
    regimen = run.regimen.describe()
    return {
        "time_h": _clean(ds["time"].values),
        "series": series,
        "summary": [{k: _finite(v) for k, v in row.items()} for row in run.summary.to_dict(orient="records")],
        "doses": [{"time_h": d.time_h, "end_h": d.end_h, "amount_mg": d.amount_mg, "compound": d.compound,
                   "route": d.route} for d in run.regimen.doses],
        "regimen": regimen,
        "metadata": meta,
        "disclaimer": disclaimers(),
    }


def simulate_request(req: SimulateRequest) -> app.RegimenRun:
    return app.simulate_regimen(regimen_request(req), summary_outputs=SUMMARY_OUTPUTS)


def run_simulation(req: SimulateRequest) -> dict[str, Any]:
    """Simulate one request; return time, series (with bands and intervals when asked),
    summary, metadata.

    The summary is the response to the dose: each output minus the same patient without the
    compound on the same grid (see :func:`nadsim.app.simulate_regimen`). Outputs that are zero
    everywhere in the run are not offered.
    """
    t0 = time.perf_counter()
    run = simulate_request(req)
    return format_run(run, time.perf_counter() - t0)


# --------------------------------------------------------------------------- downloads
def csv_text(result: dict[str, Any]) -> str:
    """The tidy long CSV of the CLI (``time_h, variable, value, unit``, plus ``lower, upper``
    with bands); the run metadata go in :func:`csv_headers`."""
    return simulation_csv(result["time_h"], result["series"])


def csv_headers(result: dict[str, Any]) -> dict[str, str]:
    """Run metadata for the CSV download (ASCII response headers)."""
    m = result["metadata"]
    return {"X-Nadsim-Version": str(m.get("nadsim_version", "")), "X-Nadsim-Model": str(m.get("model", "")),
            "X-Nadsim-Model-Hash": str(m.get("model_hash", "")), "X-Nadsim-Solver": str(m.get("solver", "")),
            "X-Nadsim-Rtol": str(m.get("rtol", "")),
            "X-Nadsim-Regimen": result["regimen"].encode("ascii", "replace").decode(),
            "X-Nadsim-Disclaimer": disclaimers()["en"]}


def run_report(req: SimulateRequest, lang: str = "en") -> str:
    """Worker target: the self-contained HTML report of one simulation request."""
    run = simulate_request(req)
    result = format_run(run, 0.0)
    used = result["metadata"]["applied"]
    return simulation_html(run.dosed, run.reference, lang=lang, disclaimer=disclaimers()[lang],
                           regimen=result["regimen"], until_h=req.until_h,
                           profile=list(req.profile.model_dump().items()), used=used["profile"],
                           trial_context=used["trial_context"], summary=result["summary"], metadata=result["metadata"],
                           intervals=result["metadata"]["intervals"])


# --------------------------------------------------------------------------- tables
def parameters_table() -> list[dict[str, Any]]:
    out = []
    for p in app.base_model().parameters.values():
        pv = p.provenance
        out.append({"name": p.name, "value": float(p.value), "unit": p.unit,
                    "bounds": [float(p.bounds[0]), float(p.bounds[1])], "kind": pv.kind, "grade": pv.grade,
                    "source": pv.source, "locator": pv.locator, "note": pv.note, "expr": p.expr,
                    "original": p.original})
    return out


def disclaimers() -> dict[str, str]:
    return {
        "en": DISCLAIMER,
        "ja": "nadsim は研究用モデルであり、医学的助言ではありません。予測は等級付けされた、"
              "主に間接的なエビデンスに基づくもので、治療方針の根拠にはなりません。",
    }


def evidence_payload() -> dict[str, Any]:
    """The model's evidence-graded links (``Model.links``): endpoints, grade, gate, citations."""
    model = app.base_model()
    links = []
    for lk in model.links:
        gate = model.parameters.get(lk.gate)
        links.append({"name": lk.name, "source": lk.source, "target": lk.target, "grade": lk.grade,
                      "gate": lk.gate, "active": bool(gate.value) if gate is not None else True,
                      "citations": list(lk.citations), "description": lk.description,
                      "description_ja": lk.description_ja})
    return {"model": model.name, "grades": dict(GRADES), "links": links}


def capabilities() -> dict[str, bool]:
    """Which parts the page offers (every one is installed with nadsim; the mechanism parts
    need a model with links)."""
    links = bool(app.base_model().links)
    return {"mechanisms": links, "profile": links, "evidence": links, "claims": links, "trials": True,
            "uncertainty": links, "intervals": True}


# --------------------------------------------------------------------------- jobs
def trial_request(req: TrialRequest) -> app.PatientTrialRequest:
    r = req.regimen
    active: dict[str, Any] = {"compound": r.compound, "route": r.route, "dose": f"{r.dose_mg!r} mg", "doses": r.doses}
    if r.infusion_text:
        active["infusion"] = r.infusion_text
    if r.every_h:
        active["every"] = f"{r.every_h!r} h"
    p = req.profile
    return app.PatientTrialRequest(active=active, profile={**patient_profile(p), "weight_kg": p.weight_kg},
                                   n_per_arm=req.n_per_arm, weeks=req.weeks, seed=req.seed)


def run_trial_job(payload: dict[str, Any], progress: Callable[[float, str], None]) -> dict[str, Any]:
    """Job target (runs in a worker process): a virtual trial from a validated TrialRequest.

    The run's chunks go to a directory inside the job's own temporary directory (the job
    machinery removes it however the job ends)."""
    req = TrialRequest.model_validate(payload)
    with tempfile.TemporaryDirectory(prefix="nadsim-web-trial-") as d:
        run = app.run_patient_trial(trial_request(req), Path(d), progress=lambda done, total: progress(
            0.98 * done / max(total, 1), f"{done}/{total} subjects"))
        summary = dict(run.summary)
        curves = _trial_curves(run.subjects, summary)  # the subject table is read while the run directory exists
    progress(1.0, "analysed")
    return {"run_id": run.run_id, "summary": summary, "table": _trial_table(summary), "curves": curves}


def _trial_table(summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, block in summary.get("endpoints", {}).items():
        for arm, a in block.get("arms", {}).items():
            eff = block.get("effects", {}).get(arm, {})
            rows.append({"endpoint": name, "unit": block.get("unit", ""), "arm": arm, "n": a.get("n"),
                         "mean": a.get("mean", a.get("proportion")), "sd": a.get("sd"),
                         "effect": eff.get("estimate"), "ci_low": (eff.get("ci") or [None, None])[0],
                         "ci_high": (eff.get("ci") or [None, None])[1], "p": eff.get("p")})
    return rows


def _trial_curves(subj: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """Observed HAM-D per arm and visit: mean and SD over the virtual subjects (descriptive)."""
    times = summary.get("visit_times_h", [])
    ok = subj[subj["status"] == 0]
    arms: dict[str, Any] = {}
    for arm in summary.get("arms", {}):
        part = ok[ok["arm"] == arm]
        cols = [f"HAMD@{t:g}h" for t in times]
        if part.empty or not all(c in part for c in cols):
            continue
        arms[arm] = {"mean": [float(part[c].mean()) for c in cols], "sd": [float(part[c].std(ddof=1)) for c in cols]}
    return {"variable": "HAMD", "time_weeks": [t / 168.0 for t in times], "arms": arms}


def claims_catalogue() -> dict[str, Any]:
    """The claims table (both languages), each with its model links and the grade it rests on."""
    rows = [{"id": c.id, "text": c.text["en"], "text_ja": c.text["ja"], "links": list(c.links), "grade": c.grade,
             "outputs": list(c.outputs), "basis": c.basis["en"], "basis_ja": c.basis["ja"],
             "safety": c.safety.get("en", ""), "safety_ja": c.safety.get("ja", "")}
            for c in app.claim_catalogue()]
    return {"claims": rows}


def run_claims_job(payload: dict[str, Any], progress: Callable[[float, str], None]) -> dict[str, Any]:
    """Job target: the claim audit (:func:`nadsim.app.audit_claims`) for a validated
    ClaimAuditRequest, in both languages."""
    req = ClaimAuditRequest.model_validate(payload)
    progress(0.05, "auditing")
    result = app.audit_claims(app.AuditRequest(regimen=make_regimen(req.regimen), until_h=req.until_h,
                                               profile=patient_profile(req.profile), evidence=req.min_grade,
                                               samples=req.samples, seed=req.seed, workers=1))
    return {lang: _claims_json(result, lang) for lang in ("en", "ja")}


def _claims_json(result: Any, lang: str) -> Any:
    # the audit's renderer writes JSON text (nadsim.evidence); the job result is its data
    return json.loads(render_claims(result, lang, "json"))


def prepare_solver() -> None:
    """Compile or load the default solver's code for the page's model (see the app's lifespan)."""
    app.prepare_solver()


def warm_up() -> None:
    """Worker target: one short default simulation, so that a new worker's first request does not
    pay for building the model and loading the solver's machine code (seconds)."""
    run_simulation(SimulateRequest(until_h=24))


def sleep_simulation(seconds: float, megabytes: int = 0) -> dict[str, Any]:
    """Worker target used by the tests of the worker machinery: holds ``megabytes`` of memory
    and a temporary file while it sleeps (a stand-in for a runaway simulation)."""
    import tempfile

    hold = np.ones(megabytes * 131072) if megabytes else None  # 8 bytes each
    with tempfile.NamedTemporaryFile(prefix="sleeping-", delete=False) as fh:
        fh.write(b"x")
    time.sleep(seconds)
    return {"slept_s": seconds, "held_mb": 0 if hold is None else megabytes, "pid": __import__("os").getpid()}


def sleep_request(req: SimulateRequest, *_: Any) -> dict[str, Any]:
    """Worker target used by the tests: a stand-in for ``run_simulation`` that sleeps
    ``until_h / 24`` seconds."""
    time.sleep(req.until_h / 24.0)
    return {"slept_s": req.until_h / 24.0, "pid": __import__("os").getpid()}


def sleep_job(payload: dict[str, Any], progress: Callable[[float, str], None]) -> dict[str, Any]:
    """Job target used by the tests of the job machinery: sleeps ``seconds`` in 10 steps."""
    seconds = float(payload.get("seconds", 1.0))
    for i in range(10):
        time.sleep(seconds / 10)
        progress((i + 1) / 10, f"step {i + 1}/10")
    return {"slept_s": seconds}
