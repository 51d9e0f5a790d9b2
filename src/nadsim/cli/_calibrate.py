"""``nadsim calibrate`` and ``nadsim qualify``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from nadsim._errors import InputError
from nadsim._files import atomic_path
from nadsim._progress import progress_bar
from nadsim.app import QualifyRequest
from nadsim.app import qualify as qualify_verb
from nadsim.calibration import Calibrator, kinetic_checks, load_targets, write_report
from nadsim.calibration._calibrator import (
    POSTERIOR_FILE,
    Objective,
    fit_summary,
    load_posterior,
    posterior_samples,
)
from nadsim.calibration._writeback import update_parameter_table
from nadsim.cli._app import console
from nadsim.cli._options import Progress
from nadsim.library import build_nad_core
from nadsim.library.nad_core.model import PARAMETERS

app = typer.Typer()


def _fitted_info(model, names, fitted_to):
    return {n: {"value": model.parameters[n].value, "unit": model.parameters[n].unit,
                "bounds": model.parameters[n].bounds, "fitted_to": fitted_to} for n in names}


@app.command()
def qualify(
    out: Path = typer.Option(Path("qualification"), help="Directory for the report."),
    workers: int = typer.Option(2, min=1, max=64, help="Processes for the experiments."),
    draws: int = typer.Option(100, "--draws", min=0, max=5000,
                              help="Parameter draws for each row's 90 % prediction interval (0: none)."),
    progress: Progress = True,
) -> None:
    """Qualification report of the current parameters against every calibration and validation row."""
    with progress_bar("simulating experiments", enabled=progress) as upd:
        summary = qualify_verb(QualifyRequest(out=out, workers=workers, draws=draws), progress=upd)
    console.print(f"GMFE on the rise, calibration rows: {summary['gmfe_rise_fit']:.3f}; held-out validation rows: "
                  f"{summary['gmfe_rise_validation']:.3f} (level ratio: {summary['gmfe_fit']:.3f} / "
                  f"{summary['gmfe_validation']:.3f}; n={summary['n_fit']} / {summary['n_validation']})")
    if draws:
        console.print(f"90 % interval coverage: validation rows {summary['coverage_validation']:.0%}, "
                      f"calibration rows {summary['coverage_fit']:.0%}")
    console.print(f"report written to {out / 'qualification.md'} (figure: {out / 'qualification.png'})")


def _samples(model, post: dict, n: int, workers: int) -> dict:
    exps, targets = load_targets()
    obj = Objective(model, exps, tuple(t for t in targets if t.role == "fit"), tuple(post["parameters"]))
    return posterior_samples(obj, post, n_proposals=n, workers=workers)


def _save_posterior(post: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(post, indent=1), encoding="utf-8")


@app.command()
def calibrate(
    out: Path = typer.Option(Path("calibration"), help="Directory for the fit results and report."),
    max_iter: int = typer.Option(40, "--max-iter", min=1, max=500, help="Least-squares function evaluations per start."),
    starts: int = typer.Option(3, "--starts", min=1, max=32, help="Optimiser starts (the table values, then random)."),
    profile: bool = typer.Option(True, "--profile/--no-profile", help="Profile likelihood of every fitted parameter."),
    workers: int = typer.Option(2, min=1, max=64, help="Processes for the starts and profile points."),
    start_from: Path | None = typer.Option(None, "--start-from", help="A posterior.json of an earlier fit: the "
                                           "first start continues from its estimate."),
    samples: int = typer.Option(1200, "--samples", min=0, max=20000,
                                help="Cost evaluations for the adaptive importance-sampled posterior draws (0: Laplace only)."),
    samples_only: bool = typer.Option(False, "--samples-only",
                                      help="Skip the fit: add posterior draws to the --start-from fit."),
    write_back: bool = typer.Option(False, "--write-back",
                                    help="Write the fitted values and the posterior into the package."),
) -> None:
    """Fit the uncertain parameters to the published human summary statistics and report.

    Study effects on reported rises are fitted alongside (see nadsim.calibration._calibrator).
    """
    if out.exists() and not out.is_dir():
        raise InputError("--out", "a directory", str(out))
    out.mkdir(parents=True, exist_ok=True)
    model = build_nad_core()
    previous = None
    if start_from is not None:
        previous = load_posterior(start_from)
        if previous is None:
            raise InputError("--start-from", "an existing posterior.json", str(start_from))
    if samples_only:
        if previous is None:
            raise InputError("--samples-only", "used with --start-from FILE", None)
        previous.update(_samples(model, previous, samples, workers))
        _save_posterior(previous, out / "posterior.json")
        if write_back:
            _save_posterior(previous, POSTERIOR_FILE)
        console.print(f"{len(previous['samples_log'])} posterior draws (effective sample size {previous['ess']:.1f}) "
                      f"written to {out / 'posterior.json'}")
        return
    cal = Calibrator(n_starts=starts, max_nfev=max_iter, profile=profile, workers=workers, verbose=True,
                     start_from=previous).fit(model)
    post = cal.posterior()
    if samples:
        post.update(_samples(model, post, samples, workers))
    _save_posterior(post, out / "posterior.json")
    summary = write_report(cal.table_, out, model_hash=cal.model_.hash(), checks=kinetic_checks(cal.table_),
                           identifiability=cal.identifiability_, fit_info=fit_summary(post))
    fitted_to = {n: cal.fit_targets_ for n in cal.parameters}
    text = update_parameter_table(PARAMETERS, cal.params_, fitted_to,
                                  note=f"nadsim calibrate: {len(cal.starts_)} starts, best cost "
                                       f"{cal.result_['cost']:.4g}, optimiser status {cal.result_['status']}")
    with atomic_path(out / "parameters.fitted.toml") as tmp:
        tmp.write_text(text, encoding="utf-8")
    if write_back:
        with atomic_path(PARAMETERS) as tmp:
            tmp.write_text(text, encoding="utf-8")
        _save_posterior(post, POSTERIOR_FILE)
    console.print(f"GMFE on the rise, calibration rows: {summary['gmfe_rise_fit']:.3f}; validation: "
                  f"{summary['gmfe_rise_validation']:.3f}; fit {cal.fit_wall_s_:.0f} s, all {cal.elapsed_s_:.0f} s")
    console.print(f"fitted table: {out / 'parameters.fitted.toml'}; report: {out / 'qualification.md'}")
