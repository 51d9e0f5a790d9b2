"""``nadsim trial ...`` (run, resume, status, list, power, report) and ``nadsim sensitivity``."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nadsim._errors import InputError
from nadsim.cli._app import atomic_path, console, err_console
from nadsim.cli._options import Compound, Dose, Doses, Every, Infusion, Route
from nadsim.population import BACKENDS

trial_app = typer.Typer(help="In-silico trials: run, resume after a crash, power, HTML report.", no_args_is_help=True)


@contextmanager
def _progress(enabled: bool, label: str):
    if not enabled:
        yield None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("subjects"),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err_console,
                  transient=False) as prog:
        task = prog.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update


def _print_summary(out_dir: Path) -> None:
    s = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    te = s["treatment_effect"]
    console.print(f"primary endpoint {te['endpoint']}: " + "; ".join(
        f"{a}: {v.get('mean', v.get('proportion', float('nan'))):.4g} [{v['ci'][0]:.4g}, {v['ci'][1]:.4g}]"
        for a, v in s["per_arm"].items() if "ci" in v), highlight=False)
    if te.get("estimate") is not None:
        console.print(f"treatment effect ({te['contrast']}): {te['estimate']:.4g} "
                      f"[{te['ci'][0]:.4g}, {te['ci'][1]:.4g}], p = {te['p']:.3g}", highlight=False)
    for _arm, p in s["power"].items():
        nt = p["n_for_target"]
        me = p.get("model_effect")
        if me:
            console.print(f"model (noise-free) effect in the simulated pools: {me['estimate']:.4g} "
                          f"[{me['ci'][0]:.4g}, {me['ci'][1]:.4g}]", highlight=False)
        console.print(f"power at n = {s['n_per_arm']} per arm: {p['at_n_per_arm']:.3f}; n for {nt['target']:.0%} power: "
                      f"{nt['n_first_grid_point']} (grid), {nt['n_fit']} (fit) {nt['note']}", highlight=False)
    if s["skipped_endpoints"]:
        console.print(f"[yellow]skipped endpoints[/] (model lacks the output): {', '.join(s['skipped_endpoints'])}")
    console.print(f"summary: {out_dir / 'summary.json'}")
    console.print(f"[dim]{s['disclaimer']}[/]")


def _workers(workers: int | None) -> int:
    from nadsim.trial._run import default_workers

    if workers is not None and not 1 <= workers <= 256:
        raise InputError("--workers", "an integer in [1, 256]", workers)
    return workers or default_workers()


@trial_app.command("run")
def run_cmd(
    file: Path = typer.Argument(..., help="Trial file (TOML), e.g. examples/trials/nmn-drip-depression.toml."),
    out: Path = typer.Option(..., "--out", help="Output directory (chunks, summary.json, report)."),
    seed: int | None = typer.Option(None, help="Override the trial's seed."),
    n_per_arm: int | None = typer.Option(None, "--n-per-arm", help="Override subjects per arm."),
    replicates: int | None = typer.Option(None, help="Override replicate trials per n for power."),
    chunk_size: int | None = typer.Option(None, "--chunk-size", help="Subjects per stored chunk."),
    workers: int | None = typer.Option(None, help="Worker processes (default: CPU count, at most 8)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with ETA."),
) -> None:
    """Run a trial file; prints the run id first, then the results."""
    from nadsim.trial import run_trial

    def started(run_id: str) -> None:
        typer.echo(run_id)
        sys.stdout.flush()

    with _progress(progress, "simulating") as upd:
        run_trial(file, out, seed=seed, n_per_arm=n_per_arm, replicates=replicates, chunk_size=chunk_size,
                  workers=_workers(workers), progress=upd, on_start=started)
    _print_summary(out.expanduser().resolve())


@trial_app.command("resume")
def resume_cmd(
    run_id: str = typer.Argument(..., help="Run id printed by `nadsim trial run`."),
    workers: int | None = typer.Option(None, help="Worker processes."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Finish an interrupted run into its original output directory."""
    from nadsim.trial import Registry, resume_trial

    typer.echo(run_id)
    with _progress(progress, "resuming") as upd:
        resume_trial(run_id, workers=_workers(workers), progress=upd)
    _print_summary(Path(Registry().run(run_id)["out_dir"]))


@trial_app.command("status")
def status_cmd(run_id: str = typer.Argument(...)) -> None:
    """Chunks done, status and timings of a run."""
    from nadsim.trial import trial_status

    typer.echo(json.dumps(trial_status(run_id), indent=1))


@trial_app.command("list")
def list_cmd() -> None:
    """Runs in the registry ($NADSIM_HOME or ~/.nadsim)."""
    from nadsim.trial import Registry

    for r in Registry().runs():
        typer.echo(f"{r['run_id']}\t{r['status']}\tseed={r['seed']}\t{r['out_dir']}")


@trial_app.command("power")
def power_cmd(
    target: str = typer.Argument(..., help="A finished run id, or a trial file (then --out is required)."),
    out: Path | None = typer.Option(None, "--out", help="Output directory when running a trial file."),
    power: float = typer.Option(0.8, "--target", help="Target power."),
    replicates: int = typer.Option(1000, help="Replicate trials per n."),
    grid: str | None = typer.Option(None, help="Comma-separated n per arm (default: the trial's grid, extended until it brackets the target)."),
    workers: int | None = typer.Option(None, help="Worker processes (trial file only)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Subjects per arm for the target power under the model's distribution of effects."""
    from nadsim.trial import Registry, run_trial
    from nadsim.trial._power import ArmPool, n_for_power, power_curve, power_search
    from nadsim.trial._run import build_model, effective_spec

    if not 0 < power < 1:
        raise InputError("--target", "a power in (0, 1)", power)
    if not 20 <= replicates <= 200_000:
        raise InputError("--replicates", "an integer in [20, 200000]", replicates)
    reg = Registry()
    if Path(target).is_file():
        if out is None:
            raise InputError("--out", "an output directory when the target is a trial file", None)
        def started(run_id: str) -> None:
            typer.echo(run_id)
            sys.stdout.flush()

        with _progress(progress, "simulating") as upd:
            run_id = run_trial(target, out, workers=_workers(workers), progress=upd, on_start=started)
    else:
        run_id = target
    row = reg.run(run_id)
    if row["status"] != "complete":
        raise InputError("RUN_ID", "a complete run", row["status"], hint=f"`nadsim trial resume {run_id}` first")
    spec = effective_spec(row["trial_text"], row["overrides"])
    import pandas as pd

    subj = pd.read_parquet(Path(row["out_dir"]) / "subjects.parquet")
    subj = subj[subj["status"] == 0]
    summary = json.loads((Path(row["out_dir"]) / "summary.json").read_text(encoding="utf-8"))
    e = next(x for x in spec.endpoints if x.name == summary["primary_endpoint"])
    times = spec.visit_times()
    vb, vv = f"{e.output}@0h_true", f"{e.output}@{times[spec.visit_index(e)]:g}h_true"
    if grid:
        try:
            ns = sorted({int(x) for x in grid.split(",")})
        except ValueError:
            raise InputError("--grid", "comma-separated integers", grid) from None
    else:
        ns = list(spec.power.n_grid)
    result = {}
    for k, a in enumerate(spec.arms):
        if a.name == spec.control:
            continue
        pc, pt = (ArmPool(subj.loc[subj.arm == x, vb].to_numpy(), subj.loc[subj.arm == x, vv].to_numpy(),
                          subj.loc[subj.arm == x, "draw"].to_numpy()) for x in (spec.control, a.name))
        if grid:
            curve = power_curve(pc, pt, e, ns, replicates=replicates, alpha=spec.analysis.alpha, seed=spec.seed,
                                key=(k,))
            nt = n_for_power(curve, power)
        else:
            curve, nt = power_search(pc, pt, e, ns, target=power, replicates=replicates, alpha=spec.analysis.alpha,
                                     seed=spec.seed, key=(k,))
        result[a.name] = {"endpoint": e.name, "curve": curve, "n_for_target": nt}
        console.print(f"{a.name} vs {spec.control} ({e.name}): n per arm for {power:.0%} power = "
                      f"{nt['n_first_grid_point']} (grid), {nt['n_fit']} (probit fit) {nt['note']}", highlight=False)
        for c in curve:
            console.print(f"  n = {c['n']:>6}: power {c['power']:.3f} +/- {1.96 * c['mc_se']:.3f}", highlight=False)
    with atomic_path(Path(row["out_dir"]) / "power.json") as tmp:
        tmp.write_text(json.dumps({"run_id": run_id, "model": build_model(spec.model).name, "target": power,
                                   "replicates": replicates, "arms": result}, indent=1), encoding="utf-8")


@trial_app.command("report")
def report_cmd(run_id: str = typer.Argument(...)) -> None:
    """Write report.html (tables, time courses with bands, power curve, forest plot) into the run's directory."""
    from nadsim.trial._report import write_report

    path = write_report(run_id)
    console.print(f"report written to {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(trial_app, name="trial")

    @app.command()
    def sensitivity(
        output: str = typer.Option("whole_blood_NAD", help="Model output to analyse."),
        metric: str = typer.Option("change_final", help="final, max, min, mean, change_final, change_max, percent_change_final."),
        method: str = typer.Option("local", help="local (normalised coefficients) or sobol (global, SALib)."),
        parameters: str | None = typer.Option(None, help="Comma-separated free parameters (default: all non-zero free ones for local; required for sobol)."),
        compound: Compound = "NMN", route: Route = "iv", dose: Dose = "300 mg",
        infusion: Infusion = "100 mL at 5 mL/min", every: Every = None, doses: Doses = 1,
        until: str = typer.Option("24 h", help="Simulated time from the first dose."),
        step: str = typer.Option("1 h", help="Output grid step."),
        n: int = typer.Option(64, help="Sobol base sample size (power of two); runs n (d + 2) simulations."),
        spread: float | None = typer.Option(None, help="Sobol ranges value/(1+s)..value*(1+s) instead of the table's bounds."),
        seed: int = typer.Option(0),
        model: str = typer.Option("default", help="default, full or nad_core."),
        backend: str = typer.Option("native", help="Solver: native (default), scipy (reference) or jax."),
        device: str = typer.Option("cpu", help="cpu or gpu (jax backend)."),
        out: Path | None = typer.Option(None, help="Write the table (CSV or JSON by suffix)."),
        plot: Path | None = typer.Option(None, help="Tornado (local) or Sobol bar plot (PNG)."),
    ) -> None:
        """Local or global (Sobol) sensitivity of a model output to its parameters."""
        import numpy as np

        from nadsim._units import parse_quantity
        from nadsim.analysis.sensitivity import (
            bounds_for,
            local_sensitivity,
            model_metric,
            sobol_indices,
            sobol_plot,
            tornado_plot,
        )
        from nadsim.dosing import parse_regimen
        from nadsim.simulate import time_grid
        from nadsim.trial._run import build_model

        if method not in ("local", "sobol"):
            raise InputError("--method", "local or sobol", method)
        if plot is not None and plot.suffix.lower() != ".png":
            raise InputError("--plot", "a file name ending in .png", str(plot))
        m = build_model(model)
        regimen = parse_regimen(compound=compound, route=route, dose=dose, infusion=infusion, every=every, doses=doses)
        until_h = parse_quantity(until, "until", "[time]", unit_hint="24 h")
        step_h = parse_quantity(step, "step", "[time]", unit_hint="1 h")
        t = time_grid(until_h, step_h=step_h, regimen=regimen)
        if parameters:
            names = [p.strip() for p in parameters.split(",") if p.strip()]
        elif method == "local":
            names = [p for p in m.parameter_names if m.parameters[p].expr is None and m.parameters[p].value != 0
                     and not p.startswith("inf_") and m.parameters[p].bounds[0] < m.parameters[p].bounds[1]]
        else:
            raise InputError("--parameters", "a comma-separated list of parameters for sobol", None)
        f = model_metric(m, regimen, t, output, names, metric=metric, backend=backend, device=device)
        title = f"{metric} of {output} after {regimen.describe()}"
        if method == "local":
            df = local_sensitivity(f, names, [m.parameters[p].value for p in names])
            if plot:
                with atomic_path(plot) as tmp:
                    tornado_plot(df, tmp, title=title)
        else:
            b = bounds_for(m, names, spread=spread)
            logs = [lo > 0 and hi / lo > 10 for lo, hi in b]
            df = sobol_indices(f, names, b, n=n, seed=seed, log_scale=logs)
            if plot:
                with atomic_path(plot) as tmp:
                    sobol_plot(df, tmp, title=title)
        console.print(df.to_string(index=False, float_format=lambda x: f"{x:.4g}"), highlight=False)
        if out:
            with atomic_path(out) as tmp:
                if out.suffix.lower() == ".json":
                    tmp.write_text(df.replace({np.nan: None}).to_json(orient="records", indent=1), encoding="utf-8")
                else:
                    df.to_csv(tmp, index=False)


def simulate_population_cli(*, n: int, seed: int, out: Path | None, compound: str, route: str, dose: str,
                            infusion: str | None, every: str | None, doses: int, until: str, step: str | None,
                            backend: str, device: str, cluster: str | None, model=None) -> None:
    """``nadsim simulate --population N --seed S --out FILE.parquet``: long table subject x time x output."""
    import numpy as np

    from nadsim._units import parse_quantity
    from nadsim.dosing import parse_regimen
    from nadsim.population import sample_population, simulate_population
    from nadsim.simulate import time_grid
    from nadsim.trial._registry import atomic_write_parquet
    from nadsim.trial._run import build_model

    if out is None or out.suffix.lower() != ".parquet":
        raise InputError("--out", "a file name ending in .parquet for --population", None if out is None else str(out))
    if not out.parent.exists():
        raise InputError("--out", "a path in an existing directory", str(out))
    if not 1 <= n <= 10_000_000:
        raise InputError("--population", "a number of subjects in [1, 10000000]", n)
    if backend not in BACKENDS:
        raise InputError("--backend", f"one of {', '.join(BACKENDS)}", backend)
    if device not in ("cpu", "gpu"):
        raise InputError("--device", "cpu or gpu", device)
    regimen = parse_regimen(compound=compound, route=route, dose=dose, infusion=infusion, every=every, doses=doses)
    until_h = parse_quantity(until, "until", "[time]", unit_hint="24 h")
    if until_h < regimen.last_time_h:
        raise InputError("until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", until)
    step_h = parse_quantity(step, "step", "[time]", unit_hint="1 h") if step else None
    t = time_grid(until_h, step_h=step_h, regimen=regimen)
    model = model or build_model("default")
    pop = sample_population(n, model=model, seed=seed)
    ds = simulate_population(model, regimen, t, pop, backend=backend, device=device, cluster=cluster)
    outputs = [o for o in model.outputs if o in ds] if getattr(model, "outputs", None) else [
        v for v in ds.data_vars if ds[v].dims == ("subject", "time")]
    frame = ds[outputs].to_dataframe().reset_index()
    frame = frame.rename(columns={"time": "time_h"})
    covs = pop.frame().add_prefix("cov_").reset_index()  # cov_HAMD (baseline covariate) vs HAMD (output)
    frame = frame.merge(covs, on="subject", how="left")
    frame["status"] = np.repeat(ds["status"].values, t.size)
    atomic_write_parquet(frame, out)
    n_fail = int((ds["status"].values != 0).sum())
    console.print(f"{n} subjects x {t.size} times written to {out} ({n_fail} failed); seed {seed}, backend {backend}/{device}")
    console.print(f"[dim]{ds.attrs['disclaimer']}[/]")
