"""The trial verbs: run a typed trial spec or a trial file, resume, inspect and report a run,
power from its twins, and the quick placebo-controlled trial of one regimen for a population
centred on a patient (the web page's trial). The CLI's ``nadsim trial ...`` commands and the
web's trial endpoint each call one of them.

:func:`nadsim.trial.run_trial` records a run as its trial file's text (the registry keeps it,
and a resumed chunk is a pure function of it), so a :class:`~nadsim.trial.TrialSpec` built in
memory is written once, as the run's own ``trial.toml`` inside the run directory, by
:func:`trial_toml` (tomli_w); the text is checked to parse back to the same spec before anything runs.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from nadsim._errors import InputError
from nadsim._files import atomic_write_text
from nadsim.trial import (
    WORKERS,
    Registry,
    TrialSpec,
    check_runnable,
    default_workers,
    list_runs,
    parse_trial,
    power_from_run,
    resolve_run,
    resume_trial,
    trial_status,
    write_report,
)
from nadsim.trial import run_trial as _run_trial

__all__ = ["PatientTrialRequest", "TrialRun", "list_trial_runs", "patient_trial_spec", "resume_trial_run",
           "run_patient_trial", "run_trial", "run_trial_file", "trial_power", "trial_run_status", "trial_toml",
           "write_trial_report"]

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class TrialRun:
    """A finished run: its id and directory, the analysis (``summary.json``) and, read when first
    asked for, one row per virtual subject, arm and visit (``subjects.parquet``)."""

    run_id: str
    out_dir: Path
    summary: Mapping[str, Any]

    @cached_property
    def subjects(self) -> pd.DataFrame:
        return pd.read_parquet(self.out_dir / "subjects.parquet")


def _finished(run_id: str, out_dir: Path) -> TrialRun:
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    return TrialRun(run_id=run_id, out_dir=out_dir, summary=summary)


def _workers(workers: int | None) -> int:
    """Worker processes: ``None`` for the default (CPU count, at most 8), else :data:`WORKERS`."""
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or not WORKERS[0] <= workers <= WORKERS[1]:
        raise InputError("workers", f"a whole number of worker processes in [{WORKERS[0]}, {WORKERS[1]}]", workers)
    return workers


def trial_toml(spec: TrialSpec) -> str:
    """``spec`` as a trial file (written by ``tomli_w``), checked to parse back to the same spec."""
    data = spec.model_dump(mode="json", exclude_none=True)
    text = tomli_w.dumps(data)
    if parse_trial(tomllib.loads(text)) != spec:
        raise InputError("trial", "a spec that its trial file reproduces", spec.name)
    return text


def run_trial(spec: TrialSpec, out_dir: Path | str, *, registry: Registry | None = None,
              progress: ProgressFn | None = None, workers: int | None = 1) -> TrialRun:
    """Run ``spec`` into ``out_dir`` (a new or empty directory); ``progress(done, total)`` in
    subjects. Returns the finished run's analysis and subject table."""
    out = Path(out_dir)
    if (out / "run.json").exists():
        raise InputError("out", "a directory without another run in it", str(out))
    text = trial_toml(spec)
    check_runnable(spec)  # refuse before the directory and its trial.toml exist
    out.mkdir(parents=True, exist_ok=True)
    trial_file = atomic_write_text(out / "trial.toml", text)
    run_id = _run_trial(trial_file, out, registry=registry, progress=progress, workers=_workers(workers))
    return _finished(run_id, out)


def run_trial_file(trial_file: Path | str, out_dir: Path | str, *, seed: int | None = None,
                   n_per_arm: int | None = None, replicates: int | None = None, chunk_size: int | None = None,
                   workers: int | None = None, progress: ProgressFn | None = None,
                   on_start: Callable[[str], None] | None = None, registry: Registry | None = None) -> TrialRun:
    """Run a trial file (TOML) into ``out_dir`` with optional overrides; ``on_start(run_id)`` as
    soon as the run is registered (before any simulation)."""
    out = Path(out_dir).expanduser().resolve()
    run_id = _run_trial(trial_file, out, seed=seed, n_per_arm=n_per_arm, replicates=replicates, chunk_size=chunk_size,
                        workers=_workers(workers), progress=progress, on_start=on_start, registry=registry)
    return _finished(run_id, out)


def resume_trial_run(run: str | Path, *, workers: int | None = None, progress: ProgressFn | None = None,
                     registry: Registry | None = None) -> TrialRun:
    """Finish an interrupted run (its id or output directory) into its original directory."""
    reg = registry or Registry()
    run_id = resume_trial(run, workers=_workers(workers), progress=progress, registry=reg)
    return _finished(run_id, Path(reg.run(run_id)["out_dir"]))


def trial_run_status(run: str | Path, *, registry: Registry | None = None) -> dict[str, Any]:
    """Chunks done, status (``running`` only while a live process holds the run) and timings."""
    return trial_status(run, registry)


def list_trial_runs(*, registry: Registry | None = None) -> list[dict[str, Any]]:
    """The registry's runs ($NADSIM_HOME or ~/.nadsim unless ``registry`` is given)."""
    return list_runs(registry)


def trial_power(run: str | Path, *, target: float = 0.8, replicates: int = 1000,
                grid: list[int] | None = None) -> dict[str, Any]:
    """Power over ``grid`` for each active arm from a finished run's digital twins (also written
    to the run's ``power.json``)."""
    return power_from_run(str(run), target=target, replicates=replicates, grid=grid)


def write_trial_report(run: str | Path, *, lang: str = "en", registry: Registry | None = None) -> Path:
    """Write the run's ``report.html`` (and its figures) into its directory; returns the path."""
    run_id, reg = resolve_run(run, registry)
    return write_report(run_id, reg, lang=lang)


@dataclass(frozen=True)
class PatientTrialRequest:
    """A quick trial of one regimen against placebo drips, the population centred on a patient.

    ``active``: the active arm as a trial file gives it (``compound``, ``route``, ``dose``, and
    optionally ``infusion``, ``every``, ``doses``); ``profile``: the patient's ``hamd``,
    ``age``, ``crp_mg_L``, ``sleep`` (PSQI) and ``weight_kg``, the centre of the population's
    covariates."""

    active: Mapping[str, Any]
    profile: Mapping[str, float]
    n_per_arm: int = 10
    weeks: int = 2
    seed: int = 0


def patient_trial_spec(request: PatientTrialRequest) -> TrialSpec:
    """The trial of :class:`PatientTrialRequest`: HAM-D change (primary), response and
    remission, whole-blood NAD+ and CRP changes, a high-CRP subgroup, ANCOVA against placebo."""
    p = request.profile
    hamd = float(p["hamd"])
    return parse_trial({
        "name": "web-trial", "description": "virtual trial started from the nadsim web app", "model": "default",
        "seed": request.seed, "duration": f"{request.weeks} weeks", "visits": "weekly",
        "population": {"n_per_arm": request.n_per_arm, "covariates": {
            "HAMD": {"mean": hamd, "bounds": [max(0.0, hamd - 12.0), min(52.0, hamd + 12.0)]},
            "age": {"mean": float(p["age"])}, "CRP": {"median": float(p["crp_mg_L"])},
            "PSQI": {"mean": float(p["sleep"])}, "BW": {"median": float(p["weight_kg"])}}},
        "arms": [{"name": "placebo", "placebo": True}, {"name": "active", **request.active}],
        "endpoints": [
            {"name": "hamd_change", "output": "HAMD", "kind": "change", "primary": True, "noise_sd": 2.0,
             "round": True, "clip": [0.0, 52.0],
             "noise_source": "assumed: rater error SD 2 points (as in examples/trials/nmn-drip-depression.toml)"},
            {"name": "response", "output": "HAMD", "kind": "response", "threshold": 0.5},
            {"name": "remission", "output": "HAMD", "kind": "remission", "threshold": 7.0},
            {"name": "nad_change", "output": "whole_blood_NAD", "kind": "change", "noise_cv": 0.05,
             "noise_source": "assumed: 5 % analytical CV"},
            {"name": "crp_change", "output": "CRP", "kind": "change", "noise_cv": 0.10,
             "noise_source": "assumed: 10 % analytical CV"},
        ],
        "subgroups": [{"name": "high_crp", "where": "CRP > 3"}],
        "analysis": {"method": "ancova", "control": "placebo"},
        "power": {"n_grid": [20, 50, 100, 200], "replicates": 200},
        "solver": {"rtol": 1e-6, "atol": 1e-8, "chunk_size": max(2, min(20, request.n_per_arm // 2))},
    })


def run_patient_trial(request: PatientTrialRequest, out_dir: Path | str, *,
                      progress: Callable[[int, int], None] | None = None) -> TrialRun:
    """:func:`patient_trial_spec` run by :func:`run_trial` (its own registry in ``out_dir``)."""
    out = Path(out_dir)
    return run_trial(patient_trial_spec(request), out / "run", registry=Registry(out / "registry.sqlite"),
                     progress=progress)
