"""The JSON API, called in-process (httpx.ASGITransport): results, validation, limits, downloads."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from nadsim import app
from nadsim.web import _service as svc
from nadsim.web import create_app
from nadsim.web._workers import _IDLE, TARGETS, SimulationWorkers
from nadsim.web.schemas import LIMITS

pytestmark = pytest.mark.anyio


async def test_health_meta_and_openapi(client):
    r = await client.get("/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    meta = (await client.get("/api/meta")).json()
    assert set(meta["compounds"]) == {"NMN", "NR", "NAD", "NAM"}
    assert set(meta["grades"]) == set("ABCDE")
    assert meta["limits"]["max_until_h"] == LIMITS["max_until_h"]
    assert "research model" in meta["disclaimer"]["en"] and "研究用モデル" in meta["disclaimer"]["ja"]
    names = {o["name"] for o in meta["outputs"]}
    assert {"whole_blood_NAD", "brain_NAD", "plasma_NMN"} <= names
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/simulate", "/api/simulate/csv", "/api/simulate/report", "/api/parameters", "/api/meta"):
        assert path in spec["paths"], path
    # the documentation page is served from the package (test_head_and_docs_without_cdn); no ReDoc
    assert (await client.get("/redoc")).status_code == 404


async def test_simulate_article_regimen_matches_library(client, article):
    """The API returns the library's numbers: whole-blood NAD+ of the web's default patient
    against the library's default model, both at rtol 1e-8, agrees to 1e-4 relative (the web
    layer adds nothing of its own)."""
    from nadsim.dosing import parse_regimen
    from nadsim.simulate import simulate

    r = await client.post("/api/simulate", json=article)
    assert r.status_code == 200, r.text
    body = r.json()
    t = np.array(body["time_h"])
    assert t[0] == 0 and t[-1] == 24 and np.all(np.diff(t) > 0)
    assert any(abs(x - 1 / 3) < 1e-9 for x in t), "the end of the 20 min infusion is an output time"
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min")
    ref = simulate(app.base_model(), reg, t)
    for name in ("whole_blood_NAD", "pbmc_NAD", "plasma_NMN", "liver_NAD"):
        got = np.array(body["series"][name]["values"])
        np.testing.assert_allclose(got, ref[name].values, rtol=1e-4, err_msg=name)
        assert body["series"][name]["unit"] == ref[name].attrs["units"]
    assert body["series"]["whole_blood_NAD"]["group"] == "nad"
    assert body["series"]["plasma_NMN"]["group"] == "markers"
    assert body["doses"] == [{"time_h": 0.0, "end_h": pytest.approx(1 / 3), "amount_mg": 300.0,
                              "compound": "NMN", "route": "iv"}]
    assert body["metadata"]["disclaimer"] and body["disclaimer"]["ja"]
    rows = {row["variable"]: row for row in body["summary"]}
    # the 20-min NMN drip raises PBMC NAD+ above the same patient undosed, within hours (3.8 h
    # at the 2026-12-03 fit, whose PBMC NAD+ half-life of 15 h sits on its upper bound)
    assert rows["pbmc_NAD"]["largest_change"] > 0 and rows["pbmc_NAD"]["time_of_largest_change_h"] < 6
    assert rows["pbmc_NAD"]["reference"] == "undosed baseline orbit"
    # no output that is zero everywhere is offered (pbmc_NAAD, plasma_NA were: issue #16)
    for name, s in body["series"].items():
        assert any(v for v in s["values"]), name


async def test_dose_changes_the_answer(client, article):
    """Twice the dose gives a larger PBMC NAD+ excursion (a check that the regimen is used)."""
    a = (await client.post("/api/simulate", json=article)).json()
    double = json.loads(json.dumps(article))
    double["regimen"]["dose_mg"] = 600
    b = (await client.post("/api/simulate", json=double)).json()
    pa = {r["variable"]: r for r in a["summary"]}["pbmc_NAD"]
    pb = {r["variable"]: r for r in b["summary"]}["pbmc_NAD"]
    assert pb["auc_change"] > 1.5 * pa["auc_change"]


@pytest.mark.parametrize(("body", "field", "fragment"), [
    ({"regimen": {"dose_mg": -3}}, "regimen.dose_mg", "greater than 0"),
    ({"regimen": {"dose_mg": 1e9}}, "regimen.dose_mg", "less than or equal"),
    ({"regimen": {"compound": "LSD"}}, "regimen.compound", "NMN"),
    ({"regimen": {"route": "intrathecal"}}, "regimen.route", "iv"),
    ({"regimen": {"doses": 3}}, "regimen.doses", "every_h"),
    ({"regimen": {"doses": LIMITS["max_doses"] + 1, "every_h": 24}}, "regimen.doses", "less than or equal"),
    ({"regimen": {"infusion_rate_mL_min": 5}}, "regimen.infusion_rate_mL_min", "infusion_volume_mL"),
    ({"regimen": {"route": "oral", "infusion_min": 20}}, "regimen", "only with route 'iv'"),
    ({"until_h": LIMITS["max_until_h"] + 1}, "until_h", "less than or equal"),
    ({"until_h": "3 days"}, "until_h", "valid number"),
    ({"regimen": {"doses": 3, "every_h": 24}, "until_h": 30}, "until_h", "later than the last dose"),
    ({"profile": {"age_y": 7}}, "profile.age_y", "greater than or equal"),
    ({"profile": {"crp_mg_L": -1}}, "profile.crp_mg_L", "greater than or equal"),
    ({"profile": {"hamd": 60}}, "profile.hamd", "less than or equal"),
    ({"uncertainty": {"samples": LIMITS["max_samples"] + 1}}, "uncertainty.samples", "less than or equal"),
    ({"min_grade": "F"}, "min_grade", "'A'"),
    ({"code": "__import__('os').system('true')"}, "code", "Extra inputs are not permitted"),
])
async def test_validation_error_names_the_field(client, body, field, fragment):
    r = await client.post("/api/simulate", json=body)
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["errors"][0]["field"] == field
    assert fragment in err["errors"][0]["message"]
    assert err["detail"].startswith(f"`{field}`")


async def test_library_error_is_422_with_request_field(client):
    """A check made by the library (infusion longer than the dosing interval) comes back as 422
    with the *request* field name, not the library's."""
    body = {"regimen": {"infusion_min": 120, "doses": 3, "every_h": 1}, "until_h": 10}
    r = await client.post("/api/simulate", json=body)
    assert r.status_code == 422
    e = r.json()["errors"][0]
    assert e["field"] == "regimen.infusion_min" and "interval" in e["expected"]


async def test_malformed_json_is_422(client):
    r = await client.post("/api/simulate", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


async def test_request_size_limit(client):
    big = {"regimen": {"compound": "NMN"}, "pad": "x" * (LIMITS["max_request_bytes"] + 10)}
    r = await client.post("/api/simulate", json=big)
    assert r.status_code == 413
    assert str(LIMITS["max_request_bytes"]) in r.json()["detail"]

    async def chunks():  # no Content-Length: the stream itself is counted
        for _ in range(40):
            yield b"x" * 1024

    r = await client.post("/api/simulate", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


async def test_csv_download_is_the_clis_tidy_long_table(client, article):
    """Issue #16: the web CSV was wide with '#' lines that pd.read_csv rejected; now it is the
    CLI's tidy table (time_h, variable, value, unit), the run metadata in the headers."""
    r = await client.post("/api/simulate/csv", json=article)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.headers["x-nadsim-model-hash"] and "research model" in r.headers["x-nadsim-disclaimer"]
    df = pd.read_csv(io.StringIO(r.text))
    assert list(df.columns) == ["time_h", "variable", "value", "unit"]
    j = (await client.post("/api/simulate", json=article)).json()
    wb = df[df["variable"] == "whole_blood_NAD"]
    assert len(wb) == len(j["time_h"]) and set(wb["unit"]) == {"uM"}
    np.testing.assert_allclose(wb["value"], j["series"]["whole_blood_NAD"]["values"], rtol=1e-9)


async def test_trial_context_checkbox_changes_hamd(client, article):
    """Issue #16: the checkbox changed nothing, since a dosed patient is always in a treatment
    arm; off now switches the placebo and natural-course links off. Over 72 h the placebo
    response alone is several tenths of a HAM-D point (demo: -1.35), so on < off - 0.3."""
    runs = {}
    for ctx in (False, True):
        r = await client.post("/api/simulate", json={**article, "until_h": 72, "trial_context": ctx})
        if "HAMD" not in r.json()["series"]:
            pytest.skip("mechanism layer not installed")
        runs[ctx] = r.json()["series"]["HAMD"]["values"][-1]
    assert runs[True] < runs[False] - 0.3


async def test_head_and_docs_without_cdn(client):
    assert (await client.head("/")).status_code == 200
    r = await client.get("/docs")
    assert r.status_code == 200 and "/vendor/swagger-ui/swagger-ui-bundle.js" in r.text
    assert "cdn" not in r.text.lower() and "https://" not in r.text
    js = await client.get("/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000


@pytest.mark.parametrize(("lang", "needle"), [("en", "research model"), ("ja", "研究用モデル")])
async def test_report_download(client, article, lang, needle):
    r = await client.post(f"/api/simulate/report?lang={lang}", json=article)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert needle in r.text and "data:image/png;base64," in r.text
    assert "<script" not in r.text
    if lang == "ja":  # the whole report is Japanese, from the page's i18n file (not only headings)
        for phrase in ("最大変化", "非投与時", "患者プロファイル", "全血 NAD+"):
            assert phrase in r.text, phrase
        for english in ("Largest change", "Patient profile", "Whole blood NAD+", "Covariates used"):
            assert english not in r.text, english
    assert (await client.post("/api/simulate/report?lang=fr", json=article)).status_code == 422


async def test_parameters_endpoint_lists_every_parameter(client):
    model = app.base_model()
    rows = (await client.get("/api/parameters")).json()
    assert {r["name"] for r in rows} == set(model.parameters)
    for r in rows:
        p = model.parameters[r["name"]]
        assert r["value"] == pytest.approx(p.value) and r["unit"] == p.unit
        assert r["grade"] in "ABCDE" and r["kind"] == p.provenance.kind
        assert r["source"] == p.provenance.source
    graded = (await client.get("/api/parameters", params={"grade": "D"})).json()
    assert graded and all(r["grade"] == "D" for r in graded)
    assert len(graded) == sum(p.provenance.grade == "D" for p in model.parameters.values())
    assert (await client.get("/api/parameters", params={"grade": "Z"})).status_code == 422


async def test_page_assets_are_served_locally(client):
    r = await client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert "/vendor/plotly.min.js" in html
    assert not re.search(r"""(src|href)=["']https?://""", html), "no CDN or remote assets"
    js = await client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    assert (await client.get("/static/app.js")).status_code == 200
    assert (await client.get("/static/../app.py")).status_code == 404
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


def test_every_page_label_has_both_languages():
    static = Path(svc.__file__).parent / "static"
    en = json.loads((static / "i18n" / "en.json").read_text(encoding="utf-8"))
    ja = json.loads((static / "i18n" / "ja.json").read_text(encoding="utf-8"))
    assert set(en) == set(ja)
    html = (static / "index.html").read_text(encoding="utf-8")
    js = (static / "app.js").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-title)?="([^"]+)"', html)) | set(re.findall(r'\bt\("([a-z_.]+)"', js))
    assert used, "the page uses translated labels"
    prefixes = {k for k in used if k.endswith(".")}  # dynamic keys: t("grade." + g)
    missing = sorted(k for k in used - prefixes if k not in en)
    assert not missing, missing
    assert all(any(k.startswith(p) for k in en) for p in prefixes), prefixes
    for family in (["grade." + g for g in "ABCDE"], ["kind." + k for k in ("measured", "derived", "fitted", "assumed")],
                   ["verdict." + v for v in ("supported", "plausible", "small", "opposite", "consistent", "inconsistent")],
                   ["trials.status." + s for s in ("queued", "running", "done", "failed", "cancelled", "timeout")]):
        assert all(k in en for k in family), family
    # Japanese labels really are Japanese (not copies of the English ones), except names and symbols
    same = [k for k in en if en[k] == ja[k] and re.search(r"[a-z]{4,}", en[k]) and not k.startswith(("var.", "app.title", "footer"))]
    assert not same, same


def _sleeping_workers(cap: int, queue: int, timeout_s: float) -> SimulationWorkers:
    """Workers whose "simulate" sleeps until_h / 24 s (the machinery, not the solver, is tested)."""
    return SimulationWorkers(cap, queue, timeout_s, warm=0, targets={**TARGETS, "simulate": TARGETS["sleep_request"]})


async def test_busy_when_all_simulation_slots_are_taken():
    import httpx

    app = create_app(workers=_sleeping_workers(1, 0, 60.0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        r1, r2 = await asyncio.gather(c.post("/api/simulate", json={"until_h": 48}),
                                      c.post("/api/simulate", json={"until_h": 48}))
    codes = sorted([r1.status_code, r2.status_code])
    assert codes == [200, 503]
    assert (r1 if r1.status_code == 503 else r2).headers["retry-after"]
    app.state.jobs.shutdown()


async def test_simulation_timeout_kills_the_worker_and_frees_the_slot():
    """Issue #15: a 504 used to leave its thread integrating (holding the slot and growing the
    server's memory). Now the worker process is killed: its pid is gone, its temporary directory
    removed, and the single slot serves the next request at once."""
    import httpx

    workers = _sleeping_workers(1, 0, 3.0)
    app = create_app(workers=workers)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1", timeout=120) as c:
        warm = await c.post("/api/simulate", json={"until_h": 0.5})  # starts the worker (seconds, the first time)
        assert warm.status_code == 200, warm.text
        pid = warm.json()["pid"]
        workdirs = [w.workdir for w in workers._busy] + [w.workdir for w in _IDLE if w.proc.pid == pid]
        r = await c.post("/api/simulate", json={"until_h": 24 * 20})  # sleeps 20 s > 3 s
        assert r.status_code == 504 and "3 s" in r.json()["detail"]
        assert workers.killed == 1
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert workdirs and not any(os.path.exists(d) for d in workdirs)
        again = await c.post("/api/simulate", json={"until_h": 0.5})
        assert again.status_code == 200 and again.json()["pid"] != pid
    app.state.jobs.shutdown()


@pytest.mark.parametrize(("grade", "trial"), [("E", False), ("B", True)])
def test_patient_model_equals_the_library_composition(grade, trial):
    """The page's model comes from the app verb (get_model underneath); it must be identical
    (same content hash) to composing apply_profile, the evidence filter, with_trial_arm and
    the body weight by hand."""
    from nadsim.evidence import CONTEXT_LINKS, apply_evidence_filter
    from nadsim.library import apply_profile, build_full, with_trial_arm
    from nadsim.web.schemas import SimulateRequest

    req = SimulateRequest(profile={"age_y": 61, "weight_kg": 82, "crp_mg_L": 6.5, "hamd": 24, "psqi": 12},
                          min_grade=grade, trial_context=trial)
    got, applied = app.patient_model(svc.regimen_request(req))
    ref = apply_evidence_filter(apply_profile(build_full(), crp_mg_L=6.5, hamd=24, age=61, sleep=12), grade)
    if trial:
        ref = with_trial_arm(ref, start_h=0.0)
    else:  # no trial context: the placebo and natural-course links are off
        ref = ref.with_parameters({lk.gate: 0.0 for lk in ref.links if lk.name in CONTEXT_LINKS})
    ref = ref.with_parameters(BW=82)
    assert got.hash() == ref.hash()
    assert applied["trial_context"] is trial
    assert ("nad_sirt1" in applied["links_off"]) is (grade == "B")
    assert applied["profile"] == ["age", "crp_mg_L", "hamd", "sleep", "BW"]


async def test_profile_changes_the_mood_outputs(client):
    """CRP and HAM-D of the profile set the baselines of the mechanism outputs. Tolerance 1 %
    relative: the undosed baseline is periodic (24 h clock), so the value at t = 0 sits slightly
    off the profile's set point (2e-4 for CRP, 1e-3 for HAM-D when written)."""
    body = {"profile": {"crp_mg_L": 8.0, "hamd": 26}, "until_h": 24}
    r = (await client.post("/api/simulate", json=body)).json()
    if "CRP" not in r["series"]:
        pytest.skip("mechanism layer not installed")
    assert r["series"]["CRP"]["values"][0] == pytest.approx(8.0, rel=1e-2)
    assert r["series"]["HAMD"]["values"][0] == pytest.approx(26.0, rel=1e-2)
    low = (await client.post("/api/simulate", json={"profile": {"crp_mg_L": 1.0, "hamd": 12}, "until_h": 24})).json()
    assert low["series"]["CRP"]["values"][0] == pytest.approx(1.0, rel=1e-2)


async def test_uncertainty_bands_are_reproducible(client, article):
    """With parameter draws every output carries lower <= upper bands; the same seed gives the
    same bands (bit for bit), another seed different ones."""
    if not (await client.get("/api/meta")).json()["capabilities"]["uncertainty"]:
        pytest.skip("no uncertainty sampler installed")
    article["until_h"] = 12

    async def bands(seed):
        r = await client.post("/api/simulate", json={**article, "uncertainty": {"samples": 3, "seed": seed}})
        assert r.status_code == 200, r.text
        return r.json()

    a, b, c = await bands(3), await bands(3), await bands(4)
    assert a["metadata"]["uncertainty"]["samples"] == 3
    for name, s in a["series"].items():
        lo, hi = np.array(s["lower"], dtype=float), np.array(s["upper"], dtype=float)
        assert np.all(lo <= hi + 1e-12), name
    assert a["series"]["CRP"]["lower"] == b["series"]["CRP"]["lower"]
    assert a["series"]["CRP"]["upper"] != c["series"]["CRP"]["upper"]
    assert np.any(np.array(a["series"]["CRP"]["upper"]) - np.array(a["series"]["CRP"]["lower"]) > 0)


async def test_prediction_intervals_are_the_calibrations(client, article):
    """Issue #13: the page shows 90 % prediction intervals. They are
    nadsim.calibration.prediction_intervals on the request's own model and grid (the function
    ``nadsim simulate --interval`` uses), reached through the app verb: the numbers must equal
    a direct call (same code path and seed; tolerance 1e-12 relative for JSON float round trip)."""
    from nadsim.calibration import prediction_intervals
    from nadsim.web.schemas import SimulateRequest

    body = {**article, "intervals": {"draws": 20, "seed": 2}}
    r = await client.post("/api/simulate", json=body)
    assert r.status_code == 200, r.text
    res = r.json()
    iv = res["metadata"]["intervals"]
    assert iv["level"] == 0.9 and iv["draws"] + iv["failed_draws"] == 20 and iv["time_h"] == 24
    req = SimulateRequest.model_validate(body)
    model, _ = app.patient_model(svc.regimen_request(req))
    names = [row["variable"] for row in iv["rows"]]
    assert {"whole_blood_NAD", "HAMD", "CRP"} <= set(names)
    ref = prediction_intervals(model, svc.make_regimen(req.regimen), np.array(res["time_h"]), n=20, seed=2,
                               outputs=names)
    for name in names:
        band = res["series"][name]["interval"]
        for q in ("lower", "median", "upper"):
            np.testing.assert_allclose(band[q], ref[name].sel(quantile=q).values, rtol=1e-12, err_msg=name)
        lo, mid, hi = (np.array(band[q], dtype=float) for q in ("lower", "median", "upper"))
        assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12), name
    row = next(x for x in iv["rows"] if x["variable"] == "whole_blood_NAD")
    assert row["change_lower"] == pytest.approx(float(ref["change_whole_blood_NAD"].values[0, -1]), rel=1e-12)
    # the drip's spread is not zero: draws differ in the fitted metabolome parameters
    assert row["upper"] > row["lower"]
    # off by default, and bounded
    assert (await client.post("/api/simulate", json=article)).json()["metadata"]["intervals"] is None
    bad = await client.post("/api/simulate", json={**article, "intervals": {"draws": LIMITS["max_interval_draws"] + 1}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "intervals.draws"
    few = await client.post("/api/simulate", json={**article, "intervals": {"draws": 5}})  # a tail without a draw
    assert few.status_code == 422 and few.json()["errors"][0]["field"] == "intervals.draws"
    assert "at least 20" in few.text


async def test_report_and_csv_come_from_the_report_package(client, article):
    """The downloads are nadsim.report's writers on the run's data (the web formats nothing of
    its own): the CSV equals simulation_csv of the JSON result."""
    from nadsim.report._simulation import simulation_csv

    j = (await client.post("/api/simulate", json=article)).json()
    r = await client.post("/api/simulate/csv", json=article)
    assert r.text == simulation_csv(j["time_h"], j["series"])


@pytest.mark.parametrize(("lang", "title", "median"), [("en", "90 % prediction intervals", "Median"),
                                                      ("ja", "90 % 予測区間", "中央値")])
async def test_report_shows_the_prediction_intervals(client, article, lang, title, median):
    """The downloaded report carries the page's interval table when the request asks for it."""
    body = {**article, "intervals": {"draws": 20}}
    r = await client.post(f"/api/simulate/report?lang={lang}", json=body)
    assert r.status_code == 200, r.text
    assert title in r.text and median in r.text
    plain = await client.post(f"/api/simulate/report?lang={lang}", json=article)
    assert title not in plain.text
