"""The calibration verb: fit the uncertain metabolome parameters to the published human summary
statistics (study effects on reported rises alongside), sample the posterior, and write the fit,
its report and the fitted parameter table (``nadsim calibrate``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nadsim._errors import InputError
from nadsim._files import atomic_write_text
from nadsim.calibration import Calibrator, kinetic_checks, load_targets, write_report
from nadsim.calibration._calibrator import (
    POSTERIOR_FILE,
    Objective,
    fit_summary,
    load_posterior,
    posterior_samples,
)
from nadsim.calibration._writeback import update_parameter_table
from nadsim.library import get_model
from nadsim.library.nad_core.model import PARAMETERS
from nadsim.model import Model

__all__ = ["CalibrateRequest", "CalibrationRun", "calibrate"]


@dataclass(frozen=True)
class CalibrateRequest:
    out: Path
    #: least-squares function evaluations per start, starts (the table values, then random)
    max_iter: int = 40
    starts: int = 3
    #: profile likelihood of every fitted parameter
    profile: bool = True
    workers: int = 2
    #: an earlier fit's posterior.json: the first start continues from its estimate
    start_from: Path | None = None
    #: cost evaluations for the sequential Monte Carlo posterior draws, ~40 a particle (0: Laplace
    #: only); 12,000 gave ESS 248 on the 2026-12-03 fit, 8,000 ran out before the last tempering step
    samples: int = 12_000
    #: skip the fit: add posterior draws to the ``start_from`` fit
    samples_only: bool = False
    #: write the fitted values and the posterior into the package
    write_back: bool = False
    verbose: bool = True


@dataclass(frozen=True)
class CalibrationRun:
    """What was written: the posterior (and where), and for a fit the report's summary, the
    fitted parameter table and the fit's wall times."""

    posterior: Mapping[str, Any]
    posterior_path: Path
    summary: Mapping[str, Any] | None = None
    table_path: Path | None = None
    fit_wall_s: float | None = None
    elapsed_s: float | None = None


def _samples(model: Model, post: dict[str, Any], n: int, workers: int) -> dict[str, Any]:
    exps, targets = load_targets()
    obj = Objective(model, exps, tuple(t for t in targets if t.role == "fit"), tuple(post["parameters"]))
    return posterior_samples(obj, post, n_proposals=n, workers=workers)


def _save_posterior(post: Mapping[str, Any], path: Path) -> None:
    atomic_write_text(path, json.dumps(post, indent=1))


def calibrate(request: CalibrateRequest) -> CalibrationRun:
    out = request.out
    if out.exists() and not out.is_dir():
        raise InputError("--out", "a directory", str(out))
    out.mkdir(parents=True, exist_ok=True)
    model = get_model("nad_core")
    previous = None
    if request.start_from is not None:
        previous = load_posterior(request.start_from)
        if previous is None:
            raise InputError("--start-from", "an existing posterior.json", str(request.start_from))
    if request.samples_only:
        if previous is None:
            raise InputError("--samples-only", "used with --start-from FILE", None)
        previous.update(_samples(model, previous, request.samples, request.workers))
        _save_posterior(previous, out / "posterior.json")
        if request.write_back:
            _save_posterior(previous, POSTERIOR_FILE)
        return CalibrationRun(posterior=previous, posterior_path=out / "posterior.json")
    cal = Calibrator(n_starts=request.starts, max_nfev=request.max_iter, profile=request.profile,
                     workers=request.workers, verbose=request.verbose, start_from=previous).fit(model)
    post = cal.posterior()
    if request.samples:
        post.update(_samples(model, post, request.samples, request.workers))
    _save_posterior(post, out / "posterior.json")
    summary = write_report(cal.table_, out, model_hash=cal.model_.hash(), checks=kinetic_checks(cal.table_),
                           identifiability=cal.identifiability_, fit_info=fit_summary(post))
    fitted_to = {n: cal.fit_targets_ for n in cal.parameters}
    text = update_parameter_table(PARAMETERS, cal.params_, fitted_to,
                                  note=f"nadsim calibrate: {len(cal.starts_)} starts, best cost "
                                       f"{cal.result_['cost']:.4g}, optimiser status {cal.result_['status']}")
    table = atomic_write_text(out / "parameters.fitted.toml", text)
    if request.write_back:
        atomic_write_text(PARAMETERS, text)
        _save_posterior(post, POSTERIOR_FILE)
    return CalibrationRun(posterior=post, posterior_path=out / "posterior.json", summary=summary, table_path=table,
                          fit_wall_s=cal.fit_wall_s_, elapsed_s=cal.elapsed_s_)
