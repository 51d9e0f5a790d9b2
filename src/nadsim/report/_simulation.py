"""One simulation as a download: the tidy CSV and the self-contained bilingual HTML report.

Both take data (arrays, datasets, rows), never a face's request: the web page and the CLI
format the same run the same way.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nadsim.report._data import long_frame
from nadsim.report._html import render, translator
from nadsim.report._labels import auc_unit, display_unit, regimen_label
from nadsim.report.plots import nad_pools_figure, png_bytes

__all__ = ["simulation_csv", "simulation_html"]


def simulation_csv(time_h: Sequence[float] | np.ndarray, series: Mapping[str, Mapping[str, Any]]) -> str:
    """The CLI's tidy long CSV (``time_h, variable, value, unit``, plus ``lower, upper`` when a
    series has a band) as text; ``None`` values are written empty. Run metadata are not in it
    (comment lines would break ``pandas.read_csv``)."""
    def floats(v: Sequence[float | None]) -> np.ndarray:
        return np.asarray([np.nan if x is None else x for x in v], dtype=float)

    clean = {n: {"unit": display_unit(n, s.get("unit", "")), **{k: floats(s[k]) for k in ("values", "lower", "upper") if k in s}}
             for n, s in series.items()}
    return long_frame(time_h, clean).to_csv(index=False, float_format="%.10g")


def _units(summary: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The summary rows with the units a user reads (rating-scale points, AUC in unit*h)."""
    return [{**r, "unit": display_unit(str(r.get("variable", "")), str(r.get("unit", ""))),
             "auc_unit": auc_unit(str(r.get("variable", "")), str(r.get("unit", "")))} for r in summary]


def simulation_html(dosed: Any, reference: Any, *, lang: str, disclaimer: str, regimen: str, until_h: float,
                    profile: Sequence[tuple[str, float]], used: Sequence[str], trial_context: bool,
                    summary: Sequence[Mapping[str, Any]], metadata: Mapping[str, Any],
                    intervals: Mapping[str, Any] | None = None) -> str:
    """A self-contained HTML report (no scripts) in ``lang``, every word from the page's i18n
    files: regimen, profile, the dose-response table and the NAD+ figure (change from
    ``reference``, the same patient without the compound); with ``intervals`` (``level``, ``draws``,
    ``failed_draws``, ``source``, ``time_h`` and ``rows`` of quantiles at that time), their table."""
    t = translator(lang)
    regimen = regimen_label(regimen, lang)
    png = png_bytes(nad_pools_figure(dosed, title=regimen, reference=reference, lang=lang))
    figure = "data:image/png;base64," + base64.b64encode(png).decode()
    footer = t("report.footer", version=metadata.get("nadsim_version"), model=metadata.get("model"),
               hash=str(metadata.get("model_hash"))[:12], solver=metadata.get("solver"), rtol=metadata.get("rtol"),
               created=metadata.get("created"))
    return render("simulation.html.j2", lang=lang, disclaimer=disclaimer, regimen=regimen, until_h=until_h,
                  profile=list(profile), used=list(used), trial_context=trial_context, summary=_units(summary),
                  intervals=intervals, figure=figure, footer=footer)
