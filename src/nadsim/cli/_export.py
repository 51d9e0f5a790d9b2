"""``nadsim export sbml|petab`` (files other simulators and fitters read) and ``nadsim import
sbml`` (simulate an SBML file someone else wrote)."""

from __future__ import annotations

import math
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from nadsim._errors import InputError
from nadsim._files import atomic_path
from nadsim._units import parse_quantity
from nadsim.app import petab_problem, sbml_export, simulate_sbml_file
from nadsim.cli._app import console
from nadsim.cli._options import Dose, Doses, Every, Infusion, RouteName
from nadsim.dosing import COMPOUNDS, Regimen, parse_regimen
from nadsim.report._data import dataset_series, long_frame, write_csv

export_app = typer.Typer(
    name="export",
    help="Write the model for other tools: SBML (libRoadRunner, COPASI, AMICI) or a PEtab problem.",
    no_args_is_help=True,
)
import_app = typer.Typer(
    name="import",
    help="Read a model written by other tools (SBML) and simulate it.",
    no_args_is_help=True,
)

#: ``--compound none`` exports the undosed baseline
ExportCompound = Enum("ExportCompound", {"none": "none", **{k: k for k in COMPOUNDS}}, type=str)  # type: ignore[misc]


class ImportFormat(StrEnum):
    table = "table"
    csv = "csv"


def _regimen(compound: str, route: str, dose: str, infusion: str | None, every: str | None,
             doses: int) -> Regimen:
    if compound == "none":
        return Regimen.none()
    return parse_regimen(compound=compound, route=route, dose=dose, infusion=infusion, every=every, doses=doses)


@export_app.command("sbml")
def sbml(
    out: Annotated[Path, typer.Option("--out", help="SBML file to write, e.g. model.xml.")],
    compound: ExportCompound = typer.Option(  # type: ignore[valid-type]
        "none", case_sensitive=False, help="Dosed compound; none: the undosed baseline."),
    route: RouteName = typer.Option("iv", case_sensitive=False, help="iv (infusion), iv_bolus or oral."),  # type: ignore[valid-type]
    dose: Dose = "300 mg",
    infusion: Infusion = None,
    every: Every = None,
    doses: Doses = 1,
) -> None:
    """SBML L3V2 of the default model at baseline, the regimen as events."""
    regimen = _regimen(compound.value, route.value, dose, infusion, every, doses)
    exported = sbml_export(regimen)
    with atomic_path(out) as tmp:
        tmp.write_text(exported.text, encoding="utf-8")
    console.print(f"SBML L3V2 of {exported.model.name} ({regimen.describe()}) written to {out}")


@export_app.command("petab")
def petab(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the PEtab problem into (created if missing).")],
) -> None:
    """A PEtab problem: SBML model, conditions, measurements (human_pk.csv), observables, parameters."""
    yaml_path = petab_problem(out)
    console.print(f"PEtab problem written to {out} (entry point {yaml_path.name})")


@import_app.command("sbml")
def import_sbml(
    file: Path = typer.Argument(..., metavar="FILE", help="SBML file (Level 2 or 3) to read and simulate."),
    until: str = typer.Option("24 h", metavar="DURATION", help="Simulated time, e.g. '24 h' or '100 s'."),
    step: str | None = typer.Option(None, metavar="DURATION", help="Output grid step (default: 200 points)."),
    format: ImportFormat = typer.Option(ImportFormat.table, "--format", case_sensitive=False,
                                        help="table (start, end, min, max of each output) or csv (tidy: time_h, variable, value, unit)."),
    out: Path | None = typer.Option(None, help="Write the tidy CSV to this file."),
) -> None:
    """Simulate an SBML file from its own initial values and events (its time unit honoured)."""
    until_h = parse_quantity(until, "--until", "[time]", unit_hint="24 h")
    if until_h <= 0:
        raise InputError("--until", "a positive duration, e.g. '24 h'", until)
    step_h = parse_quantity(step, "--step", "[time]", unit_hint="1 h") if step else until_h / 200
    if step_h <= 0 or until_h / step_h > 200_000:
        raise InputError("--step", f"positive and giving at most 200000 points (>= {until_h / 200_000:g} h)", step)
    times = np.linspace(0.0, until_h, math.floor(until_h / step_h + 1e-9) + 1)
    run = simulate_sbml_file(file, times)
    model, ds = run.model, run.dataset
    names = [str(v) for v in ds.data_vars if ds[v].dims == ("time",)]
    frame = long_frame(ds["time"].values, dataset_series(ds, names))
    if out:
        write_csv(frame, out)
    if format is ImportFormat.csv and not out:
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    secs = model.time_unit_h * 3600
    unit_note = (f"the file's time unit is {secs:g} s" if not math.isclose(secs, 3600)
                 else "the file's time unit is 1 h")
    console.print(f"{file.name}: {model.counts()}")  # its own line: a table title wraps to the table's width
    tab = Table(title=f"{until_h:g} h simulated ({unit_note})")
    for col in ("output", "unit", "start", "end", "min", "max"):
        tab.add_column(col, justify="left" if col == "output" else "right", overflow="fold")
    for v in names:
        y = ds[v].values
        tab.add_row(v, ds[v].attrs.get("units", ""), *(f"{x:.4g}" for x in (y[0], y[-1], np.nanmin(y), np.nanmax(y))))
    console.print(tab)
    if out:
        console.print(f"time courses written to {out}")
