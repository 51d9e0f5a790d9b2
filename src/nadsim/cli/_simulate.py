"""``nadsim simulate`` (one patient or a virtual population) and ``nadsim demo``.

Every dose response the tables show is relative to the same subject simulated without dosing
on the same grid (its baseline orbit; see :mod:`nadsim.analysis.pk`). For mood outputs the
change from no treatment is split into what any drip brings (placebo response and natural
course: a placebo arm with the same visits) and what the model attributes to the compound.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.table import Table

from nadsim._errors import InputError
from nadsim._files import atomic_path, json_safe
from nadsim._progress import progress_bar
from nadsim._units import parse_quantity
from nadsim.analysis import summarize
from nadsim.app import (
    IMPROVES_DOWNWARD,
    INTERVAL_OUTPUTS,
    PatientRequest,
    PatientRuns,
    PopulationRequest,
    patient_profile,
    run_population,
    simulate_patient,
)
from nadsim.calibration import min_draws
from nadsim.cli._app import console
from nadsim.cli._options import (
    Age,
    Backend,
    BackendOpt,
    Compound,
    CompoundName,
    Crp,
    Device,
    DeviceOpt,
    Dose,
    Doses,
    Every,
    Evidence,
    Hamd,
    Infusion,
    Progress,
    Route,
    RouteName,
    Sleep,
    Step,
    Until,
    check_output_file,
)
from nadsim.dosing import Regimen, parse_regimen
from nadsim.population import COVARIATES
from nadsim.report._data import dataset_series, long_frame, run_metadata, write_csv, write_parquet
from nadsim.simulate import time_grid

app = typer.Typer()


class SimFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


#: mechanism outputs and scores in the second table (when the model has them)
MARKERS = ("SIRT1_activity", "IL6", "CRP", "clock_amplitude", "sleep_quality", "stress_load", "HAMD", "PHQ9")


def crp_mg_L(crp: str | None) -> float | None:
    if crp is None:
        return None
    try:
        return float(crp)  # a bare number is read as mg/L
    except ValueError:
        return parse_quantity(crp, "--crp", "[mass] / [length] ** 3", unit_hint="8 mg/L", to="mg/L")


def make_regimen(compound: str, route: str, dose: str, infusion: str | None, every: str | None, doses: int) -> Regimen:
    """The options' regimen: the article's drip (100 mL at 5 mL/min) is not forced on other routes."""
    return parse_regimen(compound=compound, route=route, dose=dose, infusion=infusion, every=every, doses=doses)


#: the most output times the CLI asks for (a step, given or default, that gives more is refused)
MAX_POINTS = 200_000
#: a 90 % interval is the 5th to 95th percentile of the draws: with fewer than 20 draws a tail
#: holds no draw at all and the "interval" is the sample's extremes (the same rule as the engine's)
MIN_INTERVAL_DRAWS = min_draws(0.9)
#: where each --format writes its --out file (and --plot: PNG only)
OUT_SUFFIXES = {"table": (".csv",), "csv": (".csv",), "json": (".json",)}
PLOT_SUFFIXES = (".png",)


def _coarsest_needed(until_h: float) -> str:
    """The finest step (rounded up to 3 digits, so that it passes) giving at most MAX_POINTS."""
    need = until_h / MAX_POINTS
    digits = 10.0 ** (math.floor(math.log10(need)) - 2)
    return f"{math.ceil(need / digits) * digits:.3g} h"


def grid_for(regimen: Regimen, until: str, step: str | None) -> np.ndarray:
    until_h = parse_quantity(until, "--until", "[time]", unit_hint="24 h")
    step_h = parse_quantity(step, "--step", "[time]", unit_hint="15 min") if step else None
    if until_h <= 0:
        raise InputError("--until", "a positive duration, e.g. '24 h'", until)
    if until_h < regimen.last_time_h:
        raise InputError("--until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", until)
    if step_h is not None:
        if step_h <= 0 or step_h > until_h:
            raise InputError("--step", f"positive and at most --until ({until_h:g} h)", step)
        if until_h / step_h > MAX_POINTS:
            raise InputError("--step", f"giving at most {MAX_POINTS} points, i.e. {_coarsest_needed(until_h)} "
                             f"or coarser for --until {until}", step)
        return time_grid(until_h, step_h=step_h, regimen=regimen)
    # the default step is adaptive but never coarser than 1 h (time_grid): a very long --until
    # needs an explicit, coarser --step, and the user is told so rather than about a step never given
    try:
        grid = time_grid(until_h, regimen=regimen)
    except InputError as exc:
        if exc.field != "step":
            raise
        grid = None
    extra = len(regimen.breakpoints)
    if grid is None or grid.size > MAX_POINTS + 1 + extra:
        raise InputError("--step", f"given for --until {until}: the default step (at most 1 h) gives more than "
                         f"{MAX_POINTS} points; pass --step {_coarsest_needed(until_h)} or coarser", None)
    return grid


def check_outputs(*, fmt: str, out: Path | None, plot: Path | None, population: bool) -> None:
    """Every output path is usable before anything is simulated (extension, directory, rights)."""
    if plot is not None:
        check_output_file(plot, "--plot", PLOT_SUFFIXES)
    if population:
        if out is None:
            raise InputError("--out", "a file name ending in .parquet for --population", None)
        check_output_file(out, "--out", (".parquet",))
    elif out is not None:
        check_output_file(out, "--out", OUT_SUFFIXES[fmt])


def run_patient(request: PatientRequest, *, progress: bool = True) -> tuple[PatientRuns, dict[str, Any]]:
    """The app's patient runs, and them as the table writers take them (dosed, undosed, placebo)."""
    with progress_bar("simulating runs", enabled=progress, every_s=5.0) as upd:
        runs: PatientRuns = simulate_patient(request, progress=upd)
    out = {"dosed": runs.dosed, "undosed": runs.undosed, "placebo": runs.placebo}
    return runs, {k: v for k, v in out.items() if v is not None}


def _shown_unit(variable: str, unit: str) -> str:
    """A table's unit: a symptom score's points with the sign that is better, else the model's."""
    return "points (< 0 = improvement)" if variable in IMPROVES_DOWNWARD else unit.replace("dimensionless", "")


def _g(x: Any, fmt: str = ".4g") -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)


def print_tables(runs: dict, regimen: Regimen) -> None:
    ds, ref = runs["dosed"], runs["undosed"]
    df = summarize(ds, reference=ref)
    tab = Table(title=f"NAD+ pools after {regimen.describe()}: change from the same subject undosed "
                      "(baseline orbit, same times)")
    for col in ("pool", "unit", "baseline", "largest change", "time of largest change (h)", "change at end",
                "AUC of the change"):
        tab.add_column(col, justify="left" if col == "pool" else "right")
    for r in df.to_dict(orient="records"):
        tab.add_row(str(r["variable"]), str(r["unit"]), _g(r["baseline"]),
                    f"{_g(r['largest_change'], '+.4g')} ({_g(r['largest_change_pct'], '+.1f')} %)",
                    _g(r["time_of_largest_change_h"], ".2f"),
                    f"{_g(r['end_change'], '+.4g')} ({_g(r['end_change_pct'], '+.1f')} %)",
                    f"{_g(r['auc_change'], '+.4g')} {r['auc_unit']}")
    console.print(tab)
    markers = [v for v in MARKERS if v in ds]
    if markers:
        pbo = runs.get("placebo")
        # an oral placebo is a tablet, not a drip: word the dosing itself by the regimen's route
        drip = any(d.route == "iv" for d in regimen.doses)
        dosing, context = ("drip", "any drip") if drip else ("dosing", "any dosing")
        mt = Table(title="Pathway markers and depression score at the end: change from the same patient undosed, "
                         "same times (research model, not medical advice)",
                   caption=f"undosed: no {dosing}, no visits; {context}: placebo arm - undosed; "
                           "the compound: dosed - placebo arm" if pbo is not None else f"undosed: no {dosing}, no visits")
        cols = ["marker", "unit", "baseline", "end", "change vs undosed"]
        if pbo is not None:
            cols += [f"of which {context}", "of which the compound"]
        for col in cols:
            mt.add_column(col, justify="left" if col == "marker" else "right")
        for v in markers:
            y, y0 = ds[v].values, ref[v].values
            row = [v, _shown_unit(v, ds[v].attrs.get("units", "")), _g(y0[0]), _g(y[-1]),
                   _g(y[-1] - y0[-1], "+.3g")]
            if pbo is not None:
                row += [_g(pbo[v].values[-1] - y0[-1], "+.3g"), _g(y[-1] - pbo[v].values[-1], "+.3g")]
            mt.add_row(*row)
        console.print(mt)
        if pbo is not None and "HAMD" in markers:
            console.print("[dim]The undosed patient is not in a treatment arm: in the model the placebo response and "
                          f"the natural course (grade A/B evidence) start with the first {'drip' if drip else 'dose'}, so the placebo arm carries "
                          "them; only the last column is what the model attributes to the compound "
                          "(see `nadsim attribute` for its evidence grades).[/]")
    console.print(f"[dim]{ds.attrs['disclaimer']}[/]")


def write_outputs(runs: dict, regimen: Regimen, *, fmt: str, out: Path | None, plot: Path | None,
                  variables: list[str]) -> None:
    ds = runs["dosed"]
    if fmt == "table":
        print_tables(runs, regimen)
        if out:
            write_csv(long_frame(ds["time"].values, dataset_series(ds, variables)), out)
    elif fmt == "csv":
        frame = long_frame(ds["time"].values, dataset_series(ds, variables))
        if out:
            write_csv(frame, out)
        else:
            typer.echo(frame.to_csv(index=False), nl=False)
        # the CSV holds data only; the disclaimer goes to stderr
        typer.echo(ds.attrs.get("disclaimer", ""), err=True)
    else:
        payload = {"metadata": run_metadata(ds.attrs), "time_h": ds["time"].values.tolist(),
                   "variables": {v: {"unit": ds[v].attrs.get("units", ""), "values": ds[v].values.tolist()}
                                 for v in variables}}
        text = json.dumps(json_safe(payload), allow_nan=False)
        if out:
            with atomic_path(out) as tmp:
                tmp.write_text(text, encoding="utf-8")
        else:
            typer.echo(text)
    if plot:
        # matplotlib (~1 s to import) only when a plot is asked for
        from nadsim.report.plots import plot_nad_pools

        with atomic_path(plot, field="--plot") as tmp:
            plot_nad_pools(ds, tmp, title=regimen.describe(), reference=runs["undosed"])


def simulate_population_cli(*, n: int, seed: int, out: Path | None, regimen: Regimen, until: str, step: str | None,
                            backend: str, device: str, cluster: str | None, evidence: str | None,
                            progress: bool) -> None:
    """``nadsim simulate --population N --seed S --out FILE.parquet``: subject x time rows."""
    if out is None:
        raise InputError("--out", "a file name ending in .parquet for --population", None)
    t = grid_for(regimen, until, step)
    request = PopulationRequest(regimen, t, n, seed=seed, evidence=evidence, backend=backend, device=device,
                                cluster=cluster)
    with progress_bar("simulating subjects", enabled=progress) as upd:
        run = run_population(request, progress=upd)
    model, pop, ds = run.model, run.population, run.dataset
    outputs = [o for o in model.outputs if o in ds]
    frame = ds[outputs].to_dataframe().reset_index().rename(columns={"time": "time_h"})
    covs = pop.frame().add_prefix("cov_").reset_index()  # cov_HAMD (baseline covariate) vs HAMD (output)
    frame = frame.merge(covs, on="subject", how="left")
    frame["status"] = np.repeat(ds["status"].values, t.size)
    units = {o: ds[o].attrs.get("units", "") for o in outputs}
    units.update({"time_h": "h", "subject": "", "status": "0 = solved"})
    units.update({f"cov_{c.name}": c.unit for c in COVARIATES})
    meta = run_metadata(ds.attrs, solver=f"nadsim.simulate.batch[{backend}/{device}]", n_subjects=n)
    write_parquet(frame, out, units=units, metadata=meta)
    n_fail = int((ds["status"].values != 0).sum())
    console.print(f"{n} subjects x {t.size} times written to {out} ({n_fail} failed); seed {seed}, backend {backend}/{device}")
    console.print(f"[dim]{ds.attrs['disclaimer']}[/]")


@app.command()
def simulate(
    compound: Compound = CompoundName("NMN"),
    route: Route = RouteName("iv"),
    dose: Dose = "300 mg",
    infusion: Infusion = None,
    every: Every = None,
    doses: Doses = 1,
    until: Until = "24 h",
    step: Step = None,
    format: SimFormat = typer.Option(SimFormat.table, "--format", case_sensitive=False,
                                     help="table (two summary tables), csv (tidy: time_h, variable, value, unit) or json."),
    out: Path | None = typer.Option(None, help="Write the results (CSV for table/csv, JSON for json; Parquet with --population)."),
    plot: Path | None = typer.Option(None, help="Write a PNG plot of the NAD+ pools and plasma metabolites."),
    population: int | None = typer.Option(None, "--population", min=1, help="Simulate N virtual subjects (writes --out FILE.parquet)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the virtual population (>= 0)."),
    backend: BackendOpt = Backend.native,
    device: DeviceOpt = Device.cpu,
    cluster: str | None = typer.Option(None, "--cluster", metavar="ADDRESS",
                                       help="Dask scheduler address (or 'local') for --population."),
    evidence: Evidence = None,
    crp: Crp = None,
    hamd: Hamd = None,
    age: Age = None,
    sleep: Sleep = None,
    placebo: bool = typer.Option(False, "--placebo", help="Simulate the placebo arm: same drips and visits, no active compound."),
    interval: int = typer.Option(0, "--interval", min=0, max=2000, metavar="DRAWS",
                                 help="Also show 90 % prediction intervals from DRAWS parameter draws "
                                      f"(the calibration's posterior; 0: off, else at least {MIN_INTERVAL_DRAWS})."),
    progress: Progress = True,
) -> None:
    """Simulate a dosing regimen (one patient or a virtual population) and report the NAD+ metabolome."""
    grade = evidence.value if evidence is not None else None
    if 0 < interval < MIN_INTERVAL_DRAWS:
        raise InputError("--interval", f"0 (off) or at least {MIN_INTERVAL_DRAWS} draws (a 90 % interval needs draws "
                         "in both 5 % tails)", interval)
    check_outputs(fmt=format.value, out=out, plot=plot, population=population is not None)
    regimen = make_regimen(compound.value, route.value, dose, infusion, every, doses)
    if population is not None:
        if any(v is not None for v in (crp, hamd, age, sleep)):
            raise InputError("--population", "used without --crp/--hamd/--age/--sleep (a population draws them)", population)
        simulate_population_cli(n=population, seed=seed, out=out, regimen=regimen, until=until, step=step,
                                backend=backend.value, device=device.value, cluster=cluster, evidence=grade,
                                progress=progress)
        return
    grid = grid_for(regimen, until, step)
    profile = patient_profile(crp_mg_L=crp_mg_L(crp), hamd=hamd, age=age, sleep=sleep)
    request = PatientRequest(regimen, grid, profile=profile, evidence=grade, placebo=placebo,
                             compare=format is SimFormat.table or plot is not None, intervals=interval)
    patient, runs = run_patient(request, progress=progress)
    variables = list(patient.model.outputs)
    write_outputs(runs, regimen, fmt=format.value, out=out, plot=plot, variables=[v for v in variables if v in runs["dosed"]])
    if patient.intervals is not None:
        show_intervals(patient.intervals, grid, fmt=format.value)


def show_intervals(iv: Any, grid: np.ndarray, *, fmt: str) -> None:
    """90 % prediction intervals at the last time, level and change from baseline (research use)."""
    names = [o for o in INTERVAL_OUTPUTS if o in iv]
    if fmt == "json":
        typer.echo(json.dumps(json_safe({"intervals": {
            "level": iv.attrs["level"], "draws": iv.attrs["draws"], "source": iv.attrs["source"],
            "time_h": float(grid[-1]),
            "outputs": {v: {q: float(iv[v].sel(quantile=q).values[-1]) for q in ("lower", "median", "upper")}
                        for v in iv.data_vars}}}), allow_nan=False))
        return
    tab = Table(title=f"90 % prediction intervals at {grid[-1]:g} h ({iv.attrs['draws']} draws from the "
                      f"{iv.attrs['source']}; {iv.attrs['failed_draws']} failed); change from each draw's own value "
                      "at 0 h, not from the undosed run as above")
    for col in ("variable", "unit", "median", "90 % interval", "change from 0 h: median", "90 % interval"):
        tab.add_column(col)
    for v in names:
        lvl, chg = iv[v].values[:, -1], iv[f"change_{v}"].values[:, -1]
        tab.add_row(v, _shown_unit(v, str(iv[v].attrs.get("units", ""))), _g(lvl[1]),
                    f"{_g(lvl[0])} to {_g(lvl[2])}", _g(chg[1], "+.4g"), f"{_g(chg[0], '+.4g')} to {_g(chg[2], '+.4g')}")
    console.print(tab)
    console.print("[dim]Parameter uncertainty only (calibration posterior; unconstrained brain and muscle "
                  "parameters from their priors). Research model, not medical advice.[/]")


@app.command()
def demo(
    plot: Path = typer.Option(Path("nadsim-demo.png"), help="Where to write the plot (PNG)."),
    until: Until = "72 h",
) -> None:
    """The article's regimen: 300 mg NMN by IV drip (100 mL at 5 mL/min); table and plot."""
    check_output_file(plot, "--plot", PLOT_SUFFIXES)  # the same rule as simulate --plot
    regimen = make_regimen("NMN", "iv", "300 mg", "100 mL at 5 mL/min", None, 1)
    _, runs = run_patient(PatientRequest(regimen, grid_for(regimen, until, None)))
    write_outputs(runs, regimen, fmt="table", out=None, plot=plot, variables=[])
    console.print(f"plot written to {plot}")
