"""``nadsim trial ...``: run, resume, status, list, power, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

import nadsim.app as app
from nadsim._errors import InputError
from nadsim._progress import progress_bar
from nadsim.cli._app import console
from nadsim.trial import CHUNK_SIZE, N_PER_ARM, POWER_TARGET, REPLICATES, WORKERS

trial_app = typer.Typer(help="In-silico trials: run, resume after a crash, power, HTML report.", no_args_is_help=True)


def _range(lim: tuple[int, int]) -> str:
    """A closed range as the help shows it, e.g. ``[2, 1000000]``."""
    return f"[{lim[0]}, {lim[1]}]"


def _fmt_n(n: object) -> str:
    return "-" if n is None else f"{n}"


def _print_summary(run: app.TrialRun) -> None:
    s = run.summary
    te = s["treatment_effect"]
    console.print(f"primary endpoint {te['endpoint']} (observed trial, {s['n_per_arm']} per arm): " + "; ".join(
        f"{a}: {v.get('mean', v.get('proportion', float('nan'))):.4g} [{v['ci'][0]:.4g}, {v['ci'][1]:.4g}]"
        for a, v in s["per_arm"].items() if "ci" in v), highlight=False)
    if te.get("estimate") is not None:
        console.print(f"  ANCOVA effect ({te['contrast']}): {te['estimate']:.4g} "
                      f"[{te['ci'][0]:.4g}, {te['ci'][1]:.4g}], p = {te['p']:.3g}", highlight=False)
    tr, rep = s["true_effect"], s["replicates"]
    console.print(f"true effect ({tr['contrast']}, {tr['n_patients']} digital twins under every arm): "
                  f"{tr['estimate']:.4g} {tr['unit']} [{tr['ci'][0]:.4g}, {tr['ci'][1]:.4g}]", highlight=False)
    console.print(f"replicate trials at {rep['n_per_arm']} per arm: mean effect {rep['mean_effect']:.4g} "
                  f"+/- {rep['se_mean_effect']:.2g} (MC SE, {rep['n']} replicates)", highlight=False)
    nfp = s["n_for_power"]
    console.print(f"power at {s['n_per_arm']} per arm: {s['power_at_n']:.3f}; n per arm for "
                  f"{nfp['target']:.0%} power at the true effect: "
                  + (f"{nfp['n_first_grid_point']} (grid)" if nfp["reached_in_grid"] else
                     f"not reached within the grid (<= {nfp['grid_max']}); normal approximation "
                     f"{_fmt_n(nfp.get('n_normal_approx'))} (range over the effect's CI: "
                     f"{', '.join(_fmt_n(x) for x in nfp.get('n_normal_approx_range', [None, None]))})"),
                  highlight=False)
    chk = nfp.get("simulated_at_n_normal_approx")
    if chk:
        console.print(f"  checked by simulation: power {chk['power']:.3f} +/- {chk['mc_se']:.3f} at n = {chk['n']} per arm "
                      f"({chk['replicates']} replicates)", highlight=False)
    if s.get("assurance") is not None:
        na = s["n_for_assurance"]
        console.print(f"assurance at {s['n_per_arm']} per arm: {s['assurance']:.3f} +/- {s['assurance_mc_se']:.2g}; "
                      f"n per arm for {na['target']:.0%} assurance: "
                      + (f"{na['n']}" if na["reached_in_grid"] else na["note"]), highlight=False)
    pr = s.get("placebo_response")
    if pr:
        text = pr.get("comparison") or f"placebo response rate {100 * pr['rate']:.1f} %"  # older summaries
        console.print(f"model's {text}", highlight=False)
    for w in s.get("warnings", []):
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if s["skipped_endpoints"]:
        console.print(f"[yellow]skipped endpoints[/] (model lacks the output): {', '.join(s['skipped_endpoints'])}")
    console.print(f"summary: {run.out_dir / 'summary.json'}")
    console.print(f"[dim]{s['disclaimer']}[/]")


def _workers(workers: int | None) -> int | None:
    if workers is not None and not WORKERS[0] <= workers <= WORKERS[1]:
        raise InputError("--workers", f"an integer in {_range(WORKERS)}", workers)
    return workers


@trial_app.command("run")
def run_cmd(
    file: Path = typer.Argument(..., help="Trial file (TOML), e.g. examples/trials/nmn-drip-depression.toml."),
    out: Path = typer.Option(..., "--out", help="Output directory (chunks, summary.json, report)."),
    seed: int | None = typer.Option(None, help="Override the trial's seed."),
    n_per_arm: int | None = typer.Option(None, "--n-per-arm", help=f"Override subjects per arm, in {_range(N_PER_ARM)}."),
    replicates: int | None = typer.Option(None, help=f"Override replicate trials per n for power, in {_range(REPLICATES)}."),
    chunk_size: int | None = typer.Option(None, "--chunk-size", help=f"Subjects per stored chunk, in {_range(CHUNK_SIZE)}."),
    workers: int | None = typer.Option(None, help=f"Worker processes, in {_range(WORKERS)} (default: CPU count, at most 8)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with ETA."),
) -> None:
    """Run a trial file; prints the run id first, then the results."""
    def started(run_id: str) -> None:
        typer.echo(run_id)
        sys.stdout.flush()

    with progress_bar("simulating", enabled=progress) as upd:
        run = app.run_trial_file(file, out, seed=seed, n_per_arm=n_per_arm, replicates=replicates,
                                 chunk_size=chunk_size, workers=_workers(workers), progress=upd, on_start=started)
    _print_summary(run)


@trial_app.command("resume")
def resume_cmd(
    run: str = typer.Argument(..., help="Run id printed by `nadsim trial run`, or the run's output directory."),
    workers: int | None = typer.Option(None, help=f"Worker processes, in {_range(WORKERS)} (default: CPU count, at most 8)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with ETA."),
) -> None:
    """Finish an interrupted run into its original output directory (a lost registry entry is
    rebuilt from the directory)."""
    with progress_bar("resuming", enabled=progress) as upd:
        finished = app.resume_trial_run(run, workers=_workers(workers), progress=upd)
    typer.echo(finished.run_id)
    _print_summary(finished)


@trial_app.command("status")
def status_cmd(run: str = typer.Argument(..., help="Run id, or the run's output directory.")) -> None:
    """Chunks done, status (running only while a live process holds the run) and timings."""
    typer.echo(json.dumps(app.trial_run_status(run), indent=1))


@trial_app.command("list")
def list_cmd() -> None:
    """Runs in the registry ($NADSIM_HOME or ~/.nadsim)."""
    for r in app.list_trial_runs():
        typer.echo(f"{r['run_id']}\t{r['status']}\tseed={r['seed']}\t{r['out_dir']}")


@trial_app.command("power")
def power_cmd(
    run: str = typer.Argument(..., help="A finished run id or its output directory."),
    power: float = typer.Option(0.8, "--target", help=f"Target power, in ({POWER_TARGET[0]:g}, {POWER_TARGET[1]:g})."),
    replicates: int = typer.Option(1000, help=f"Replicate trials per n, in {_range(REPLICATES)}."),
    grid: str | None = typer.Option(None, help="Comma-separated n per arm (default: the trial's grid)."),
) -> None:
    """Power over n from a finished run's digital twins (replicate trials drawn from its pool)."""
    ns = None
    if grid:
        try:
            ns = sorted({int(x) for x in grid.split(",")})
        except ValueError:
            raise InputError("--grid", "comma-separated integers", grid) from None
    result = app.trial_power(run, target=power, replicates=replicates, grid=ns)
    for name, arm in result["arms"].items():
        te, nt = arm["true_effect"], arm["n_for_target"]
        console.print(f"{name} vs {arm['control']} ({arm['endpoint']}): true effect {te['estimate']:.4g} "
                      f"[{te['ci'][0]:.4g}, {te['ci'][1]:.4g}]; n per arm for {power:.0%} power: "
                      + (f"{nt['n_first_grid_point']} (grid)" if nt["reached_in_grid"] else
                         f"not reached within the grid; normal approximation {_fmt_n(nt['n_normal_approx'])}"),
                      highlight=False)
        for c in arm["curve"]:
            console.print(f"  n = {c['n']:>6}: power {c['power']:.3f} +/- {c['mc_se']:.3f} (MC SE)", highlight=False)


@trial_app.command("report")
def report_cmd(run: str = typer.Argument(..., help="Run id printed by `nadsim trial run`, or its output directory.")) -> None:
    """Write report.html (tables, time courses with bands, power curve, forest plot) into the run's directory."""
    path = app.write_trial_report(run)
    console.print(f"report written to {path}")
