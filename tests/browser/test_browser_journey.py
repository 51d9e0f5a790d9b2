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
    # the page opens on the article's regimen already simulated: a chart with no click
    page.wait_for_selector("body[data-simulated='1']")
    page.wait_for_selector("#chart-nad .main-svg")
    assert "300 mg NMN iv over 20 min" in page.locator("#status").inner_text()
    assert page.evaluate("document.getElementById('chart-nad').data.length") >= 5
    page.evaluate("document.body.dataset.simulated = ''")

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
    assert page.locator("[data-i18n='chart.markers']").inner_text() == "NAD+ 前駆体と代謝物"
    legend = page.evaluate("document.getElementById('chart-nad').data.map(d => d.name)")
    assert "全血 NAD+" in legend
    page.screenshot(path=str(artifacts / "journey.png"), full_page=True)

    # the CSV download is the CLI's tidy table, read by pandas as it is
    with page.expect_download() as dl:
        page.click("#csv")
    path = tmp_path / "sim.csv"
    dl.value.save_as(path)
    assert dl.value.suggested_filename == "nadsim-simulation.csv"
    df = pd.read_csv(io.StringIO(path.read_text(encoding="utf-8")))
    assert list(df.columns) == ["time_h", "variable", "value", "unit"]
    wb = df[df["variable"] == "whole_blood_NAD"]
    assert wb["time_h"].iloc[0] == 0 and wb["time_h"].iloc[-1] == pytest.approx(48)
    assert wb["value"].notna().all()

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


def test_opens_simulated_in_both_languages_with_aria_tabs(server_url, browser_page, screens):
    """The first view, no click: en and ja screenshots for the README; ARIA tabs and keys."""
    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-simulated='1']")
    page.wait_for_selector("#chart-hamd .main-svg")
    page.wait_for_timeout(300)  # Plotly's transition
    page.screenshot(path=str(screens / "page-en.png"), full_page=False)
    tabs = page.locator("[role='tab']")
    assert tabs.count() == 6
    for i in range(6):
        tab = tabs.nth(i)
        panel = tab.get_attribute("aria-controls")
        assert panel and page.locator(f"#{panel}[role='tabpanel']").count() == 1
        assert tab.get_attribute("aria-selected") == ("true" if i == 0 else "false")
    page.focus("#tab-results")
    page.keyboard.press("ArrowRight")
    assert page.locator("#tab-evidence").get_attribute("aria-selected") == "true"
    assert page.locator("#panel-evidence").is_visible() and not page.locator("#panel-results").is_visible()
    page.keyboard.press("Home")
    assert page.locator("#tab-results").get_attribute("aria-selected") == "true"
    page.click("#lang-toggle")
    page.wait_for_selector("html[lang='ja']", state="attached")
    page.wait_for_timeout(300)
    assert page.locator("#run").inner_text() == "シミュレーション実行"
    page.screenshot(path=str(screens / "page-ja.png"), full_page=False)
    assert not problems, problems


def test_phone_layout_390px(server_url, phone_page, screens):
    """At 390 px nothing is wider than the screen (no sideways scroll of the page), the form
    stacks above the charts and a chart is drawn at the screen's width."""
    page = phone_page
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-simulated='1']")
    page.wait_for_selector("#chart-nad .main-svg")
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    chart = page.locator("#chart-nad").bounding_box()
    form = page.locator("#sim-form").bounding_box()
    assert chart and form and chart["width"] <= 390 and chart["width"] > 300 and chart["y"] > form["y"]
    page.locator("#chart-nad").scroll_into_view_if_needed()
    page.screenshot(path=str(screens / "page-phone.png"), full_page=False)
    page.click("#lang-toggle")
    page.wait_for_selector("html[lang='ja']", state="attached")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_prediction_intervals_in_both_languages(server_url, browser_page, artifacts):
    """Issue #13: 90 % prediction intervals on the page: dashed bands on the charts (absolute
    scale) and a table at the last time, in English and Japanese."""
    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(server_url + "/")
    page.wait_for_selector("body[data-simulated='1']")
    assert page.locator("#intervals-card").is_hidden()  # off by default
    page.evaluate("document.body.dataset.simulated = ''")
    page.fill("#interval-draws", "20")
    page.fill("#until", "48")
    page.click("#run")
    page.wait_for_selector("body[data-simulated='1']")
    page.wait_for_selector("#intervals-card:not([hidden])")
    rows = page.locator("#intervals tr")
    assert rows.count() >= 6  # header + NAD+ pools, CRP, IL-6, HAM-D
    assert "90 %" in page.locator("#intervals-card h2").inner_text()
    assert "48 h" in page.locator("#intervals-meta").inner_text()
    page.check("input[name='nad_scale'][value='abs']", force=True)
    page.wait_for_timeout(300)
    names = page.evaluate("document.getElementById('chart-nad').data.map(d => d.name || '')")
    assert any("90 % prediction interval" in n for n in names)
    hamd = page.evaluate("document.getElementById('chart-hamd').data.map(d => d.name || '')")
    assert any("90 % prediction interval" in n for n in hamd)
    page.locator("#intervals-card").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "intervals-en.png"), full_page=True)
    page.click("#lang-toggle")
    page.wait_for_selector("html[lang='ja']", state="attached")
    page.wait_for_timeout(300)
    assert page.locator("#intervals-card h2").inner_text() == "90 % 予測区間"
    assert "中央値" in page.locator("#intervals tr").first.inner_text()
    assert "時間時点" in page.locator("#intervals-meta").inner_text()
    names = page.evaluate("document.getElementById('chart-nad').data.map(d => d.name || '')")
    assert any("90 % 予測区間" in n for n in names)
    page.screenshot(path=str(artifacts / "intervals-ja.png"), full_page=True)
    assert not problems, problems
