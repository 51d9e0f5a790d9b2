"""The thin layer between HTTP and the library: request models in, plain dicts out.

No science lives here: every number comes from :mod:`nadsim.simulate`, the model library,
:mod:`nadsim.evidence` and the trial module. This module only converts request models to
library calls, picks output groups for the charts, and reports which optional parts of the
library are installed (the mechanism model, the evidence audit, trials).
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from nadsim._errors import InputError
from nadsim.analysis import summarize
from nadsim.dosing import parse_regimen
from nadsim.evidence import audit_claims, load_claims, render_claims
from nadsim.evidence._grades import CONTEXT_LINKS
from nadsim.library import get_model
from nadsim.model import GRADES
from nadsim.report._data import long_frame
from nadsim.report._html import png_data_uri, render, translator
from nadsim.report.plots import plot_nad_pools
from nadsim.simulate import DISCLAIMER, compile_model, simulate, time_grid
from nadsim.simulate.batch import simulate_batch
from nadsim.simulate.solvers import get_solver
from nadsim.trial import run_trial
from nadsim.trial._registry import Registry
from nadsim.web.schemas import PatientProfile, RegimenIn, SimulateRequest

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

_WEB_RTOL = 1e-6  # the web answers interactively; 1e-6 changes peaks by < 1e-4 relative (see tests)
_WEB_ATOL = 1e-9
_MAX_POINTS = 1200  # output points per series (dose events are always kept)


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


# --------------------------------------------------------------------------- model
def _full() -> Any | None:
    return _optional("nadsim.library.full")


@lru_cache(maxsize=1)
def base_model() -> Any:
    """The largest model the installed library offers: nad_core + mechanisms + HAM-D if present."""
    return get_model()


def _profile_function() -> Callable[..., Any] | None:
    full = _full()
    return getattr(full, "apply_profile", None) if full is not None else None


def _evidence_filter() -> Callable[..., Any] | None:
    ev = _optional("nadsim.evidence")
    return getattr(ev, "apply_evidence_filter", None) if ev is not None else None


GRADE_ORDER = "ABCDE"


def filter_links(model: Any, min_grade: str) -> Any:
    """Switch off the links weaker than ``min_grade``.

    Uses :func:`nadsim.evidence.apply_evidence_filter` when installed; otherwise applies the
    contract documented on :class:`nadsim.model.Link` (its gate parameter set to 0).
    """
    flt = _evidence_filter()
    if flt is not None:
        return flt(model, min_grade)
    cut = GRADE_ORDER.index(min_grade)
    off = {lk.gate: 0.0 for lk in model.links if GRADE_ORDER.index(lk.grade) > cut and lk.gate in model.parameters}
    return model.with_parameters(off) if off else model


@lru_cache(maxsize=64)
def _profiled(crp_mg_L: float, hamd: float, age: float, psqi: float) -> Any:
    """``apply_profile`` on the base model, cached (models are immutable values)."""
    fn = _profile_function()
    assert fn is not None
    return fn(base_model(), crp_mg_L=crp_mg_L, hamd=hamd, age=age, sleep=psqi)


def _diff(new: Any, old: Any) -> dict[str, float]:
    return {n: p.value for n, p in new.parameters.items() if p.expr is None and p.value != old.parameters[n].value}


@lru_cache(maxsize=8)
def _link_updates(min_grade: str) -> tuple[tuple[str, float], ...]:
    """Gate values that the evidence filter sets for ``min_grade`` (computed once per grade)."""
    base = base_model()
    return tuple(sorted(_diff(filter_links(base, min_grade), base).items()))


@lru_cache(maxsize=1)
def _trial_updates() -> tuple[tuple[str, float], ...]:
    base, full = base_model(), _full()
    assert full is not None  # only called when the mechanism library is installed
    return tuple(sorted(_diff(full.with_trial_arm(base, start_h=0.0), base).items()))


def build_model(profile: PatientProfile, min_grade: str, trial_context: bool = False) -> tuple[Any, dict[str, Any]]:
    """The model for one patient; returns it and what was applied (for the response).

    The library functions (``apply_profile``, the evidence filter, ``with_trial_arm``) each build
    and re-check a whole model; their parameter changes are collected and applied in one
    ``with_parameters`` call, so a request pays for that check twice rather than four times.
    """
    base = base_model()
    applied: dict[str, Any] = {"profile": [], "min_grade": None, "links_off": [], "trial_context": False}
    model = base
    if _profile_function() is not None and base.links:
        model = _profiled(profile.crp_mg_L, profile.hamd, profile.age_y, profile.psqi)
        applied["profile"] = ["age_y", "crp_mg_L", "hamd", "psqi"]
    updates: dict[str, float] = {}
    if "BW" in base.parameters and base.parameters["BW"].expr is None:
        updates["BW"] = profile.weight_kg
        applied["profile"].append("weight_kg")
    if base.links:
        links = dict(_link_updates(min_grade))
        updates.update(links)
        applied["min_grade"] = min_grade
        gates = {lk.gate: lk.name for lk in base.links}
        applied["links_off"] = sorted(gates[g] for g, v in links.items() if g in gates and v == 0)
    full = _full()
    if trial_context and full is not None and hasattr(full, "with_trial_arm") and "trial_on" in base.parameters:
        updates.update(dict(_trial_updates()))
        applied["trial_context"] = True
    elif not trial_context:
        # a dosed patient is always in a treatment arm (nadsim.simulate), so "off" switches the
        # placebo and natural-course links off: HAM-D then shows the mechanisms' effect alone
        # (the checkbox used to change nothing: issue #16)
        updates.update({lk.gate: 0.0 for lk in base.links if lk.name in CONTEXT_LINKS})
    updates = {k: v for k, v in updates.items() if model.parameters[k].value != v}
    return (model.with_parameters(updates) if updates else model), applied


def make_regimen(r: RegimenIn) -> Any:

    return parse_regimen(compound=r.compound, route=r.route, dose=f"{r.dose_mg!r} mg", infusion=r.infusion_text,
                         every=f"{r.every_h!r} h" if r.every_h else None, doses=r.doses)


#: library field names -> request field names, so a library InputError names the request field
FIELD_MAP = {
    "--crp": "profile.crp_mg_L", "--hamd": "profile.hamd", "--age": "profile.age_y", "--sleep": "profile.psqi",
    "compound": "regimen.compound", "route": "regimen.route", "dose": "regimen.dose_mg",
    "infusion": "regimen.infusion_min", "every": "regimen.every_h", "doses": "regimen.doses",
    "until": "until_h", "times": "until_h", "--until": "until_h", "--evidence": "min_grade", "--samples": "samples",
}


def request_field(field: str) -> str:
    return FIELD_MAP.get(field, field)


# --------------------------------------------------------------------------- simulate
def _grid(until_h: float, regimen: Any) -> np.ndarray:

    step = None if until_h <= 72 else max(until_h / _MAX_POINTS, min(1.0, until_h / 2000))
    return time_grid(until_h, step_h=step, regimen=regimen)


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


def run_simulation(req: SimulateRequest) -> dict[str, Any]:
    """Simulate one request; return time, series (with bands when asked), summary, metadata.

    The summary is the response to the dose: each output minus the same patient simulated
    without dosing on the same grid (see :func:`nadsim.analysis.summarize`). Outputs that are
    zero everywhere in the run are not offered.
    """

    t0 = time.perf_counter()
    model, applied = build_model(req.profile, req.min_grade, req.trial_context)
    regimen = make_regimen(req.regimen)
    if req.until_h < regimen.last_time_h:
        raise InputError("until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", req.until_h)
    times = _grid(req.until_h, regimen)
    ds = simulate(model, regimen, times, rtol=_WEB_RTOL, atol=_WEB_ATOL)
    undosed = simulate(model, None, ds["time"].values, rtol=_WEB_RTOL, atol=_WEB_ATOL)
    names = [n for n in _variables(model, ds) if np.any(np.nan_to_num(ds[n].values) != 0)]
    desc = _descriptions(model)
    series: dict[str, Any] = {}
    for n in names:
        y = np.asarray(ds[n].values, dtype=float)
        series[n] = {"unit": ds[n].attrs.get("units", ""), "group": _group_of(n, model),
                     "description": desc.get(n, ""), "key": n in NAD_POOLS + METABOLITES + HAMD_NAMES + KEY_MECHANISMS,
                     "values": _clean(y), "undosed": _clean(np.asarray(undosed[n].values, dtype=float))}
    band_info = None
    if req.uncertainty.samples > 0:
        band_info = _add_bands(model, regimen, ds["time"].values, names, series, req)
    summary = summarize(ds, [n for n in names if series[n]["group"] in ("nad", "hamd")
                             or n in ("CRP", "IL6", "SIRT1_activity", "sleep_quality")], reference=undosed)
    meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()}
    meta.update({"applied": applied, "uncertainty": band_info,
                 "compute_s": round(time.perf_counter() - t0, 4), "n_points": int(ds.sizes["time"])})
    return {
        "time_h": _clean(ds["time"].values),
        "series": series,
        "summary": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                    for row in summary.to_dict(orient="records")],
        "doses": [{"time_h": d.time_h, "end_h": d.end_h, "amount_mg": d.amount_mg, "compound": d.compound,
                   "route": d.route} for d in regimen.doses],
        "regimen": regimen.describe(),
        "metadata": meta,
        "disclaimer": disclaimers(),
    }


def _clean(y: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(y, dtype=float).tolist()]


def uncertainty_sampler() -> Callable[..., Any] | None:
    """Parameter draws for uncertainty bands: the claim audit's sampler, if installed.

    :func:`nadsim.evidence._claims.uncertain_parameters` names the mechanism parameters that are
    free and have a range (not gates, profile values or references); ``latin_hypercube`` draws
    them uniformly inside their bounds. Returns ``sample(model, n, seed) -> (n, n_params)``.
    """
    claims = _optional("nadsim.evidence._claims")
    if claims is None or not hasattr(claims, "uncertain_parameters") or not hasattr(claims, "latin_hypercube"):
        return None

    def sample(model: Any, n: int, seed: int = 0) -> np.ndarray:

        cm = compile_model(model)
        base = np.array([model.parameters[k].value for k in cm.parameter_names], dtype=float)
        P = np.tile(base, (n, 1))
        for i, draw in enumerate(claims.latin_hypercube(claims.uncertain_parameters(model), n, seed)):
            for k, v in draw.items():
                P[i, cm.parameter_names.index(k)] = v
        return P

    return sample


def _add_bands(model: Any, regimen: Any, times: np.ndarray, names: list[str], series: dict[str, Any],
               req: SimulateRequest) -> dict[str, Any]:
    sampler = uncertainty_sampler()
    if sampler is None:
        raise InputError("uncertainty.samples", "0: parameter uncertainty sampling (nadsim.population) is not installed",
                         req.uncertainty.samples)

    P = sampler(model, req.uncertainty.samples, seed=req.uncertainty.seed)
    res = simulate_batch(model, regimen, times, P, rtol=_WEB_RTOL, atol=_WEB_ATOL)
    ok = res["status"].values == 0
    lo_q, hi_q = (1 - req.uncertainty.level) / 2, 1 - (1 - req.uncertainty.level) / 2
    rule_names = {r.name for r in model.rules}
    for n in names:
        if n in rule_names and ok.any():
            Y = res[n].values[ok]
            series[n]["lower"] = _clean(np.quantile(Y, lo_q, axis=0))
            series[n]["upper"] = _clean(np.quantile(Y, hi_q, axis=0))
    return {"samples": int(res.sizes["subject"]), "ok": int(ok.sum()), "level": req.uncertainty.level,
            "seed": req.uncertainty.seed,
            "method": "Latin-hypercube draws of the uncertain mechanism parameters, uniform within their bounds "
                      "(nadsim.evidence, as in the claim audit); band = central quantiles across draws"}


# --------------------------------------------------------------------------- downloads
def csv_text(result: dict[str, Any]) -> str:
    """The tidy long CSV of the CLI (``time_h, variable, value, unit``, plus ``lower, upper``
    with bands); the run metadata go in :func:`csv_headers`, since comment lines would break
    ``pandas.read_csv``."""
    series = {n: {k: s[k] for k in ("unit", "values", "lower", "upper") if k in s} for n, s in result["series"].items()}
    for s in series.values():
        for k in ("values", "lower", "upper"):
            if k in s:
                s[k] = [np.nan if v is None else v for v in s[k]]
    return long_frame(result["time_h"], series).to_csv(index=False, float_format="%.10g")


def csv_headers(result: dict[str, Any]) -> dict[str, str]:
    """Run metadata for the CSV download (ASCII response headers)."""
    m = result["metadata"]
    return {"X-Nadsim-Version": str(m.get("nadsim_version", "")), "X-Nadsim-Model": str(m.get("model", "")),
            "X-Nadsim-Model-Hash": str(m.get("model_hash", "")), "X-Nadsim-Solver": str(m.get("solver", "")),
            "X-Nadsim-Rtol": str(m.get("rtol", "")),
            "X-Nadsim-Regimen": result["regimen"].encode("ascii", "replace").decode(),
            "X-Nadsim-Disclaimer": disclaimers()["en"]}


def report_html(result: dict[str, Any], req: SimulateRequest, lang: str = "en") -> str:
    """A self-contained HTML report (no scripts), every word from the page's i18n files."""
    import tempfile
    from pathlib import Path

    import xarray as xr

    def dataset(key: str) -> Any:
        return xr.Dataset({n: xr.DataArray(np.asarray([np.nan if v is None else v for v in s[key]], dtype=float),
                                           dims="time", attrs={"units": s["unit"]})
                           for n, s in result["series"].items()}, coords={"time": np.asarray(result["time_h"])})

    t = translator(lang)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fig.png"
        plot_nad_pools(dataset("values"), p, title=result["regimen"], reference=dataset("undosed"), t=t)
        figure = png_data_uri(p)
    meta = result["metadata"]
    footer = t("report.footer", version=meta.get("nadsim_version"), model=meta.get("model"),
               hash=str(meta.get("model_hash"))[:12], solver=meta.get("solver"), rtol=meta.get("rtol"),
               created=meta.get("created"))
    return render("simulation.html.j2", lang=lang, disclaimer=disclaimers()[lang], regimen=result["regimen"],
                  until_h=req.until_h, profile=list(req.profile.model_dump().items()),
                  used=meta["applied"]["profile"], trial_context=meta["applied"]["trial_context"],
                  summary=result["summary"], figure=figure, footer=footer)


# --------------------------------------------------------------------------- tables
def parameters_table() -> list[dict[str, Any]]:
    model = base_model()
    out = []
    for p in model.parameters.values():
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

    model = base_model()
    links = []
    for lk in model.links:
        gate = model.parameters.get(lk.gate)
        links.append({"name": lk.name, "source": lk.source, "target": lk.target, "grade": lk.grade,
                      "gate": lk.gate, "active": bool(gate.value) if gate is not None else True,
                      "citations": list(lk.citations), "description": lk.description,
                      "description_ja": lk.description_ja})
    return {"model": model.name, "grades": dict(GRADES), "links": links}


def capabilities() -> dict[str, bool]:
    """Which optional parts of the library are installed (endpoints exist only for these)."""
    ev = _optional("nadsim.evidence")
    model = base_model()
    return {
        "mechanisms": bool(model.links),
        "profile": _profile_function() is not None and bool(model.links),
        "evidence": bool(model.links),
        "claims": ev is not None and hasattr(ev, "audit_claims") and hasattr(ev, "load_claims") and bool(model.links),
        "trials": trial_function() is not None,
        "uncertainty": uncertainty_sampler() is not None,
    }


# --------------------------------------------------------------------------- jobs
def trial_function() -> Callable[..., Any] | None:
    tr = _optional("nadsim.trial")
    return getattr(tr, "run_trial", None) if tr is not None else None


def _toml(data: dict[str, Any]) -> str:
    """A minimal TOML writer for the trial file this module builds (strings, numbers, lists, tables)."""
    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)  # JSON string escapes are valid TOML basic strings
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        raise TypeError(type(v))

    lines: list[str] = []

    def table(prefix: str, d: dict[str, Any]) -> None:
        for k, v in d.items():
            if not isinstance(v, dict) and not (isinstance(v, list) and v and isinstance(v[0], dict)):
                lines.append(f"{k} = {val(v)}")
        for k, v in d.items():
            name = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                lines.append(f"\n[{name}]")
                table(name, v)
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                for item in v:
                    lines.append(f"\n[[{name}]]")
                    table(name, item)

    table("", data)
    return "\n".join(lines) + "\n"


def trial_spec(req: Any) -> dict[str, Any]:
    """The trial file for a web request: placebo vs the regimen, HAM-D endpoints, the population
    centred on the patient profile (covariate means/medians set to the profile's values)."""
    r = req.regimen
    active: dict[str, Any] = {"name": "active", "compound": r.compound, "route": r.route, "dose": f"{r.dose_mg!r} mg",
                              "doses": r.doses}
    if r.infusion_text:
        active["infusion"] = r.infusion_text
    if r.every_h:
        active["every"] = f"{r.every_h!r} h"
    p = req.profile
    return {
        "name": "web-trial", "description": "virtual trial started from the nadsim web app", "model": "default",
        "seed": req.seed, "duration": f"{req.weeks} weeks", "visits": "weekly",
        "population": {"n_per_arm": req.n_per_arm, "covariates": {
            "HAMD": {"mean": p.hamd, "bounds": [max(0.0, p.hamd - 12.0), min(52.0, p.hamd + 12.0)]},
            "age": {"mean": p.age_y}, "CRP": {"median": p.crp_mg_L}, "PSQI": {"mean": p.psqi},
            "BW": {"median": p.weight_kg}}},
        "arms": [{"name": "placebo", "placebo": True}, active],
        "endpoints": [
            {"name": "hamd_change", "output": "HAMD", "kind": "change", "primary": True, "noise_sd": 2.0,
             "round": True, "clip": [0.0, 52.0],
             "noise_source": "assumed: rater error SD 2 points (as in examples/trials/nmn-drip-depression.toml)"},
            {"name": "response", "output": "HAMD", "kind": "response", "threshold": 0.5},
            {"name": "remission", "output": "HAMD", "kind": "remission", "threshold": 7.0},
            {"name": "nad_change", "output": "whole_blood_NAD", "kind": "change", "noise_cv": 0.05,
             "noise_source": "assumed: 5 % analytical CV"},
            {"name": "crp_change", "output": "CRP", "kind": "change", "noise_cv": 0.10,
             "noise_source": "assumed: 10 % analytical CV"},
        ],
        "subgroups": [{"name": "high_crp", "where": "CRP > 3"}],
        "analysis": {"method": "ancova", "control": "placebo"},
        "power": {"n_grid": [20, 50, 100, 200], "replicates": 200},
        "solver": {"rtol": 1e-6, "atol": 1e-8, "chunk_size": max(2, min(20, req.n_per_arm // 2))},
    }


def run_trial_job(payload: dict[str, Any], progress: Callable[[float, str], None]) -> dict[str, Any]:
    """Job target (runs in a worker process): a virtual trial from a validated TrialRequest."""
    import tempfile
    from pathlib import Path

    import pandas as pd

    from nadsim.web.schemas import TrialRequest

    req = TrialRequest.model_validate(payload)

    spec = trial_spec(req)
    with tempfile.TemporaryDirectory(prefix="nadsim-web-trial-") as d:
        f = Path(d) / "trial.toml"
        f.write_text(_toml(spec), encoding="utf-8")
        out = Path(d) / "run"
        run_id = run_trial(f, out, registry=Registry(Path(d) / "registry.sqlite"),
                           progress=lambda done, total: progress(0.98 * done / max(total, 1), f"{done}/{total} subjects"))
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        subj = pd.read_parquet(out / "subjects.parquet")
    progress(1.0, "analysed")
    return {"run_id": run_id, "summary": summary, "table": _trial_table(summary), "curves": _trial_curves(subj, summary)}


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
            for c in load_claims(model=base_model())]
    return {"claims": rows}


def run_claims_job(payload: dict[str, Any], progress: Callable[[float, str], None]) -> dict[str, Any]:
    """Job target: :func:`nadsim.evidence.audit_claims` for a validated ClaimAuditRequest, both languages."""
    from nadsim.web.schemas import ClaimAuditRequest

    req = ClaimAuditRequest.model_validate(payload)
    progress(0.05, "auditing")
    p = req.profile
    result = audit_claims(regimen=make_regimen(req.regimen), until_h=req.until_h,
                          profile={"crp_mg_L": p.crp_mg_L, "hamd": p.hamd, "age": p.age_y, "sleep": p.psqi},
                          evidence=req.min_grade, n_samples=req.samples, seed=req.seed, workers=1)
    return {lang: json.loads(render_claims(result, lang, "json")) for lang in ("en", "ja")}


def run_report(req: SimulateRequest, lang: str = "en") -> str:
    """Worker target: the HTML report of one simulation request."""
    return report_html(run_simulation(req), req, lang)


def prepare_solver() -> None:
    """Compile or load the default solver's code for the page's model (see the app's lifespan)."""
    get_solver().prepare(base_model())


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
