"""``nadsim trial ...``: run, resume, status, list, power, report."""

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
    workers: int | None = typer.Option(None, help="Worker processes (default: CPU count, at most 8)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with ETA."),
) -> None:
    """Finish an interrupted run into its original output directory."""
    from nadsim.trial import Registry, resume_trial

    typer.echo(run_id)
    with _progress(progress, "resuming") as upd:
        resume_trial(run_id, workers=_workers(workers), progress=upd)
    _print_summary(Path(Registry().run(run_id)["out_dir"]))


@trial_app.command("status")
def status_cmd(run_id: str = typer.Argument(..., help="Run id printed by `nadsim trial run`.")) -> None:
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
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with ETA."),
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
def report_cmd(run_id: str = typer.Argument(..., help="Run id printed by `nadsim trial run`.")) -> None:
    """Write report.html (tables, time courses with bands, power curve, forest plot) into the run's directory."""
    from nadsim.trial._report import write_report

    path = write_report(run_id)
    console.print(f"report written to {path}")
