"""Run an in-silico trial in resumable chunks, then analyse it.

Subjects ``0 .. arms x n - 1`` are randomised to arms with a seeded permutation; each arm's
subjects are cut into chunks of ``solver.chunk_size``. A chunk is a pure function of the
trial file, the seed and its subject indices, so recomputing it after a crash gives the
same bytes, and a resumed run ends with the same results as an uninterrupted one.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadsim._errors import InputError
from nadsim.model import Model
from nadsim.population import CovariateModel, Uncertainty, Variability, run_batch, sample_population
from nadsim.population._covariates import KEY_ALLOCATION
from nadsim.trial._registry import Registry, atomic_write_bytes, atomic_write_parquet, sha256_file
from nadsim.trial._spec import TrialSpec, parse_trial

__all__ = ["Chunk", "build_model", "effective_spec", "plan", "resume_trial", "run_trial", "trial_model", "trial_status"]

ProgressFn = Callable[[int, int], None]


# ------------------------------------------------------------------ spec and model
def effective_spec(text: str, overrides: dict[str, Any]) -> TrialSpec:
    import tomllib

    data = tomllib.loads(text)
    if overrides.get("seed") is not None:
        data["seed"] = int(overrides["seed"])
    if overrides.get("n_per_arm") is not None:
        data.setdefault("population", {})["n_per_arm"] = int(overrides["n_per_arm"])
    if overrides.get("replicates") is not None:
        data.setdefault("power", {})["replicates"] = int(overrides["replicates"])
    if overrides.get("chunk_size") is not None:
        data.setdefault("solver", {})["chunk_size"] = int(overrides["chunk_size"])
    return parse_trial(data)


@lru_cache(maxsize=4)
def build_model(name: str) -> Model:
    """``default`` = the full model (mechanisms + HAM-D) when installed, else the NAD+ metabolome."""
    if name in ("default", "full"):
        try:
            from nadsim.library.full import build_full
        except ImportError:
            if name == "full":
                raise InputError("model", "an installed model library ('full' is not available)", name) from None
        else:
            return build_full()
    if name in ("default", "nad_core"):
        from nadsim.library import build_nad_core

        return build_nad_core()
    raise InputError("model", "one of 'default', 'full', 'nad_core'", name)


@lru_cache(maxsize=4)
def trial_model(name: str) -> Model:
    """The model of a trial: every arm (placebo included) is "in the trial" from 0 h, so the
    expectancy/visit response of the HAM-D model applies to all arms."""
    model = build_model(name)
    if "trial_on" in model.parameters:
        try:
            from nadsim.library.full import with_trial_arm
        except ImportError:  # pragma: no cover - the parameter without the library
            return model.with_parameters(trial_on=1.0, t_trial_start=0.0)
        return with_trial_arm(model, start_h=0.0)
    return model


@lru_cache(maxsize=4)
def _spec_and_model(text: str, overrides_json: str) -> tuple[TrialSpec, Model]:
    spec = effective_spec(text, json.loads(overrides_json))
    return spec, trial_model(spec.model)


def population_models(spec: TrialSpec, model: Model) -> tuple[CovariateModel, Variability, Uncertainty]:
    cov = CovariateModel().override(spec.population.covariates)
    var = (Variability(cv=spec.population.variability) if spec.population.variability is not None
           else Variability().for_model(model))
    unc = Uncertainty(draws=spec.population.uncertainty_draws, cv=spec.population.uncertainty)
    return cov, var, unc


def endpoint_outputs(spec: TrialSpec, model: Model) -> tuple[list[str], dict[str, str]]:
    """Outputs the trial needs and endpoints skipped because the model lacks their output."""
    rules = {r.name for r in model.rules} | set(model.state_names)
    outs: list[str] = []
    skipped: dict[str, str] = {}
    for e in spec.endpoints:
        if e.output in rules:
            if e.output not in outs:
                outs.append(e.output)
        else:
            skipped[e.name] = f"model '{model.name}' has no output '{e.output}'"
    if not outs:
        raise InputError("endpoints", f"at least one endpoint on an output of model '{model.name}'",
                         [e.output for e in spec.endpoints])
    return outs, skipped


# ------------------------------------------------------------------ plan
@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    arm: str
    subjects: tuple[int, ...]

    @property
    def filename(self) -> str:
        return f"chunks/{self.chunk_id}.parquet"


def allocation(spec: TrialSpec) -> dict[str, np.ndarray]:
    """Seeded randomisation of subjects ``0 .. A n - 1`` to the ``A`` arms (n each)."""
    n, A = spec.population.n_per_arm, len(spec.arms)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=(KEY_ALLOCATION,))))
    perm = rng.permutation(n * A)
    return {a.name: np.sort(perm[k * n:(k + 1) * n]) for k, a in enumerate(spec.arms)}


def plan(spec: TrialSpec) -> list[Chunk]:
    size = spec.solver.chunk_size
    out = []
    for arm, subj in allocation(spec).items():
        for k in range(0, subj.size, size):
            out.append(Chunk(f"{arm}-{k // size:05d}", arm, tuple(int(s) for s in subj[k:k + size])))
    return out


# ------------------------------------------------------------------ one chunk (runs in a worker)
def simulate_chunk(text: str, overrides_json: str, chunk: Chunk, out_dir: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    spec, model = _spec_and_model(text, overrides_json)
    cov, var, unc = population_models(spec, model)
    pop = sample_population(model=model, seed=spec.seed, subjects=np.array(chunk.subjects),
                            covariates=cov, variability=var, uncertainty=unc)
    arm = next(a for a in spec.arms if a.name == chunk.arm)
    times = spec.visit_times()
    outs, _ = endpoint_outputs(spec, model)
    res = run_batch(model, arm.regimen(), times, pop.params, backend=spec.solver.backend, device=spec.solver.device,
                    rtol=spec.solver.rtol, atol=spec.solver.atol, chunk_size=len(chunk.subjects),
                    keep_states=any(o not in {r.name for r in model.rules} for o in outs))
    ti = np.searchsorted(res.times, times)
    n, T = len(pop), times.size
    df = pd.DataFrame({
        "subject": np.repeat(pop.subjects, T).astype(np.int64),
        "arm": chunk.arm,
        "time_h": np.tile(times, n),
        "status": np.repeat(res.status.astype(np.int64), T),
        "draw": np.repeat(pop.draw.astype(np.int64), T),
    })
    for o in outs:
        df[o] = res.get(o)[:, ti].reshape(-1)
    for c in pop.covariates.columns:
        df[f"cov_{c}"] = np.repeat(pop.covariates[c].to_numpy(), T)
    path = Path(out_dir) / chunk.filename
    path.parent.mkdir(parents=True, exist_ok=True)
    sha = atomic_write_parquet(df, path)
    return {"chunk_id": chunk.chunk_id, "path": chunk.filename, "sha256": sha, "n_subjects": n,
            "n_failed": int(np.sum(res.status != 0)), "elapsed_s": time.perf_counter() - t0}


# ------------------------------------------------------------------ orchestration
def _new_run_id(spec: TrialSpec) -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{spec.name[:24]}-{stamp}-{secrets.token_hex(3)}"


def run_trial(trial_file: Path | str, out_dir: Path | str, *, seed: int | None = None, n_per_arm: int | None = None,
              replicates: int | None = None, chunk_size: int | None = None, workers: int = 1,
              progress: ProgressFn | None = None, on_start: Callable[[str], None] | None = None,
              registry: Registry | None = None) -> str:
    """Start a new run; returns its id after the run is complete."""
    from nadsim._version import __version__
    from nadsim.trial._spec import load_trial

    _, text, sha = load_trial(trial_file)
    overrides = {"seed": seed, "n_per_arm": n_per_arm, "replicates": replicates, "chunk_size": chunk_size}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    spec = effective_spec(text, overrides)
    model = trial_model(spec.model)
    endpoint_outputs(spec, model)
    cov, var, unc = population_models(spec, model)  # fail before any simulation on a bad population
    sample_population(model=model, seed=spec.seed, subjects=[0], covariates=cov, variability=var, uncertainty=unc)
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "run.json"
    if marker.exists():
        other = json.loads(marker.read_text(encoding="utf-8")).get("run_id")
        raise InputError("--out", "a directory without another run in it", str(out),
                         hint=f"it holds run {other}; resume it with `nadsim trial resume {other}` or pick a new --out")
    reg = registry or Registry()
    run_id = _new_run_id(spec)
    reg.create_run(run_id=run_id, created=time.time(), trial_name=spec.name, trial_sha256=sha, trial_text=text,
                   overrides=json.dumps(overrides, sort_keys=True), model_name=model.name, model_hash=model.hash(),
                   seed=spec.seed, out_dir=str(out), status="running", n_chunks=len(plan(spec)),
                   started=time.time(), nadsim_version=__version__)
    atomic_write_bytes(marker, json.dumps({"run_id": run_id, "registry": str(reg.path)}, indent=1).encode())
    atomic_write_bytes(out / "trial.toml", text.encode())
    if on_start:
        on_start(run_id)
    _execute(run_id, reg, workers=workers, progress=progress)
    return run_id


def resume_trial(run_id: str, *, workers: int = 1, progress: ProgressFn | None = None,
                 registry: Registry | None = None) -> str:
    """Finish a run that was interrupted (or re-verify a finished one); returns its id."""
    reg = registry or Registry()
    reg.run(run_id)
    _execute(run_id, reg, workers=workers, progress=progress)
    return run_id


def _done_chunks(reg: Registry, run_id: str, out: Path) -> set[str]:
    """Chunks registered *and* whose file is present with the registered checksum."""
    ok = set()
    for cid, row in reg.chunks(run_id).items():
        if sha256_file(out / row["path"]) == row["sha256"]:
            ok.add(cid)
    return ok


def _execute(run_id: str, reg: Registry, *, workers: int, progress: ProgressFn | None) -> None:
    row = reg.run(run_id)
    text, overrides = row["trial_text"], row["overrides"]
    spec = effective_spec(text, overrides)
    model = trial_model(spec.model)
    if model.hash() != row["model_hash"]:
        raise InputError("model", f"the model the run started with (hash {row['model_hash'][:12]})",
                         f"hash {model.hash()[:12]}", hint="the model changed since this run started; start a new run")
    out = Path(row["out_dir"])
    if not out.is_dir():
        raise InputError("out_dir", "the run's output directory", str(out))
    ojson = json.dumps(overrides, sort_keys=True)
    chunks = plan(spec)
    done = _done_chunks(reg, run_id, out)
    todo = [c for c in chunks if c.chunk_id not in done]
    total = sum(len(c.subjects) for c in chunks)
    finished = total - sum(len(c.subjects) for c in todo)
    reg.update_run(run_id, status="running", attempts=int(row.get("attempts") or 0) + 1)
    if progress:
        progress(finished, total)
    t0 = time.perf_counter()
    if todo and workers <= 1:
        for c in todo:
            info = simulate_chunk(text, ojson, c, str(out))
            reg.add_chunk(run_id, **info)
            finished += len(c.subjects)
            if progress:
                progress(finished, total)
    elif todo:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending = {pool.submit(simulate_chunk, text, ojson, c, str(out)): c for c in todo}
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in ready:
                    c = pending.pop(f)
                    reg.add_chunk(run_id, **f.result())
                    finished += len(c.subjects)
                    if progress:
                        progress(finished, total)
    reg.add_compute(run_id, time.perf_counter() - t0)
    missing = [c.chunk_id for c in chunks if c.chunk_id not in _done_chunks(reg, run_id, out)]
    if missing:
        reg.update_run(run_id, status="incomplete")
        raise InputError("run", "all chunks complete", f"{len(missing)} missing", hint=f"resume with `nadsim trial resume {run_id}`")
    from nadsim.trial._results import finalize

    finalize(run_id, spec, model, out, reg)
    reg.update_run(run_id, status="complete", finished=time.time())


def trial_status(run_id: str, registry: Registry | None = None) -> dict[str, Any]:
    reg = registry or Registry()
    row = reg.run(run_id)
    spec = effective_spec(row["trial_text"], row["overrides"])
    done = _done_chunks(reg, run_id, Path(row["out_dir"]))
    return {"run_id": run_id, "status": row["status"], "out_dir": row["out_dir"], "chunks_done": len(done),
            "chunks_total": len(plan(spec)), "compute_s": row["compute_s"], "seed": row["seed"],
            "model_hash": row["model_hash"], "trial_sha256": row["trial_sha256"]}


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
