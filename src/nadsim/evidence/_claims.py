"""The claim audit: the article's claims, each checked against the model with its evidence grade.

``claims.toml`` holds the claims (paraphrased in Japanese and English), the model links each one
depends on, and one quantitative check. :func:`audit_claims` runs an active arm and a placebo arm
(same visits and expectancy, no NMN) for the nominal parameters and for ``n_samples`` Latin-hypercube
samples of the uncertain mechanism parameters inside their bounds, and reports for every claim the
predicted change with its range, the grade of its weakest link, and a verdict in plain words.
:func:`render_claims` renders one result in either language; both languages share every number.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nadsim._errors import InputError, ModelDefinitionError
from nadsim._procs import process_pool
from nadsim.analysis.value import hamd_interval, run_draws
from nadsim.calibration import parameter_draws
from nadsim.dosing import Regimen, parse_regimen
from nadsim.evidence._grades import apply_evidence_filter, check_grade, weakest
from nadsim.library import apply_profile, build_full
from nadsim.library.full import with_trial_arm
from nadsim.library.mechanisms import PROFILE_PARAMETERS
from nadsim.library.mechanisms.model import PARAMETERS, load_parameters
from nadsim.model import Model
from nadsim.report._labels import regimen_label
from nadsim.simulate import DISCLAIMER, simulate, time_grid

__all__ = ["CLAIMS_FILE", "MEASURES", "AuditResult", "Claim", "ClaimCheck", "audit_claims", "audit_title", "claims_head",
           "load_claims", "render_claims"]

CLAIMS_FILE = Path(__file__).with_name("claims.toml")
MEASURES = ("pct_peak", "pct_mean", "abs_mean", "benefit_end", "crp_contrast", "grade_share")
LANGS = ("ja", "en")

#: HAM-D route outputs and the links each one needs (its grade is the weakest of them)
ROUTES: dict[str, tuple[str, ...]] = {
    "HAMD_inflammation": ("nad_sirt1", "sirt1_nfkb", "nfkb_il6", "il6_crp", "crp_hamd"),
    "HAMD_kynurenine": ("nad_sirt1", "sirt1_nfkb", "nfkb_il6", "il6_ido", "kyn_hamd"),
    "HAMD_energy": ("nad_atp", "atp_hamd"),
    "HAMD_catecholamine": ("nad_cat", "cat_hamd"),
    "HAMD_stress": ("nad_sirt1", "sirt1_hpa", "stress_hamd"),
    "HAMD_sleep": ("nad_sirt1", "sirt1_clock", "clock_sleep", "sleep_hamd"),
}
#: CRP levels (mg/L) contrasted by the crp_contrast measure
CRP_HIGH, CRP_LOW = 8.0, 1.0


@dataclass(frozen=True)
class Claim:
    id: str
    text: dict[str, str]
    links: tuple[str, ...]
    grade: str
    outputs: tuple[str, ...]
    measure: str
    threshold: float
    direction: int
    basis: dict[str, str]
    safety: dict[str, str] = field(default_factory=dict)


def load_claims(path: Path | str = CLAIMS_FILE, model: Model | None = None) -> tuple[Claim, ...]:
    """Read and check the claims table against ``model`` (default: the full model)."""
    if model is None:
        model = build_full()
    grades = {ln.name: ln.grade for ln in model.links}
    known = set(model.state_names) | {r.name for r in model.rules}
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))["claim"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ModelDefinitionError(str(path), "a TOML file with [[claim]] tables", str(exc)) from None
    out = []
    for c in raw:
        where = f"{Path(path).name}:{c.get('id', '?')}"
        for key in ("id", "ja", "en", "outputs", "measure", "threshold", "basis_en", "basis_ja"):
            if key not in c:
                raise ModelDefinitionError(where, f"a `{key}` entry", None)
        bad = [ln for ln in c.get("links", []) if ln not in grades]
        if bad:
            raise ModelDefinitionError(f"{where}.links", "names of model links", bad)
        if c["measure"] not in MEASURES:
            raise ModelDefinitionError(f"{where}.measure", f"one of {MEASURES}", c["measure"])
        missing = [o for o in c["outputs"] if o not in known]
        if missing:
            raise ModelDefinitionError(f"{where}.outputs", "model states or rules", missing)
        link_grades = [grades[ln] for ln in c.get("links", [])]
        if "grade" in c:
            link_grades.append(check_grade(c["grade"], f"{where}.grade"))
        if not link_grades:
            raise ModelDefinitionError(where, "links or a grade", None)
        out.append(Claim(
            id=c["id"], text={"ja": c["ja"], "en": c["en"]}, links=tuple(c.get("links", [])),
            grade=weakest(link_grades), outputs=tuple(c["outputs"]), measure=c["measure"],
            threshold=float(c["threshold"]), direction=int(c.get("direction", 1)),
            basis={"ja": c["basis_ja"], "en": c["basis_en"]},
            safety={k: c[f"safety_{k}"] for k in LANGS if f"safety_{k}" in c},
        ))
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise ModelDefinitionError(str(path), "unique claim ids", ids)
    return tuple(out)


# ------------------------------------------------------------------------------------- sampling
def uncertain_parameters(model: Model) -> dict[str, tuple[float, float]]:
    """Mechanism parameters sampled in the audit: free, with a range, not a gate, profile or reference."""

    mech = load_parameters(PARAMETERS)
    out = {}
    for n in mech:
        q = model.parameters[n]
        lo, hi = q.bounds
        if (q.expr is None and hi > lo and n not in PROFILE_PARAMETERS and "gate" not in q.tags
                and q.provenance.kind != "derived"):
            out[n] = (lo, hi)
    return out


def latin_hypercube(bounds: dict[str, tuple[float, float]], n: int, seed: int) -> list[dict[str, float]]:
    """``n`` Latin-hypercube samples, uniform inside each parameter's bounds (deterministic)."""
    rng = np.random.default_rng(seed)
    names = sorted(bounds)
    cols = {}
    for name in names:
        u = (rng.permutation(n) + rng.random(n)) / n
        lo, hi = bounds[name]
        cols[name] = lo + u * (hi - lo)
    return [{name: float(cols[name][i]) for name in names} for i in range(n)]


# ------------------------------------------------------------------------------------- running
def _arms(args: tuple) -> dict[str, dict[str, np.ndarray]]:
    """Worker: the active and placebo arms for one parameter sample (top-level: picklable)."""
    profile, evidence, sample, regimen, times, outputs = args

    model = apply_profile(build_full(), **profile)
    if evidence:
        model = apply_evidence_filter(model, evidence)
    if sample:
        model = model.with_parameters(sample)
    start = regimen.doses[0].time_h if regimen.doses else 0.0
    active = simulate(model, regimen, times, rtol=1e-5, atol=1e-8)
    placebo = simulate(with_trial_arm(model, start_h=start), None, times, rtol=1e-5, atol=1e-8)
    params = {n: model.parameters[n].value for n in ("b_CRP_mod", "CRP_src", "m_CRP_min", "CRP0")}
    return {"active": {o: active[o].values for o in outputs}, "placebo": {o: placebo[o].values for o in outputs},
            "params": params}


def _measure(claim: Claim, run: dict, times: np.ndarray, t0: float, route_grades: dict[str, str]) -> float:
    a, b = run["active"], run["placebo"]
    o = claim.outputs[0]
    after = times >= t0
    if claim.measure == "pct_peak":
        rel = (a[o] - b[o]) / np.where(b[o] != 0, b[o], np.nan)
        i = int(np.nanargmax(np.abs(rel)))
        return 100.0 * float(rel[i])
    if claim.measure == "pct_mean":
        return 100.0 * float(np.mean(((a[o] - b[o]) / b[o])[after]))
    if claim.measure == "abs_mean":
        return float(np.mean((a[o] - b[o])[after]))
    if claim.measure == "benefit_end":
        return float(b[o][-1] - a[o][-1])
    if claim.measure == "crp_contrast":
        # the inflammatory route is beta * m(CRP0) * (fall of ln tone); the fractional fall of the
        # tone does not depend on CRP0 (IL-6 drive and CRP scale with it), so other profiles
        # scale through the CRP modifier m(c) = max(1 + b ln(c / CRP_src), m_min)
        slope, src, floor, c0 = (run["params"][n] for n in ("b_CRP_mod", "CRP_src", "m_CRP_min", "CRP0"))

        def m(c: float) -> float:
            return max(1.0 + slope * math.log(c / src), floor)

        p_end = float(a[o][-1] - b[o][-1])
        return p_end * (m(CRP_HIGH) - m(CRP_LOW)) / m(c0) if abs(m(c0)) > 1e-9 else float("nan")
    if claim.measure == "grade_share":
        parts = {r: abs(float(a[r][-1] - b[r][-1])) for r in ROUTES}
        tot = sum(parts.values())
        weak = sum(v for r, v in parts.items() if route_grades[r] in ("D", "E"))
        return 100.0 * weak / tot if tot > 0 else float("nan")
    raise AssertionError(claim.measure)


def _unit(claim: Claim, model: Model) -> str:
    if claim.measure in ("pct_peak", "pct_mean", "grade_share"):
        return "%"
    if claim.measure in ("benefit_end", "crp_contrast") or claim.outputs[0].startswith("HAMD"):
        return "HAM-D points of improvement"  # placebo - active, or a relief route (HAMD_*): positive = better
    u = model.unit_of(claim.outputs[0])
    return "" if u == "dimensionless" else u


@dataclass(frozen=True)
class ClaimCheck:
    claim: Claim
    value: float
    low: float
    high: float
    unit: str
    verdict: str  # supported | plausible | small | opposite | consistent | inconsistent


@dataclass(frozen=True)
class AuditResult:
    regimen: str
    profile: dict[str, float]
    evidence: str
    n_samples: int
    until_h: float
    checks: tuple[ClaimCheck, ...]
    #: the HAM-D benefit's interval from joint draws of every link inside the cytokine constraints
    #: (nadsim.analysis.value); it is the range of the HAM-D claims. Empty when not computed.
    hamd_interval: dict[str, float] = field(default_factory=dict)


def _verdict(c: Claim, value: float, lo: float, hi: float) -> str:
    if c.measure == "grade_share":
        return "consistent" if value >= c.threshold else "inconsistent"
    if not math.isfinite(value):
        return "small"
    signed = [c.direction * v for v in (value, lo, hi)]
    if max(signed) <= 0 and abs(value) > 0:
        return "opposite"
    if max(signed) < c.threshold:
        return "small"
    return "supported" if c.grade in ("A", "B") else "plausible"


def audit_claims(*, regimen: Regimen | None = None, until_h: float | None = None,
                 profile: dict[str, float] | None = None, evidence: str | None = None,
                 n_samples: int = 4, seed: int = 0, workers: int | None = None,
                 global_draws: int = 64) -> AuditResult:
    """Check every claim under ``regimen`` for a patient ``profile`` (see ``apply_profile``).

    Default regimen: 300 mg NMN by IV drip (100 mL at 5 mL/min) once a week, 4 drips, 28 days.
    ``n_samples`` Latin-hypercube samples of the uncertain mechanism parameters, each with a draw
    of the metabolome's parameters from the calibration posterior
    (:func:`nadsim.calibration.parameter_draws`), give the range.
    The HAM-D claims instead take the 90 % interval of ``global_draws`` joint draws of every link
    inside the human cytokine constraints (:func:`nadsim.analysis.value.run_draws`; 0: skip, for
    runs shorter than a week or with an evidence filter the draws are skipped too).
    """

    if not isinstance(n_samples, int) or not (0 <= n_samples <= 64):
        raise InputError("--samples", "a whole number from 0 to 64", n_samples)
    ev = check_grade(evidence) if evidence else ""
    profile = dict(profile or {})
    model = apply_profile(build_full(), **profile)  # validates the profile
    regimen = regimen or parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min",
                                       every="7 d", doses=4)
    if not regimen.doses:
        raise InputError("regimen", "at least one dose (the placebo arm is run alongside)", regimen.describe())
    until = float(until_h if until_h is not None else max(28 * 24.0, regimen.last_time_h + 24.0))
    if until < regimen.last_time_h:
        raise InputError("--until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", until)
    times = time_grid(until, step_h=min(6.0, until / 48), regimen=regimen)
    claims = load_claims(model=model)
    outputs = sorted({o for c in claims for o in c.outputs} | set(ROUTES))
    link_grade = {ln.name: ln.grade for ln in model.links}
    route_grades = {r: weakest([link_grade[x] for x in links]) for r, links in ROUTES.items()}
    # each mechanism sample is paired with a draw of the metabolome's parameters from the
    # calibration's posterior, so that NAD+ claims carry the metabolome's uncertainty too (with
    # the mechanism parameters alone, a NAD+ rise had a range of +-0.04 points)
    mechanism = latin_hypercube(uncertain_parameters(model), n_samples, seed)
    metabolome = parameter_draws(model, n_samples, seed=seed) if n_samples else []
    samples: list[dict[str, float]] = [{}, *({**m, **d} for m, d in zip(mechanism, metabolome, strict=True))]
    jobs = [(profile, ev, s, regimen, times, outputs) for s in samples]
    nw = workers if workers is not None else min(len(jobs), os.cpu_count() or 1)
    if nw > 1 and len(jobs) > 1:
        with process_pool(nw) as ex:  # workers die with this process (a kill -9 of `nadsim claims`)
            runs = list(ex.map(_arms, jobs))
    else:
        runs = [_arms(j) for j in jobs]
    t0 = regimen.doses[0].time_h
    hamd_iv = _global_hamd(model, regimen, until - t0, global_draws, seed) if not ev else {}
    checks = []
    for c in claims:
        vals = [_measure(c, r, times, t0, route_grades) for r in runs]
        nominal = vals[0]
        finite = [v for v in vals if math.isfinite(v)]
        if c.measure == "grade_share":  # a property of the nominal structure, not sampled
            lo = hi = nominal
        elif c.measure == "benefit_end" and c.outputs == ("HAMD",) and hamd_iv:
            lo, hi = min(hamd_iv["low"], nominal), max(hamd_iv["high"], nominal)
        else:
            lo, hi = (min(finite), max(finite)) if finite else (float("nan"), float("nan"))
        checks.append(ClaimCheck(c, nominal, lo, hi, _unit(c, model), _verdict(c, nominal, lo, hi)))
    return AuditResult(regimen=regimen.describe(), profile={k: float(v) for k, v in profile.items()},
                       evidence=ev or "E (all links)", n_samples=n_samples, until_h=until, checks=tuple(checks),
                       hamd_interval=hamd_iv)


def _global_hamd(model: Model, regimen: Regimen, span_h: float, n: int, seed: int) -> dict[str, float]:
    """The HAM-D benefit's 90 % interval over ``n`` joint draws of every link (empty if skipped)."""

    if not isinstance(n, int) or n < 0 or n > 5000:
        raise InputError("global_draws", "a whole number from 0 to 5000", n)
    weeks = span_h / (7 * 24.0)
    if n < 2 or not (1.0 <= weeks <= 26.0):
        return {}
    return hamd_interval(run_draws(model, n=n, seed=seed, regimen=regimen, effect_weeks=weeks))


# ------------------------------------------------------------------------------------- rendering
#: {r}: value (low to high) with its unit; {t}: the threshold with its unit; {vu}: value with its
#: unit. The unit is joined by :func:`_with_unit`, so a unitless check shows no stray spaces.
_VERDICT = {
    "en": {
        "supported": "Supported: the model predicts {r}, and the chain rests on grade {g} human evidence.",
        "plausible": "Plausible but unproven: the model can produce {r}, but the chain rests on grade {g} evidence (no human trial of this step).",
        "small": "Not supported at a meaningful size: the model predicts {r}, below the {t} that would matter (weakest evidence grade {g}).",
        "opposite": "Not supported: the model predicts a change in the opposite direction, {r} (grade {g}).",
        "consistent": "Consistent with the model: {vu} of the predicted benefit rests on links graded D or E.",
        "inconsistent": "Not borne out by the model: only {vu} of the predicted benefit rests on links graded D or E.",
    },
    "ja": {
        "supported": "支持される:モデル予測は{r}で、経路はグレード{g}のヒトの根拠に基づく。",
        "plausible": "機序としてはありうるが未証明:モデルは{r}を予測しうるが、経路の根拠はグレード{g}(この段階のヒト試験なし)。",
        "small": "意味のある大きさでは支持されない:モデル予測は{r}で、意味のある変化({t})に届かない(最も弱い根拠のグレード{g})。",
        "opposite": "支持されない:モデルは逆方向の変化{r}を予測する(グレード{g})。",
        "consistent": "モデルと一致する:予測された改善の{vu}がD・E評価のリンクに依存している。",
        "inconsistent": "モデルでは裏付けられない:予測された改善のうちD・E評価のリンクに依存するのは{vu}のみ。",
    },
}
_UNIT_JA = {"HAM-D points of improvement": "HAM-D点の改善", "%": "%"}
_HEAD = {
    "en": {"id": "id", "claim": "claim", "links": "model links", "grade": "grade", "check": "check",
           "predicted": "predicted", "verdict": "verdict", "basis": "evidence", "safety": "safety note",
           "regimen": "regimen", "profile": "profile", "default_profile": "default profile", "evidence": "evidence",
           "samples": "samples"},
    "ja": {"id": "ID", "claim": "主張", "links": "モデルのリンク", "grade": "グレード", "check": "検証",
           "predicted": "予測", "verdict": "判定", "basis": "根拠", "safety": "安全上の注意",
           "regimen": "投与計画", "profile": "患者プロファイル", "default_profile": "既定のプロファイル",
           "evidence": "根拠の範囲", "samples": "サンプル数"},
}


def claims_head(lang: str) -> dict[str, str]:
    """The audit's column and heading words in ``lang`` (the CLI's table uses them too)."""
    if lang not in LANGS:
        raise InputError("--lang", f"one of {', '.join(LANGS)}", lang)
    return dict(_HEAD[lang])


def audit_title(result: AuditResult, lang: str) -> str:
    """"<regimen> — <profile>", the regimen in ``lang``."""
    return f"{regimen_label(result.regimen, lang)} — {result.profile or _HEAD[lang]['default_profile']}"


def _with_unit(x: str, u: str, lang: str) -> str:
    """``x`` and its unit: no space in Japanese (where a space is a line break point: "1⏎HAM-D点"),
    one in English, none at all without a unit."""
    if not u:
        return x
    return f"{x}{u}" if lang == "ja" else f"{x} {u}"
_CHECK = {
    "en": {"pct_peak": "largest % difference vs placebo arm in {o}", "pct_mean": "mean % difference vs placebo arm in {o}",
           "abs_mean": "mean difference vs placebo arm in {o}", "benefit_end": "HAM-D-17 benefit over placebo arm at the end",
           "crp_contrast": "inflammatory HAM-D benefit at CRP 8 vs 1 mg/L",
           "grade_share": "share of predicted HAM-D benefit resting on D/E links"},
    "ja": {"pct_peak": "{o}のプラセボ群との最大の差(%)", "pct_mean": "{o}のプラセボ群との平均の差(%)",
           "abs_mean": "{o}のプラセボ群との平均の差", "benefit_end": "終了時のプラセボ群に対するHAM-D-17の改善",
           "crp_contrast": "CRP 8 mg/LとCRP 1 mg/Lでの炎症経路によるHAM-D改善の差",
           "grade_share": "予測されたHAM-D改善のうちD・Eリンクに依存する割合"},
}


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:+.3g}" if abs(x) >= 1e-3 or x == 0 else f"{x:+.1e}"


def _rows(result: AuditResult, lang: str) -> list[dict[str, Any]]:
    rows = []
    for ch in result.checks:
        c = ch.claim
        u = _UNIT_JA.get(ch.unit, ch.unit) if lang == "ja" else ch.unit
        span = (f"{_fmt(ch.value)}({_fmt(ch.low)}〜{_fmt(ch.high)})" if lang == "ja"
                else f"{_fmt(ch.value)} ({_fmt(ch.low)} to {_fmt(ch.high)})")
        verdict = _VERDICT[lang][ch.verdict].format(r=_with_unit(span, u, lang), t=_with_unit(f"{c.threshold:g}", u, lang),
                                                     vu=_with_unit(_fmt(ch.value), u, lang), g=c.grade)
        row = {
            "id": c.id,
            "claim": c.text[lang],
            "links": list(c.links),
            "grade": c.grade,
            "grade_meaning": GRADE_MEANING[lang][c.grade],
            "check": _CHECK[lang][c.measure].format(o=", ".join(c.outputs)),
            "predicted": {"value": _num(ch.value), "low": _num(ch.low), "high": _num(ch.high), "unit": ch.unit},
            "verdict_class": ch.verdict,
            "verdict": verdict,
            "basis": c.basis[lang],
        }
        if c.safety:
            row["safety"] = c.safety[lang]
        rows.append(row)
    return rows


GRADE_MEANING = {
    "en": {"A": "human randomised trial", "B": "human observational or genetic", "C": "animal",
           "D": "in vitro or biochemical", "E": "hypothesis only"},
    "ja": {"A": "ヒトのランダム化試験", "B": "ヒトの観察研究・遺伝学", "C": "動物実験", "D": "試験管内・生化学", "E": "仮説のみ"},
}
DISCLAIMER_JA = ("nadsimは研究用モデルであり、医療上の助言ではありません。予測は段階評価された、主に間接的な根拠に基づいており、"
                 "治療方針を決める根拠にはなりません。")


def render_claims(result: AuditResult, lang: str = "en", fmt: str = "json") -> str:
    """Render an audit as ``json`` (an object whose ``claims`` is the list) or ``md`` (a Markdown table)."""

    if lang not in LANGS:
        raise InputError("--lang", f"one of {', '.join(LANGS)}", lang)
    if fmt not in ("json", "md"):
        raise InputError("--format", "one of json, md (table is drawn by the CLI)", fmt)
    rows = _rows(result, lang)
    disclaimer = DISCLAIMER_JA if lang == "ja" else DISCLAIMER
    if fmt == "json":
        payload = {"disclaimer": disclaimer, "language": lang, "regimen": result.regimen, "profile": result.profile,
                   "evidence_filter": result.evidence, "n_samples": result.n_samples, "until_h": result.until_h,
                   "hamd_interval": result.hamd_interval,
                   "grades": GRADE_MEANING[lang], "claims": rows}
        return json.dumps(payload, ensure_ascii=False, indent=1, default=_json_default)
    h = _HEAD[lang]
    lines = [f"> {disclaimer}", "",
             f"{h['regimen']}: {regimen_label(result.regimen, lang)}; {h['profile']}: "
             f"{result.profile or h['default_profile']}; {h['evidence']}: {result.evidence}; "
             f"{h['samples']}: {result.n_samples}", "",
             *([_interval_line(result.hamd_interval, lang), ""] if result.hamd_interval else []),
             f"| {h['id']} | {h['claim']} | {h['grade']} | {h['check']} | {h['verdict']} |",
             "|---|---|---|---|---|"]
    for r in rows:
        verdict = r["verdict"] + (f" **{h['safety']}:** {r['safety']}" if "safety" in r else "")
        lines.append(f"| {r['id']} | {r['claim']} | {r['grade']} ({r['grade_meaning']}) | {r['check']} | {verdict} |")
    lines += ["", f"{h['links']}:", *[f"- {r['id']}: {', '.join(r['links']) or '-'} — {r['basis']}" for r in rows]]
    return "\n".join(lines) + "\n"


def _interval_line(iv: dict[str, float], lang: str) -> str:
    n, lo, hi, med = int(iv["n_accepted"]), iv["low"], iv["high"], iv["median"]
    if lang == "ja":
        return (f"HAM-D改善の90%区間(サイトカインの制約を満たす全リンク同時抽出{n}件): "
                f"{lo:+.3g}〜{hi:+.3g}点(中央値{med:+.3g})")
    return (f"HAM-D benefit, 90 % interval over {n} joint draws of every link inside the cytokine constraints: "
            f"{lo:+.3g} to {hi:+.3g} points (median {med:+.3g})")


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _json_default(o: Any) -> Any:
    return str(o)
