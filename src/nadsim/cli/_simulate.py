"""``nadsim simulate`` and ``nadsim demo``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from nadsim._errors import InputError
from nadsim._units import parse_quantity
from nadsim.cli._app import atomic_path, console
from nadsim.dosing import parse_regimen

FORMATS = ("table", "csv", "json")


def _long_frame(ds, variables):
    import pandas as pd

    frames = []
    for v in variables:
        frames.append(pd.DataFrame({"time_h": ds["time"].values, "variable": v,
                                    "value": ds[v].values, "unit": ds[v].attrs.get("units", "")}))
    return pd.concat(frames, ignore_index=True)


def run_simulation(*, compound: str, route: str, dose: str, infusion: str | None, every: str | None,
                   doses: int, until: str, step: str | None):
    from nadsim.simulate import simulate, time_grid

    regimen = parse_regimen(compound=compound, route=route, dose=dose, infusion=infusion, every=every, doses=doses)
    until_h = parse_quantity(until, "until", "[time]", unit_hint="24 h")
    step_h = parse_quantity(step, "step", "[time]", unit_hint="15 min") if step else None
    if until_h <= 0:
        raise InputError("until", "a positive duration, e.g. '24 h'", until)
    if until_h < regimen.last_time_h:
        raise InputError("until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", until)
    if step_h is not None and (step_h <= 0 or until_h / step_h > 200_000):
        raise InputError("step", f"positive and giving at most 200000 points (>= {until_h / 200_000:g} h)", step)
    ds = simulate(regimen=regimen, times=time_grid(until_h, step_h=step_h, regimen=regimen))
    return regimen, ds


def print_table(ds, regimen) -> None:
    from nadsim.analysis import summarize

    df = summarize(ds)
    tab = Table(title=f"NAD+ pools after {regimen.describe()}", show_lines=False)
    for col in ("pool", "unit", "baseline", "peak", "time of peak (h)", "change at peak", "AUC above baseline"):
        tab.add_column(col, justify="left" if col == "pool" else "right")
    for _, r in df.iterrows():
        tab.add_row(r.variable, r.unit, f"{r.baseline:.4g}", f"{r.peak:.4g}", f"{r.time_of_peak_h:.2f}",
                    f"{r.peak_change_pct:+.1f}%", f"{r.auc_above_baseline:.4g} {r.auc_unit}")
    console.print(tab)
    console.print(f"[dim]{ds.attrs['disclaimer']}[/]")


def write_outputs(ds, regimen, *, fmt: str, out: Path | None, plot: Path | None) -> None:
    from nadsim.simulate._api import default_model

    variables = [v for v in default_model().outputs if v in ds]
    if fmt == "table":
        print_table(ds, regimen)
        if out:
            with atomic_path(out) as tmp:
                _long_frame(ds, variables).to_csv(tmp, index=False)
    elif fmt == "csv":
        frame = _long_frame(ds, variables)
        if out:
            with atomic_path(out) as tmp:
                frame.to_csv(tmp, index=False)
        else:
            typer.echo(frame.to_csv(index=False), nl=False)
    else:
        payload = {
            "metadata": {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()},
            "time_h": ds["time"].values.tolist(),
            "variables": {v: {"unit": ds[v].attrs.get("units", ""), "values": ds[v].values.tolist()} for v in variables},
        }
        text = json.dumps(payload)
        if out:
            with atomic_path(out) as tmp:
                tmp.write_text(text)
        else:
            typer.echo(text)
    if plot:
        from nadsim.report.plots import plot_nad_pools

        with atomic_path(plot) as tmp:
            plot_nad_pools(ds, tmp, title=regimen.describe())


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        compound: str = typer.Option("NMN", help="NMN, NR, NAD or NAM."),
        route: str = typer.Option("iv", help="iv (infusion), iv_bolus or oral."),
        dose: str = typer.Option("300 mg", help="Amount per dose with unit, e.g. '300 mg'."),
        infusion: str | None = typer.Option(None, help="IV infusion duration ('20 min') or volume at rate ('100 mL at 5 mL/min')."),
        every: str | None = typer.Option(None, help="Dosing interval, e.g. '1 d' or '7 d'."),
        doses: int = typer.Option(1, help="Number of doses."),
        until: str = typer.Option("24 h", help="Simulated time from the first dose."),
        step: str | None = typer.Option(None, help="Output grid step, e.g. '15 min'."),
        format: str = typer.Option("table", "--format", help="table, csv or json."),
        out: Path | None = typer.Option(None, help="Write the results (csv/json) to this file."),
        plot: Path | None = typer.Option(None, help="Write a PNG plot of the NAD+ pools."),
    ) -> None:
        """Simulate a dosing regimen and report the NAD+ metabolome."""
        if format not in FORMATS:
            raise InputError("--format", f"one of {', '.join(FORMATS)}", format)
        if plot is not None and plot.suffix.lower() != ".png":
            raise InputError("--plot", "a file name ending in .png", str(plot))
        regimen, ds = run_simulation(compound=compound, route=route, dose=dose, infusion=infusion,
                                     every=every, doses=doses, until=until, step=step)
        write_outputs(ds, regimen, fmt=format, out=out, plot=plot)

    @app.command()
    def demo(
        plot: Path = typer.Option(Path("nadsim-demo.png"), help="Where to write the plot."),
        until: str = typer.Option("72 h", help="Simulated time."),
    ) -> None:
        """The article's regimen: 300 mg NMN by IV drip (100 mL at 5 mL/min); table and plot."""
        regimen, ds = run_simulation(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min",
                                     every=None, doses=1, until=until, step=None)
        write_outputs(ds, regimen, fmt="table", out=None, plot=plot)
        console.print(f"plot written to {plot}")
