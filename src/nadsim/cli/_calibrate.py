"""``nadsim calibrate`` and ``nadsim qualify``."""

from __future__ import annotations

from pathlib import Path

import typer

from nadsim._progress import progress_bar
from nadsim.app import CalibrateRequest, QualifyRequest
from nadsim.app import calibrate as calibrate_verb
from nadsim.app import qualify as qualify_verb
from nadsim.cli._app import console
from nadsim.cli._options import Progress, prepare_output_dir

app = typer.Typer()


@app.command()
def qualify(
    out: Path = typer.Option(Path("qualification"), help="Directory for the report."),
    workers: int = typer.Option(2, min=1, max=64, help="Processes for the experiments."),
    draws: int = typer.Option(100, "--draws", min=0, max=5000,
                              help="Parameter draws for each row's 90 % prediction interval (0: none)."),
    progress: Progress = True,
) -> None:
    """Qualification report of the current parameters against every calibration and validation row."""
    prepare_output_dir(out, "--out")  # before minutes of simulation, not after
    with progress_bar("simulating experiments", enabled=progress) as upd:
        summary = qualify_verb(QualifyRequest(out=out, workers=workers, draws=draws), progress=upd)
    console.print(f"GMFE on the rise, calibration rows: {summary['gmfe_rise_fit']:.3f}; held-out validation rows: "
                  f"{summary['gmfe_rise_validation']:.3f} (level ratio: {summary['gmfe_fit']:.3f} / "
                  f"{summary['gmfe_validation']:.3f}; n={summary['n_fit']} / {summary['n_validation']})")
    if draws:
        console.print(f"90 % interval coverage: validation rows {summary['coverage_validation']:.0%}, "
                      f"calibration rows {summary['coverage_fit']:.0%}")
        console.print(f"GMFE on the rise of the posterior predictive median: "
                      f"{summary['gmfe_rise_fit_posterior_median']:.3f} / "
                      f"{summary['gmfe_rise_validation_posterior_median']:.3f}; point outside its own interval: "
                      f"{', '.join(summary['point_outside_interval']) or 'none'}")
    console.print(f"report written to {out / 'qualification.md'} (figure: {out / 'qualification.png'})")


@app.command()
def calibrate(
    out: Path = typer.Option(Path("calibration"), help="Directory for the fit results and report."),
    max_iter: int = typer.Option(40, "--max-iter", min=1, max=500, help="Least-squares function evaluations per start."),
    starts: int = typer.Option(3, "--starts", min=1, max=32, help="Optimiser starts (the table values, then random)."),
    profile: bool = typer.Option(True, "--profile/--no-profile", help="Profile likelihood of every fitted parameter."),
    workers: int = typer.Option(2, min=1, max=64, help="Processes for the starts and profile points."),
    start_from: Path | None = typer.Option(None, "--start-from", help="A posterior.json of an earlier fit: the "
                                           "first start continues from its estimate."),
    samples: int = typer.Option(12000, "--samples", min=0, max=50000,
                                help="Cost evaluations for the sequential Monte Carlo posterior draws, ~40 a particle "
                                     "(0: Laplace only)."),
    samples_only: bool = typer.Option(False, "--samples-only",
                                      help="Skip the fit: add posterior draws to the --start-from fit."),
    write_back: bool = typer.Option(False, "--write-back",
                                    help="Write the fitted values and the posterior into the package."),
) -> None:
    """Fit the uncertain parameters to the published human summary statistics and report.

    Study effects on reported rises are fitted alongside (see nadsim.calibration._calibrator).
    """
    prepare_output_dir(out, "--out")  # before the fit, not after it
    run = calibrate_verb(CalibrateRequest(out=out, max_iter=max_iter, starts=starts, profile=profile, workers=workers,
                                          start_from=start_from, samples=samples, samples_only=samples_only,
                                          write_back=write_back))
    if run.summary is None:
        console.print(f"{len(run.posterior['samples_log'])} posterior draws (effective sample size "
                      f"{run.posterior['ess']:.1f}) written to {run.posterior_path}")
        return
    summary = run.summary
    console.print(f"GMFE on the rise, calibration rows: {summary['gmfe_rise_fit']:.3f}; validation: "
                  f"{summary['gmfe_rise_validation']:.3f}; fit {run.fit_wall_s:.0f} s, all {run.elapsed_s:.0f} s")
    console.print(f"fitted table: {run.table_path}; report: {out / 'qualification.md'}")
