"""``nadsim simulate`` and ``nadsim demo``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from nadsim._errors import InputError
from nadsim._units import parse_quantity
from nadsim.cli._app import atomic_path, console
from nadsim.cli._options import Age, Compound, Crp, Dose, Doses, Every, Hamd, Infusion, Route, Sleep
from nadsim.dosing import parse_regimen

FORMATS = ("table", "csv", "json")


def _long_frame(ds, variables):
    import pandas as pd

    frames = []
    for v in variables:
        frames.append(pd.DataFrame({"time_h": ds["time"].values, "variable": v,
                                    "value": ds[v].values, "unit": ds[v].attrs.get("units", "")}))
    return pd.concat(frames, ignore_index=True)


def patient_model(*, evidence: str | None = None, crp: str | None = None, hamd: float | None = None,
                  age: float | None = None, sleep: float | None = None):
    """The full model for a patient profile, with the evidence filter applied (issue #3)."""
    from nadsim.evidence import apply_evidence_filter
    from nadsim.model.library import apply_profile, build_full

    crp_mg_L = None
    if crp is not None:
        try:
            crp_mg_L = float(crp)  # a bare number is read as mg/L
        except ValueError:
            crp_mg_L = parse_quantity(crp, "--crp", "[mass] / [length] ** 3", unit_hint="8 mg/L", to="mg/L")
    model = apply_profile(build_full(), crp_mg_L=crp_mg_L, hamd=hamd, age=age, sleep=sleep)
    return apply_evidence_filter(model, evidence) if evidence else model


def run_simulation(*, compound: str, route: str, dose: str, infusion: str | None, every: str | None,
                   doses: int, until: str, step: str | None, model=None, placebo: bool = False):
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
    grid = time_grid(until_h, step_h=step_h, regimen=regimen)
    if placebo:  # the placebo arm: same visits and expectancy from the first drip, no active compound
        from nadsim.model.library.full import with_trial_arm
        from nadsim.simulate._api import default_model

        ds = simulate(with_trial_arm(model or default_model(), start_h=regimen.doses[0].time_h), None, grid)
        ds.attrs["regimen"] = f"placebo drips ({regimen.describe()} without NMN)"
        return regimen, ds
    ds = simulate(model, regimen=regimen, times=grid)
    return regimen, ds


def print_table(ds, regimen, reference=None) -> None:
    from nadsim.analysis import summarize

    df = summarize(ds)
    tab = Table(title=f"NAD+ pools after {regimen.describe()}", show_lines=False)
    for col in ("pool", "unit", "baseline", "peak", "time of peak (h)", "change at peak", "AUC above baseline"):
        tab.add_column(col, justify="left" if col == "pool" else "right")
    for _, r in df.iterrows():
        tab.add_row(r.variable, r.unit, f"{r.baseline:.4g}", f"{r.peak:.4g}", f"{r.time_of_peak_h:.2f}",
                    f"{r.peak_change_pct:+.1f}%", f"{r.auc_above_baseline:.4g} {r.auc_unit}")
    console.print(tab)
    markers = [v for v in ("SIRT1_activity", "IL6", "CRP", "clock_amplitude", "sleep_quality", "stress_load",
                           "HAMD", "PHQ9") if v in ds]
    if markers:
        mt = Table(title="Pathway markers and depression score (research model, not medical advice)")
        cols = ["marker", "unit", "baseline", "end", "change"]
        if reference is not None:
            cols.append("vs placebo drip")
        for col in cols:
            mt.add_column(col, justify="left" if col == "marker" else "right")
        for v in markers:
            y = ds[v].values
            row = [v, ds[v].attrs.get("units", ""), f"{y[0]:.4g}", f"{y[-1]:.4g}", f"{y[-1] - y[0]:+.3g}"]
            if reference is not None:
                row.append(f"{y[-1] - reference[v].values[-1]:+.3g}")
            mt.add_row(*row)
        console.print(mt)
        if "HAMD" in markers:
            note = ("'change' includes the placebo response (expectancy, visits, natural course) that any drip "
                    "brings; 'vs placebo drip' is what the model attributes to the compound.")
            console.print(f"[dim]{note if reference is not None else note.split(';')[0] + '.'}[/]")
    console.print(f"[dim]{ds.attrs['disclaimer']}[/]")


def write_outputs(ds, regimen, *, fmt: str, out: Path | None, plot: Path | None, reference=None) -> None:
    from nadsim.simulate._api import default_model

    variables = [v for v in default_model().outputs if v in ds]
    if fmt == "table":
        print_table(ds, regimen, reference)
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
        if "HAMD" in variables:  # the CSV contract has no room for it, so the disclaimer goes to stderr
            typer.echo(ds.attrs.get("disclaimer", ""), err=True)
    else:
        payload = {
            "metadata": {k: (v.item() if hasattr(v, "item") else v) for k, v in ds.attrs.items()},
            "time_h": ds["time"].values.tolist(),
            "variables": {v: {"unit": ds[v].attrs.get("units", ""), "values": ds[v].values.tolist()} for v in variables},
        }
        text = json.dumps(payload)
        if out:
            with atomic_path(out) as tmp:
                tmp.write_text(text, encoding="utf-8")
        else:
            typer.echo(text)
    if plot:
        from nadsim.report.plots import plot_nad_pools

        with atomic_path(plot) as tmp:
            plot_nad_pools(ds, tmp, title=regimen.describe())


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        compound: Compound = "NMN",
        route: Route = "iv",
        dose: Dose = "300 mg",
        infusion: Infusion = None,
        every: Every = None,
        doses: Doses = 1,
        until: str = typer.Option("24 h", help="Simulated time from the first dose."),
        step: str | None = typer.Option(None, help="Output grid step, e.g. '15 min'."),
        format: str = typer.Option("table", "--format", help="table, csv or json."),
        out: Path | None = typer.Option(None, help="Write the results (csv/json) to this file."),
        plot: Path | None = typer.Option(None, help="Write a PNG plot of the NAD+ pools."),
        population: int | None = typer.Option(None, "--population", help="Simulate N virtual subjects (writes --out FILE.parquet)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the virtual population."),
        backend: str = typer.Option("native", "--backend", help="Solver: native (compiled, default), scipy (the reference) or jax."),
        device: str = typer.Option("cpu", "--device", help="cpu or gpu (jax backend)."),
        cluster: str | None = typer.Option(None, "--cluster", help="Dask scheduler address (or 'local') for --population."),
        evidence: str | None = typer.Option(None, "--evidence", help="Keep only mechanism links graded A|B|C|D|E or better (A: human RCT)."),
        crp: Crp = None,
        hamd: Hamd = None,
        age: Age = None,
        sleep: Sleep = None,
        placebo: bool = typer.Option(False, "--placebo", help="Simulate the placebo arm: same drips and visits, no active compound."),
    ) -> None:
        """Simulate a dosing regimen and report the NAD+ metabolome."""
        if population is not None:  # virtual population: nadsim.cli._trial owns this path
            from nadsim.cli._trial import simulate_population_cli

            if any(v is not None for v in (crp, hamd, age, sleep)):
                raise InputError("--population", "used without --crp/--hamd/--age/--sleep (a population draws them)", population)
            simulate_population_cli(n=population, seed=seed, out=out, compound=compound, route=route, dose=dose,
                                    infusion=infusion, every=every, doses=doses, until=until, step=step,
                                    backend=backend, device=device, cluster=cluster,
                                    model=patient_model(evidence=evidence) if evidence else None)
            return
        if format not in FORMATS:
            raise InputError("--format", f"one of {', '.join(FORMATS)}", format)
        if plot is not None and plot.suffix.lower() != ".png":
            raise InputError("--plot", "a file name ending in .png", str(plot))
        model = patient_model(evidence=evidence, crp=crp, hamd=hamd, age=age, sleep=sleep)
        regimen, ds = run_simulation(compound=compound, route=route, dose=dose, infusion=infusion,
                                     every=every, doses=doses, until=until, step=step, model=model,
                                     placebo=placebo)
        if evidence:
            ds.attrs["evidence_filter"] = f"links graded {evidence.strip().upper()} or better"
        reference = None
        if format == "table" and not placebo and "HAMD" in ds:  # never show a mood change without its placebo
            _, reference = run_simulation(compound=compound, route=route, dose=dose, infusion=infusion,
                                          every=every, doses=doses, until=until, step=step, model=model,
                                          placebo=True)
        write_outputs(ds, regimen, fmt=format, out=out, plot=plot, reference=reference)

    @app.command()
    def demo(
        plot: Path = typer.Option(Path("nadsim-demo.png"), help="Where to write the plot."),
        until: str = typer.Option("72 h", help="Simulated time."),
    ) -> None:
        """The article's regimen: 300 mg NMN by IV drip (100 mL at 5 mL/min); table and plot."""
        def article(placebo: bool = False):
            return run_simulation(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min",
                                  every=None, doses=1, until=until, step=None, placebo=placebo)

        regimen, ds = article()
        reference = article(placebo=True)[1] if "HAMD" in ds else None
        write_outputs(ds, regimen, fmt="table", out=None, plot=plot, reference=reference)
        console.print(f"plot written to {plot}")
