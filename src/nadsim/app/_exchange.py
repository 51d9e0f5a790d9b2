"""The exchange verbs: the model for other tools (SBML, a PEtab problem), and an SBML file
someone else wrote, simulated (``nadsim export``, ``nadsim import``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from nadsim.dosing import Regimen
from nadsim.io import ImportedModel, export_petab, export_sbml, read_sbml, simulate_sbml
from nadsim.library import get_model
from nadsim.model import Model

__all__ = ["SbmlExport", "SbmlRun", "petab_problem", "sbml_export", "simulate_sbml_file"]


@dataclass(frozen=True)
class SbmlExport:
    model: Model
    text: str


def sbml_export(regimen: Regimen | None = None, model: str = "full") -> SbmlExport:
    """SBML L3V2 of the model ``model`` at its undosed baseline, ``regimen`` as events."""
    m = get_model(model)
    return SbmlExport(model=m, text=export_sbml(m, regimen))


def petab_problem(out: Path | str) -> Path:
    """Write the PEtab problem (model, conditions, measurements, observables, parameters) into
    ``out``; returns its ``problem.yaml``."""
    return export_petab(out)


@dataclass(frozen=True)
class SbmlRun:
    """The model read from the file, and its run over ``time``."""

    model: ImportedModel
    dataset: xr.Dataset


def simulate_sbml_file(path: Path | str, times: np.ndarray) -> SbmlRun:
    """Read an SBML file (its time unit honoured) and simulate it from its own initial values
    and events."""
    model = read_sbml(path)
    return SbmlRun(model=model, dataset=simulate_sbml(model, times))
