"""Evidence filter, attribution by grade, the bilingual claim audit and the CLI contract (issue #3)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nadsim._errors import InputError
from nadsim.cli import app
from nadsim.dosing import parse_regimen
from nadsim.evidence import (
    GRADE_ORDER,
    apply_evidence_filter,
    attribute_by_grade,
    audit_claims,
    render_claims,
)
from nadsim.library import apply_profile, build_full
from nadsim.library.full import with_trial_arm
from nadsim.simulate import DISCLAIMER, simulate

MARKERS = ("SIRT1_activity", "IL6", "CRP", "clock_amplitude", "sleep_quality", "stress_load", "HAMD", "PHQ9")
REG = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min", every="1 d", doses=3)
T = np.arange(0.0, 72.01, 3.0)


@pytest.fixture(scope="module")
def model():
    return apply_profile(build_full(), crp_mg_L=8.0, hamd=20.0)


@pytest.mark.parametrize("grade", GRADE_ORDER)
def test_filter_sets_gates_by_grade(model, grade):
    m = apply_evidence_filter(model, grade)
    for ln in m.links:
        keep = GRADE_ORDER.index(ln.grade) <= GRADE_ORDER.index(grade)
        assert m.parameters[ln.gate].value == (1.0 if keep else 0.0), ln.name


def test_filter_rejects_unknown_grade(model):
    with pytest.raises(InputError, match="--evidence"):
        apply_evidence_filter(model, "F")


def _arms(m, rtol=1e-7):
    a = simulate(m, REG, T, rtol=rtol, atol=rtol / 1000)
    b = simulate(with_trial_arm(m), None, T, rtol=rtol, atol=rtol / 1000)
    return a, b


def test_evidence_A_leaves_no_effect_without_human_trial_support(model):
    """Under --evidence A every marker of the active arm equals the placebo arm's (rel 1e-6):
    no link from NAD+ to any mechanism has human-trial support. Under E the same runs differ.
    The two arms differ in their dose segments, so their markers differ by integration error
    alone: solved at rtol 1e-9, ~1000x below the 1e-6 asked of them (the native BDF's global
    error reaches ~1e-6 relative at rtol 1e-7 on stress_load over 3 days)."""
    a, b = _arms(apply_evidence_filter(model, "A"), rtol=1e-9)
    for v in MARKERS:
        assert np.allclose(a[v].values, b[v].values, rtol=1e-6, atol=1e-9), v
    # the metabolome still responds (calibrated nad_core: ~+4 % brain NAD+ after one 300 mg drip)
    assert a["brain_NAD"].values.max() > 1.02 * b["brain_NAD"].values.max()
    a, b = _arms(apply_evidence_filter(model, "E"))
    assert a["CRP"].values[-1] < 0.995 * b["CRP"].values[-1]
    assert a["HAMD"].values[-1] < b["HAMD"].values[-1] - 0.01


def test_attribution_separates_placebo_and_natural_course_from_the_graded_compound_effect(model):
    """Issue #16: ``nadsim attribute`` credited -5.2 of -6.2 HAM-D points to grade-A evidence,
    but those points were the placebo response and natural course that any drip brings. Now the
    change from the untreated patient is total = context (placebo arm - untreated) + compound
    (dosed - placebo arm), exact to 1e-9, and only the compound's part is split by grade: its
    A and B parts are zero (the placebo and natural-course links are graded A and B), CRP has no
    placebo part, and CRP's effect rests on D links (within 5 %)."""
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min")
    t = np.arange(0.0, 48.01, 6.0)
    res = attribute_by_grade(model, reg, t, ["HAMD", "CRP", "brain_NAD"])
    by = {a.output: a for a in res}
    for a in res:
        assert sum(a.parts.values()) == pytest.approx(a.compound, abs=1e-9)
        assert a.total == pytest.approx(a.context + a.compound, abs=1e-9)
    hamd = by["HAMD"]
    assert hamd.context < -0.5  # any drip: expectancy and visits, natural course
    # the drip's own part stays well below the context: measured -0.35 vs -1.12 points at 48 h
    # with the issue-#13 refit (PBMC NAD+ half-life 15 h, on its bound: the blood-cell NAD+ that
    # drives the D links stays raised longer); -0.19 before it
    assert abs(hamd.compound) < 0.4 * abs(hamd.context)
    for g in ("A", "B", "C"):
        assert abs(hamd.parts[g]) < 1e-6 + 1e-3 * abs(hamd.compound)
        assert abs(by["CRP"].parts[g]) < 1e-6 * abs(by["CRP"].compound) + 1e-9
    assert by["CRP"].context == pytest.approx(0.0, abs=1e-9)
    assert by["CRP"].compound < 0
    assert by["CRP"].parts["D"] == pytest.approx(by["CRP"].compound, rel=0.05)
    # brain NAD+ rests mostly on the metabolome; the clock-NAMPT feedback (C) shifts it by ~13 %
    # with the calibrated metabolome (NAMPT near saturation makes the daily swing relatively larger)
    assert by["brain_NAD"].parts["metabolome"] == pytest.approx(by["brain_NAD"].compound, rel=0.25)


@pytest.fixture(scope="module")
def audit():
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min", every="1 d", doses=2)
    return audit_claims(regimen=reg, until_h=72.0, profile={"crp_mg_L": 8.0, "hamd": 20.0}, n_samples=1, workers=1)


def test_claims_render_in_both_languages_with_the_same_claims(audit):
    ja = json.loads(render_claims(audit, "ja", "json"))
    en = json.loads(render_claims(audit, "en", "json"))
    assert len(ja["claims"]) >= 8
    assert [c["id"] for c in ja["claims"]] == [c["id"] for c in en["claims"]]
    assert [c["predicted"] for c in ja["claims"]] == [c["predicted"] for c in en["claims"]]
    assert [c["grade"] for c in ja["claims"]] == [c["grade"] for c in en["claims"]]
    cjk = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
    for cj, ce in zip(ja["claims"], en["claims"], strict=True):
        assert cjk.search(cj["claim"]) and cjk.search(cj["verdict"])
        assert not cjk.search(ce["claim"]) and not cjk.search(ce["verdict"])
        assert cj["grade"] in GRADE_ORDER
    med = {c["id"]: c for c in en["claims"]}["medication_reduction"]
    assert "prescrib" in med["safety"] and med["grade"] == "E"
    assert "safety" in {c["id"]: c for c in ja["claims"]}["medication_reduction"]
    assert en["disclaimer"] == DISCLAIMER and "医療" in ja["disclaimer"]
    for lang in ("ja", "en"):
        md = render_claims(audit, lang, "md")
        assert md.count("\n| ") >= 9


def test_claim_checks_are_honest(audit):
    checks = {c.claim.id: c for c in audit.checks}
    assert checks["nad_rise"].value > 0
    assert checks["anti_inflammation"].value < 0  # CRP falls a little
    assert checks["depression_relief"].verdict == "small"  # far below 3.9 HAM-D points (Rush 2021)
    assert checks["medication_reduction"].verdict == "small"
    assert checks["evidence_thin"].verdict == "consistent"
    for c in audit.checks:
        assert c.low <= c.value <= c.high or not np.isfinite(c.value)
    # the NAD+ rise carries the metabolome's posterior uncertainty: one paired sample moves it by
    # more than 1 % of itself (with the mechanism parameters alone it moved by ~0.1 %)
    nad = checks["nad_rise"]
    assert nad.high - nad.low > 0.01 * abs(nad.value)


def test_claims_are_paraphrased_not_copied():
    seed = Path("/work/shared/seed")
    if not seed.exists():
        pytest.skip("seed article not available")
    text = "".join(p.read_text(encoding="utf-8") for p in seed.glob("*.txt"))
    from nadsim.evidence import load_claims

    for c in load_claims():
        assert c.text["ja"] not in text and c.text["en"] not in text, c.id


# ----------------------------------------------------------------------------------- CLI contract
def test_cli_simulate_reports_pathway_markers_with_profile_and_filter():
    r = CliRunner().invoke(app, ["simulate", "--crp", "8 mg/L", "--hamd", "20", "--age", "45", "--sleep", "9",
                                 "--until", "1 d", "--step", "6 h", "--format", "csv", "--evidence", "B"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(io.StringIO(r.stdout))
    assert list(df.columns) == ["time_h", "variable", "value", "unit"]
    assert set(MARKERS) <= set(df["variable"])
    crp0 = df[(df.variable == "CRP") & (df.time_h == 0)]["value"].iloc[0]
    assert crp0 == pytest.approx(8.0, rel=5e-3)
    assert df[df.variable == "IL6"]["unit"].iloc[0] == "pg/mL"


def test_cli_simulate_rejects_bad_profile():
    r = CliRunner().invoke(app, ["simulate", "--crp", "800 mg/L", "--until", "1 d"])
    assert r.exit_code != 0
    assert "--crp" in str(r.exception) + r.output


def test_cli_claims_json_in_both_languages():
    out = {}
    for lang in ("ja", "en"):
        r = CliRunner().invoke(app, ["claims", "--lang", lang, "--format", "json", "--samples", "0", "--doses", "1",
                                     "--until", "2 d"])
        assert r.exit_code == 0, r.output
        out[lang] = json.loads(r.stdout)["claims"]
    assert [c["id"] for c in out["ja"]] == [c["id"] for c in out["en"]]


def test_docs_diagram_lists_every_link_with_its_grade():
    doc = Path(__file__).resolve().parents[2] / "docs" / "mechanisms.md"
    text = doc.read_text(encoding="utf-8")
    assert "```mermaid" in text
    for ln in build_full().links:
        assert f"{ln.grade} · {ln.name}" in text, ln.name  # mermaid edge label
        assert re.search(rf"^\| `{ln.name}` \| [^|]+ \| {ln.grade} \|", text, re.M), ln.name  # table row


def test_hamd_claims_take_the_joint_interval_over_every_link():
    """With ``global_draws`` the HAM-D claims' range is the 90 % interval of joint draws of every
    link inside the cytokine constraints (nadsim.analysis.value), and the rendering states it."""
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min", every="7 d", doses=2)
    res = audit_claims(regimen=reg, until_h=14 * 24.0, profile={"hamd": 22.0}, n_samples=0, workers=1,
                       global_draws=12)
    iv = res.hamd_interval
    assert iv["n_draws"] == 12 and iv["low"] <= iv["median"] <= iv["high"]
    relief = next(ch for ch in res.checks if ch.claim.id == "depression_relief")
    assert relief.low <= min(iv["low"], relief.value) + 1e-12 and relief.high >= iv["high"] - 1e-12
    assert "joint draws" in render_claims(res, "en", "md")
    assert "同時抽出" in render_claims(res, "ja", "md")


def test_japanese_audit_is_japanese_in_its_headings_and_spacing(audit):
    """The ja table's title and header are Japanese, and a value never stands apart from its
    unit or its bracket: no "(1 HAM-D点)" (a line break point) and no "( 0.05 )"."""
    from nadsim.evidence import audit_title, claims_head

    head = claims_head("ja")
    assert [head[k] for k in ("id", "claim", "grade", "verdict")] == ["ID", "主張", "グレード", "判定"]
    title = audit_title(audit, "ja")
    assert "点滴静注" in title and " over " not in title and " doses" not in title
    ja = json.loads(render_claims(audit, "ja", "json"))
    en = json.loads(render_claims(audit, "en", "json"))
    for c in ja["claims"]:
        assert not re.search(r"\( | \)|\d HAM-D点|\d %", c["verdict"]), c["verdict"]
    for c in en["claims"]:
        assert not re.search(r"\( | \)| ,|  ", c["verdict"]), c["verdict"]
    md = render_claims(audit, "ja", "md")
    assert "投与計画:" in md and "regimen:" not in md
