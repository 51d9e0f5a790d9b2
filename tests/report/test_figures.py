"""Report figures a user reads (new-user audit): Japanese glyphs drawn, labels inside the figure,
plain tick numbers, days on long runs, a log plasma axis; and the display units and regimen text."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.ft2font import FT2Font

from nadsim.dosing import Regimen, parse_regimen
from nadsim.report import _figures, plots
from nadsim.report._data import dataset_series
from nadsim.report._html import _dictionary
from nadsim.report._labels import arm_regimen, auc_unit, context_note, display_unit, regimen_label
from nadsim.report._simulation import simulation_csv


def _dataset(hours: float) -> xr.Dataset:
    """Smooth positive series for every variable the NAD+ figure draws (the figure only draws)."""
    t = np.linspace(0.0, hours, 200)
    bump = 1.0 + np.exp(-((t - hours / 4) ** 2) / (hours / 10) ** 2)
    names = [*plots.POOLS, *plots.PLASMA]
    return xr.Dataset({v: ("time", (i + 1) * bump, {"units": "uM"}) for i, v in enumerate(names)}, coords={"time": t})


def _missing_glyph_warnings(fn) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_japanese_figure_draws_every_glyph(tmp_path):
    """A ja figure raises no "Glyph ... missing from font(s)" warning: before the font was
    registered every Japanese glyph was an empty box, with exactly that warning."""
    ds = _dataset(72.0)
    missing = _missing_glyph_warnings(lambda: plots.plot_nad_pools(ds, tmp_path / "ja.png", reference=ds, lang="ja",
                                                                      title="300 mg NMN iv over 20 min"))
    assert missing == []
    assert (tmp_path / "ja.png").stat().st_size > 10_000


def test_japanese_font_covers_every_figure_string():
    """IPAexGothic (or DejaVu Sans, first in the family list) has a glyph for every character of
    the ja figure strings and the ja regimen text."""
    family = plots.figure_fonts()
    assert family[-1] == plots.JA_FONT
    from matplotlib import font_manager
    ja = FT2Font(font_manager.findfont(plots.JA_FONT, fallback_to_default=False)).get_charmap()
    latin = FT2Font(font_manager.findfont("DejaVu Sans")).get_charmap()
    d = _dictionary("ja")
    text = "".join(v for k, v in d.items() if k.startswith(("fig.", "var.", "chart."))) + "".join(plots._TEXT["ja"].values())
    text += regimen_label("300 mg NMN iv over 20 min, 4 doses every 168 h (mixed)", "ja")
    lacking = sorted({c for c in text if not c.isspace() and ord(c) not in ja and ord(c) not in latin})
    assert lacking == []


def test_long_runs_are_drawn_in_days_on_a_log_plasma_axis(tmp_path):
    fig = plots.nad_pools_figure(_dataset(21 * 24.0), lang="en")
    a, b = fig.axes[:2]
    assert "days" in a.get_xlabel() and a.get_xlim()[1] < 30  # 21 d, not 504 h
    assert b.get_yscale() == "log" and "log scale" in b.get_ylabel()
    assert b.get_ylim()[0] == pytest.approx(plots.PLASMA_FLOOR_UM)
    plt.close(fig)
    short = plots.nad_pools_figure(_dataset(48.0), lang="en")
    assert "(h)" in short.axes[0].get_xlabel()
    plt.close(short)


def _drawn(monkeypatch):
    """Replace the figures' ``save`` by one that keeps the drawn figure."""
    kept = []

    def keep(fig, path, **kw):
        fig.canvas.draw()
        kept.append(fig)
        return path

    monkeypatch.setattr(_figures, "save", keep)
    return kept


def _outside(fig) -> list[str]:
    """Texts (tick labels, axis labels, titles) whose box leaves the figure (1 px tolerance)."""
    r = fig.canvas.get_renderer()
    W, H = fig.bbox.width, fig.bbox.height
    out = []
    for ax in fig.axes:
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        # tick labels outside the view limits exist but are not drawn
        texts = [*(t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1),
                 *(t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1),
                 ax.xaxis.label, ax.yaxis.label, ax.title]
        for tx in texts:
            if not tx.get_text() or not tx.get_visible():
                continue
            bb = tx.get_window_extent(r)
            if bb.x0 < -1 or bb.y0 < -1 or bb.x1 > W + 1 or bb.y1 > H + 1:
                out.append(tx.get_text())
    return out


def test_forest_labels_stay_inside_the_figure(monkeypatch, tmp_path):
    kept = _drawn(monkeypatch)
    rows = [("all: nmn_300mg_weekly_long_arm_name", -1.0, -2.0, 0.1),
            ("high_crp_and_low_sleep_subgroup: nmn_300mg_weekly_long_arm_name", -2.0, -8.6, 4.7)]
    _figures.forest_figure(rows, tmp_path / "f.png", endpoint="hamd_change", unit="HAM-D-17 points")
    fig = kept[0]
    assert _outside(fig) == []
    assert "lower values favour the active arm" in fig.axes[0].get_xlabel()
    plt.close(fig)


def test_tornado_labels_stay_inside_the_figure(monkeypatch, tmp_path):
    kept = _drawn(monkeypatch)
    n = 6
    df = pd.DataFrame({"parameter": [f"a_rather_long_parameter_name_{i}" for i in range(n)],
                       "value": np.linspace(0.5, 3.0, n), "unit": ["1/h"] * n, "grade": list("ABCDEA"),
                       "output": np.full(n, 2.0), "output_down": np.full(n, 1.9), "output_up": np.full(n, 2.1)})
    _figures.tornado_figure(df, tmp_path / "t.png", output="HAMD", output_unit="dimensionless", metric="end",
                            regimen="300 mg NMN iv over 20 min")
    fig = kept[0]
    assert _outside(fig) == []
    assert "HAM-D-17 points" in fig.axes[0].get_xlabel()
    plt.close(fig)


def test_power_ticks_are_plain_numbers(monkeypatch, tmp_path):
    kept = _drawn(monkeypatch)
    curve = [{"n": n, "power": p, "mc_se": 0.02} for n, p in ((20, 0.2), (40, 0.4), (80, 0.7), (160, 0.9))]
    _figures.power_figure(curve, tmp_path / "p.png", target=0.8, title="power")
    labels = [t.get_text() for t in kept[0].axes[0].get_xticklabels() if t.get_text()]
    assert labels == ["20", "40", "80", "160"]
    plt.close(kept[0])


def test_units_users_read():
    assert display_unit("HAMD", "dimensionless") == "HAM-D-17 points"
    assert display_unit("PHQ9@168h", "dimensionless") == "PHQ-9 points"
    assert display_unit("plasma_NMN", "uM") == "uM"
    assert display_unit("mood", "dimensionless") == ""
    assert auc_unit("HAMD", "dimensionless") == "(HAM-D-17 points)*h"
    assert auc_unit("SIRT1_activity", "") == "(fraction of Vmax)*h"
    assert auc_unit("plasma_NMN", "uM") == "uM*h"
    assert auc_unit("mood", "dimensionless") == "h"


def test_csv_units_say_points_not_dimensionless():
    ds = xr.Dataset({"HAMD": ("time", [20.0, 19.0], {"units": "dimensionless"}),
                     "plasma_NMN": ("time", [0.1, 0.2], {"units": "uM"})}, coords={"time": [0.0, 1.0]})
    series = dataset_series(ds, ["HAMD", "plasma_NMN"])
    assert series["HAMD"]["unit"] == "HAM-D-17 points" and series["plasma_NMN"]["unit"] == "uM"
    text = simulation_csv([0.0, 1.0], {"HAMD": {"unit": "dimensionless", "values": [20.0, 19.0]}})
    assert "dimensionless" not in text and "HAM-D-17 points" in text


@pytest.mark.parametrize("reg", [
    parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min"),
    parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min", every="7 d", doses=4),
    parse_regimen(compound="NR", route="oral", dose="1000 mg", every="1 d", doses=3),
    Regimen.none(),
])
def test_regimen_text_is_japanese_in_ja(reg):
    en = reg.describe()
    ja = regimen_label(en, "ja")
    assert regimen_label(en, "en") == en
    for word in ("over", "doses", "every", "iv", "oral", "no dosing"):
        assert f" {word} " not in f" {ja} ", (en, ja)
    assert any("\u3040" <= c <= "\u9fff" for c in ja)


def test_placebo_arm_is_a_saline_drip_beside_drips():
    drip = "300 mg NMN iv over 20 min, 8 doses every 168 h"
    oral = "1000 mg NR oral, 56 doses every 24 h"
    assert arm_regimen("no dosing", ["no dosing", drip], "en") == "placebo (saline drip)"
    assert arm_regimen("no dosing", ["no dosing", oral], "en") == "placebo (no active compound)"
    assert arm_regimen(drip, ["no dosing", drip], "en") == drip
    assert "drip" not in context_note("oral") and "drip" in context_note("iv")
