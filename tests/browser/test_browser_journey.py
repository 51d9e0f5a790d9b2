"""A clinician's journey in a real browser: a 300 mg NMN drip, the chart, Japanese, the CSV."""

from __future__ import annotations

import io
from urllib.parse import urlparse

import pandas as pd
import pytest

pytestmark = pytest.mark.browser


def test_nmn_drip_journey(server_url, browser_page, artifacts, tmp_path):
    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(urlparse(r.url).hostname or r.url.split(":")[0]))

    page.goto(server_url + "/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "research model" in page.locator("#disclaimer-text").inner_text()

    # a 300 mg NMN drip over 20 min
    page.select_option("#compound", "NMN")
    page.select_option("#route", "iv")
    page.fill("#dose", "300")
    page.check("#inf-mode-duration", force=True)
    page.fill("#infusion-min", "20")
    page.fill("#doses", "1")
    page.fill("#until", "48")
    page.click("#run")
    page.wait_for_selector("body[data-simulated='1']")
    page.wait_for_selector("#chart-nad .main-svg")

    # the chart holds one line per NAD+ compartment, on a 0-48 h axis, and the dose is drawn
    n_traces = page.evaluate("document.getElementById('chart-nad').data.length")
    assert n_traces >= 6
    xr = page.evaluate("document.getElementById('chart-nad')._fullLayout.xaxis.range")
    assert xr[0] == pytest.approx(0, abs=1) and xr[1] == pytest.approx(48, abs=1)
    shapes = page.evaluate("document.getElementById('chart-nad').layout.shapes")
    assert shapes and shapes[0]["x1"] == pytest.approx(20 / 60, rel=1e-6)
    assert page.locator("#summary tr").count() > 6
    assert "300 mg NMN iv over 20 min" in page.locator("#status").inner_text()

    # Japanese: labels, chart axes and the disclaimer change
    page.click("#lang-toggle")
    page.wait_for_selector("html[lang='ja']", state="attached")  # (wait_for_function needs eval: CSP forbids it)
    assert page.locator("[data-i18n='chart.nad']").inner_text() == "コンパートメント別 NAD+"
    assert page.locator("#run").inner_text() == "シミュレーション実行"
    assert page.locator("[data-i18n='regimen.title']").inner_text() == "投与レジメン"
    assert "研究用モデル" in page.locator("#disclaimer-text").inner_text()
    axis = page.evaluate("document.getElementById('chart-nad')._fullLayout.xaxis.title.text")
    assert axis == "初回投与からの時間 (時間)"
    legend = page.evaluate("document.getElementById('chart-nad').data.map(d => d.name)")
    assert "全血 NAD+" in legend
    page.screenshot(path=str(artifacts / "journey.png"), full_page=True)

    # the CSV download carries the disclaimer and the whole time course
    with page.expect_download() as dl:
        page.click("#csv")
    path = tmp_path / "sim.csv"
    dl.value.save_as(path)
    assert dl.value.suggested_filename == "nadsim-simulation.csv"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# nadsim is a research model, not medical advice")
    df = pd.read_csv(io.StringIO(text), comment="#")
    assert df["time_h"].iloc[0] == 0 and df["time_h"].iloc[-1] == pytest.approx(48)
    assert df["whole_blood_NAD [uM]"].notna().all()

    assert not problems, problems
    assert hosts <= {"127.0.0.1"}, f"the page contacted other hosts: {hosts}"


def test_evidence_and_parameters_views(server_url, browser_page, artifacts):
    page = browser_page
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-ready='1']")
    page.click(".tab[data-tab='parameters']")
    page.wait_for_selector("#params-table tr:nth-child(5)")
    assert page.locator("#params-table .badge").count() > 10
    page.select_option("#params-grade", "A")
    grades = page.locator("#params-table .badge").all_inner_texts()
    assert grades and set(grades) == {"A"}
    page.click(".tab[data-tab='evidence']")
    page.wait_for_selector("#evidence-table tr:nth-child(3)")
    colors = page.evaluate("document.getElementById('evidence-chart').data[0].link.color")
    assert len(set(colors)) >= 3, "links are coloured by grade"
    page.click("#lang-toggle")
    page.wait_for_selector("html[lang='ja']", state="attached")  # (wait_for_function needs eval: CSP forbids it)
    assert page.locator(".tab[data-tab='evidence']").inner_text() == "エビデンス"
    page.screenshot(path=str(artifacts / "evidence-ja.png"))
