"""Static plots written with matplotlib's non-interactive backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

POOLS = {
    "whole_blood_NAD": "whole blood",
    "pbmc_NAD": "PBMC",
    "liver_NAD": "liver",
    "muscle_NAD": "muscle",
    "brain_NAD": "brain",
}
PLASMA = {"plasma_NMN": "NMN", "plasma_NR": "NR", "plasma_NAM": "NAM", "plasma_NAD": "NAD+", "plasma_MeNAM": "MeNAM"}


def plot_nad_pools(ds, path: Path | str, *, title: str = "") -> None:
    """Two panels: NAD+ per compartment as % of baseline, and plasma metabolites (uM)."""
    t = ds["time"].values
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for v, label in POOLS.items():
        if v in ds:
            y = ds[v].values
            a.plot(t, 100 * y / y[0], label=f"{label} ({y[0]:.0f} uM at baseline)")
    a.set_xlabel("time (h)")
    a.set_ylabel("NAD+ (% of baseline)")
    a.set_title("NAD+ by compartment")
    a.legend(fontsize=8)
    for v, label in PLASMA.items():
        if v in ds:
            b.plot(t, ds[v].values, label=label)
    b.set_yscale("symlog", linthresh=0.1)
    b.set_xlabel("time (h)")
    b.set_ylabel("plasma concentration (uM)")
    b.set_title("plasma metabolites")
    b.legend(fontsize=8)
    fig.suptitle(f"{title}\nnadsim research model, not medical advice", fontsize=10)
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
