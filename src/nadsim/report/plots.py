"""Static figures written with matplotlib's non-interactive backend.

Every figure follows the same rules (issue #16): a unit on every axis, a title that says what is
drawn (and fits: ``constrained_layout`` and titles wrapped to the axes), a legend that does not
hide the data, and no series that is zero everywhere. :func:`save` writes every figure the same
way (PNG, 120 dpi).
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import font_manager

from nadsim.report._html import translator

# Japanese figure text needs a CJK font; matplotlib falls back along the family list per glyph
_CJK = [f for f in ("Noto Sans CJK JP", "Noto Sans JP", "IPAGothic") if f in {x.name for x in font_manager.fontManager.ttflist}]
if _CJK:
    plt.rcParams["font.family"] = ["DejaVu Sans", _CJK[0]]

__all__ = ["GRADE_COLOURS", "PLASMA", "POOLS", "nad_pools_figure", "new_figure", "plot_nad_pools", "png_bytes", "save",
           "wrap"]

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


def new_figure(width: float, height: float, **kw: Any) -> tuple[Any, Any]:
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


def plot_nad_pools(ds: Any, path: Path | str, *, title: str = "", reference: Any = None,
                   t: Callable[..., str] | None = None) -> Path:
    """:func:`nad_pools_figure` written to ``path`` (PNG)."""
    return save(nad_pools_figure(ds, title=title, reference=reference, t=t), path)


def nad_pools_figure(ds: Any, *, title: str = "", reference: Any = None, t: Callable[..., str] | None = None) -> Any:
    """Two panels: NAD+ per compartment (change from the same subject undosed, % of it; without
    a reference, % of the value at t = 0) and plasma metabolites (uM, log scale). ``t`` gives
    the labels (the page's i18n dictionary; default English)."""
    t = t or translator("en")
    time = ds["time"].values
    fig, (a, b) = new_figure(11.5, 4.6, ncols=2)
    for v in POOLS:
        if v not in ds:
            continue
        y = ds[v].values
        base = reference[v].values if reference is not None else np.full_like(y, y[0])
        a.plot(time, 100 * (y - base) / base, label=t("fig.undosed", name=t(f"var.{v}"), value=f"{base[0]:.0f}"))
    a.axhline(0, color="k", lw=0.6)
    a.set_xlabel(t("chart.time"))
    ref = "undosed" if reference is not None else "t0"
    a.set_ylabel(t(f"fig.nad.ylabel.{ref}"))
    a.set_title(wrap(t(f"fig.nad.title.{ref}"), 55), fontsize=10)
    a.legend(fontsize=8)
    for v in PLASMA:
        if v in ds and _nonzero(ds[v].values):
            b.plot(time, ds[v].values, label=t(f"var.{v}"))
    b.set_yscale("symlog", linthresh=0.1)
    b.set_xlabel(t("chart.time"))
    b.set_ylabel(t("fig.plasma.ylabel"))
    b.set_title(t("fig.plasma.title"), fontsize=10)
    b.legend(fontsize=8)
    line = t("fig.disclaimer")
    fig.suptitle(wrap(f"{title} · {line}" if title else line, 110), fontsize=10)
    return fig
