"""Static figures written with matplotlib's non-interactive backend.

Every figure follows the same rules (issue #16): a unit on every axis, a title that says what is
drawn (and fits: ``constrained_layout`` and titles wrapped to the axes), a legend that does not
hide the data, and no series that is zero everywhere. :func:`save` writes every figure the same
way (PNG, 120 dpi).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager
from matplotlib.ticker import FuncFormatter, NullFormatter

from nadsim.report._html import translator
from nadsim.report._labels import regimen_label

#: the Japanese font: IPAexGothic as shipped in the matplotlib-fontja wheel (IPA Font License v1.0,
#: which allows redistribution). The wheel's own import would make it every figure's font, so
#: the file is located through the distribution's metadata and only added to the font manager.
JA_FONT_DIST, JA_FONT_FILE, JA_FONT = "matplotlib-fontja", "matplotlib_fontja/fonts/ipaexg.ttf", "IPAexGothic"
__all__ = ["DAYS_FROM_H", "GRADE_COLOURS", "JA_FONT", "PLASMA", "PLASMA_FLOOR_UM", "POOLS", "figure_fonts",
           "nad_pools_figure", "new_figure", "plot_nad_pools", "png_bytes", "save", "time_axis", "wrap"]

POOLS = {
    "whole_blood_NAD": "whole blood",
    "pbmc_NAD": "PBMC",
    "liver_NAD": "liver",
    "muscle_NAD": "muscle",
    "brain_NAD": "brain",
}
PLASMA = {"plasma_NMN": "NMN", "plasma_NR": "NR", "plasma_NAM": "NAM", "plasma_NAD": "NAD+", "plasma_MeNAM": "MeNAM"}
#: the web page's grade colours (style.css --grade-A ... --grade-E), so figures and page agree
GRADE_COLOURS = {"A": "#1a7f37", "B": "#2f81f7", "C": "#bf8700", "D": "#d4622b", "E": "#8c959f"}
DISCLAIMER_LINE = "nadsim research model, not medical advice"


def wrap(text: str, width: int = 70) -> str:
    """A title broken into lines of at most ``width`` characters (so it is never clipped)."""
    return "\n".join(textwrap.wrap(text, width)) if text else ""


@lru_cache(maxsize=1)
def figure_fonts() -> tuple[str, ...]:
    """Register the Japanese font with matplotlib's font manager (once) and return the font
    family list: DejaVu Sans for Latin text, IPAexGothic for each glyph DejaVu lacks (matplotlib
    falls back per glyph along the list). Raises if the font is missing: a silent fallback drew
    every Japanese glyph as an empty box."""
    path = Path(str(metadata.distribution(JA_FONT_DIST).locate_file(JA_FONT_FILE)))
    if not path.is_file():
        raise FileNotFoundError(f"Japanese figure font not found at {path}; reinstall {JA_FONT_DIST}")
    font_manager.fontManager.addfont(str(path))
    return ("DejaVu Sans", JA_FONT)


def new_figure(width: float, height: float, **kw: Any) -> tuple[Any, Any]:
    plt.rcParams["font.family"] = list(figure_fonts())
    return plt.subplots(figsize=(width, height), layout="constrained", **kw)


def save(fig: Any, path: Path | str, *, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG and close it."""
    fig.savefig(path, dpi=dpi, format="png")
    plt.close(fig)
    return Path(path)


def png_bytes(fig: Any, *, dpi: int = 120) -> bytes:
    """``fig`` as PNG bytes (for a ``data:`` image in a self-contained report), closed after."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    return buf.getvalue()


def _nonzero(y: np.ndarray) -> bool:
    return bool(np.any(np.nan_to_num(np.asarray(y, dtype=float)) != 0))


#: runs longer than this are drawn in days (a 21-day run in hours reads as 0-500)
DAYS_FROM_H = 72.0
#: plasma panel floor (uM): the log axis starts here, so near-zero tails do not stretch it over
#: decades nobody measures (plasma NR/MeNAM assays report down to about 0.01 uM)
PLASMA_FLOOR_UM = 0.01
#: figure words that the page's i18n files do not have (the page has no day axis or log note)
_TEXT: Mapping[str, Mapping[str, str]] = {
    "en": {"days": "Time from first dose (days)", "log": "log scale, from {floor} uM"},
    "ja": {"days": "初回投与からの時間 (日)", "log": "対数目盛、{floor} uM から"},
}


def time_axis(time_h: np.ndarray, lang: str) -> tuple[np.ndarray, str]:
    """The x values and label: hours up to :data:`DAYS_FROM_H`, days beyond."""
    if time_h.size and float(np.nanmax(time_h)) > DAYS_FROM_H:
        return time_h / 24.0, _TEXT[lang]["days"]
    return time_h, translator(lang)("chart.time")


def plot_nad_pools(ds: Any, path: Path | str, *, title: str = "", reference: Any = None, lang: str = "en") -> Path:
    """:func:`nad_pools_figure` written to ``path`` (PNG)."""
    return save(nad_pools_figure(ds, title=title, reference=reference, lang=lang), path)


def nad_pools_figure(ds: Any, *, title: str = "", reference: Any = None, lang: str = "en") -> Any:
    """Two panels: NAD+ per compartment (change from the same subject undosed, % of it; without
    a reference, % of the value at t = 0) and plasma metabolites (uM, log scale from
    :data:`PLASMA_FLOOR_UM`). Labels in ``lang`` (the page's i18n dictionary); legends sit
    below the panels so they never cover a peak."""
    t = translator(lang)
    title = regimen_label(title, lang)
    x, xlabel = time_axis(np.asarray(ds["time"].values, dtype=float), lang)
    fig, (a, b) = new_figure(11.5, 5.4, ncols=2)
    for v in POOLS:
        if v not in ds:
            continue
        y = ds[v].values
        base = reference[v].values if reference is not None else np.full_like(y, y[0])
        a.plot(x, 100 * (y - base) / base, label=t("fig.undosed", name=t(f"var.{v}"), value=f"{base[0]:.0f}"))
    a.axhline(0, color="k", lw=0.6)
    a.set_xlabel(xlabel)
    ref = "undosed" if reference is not None else "t0"
    a.set_ylabel(t(f"fig.nad.ylabel.{ref}"))
    a.set_title(wrap(t(f"fig.nad.title.{ref}"), 55), fontsize=10)
    a.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    top = PLASMA_FLOOR_UM
    for v in PLASMA:
        if v in ds and _nonzero(ds[v].values):
            y = np.asarray(ds[v].values, dtype=float)
            top = max(top, float(np.nanmax(y)))
            b.plot(x, y, label=t(f"var.{v}"))
    b.set_yscale("log")
    b.set_ylim(PLASMA_FLOOR_UM, top * 2)
    b.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))  # 0.1, not 10^-1
    b.yaxis.set_minor_formatter(NullFormatter())
    b.set_xlabel(xlabel)
    b.set_ylabel(f"{t('fig.plasma.ylabel')}\n({_TEXT[lang]['log'].format(floor=f'{PLASMA_FLOOR_UM:g}')})")
    b.set_title(t("fig.plasma.title"), fontsize=10)
    b.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=3)
    line = t("fig.disclaimer")
    fig.suptitle(wrap(f"{title} · {line}" if title else line, 110), fontsize=10)
    return fig
