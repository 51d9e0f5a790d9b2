"""Static figures written with matplotlib's non-interactive backend.

Every figure follows the same rules (issue #16): a unit on every axis, a title that says what is
drawn (and fits: ``constrained_layout`` and titles wrapped to the axes), a legend that does not
hide the data, and no series that is zero everywhere. :func:`save` writes every figure the same
way (PNG, 120 dpi).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["GRADE_COLOURS", "PLASMA", "POOLS", "new_figure", "plot_nad_pools", "save", "wrap"]

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


def _nonzero(y: np.ndarray) -> bool:
    return bool(np.any(np.nan_to_num(np.asarray(y, dtype=float)) != 0))


def plot_nad_pools(ds: Any, path: Path | str, *, title: str = "", reference: Any = None) -> Path:
    """Two panels: NAD+ per compartment (change from the same subject undosed, % of it; without
    a reference, % of the value at t = 0) and plasma metabolites (uM, log scale)."""
    t = ds["time"].values
    fig, (a, b) = new_figure(11.5, 4.6, ncols=2)
    for v, label in POOLS.items():
        if v not in ds:
            continue
        y = ds[v].values
        base = reference[v].values if reference is not None else np.full_like(y, y[0])
        a.plot(t, 100 * (y - base) / base, label=f"{label} ({base[0]:.0f} uM undosed)")
    a.axhline(0, color="k", lw=0.6)
    a.set_xlabel("time from first dose (h)")
    a.set_ylabel("NAD+ change (% of undosed)" if reference is not None else "NAD+ change (% of t = 0)")
    a.set_title(wrap("NAD+ by compartment: change from the same subject undosed" if reference is not None
                     else "NAD+ by compartment: change from t = 0", 55), fontsize=10)
    a.legend(fontsize=8)
    for v, label in PLASMA.items():
        if v in ds and _nonzero(ds[v].values):
            b.plot(t, ds[v].values, label=label)
    b.set_yscale("symlog", linthresh=0.1)
    b.set_xlabel("time from first dose (h)")
    b.set_ylabel("plasma concentration (uM)")
    b.set_title("Plasma NAD+ precursors and metabolites", fontsize=10)
    b.legend(fontsize=8)
    fig.suptitle(wrap(f"{title} · {DISCLAIMER_LINE}" if title else DISCLAIMER_LINE, 110), fontsize=10)
    return save(fig, path)
