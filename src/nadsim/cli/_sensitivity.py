"""``nadsim sensitivity``: local (tornado) or global (Sobol) sensitivity of one output."""

from __future__ import annotations

from enum import Enum, StrEnum
from pathlib import Path

import numpy as np
import typer

from nadsim._errors import InputError
from nadsim._files import atomic_path
from nadsim._progress import progress_bar
from nadsim._units import parse_quantity
from nadsim.analysis.sensitivity import METRICS
from nadsim.app import SensitivityRequest
from nadsim.app import sensitivity as sensitivity_verb
from nadsim.cli._app import console
from nadsim.cli._options import (
    Backend,
    BackendOpt,
    Compound,
    CompoundName,
    Device,
    DeviceOpt,
    Dose,
    Doses,
    Every,
    Infusion,
    ModelName,
    Progress,
    Route,
    RouteName,
    Until,
)
from nadsim.dosing import parse_regimen
from nadsim.report._figures import sobol_figure, tornado_figure
from nadsim.simulate import time_grid

app = typer.Typer()

Metric = Enum("Metric", {m: m for m in METRICS}, type=str)  # type: ignore[misc]


class Method(StrEnum):
    local = "local"
    sobol = "sobol"


@app.command()
def sensitivity(
    output: str = typer.Option("whole_blood_NAD", metavar="OUTPUT", help="Model output to analyse, e.g. whole_blood_NAD, HAMD, CRP."),
    metric: Metric = typer.Option("change_final", case_sensitive=False,  # type: ignore[valid-type]
                                  help="Reduction of the time course to one number (change_*: from t = 0)."),
    method: Method = typer.Option(Method.local, case_sensitive=False,
                                  help="local (normalised coefficients, tornado) or sobol (global, SALib)."),
    parameters: str | None = typer.Option(None, metavar="NAMES", help="Comma-separated free parameters (default: all non-zero free ones for local; required for sobol)."),
    compound: Compound = CompoundName("NMN"), route: Route = RouteName("iv"), dose: Dose = "300 mg",
    infusion: Infusion = "100 mL at 5 mL/min", every: Every = None, doses: Doses = 1,
    until: Until = "24 h",
    step: str = typer.Option("1 h", metavar="DURATION", help="Output grid step."),
    n: int = typer.Option(64, min=8, help="Sobol base sample size (power of two); runs n (d + 2) simulations."),
    spread: float | None = typer.Option(None, min=0.0, help="Sobol ranges value/(1+s)..value*(1+s) instead of the table's bounds."),
    seed: int = typer.Option(0, help="Seed of the Sobol sample."),
    model: ModelName = typer.Option(ModelName.default, case_sensitive=False, help="default (full), full or nad_core."),
    backend: BackendOpt = Backend.native, device: DeviceOpt = Device.cpu,
    out: Path | None = typer.Option(None, help="Write the table (CSV or JSON by suffix)."),
    plot: Path | None = typer.Option(None, help="Tornado (local: low/high bars coloured by evidence grade) or Sobol bar plot (PNG)."),
    progress: Progress = True,
) -> None:
    """Local (tornado) or global (Sobol) sensitivity of a model output to its parameters."""
    if plot is not None and plot.suffix.lower() != ".png":
        raise InputError("--plot", "a file name ending in .png", str(plot))
    regimen = parse_regimen(compound=compound.value, route=route.value, dose=dose,
                            infusion=infusion if route.value == "iv" else None, every=every, doses=doses)
    until_h = parse_quantity(until, "until", "[time]", unit_hint="24 h")
    step_h = parse_quantity(step, "step", "[time]", unit_hint="1 h")
    t = time_grid(until_h, step_h=step_h, regimen=regimen)
    names = [p.strip() for p in parameters.split(",") if p.strip()] if parameters else None
    request = SensitivityRequest(regimen, t, output=output, metric=metric.value, method=method.value, parameters=names,
                                 model="full" if model.value == "default" else model.value, n=n, spread=spread,
                                 seed=seed, backend=backend.value, device=device.value)
    with progress_bar(f"sensitivity ({method.value})", enabled=progress) as upd:
        result = sensitivity_verb(request, progress=upd)
    m, df = result.model, result.table
    if plot:
        with atomic_path(plot, field="--plot") as tmp:
            if method is Method.local:
                tornado_figure(df, tmp, output=output, output_unit=m.unit_of(output), metric=metric.value,
                               regimen=regimen.describe())
            else:
                sobol_figure(df, tmp, output=output, metric=metric.value, regimen=regimen.describe())
    console.print(df.to_string(index=False, float_format=lambda x: f"{x:.4g}"), highlight=False)
    if out:
        with atomic_path(out) as tmp:
            if out.suffix.lower() == ".json":
                tmp.write_text(df.replace({np.nan: None}).to_json(orient="records", indent=1), encoding="utf-8")
            else:
                df.to_csv(tmp, index=False)
