"""Run an in-silico trial in resumable chunks, then analyse it.

Subjects ``0 .. arms x n - 1`` are randomised to arms with a seeded permutation; each arm's
subjects are cut into chunks of ``solver.chunk_size``. A chunk is a pure function of the
trial file, the seed and its subject indices, so recomputing it after a crash gives the
same bytes, and a resumed run ends with the same results as an uninterrupted one.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import os
import secrets
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nadsim._errors import InputError, NadsimError
from nadsim._procs import process_pool
from nadsim._version import __version__
from nadsim.calibration import DRAW_SOURCES, parameter_draws
from nadsim.library import get_model
from nadsim.model import Model
from nadsim.population import CovariateModel, Uncertainty, Variability, sample_population
from nadsim.population._chunks import ChunkJob, sidecar_path, simulate_chunk
from nadsim.population._covariates import KEY_ALLOCATION
from nadsim.population._memory import machine_memory_bytes
from nadsim.trial._lock import RunLock, lock_holder
from nadsim.trial._registry import RUN_ARG, Registry, atomic_write_bytes, sha256_file
from nadsim.trial._spec import TrialSpec, parse_trial, read_trial_text, toml_data

__all__ = ["Chunk", "allocation", "check_runnable", "effective_spec", "plan", "resolve_run", "resume_trial", "run_trial",
           "trial_model", "trial_status"]

ProgressFn = Callable[[int, int], None]


# ------------------------------------------------------------------ spec and model
def effective_spec(text: str, overrides: dict[str, Any]) -> TrialSpec:
    """The trial file's text with the run's overrides applied, validated as a whole."""
    data = toml_data(text)
    if overrides.get("seed") is not None:
        data["seed"] = int(overrides["seed"])
    if overrides.get("n_per_arm") is not None:
        data.setdefault("population", {})["n_per_arm"] = int(overrides["n_per_arm"])
    if overrides.get("replicates") is not None:
        data.setdefault("power", {})["replicates"] = int(overrides["replicates"])
    if overrides.get("chunk_size") is not None:
        data.setdefault("solver", {})["chunk_size"] = int(overrides["chunk_size"])
    return parse_trial(data)


def check_memory(spec: TrialSpec, available: int | None = None) -> None:
    """Refuse a spec whose estimated peak memory exceeds half this machine's physical memory
    (:meth:`TrialSpec.memory_estimate_bytes`), before anything is simulated or written."""
    if available is None:
        available = machine_memory_bytes()
    need = spec.memory_estimate_bytes()
    if need > available // 2:
        raise InputError("trial", f"a trial whose estimated peak memory fits in half of this machine's "
                                  f"{available / 2**30:.1f} GiB (fewer subjects, visits, replicates or draws)",
                         f"{need / 2**30:.1f} GiB")


def model_entry(name: str) -> tuple[str, float | None]:
    """The library name of a trial's model (``default`` is ``full``) and the time its patients
    enter an arm: 0 h when the model has a trial arm switch, so that the expectancy and visit
    response of the HAM-D model applies to every arm, placebo included."""
    name = "full" if name == "default" else name
    return name, (0.0 if "trial_on" in get_model(name).parameters else None)


def trial_model(name: str) -> Model:
    """The model of a trial (:func:`model_entry`)."""
    lib_name, entry = model_entry(name)
    return get_model(lib_name, arm=entry)


def population_models(spec: TrialSpec, model: Model) -> tuple[CovariateModel, Variability, Uncertainty]:
    cov = CovariateModel().override(spec.population.covariates)
    var = (Variability(cv=spec.population.variability) if spec.population.variability is not None
           else Variability().for_model(model))
    unc = Uncertainty(draws=spec.population.uncertainty_draws, cv=spec.population.uncertainty)
    return cov, var, unc


def endpoint_outputs(spec: TrialSpec, model: Model) -> tuple[list[str], dict[str, str]]:
    """Outputs the trial needs, in file order, and the endpoints skipped (none: an endpoint on
    an output the model lacks is refused, naming its field, before anything runs; the empty
    dict keeps the summary's ``skipped_endpoints`` for its readers)."""
    known = [r.name for r in model.rules]
    states = set(model.state_names)
    outs: list[str] = []
    for i, e in enumerate(spec.endpoints):
        if e.output not in known and e.output not in states:
            close = difflib.get_close_matches(e.output, [*known, *states], n=3)
            raise InputError(f"endpoints.{i}.output",
                             f"an output of model '{model.name}': one of {', '.join(known)} "
                             f"(or one of its {len(states)} state variables)", e.output,
                             hint=f"Did you mean {' or '.join(close)}?" if close else "")
        if e.output not in outs:
            outs.append(e.output)
    return outs, {}


def check_runnable(spec: TrialSpec) -> Model:
    """Every check that can refuse ``spec`` before anything is simulated or written: memory,
    the model's outputs, the population and the assurance draws. Returns the trial's model."""
    check_memory(spec)
    model = trial_model(spec.model)
    endpoint_outputs(spec, model)
    cov, var, unc = population_models(spec, model)
    draw_values(spec, model)
    sample_population(model=model, seed=spec.seed, subjects=[0], covariates=cov, variability=var, uncertainty=unc)
    return model


# ------------------------------------------------------------------ plan
#: subject ids of assurance draw d start at (d + 1) * DRAW_STRIDE, apart from the pool's 0 .. N-1
DRAW_STRIDE = 2**32


@dataclass(frozen=True)
class Chunk:
    """Patients simulated together under every arm; ``draw`` -1: the trial's own parameters,
    ``d >= 0``: parameter-uncertainty draw ``d`` (assurance)."""

    chunk_id: str
    subjects: tuple[int, ...]
    draw: int = -1

    @property
    def filename(self) -> str:
        return f"chunks/{self.chunk_id}.parquet"


def allocation(spec: TrialSpec) -> dict[str, np.ndarray]:
    """Seeded randomisation of pool patients ``0 .. A n - 1`` to the ``A`` arms (n each): the
    simulated trial observes each of them under the arm they were randomised to."""
    n, A = spec.population.n_per_arm, len(spec.arms)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(spec.seed, spawn_key=(KEY_ALLOCATION,))))
    perm = rng.permutation(n * A)
    return {a.name: np.sort(perm[k * n:(k + 1) * n]) for k, a in enumerate(spec.arms)}


def plan(spec: TrialSpec) -> list[Chunk]:
    size = spec.solver.chunk_size
    N = spec.pool_size
    out = [Chunk(f"pool-{k // size:05d}", tuple(range(k, min(k + size, N)))) for k in range(0, N, size)]
    M = spec.assurance.patients_per_draw
    for d in range(spec.assurance.draws):
        first = (d + 1) * DRAW_STRIDE
        out += [Chunk(f"draw{d:04d}-{k // size:05d}", tuple(range(first + k, first + min(k + size, M))), d)
                for k in range(0, M, size)]
    return out


def draw_values(spec: TrialSpec, model: Model) -> list[dict[str, float]]:
    """The parameter-uncertainty draws of the assurance (``nadsim.calibration.parameter_draws``,
    seeded by the trial). Made in the parent process and handed to each draw's chunks, so that
    workers never import the calibration stack."""

    if not spec.assurance.draws:
        return []
    if spec.assurance.source not in DRAW_SOURCES:
        raise InputError("assurance.source", f"one of {', '.join(DRAW_SOURCES)}", spec.assurance.source)
    return parameter_draws(model, spec.assurance.draws, seed=spec.seed, source=spec.assurance.source)


# ------------------------------------------------------------------ one chunk (runs in a worker)
def chunk_job(spec: TrialSpec, model: Model, chunk: Chunk, out: Path, draws: list[dict[str, float]]) -> ChunkJob:
    """The complete description of ``chunk`` that a worker simulates
    (:func:`nadsim.population._chunks.simulate_chunk`): made in the parent, so that workers
    never parse the trial file or import the trial package."""
    cov, var, unc = population_models(spec, model)
    name, entry = model_entry(spec.model)
    outs, _ = endpoint_outputs(spec, model)
    s = spec.solver
    return ChunkJob(chunk_id=chunk.chunk_id, out_dir=str(out), relpath=chunk.filename, model=name, arm_entry=entry,
                    seed=spec.seed, subjects=chunk.subjects, covariates=cov, variability=var, uncertainty=unc,
                    arms=tuple((a.name, a.regimen()) for a in spec.arms), times=tuple(spec.visit_times().tolist()),
                    outputs=tuple(outs), solver={"backend": s.backend, "device": s.device, "rtol": s.rtol, "atol": s.atol},
                    draw=chunk.draw, draw_values=None if chunk.draw < 0 else draws[chunk.draw])


# ------------------------------------------------------------------ orchestration
def _new_run_id(spec: TrialSpec) -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{spec.name[:24]}-{stamp}-{secrets.token_hex(3)}"


def run_trial(trial_file: Path | str, out_dir: Path | str, *, seed: int | None = None, n_per_arm: int | None = None,
              replicates: int | None = None, chunk_size: int | None = None, workers: int = 1,
              progress: ProgressFn | None = None, on_start: Callable[[str], None] | None = None,
              registry: Registry | None = None) -> str:
    """Start a new run; returns its id after the run is complete."""
    text, sha = read_trial_text(trial_file)
    overrides = {"seed": seed, "n_per_arm": n_per_arm, "replicates": replicates, "chunk_size": chunk_size}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    spec = effective_spec(text, overrides)  # the file with its overrides, validated as one trial
    model = check_runnable(spec)  # fails before any directory is made
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "run.json"
    if marker.exists():
        other = json.loads(marker.read_text(encoding="utf-8")).get("run_id")
        raise InputError("--out", "a directory without another run in it", str(out),
                         hint=f"it holds run {other}; resume it with `nadsim trial resume {other}` or pick a new --out")
    reg = registry or Registry()
    run_id = _new_run_id(spec)
    row = {"run_id": run_id, "created": time.time(), "trial_name": spec.name, "trial_sha256": sha,
           "overrides": json.dumps(overrides, sort_keys=True), "model_name": model.name, "model_hash": model.hash(),
           "seed": spec.seed, "n_chunks": len(plan(spec)), "nadsim_version": __version__}
    with RunLock(out, "run"):
        # the directory holds everything the registry does, so a lost registry can be rebuilt from it
        atomic_write_bytes(out / "trial.toml", text.encode())
        atomic_write_bytes(marker, json.dumps({**row, "registry": str(reg.path)}, indent=1, sort_keys=True).encode())
        reg.create_run(**row, trial_text=text, out_dir=str(out), status="running", started=time.time())
        if on_start:
            on_start(run_id)
        _execute(run_id, reg, workers=workers, progress=progress)
    return run_id


def resolve_run(target: str | Path, registry: Registry | None = None) -> tuple[str, Registry]:
    """A run id, or a run's output directory (its ``run.json``); a run missing from the registry
    (lost or moved registry) is re-registered from its directory, chunks from their checksums."""
    reg = registry or Registry()
    path = Path(target).expanduser()
    if not (path / "run.json").is_file():
        if path.exists() or os.sep in str(target):
            raise InputError(RUN_ARG, "a run id or a run's output directory (with run.json)", str(target))
        reg.run(str(target))
        return str(target), reg
    meta = json.loads((path / "run.json").read_text(encoding="utf-8"))
    run_id = str(meta["run_id"])
    if not reg.has_run(run_id):
        text = (path / "trial.toml").read_text(encoding="utf-8")
        keys = ("created", "trial_name", "trial_sha256", "overrides", "model_name", "model_hash", "seed", "n_chunks",
                "nadsim_version")
        missing = [k for k in keys if k not in meta]
        if missing:
            raise InputError("run.json", "a run directory written by this nadsim (with the run's metadata)",
                             f"missing {', '.join(missing)}")
        reg.create_run(run_id=run_id, **{k: meta[k] for k in keys}, trial_text=text, out_dir=str(path.resolve()),
                       status="interrupted", started=meta["created"])
    elif Path(reg.run(run_id)["out_dir"]) != path.resolve():
        reg.update_run(run_id, out_dir=str(path.resolve()))  # the directory was moved
    return run_id, reg


def resume_trial(run: str | Path, *, workers: int = 1, progress: ProgressFn | None = None,
                 registry: Registry | None = None) -> str:
    """Finish an interrupted run (or re-verify a finished one), given its id or its output
    directory; returns its id. Holds the run's lock: a second resume says who holds it."""
    run_id, reg = resolve_run(run, registry)
    out = Path(reg.run(run_id)["out_dir"])
    if not out.is_dir():
        raise InputError("out_dir", "the run's output directory", str(out))
    with RunLock(out, "resume"):
        _execute(run_id, reg, workers=workers, progress=progress)
    return run_id


def _done_chunks(reg: Registry, run_id: str, out: Path, chunks: list[Chunk] | None = None) -> set[str]:
    """Chunks whose file is present with the registered checksum; a chunk the registry lacks
    counts (and is registered) when its file matches the checksum stored beside it."""
    ok = set()
    rows = reg.chunks(run_id)
    for cid, row in rows.items():
        if sha256_file(out / row["path"]) == row["sha256"]:
            ok.add(cid)
    for c in chunks or ():
        if c.chunk_id in rows:
            continue
        side = sidecar_path(out / c.filename)
        try:
            info = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and sha256_file(out / c.filename) == info.get("sha256"):
            reg.add_chunk(run_id, **{k: info[k] for k in ("chunk_id", "path", "sha256", "n_subjects", "n_failed",
                                                         "elapsed_s")})
            ok.add(c.chunk_id)
    return ok


def _failure(exc: BaseException) -> str:
    if isinstance(exc, BrokenProcessPool):
        return "its worker process died (killed or crashed)"
    return f"{type(exc).__name__}: {exc}"


def _pooled(todo: list[Chunk], job_of: Callable[[Chunk], ChunkJob], workers: int,
            done: Callable[[Chunk, dict[str, Any]], None], first: dict[str, str]) -> None:
    """Simulate ``todo`` on ``workers`` processes, at most ``workers`` chunks in flight, so that
    when a worker dies (the pool breaks) only the chunks in flight are suspects: they are put in
    ``first`` with the reason, and the rest go on in a fresh pool."""
    queue = list(todo)
    while queue:
        before = len(queue)
        with process_pool(workers) as pool:
            inflight: dict[Any, Chunk] = {}
            broken = False
            while (queue or inflight) and not broken:
                while queue and len(inflight) < workers:
                    try:
                        fut = pool.submit(simulate_chunk, job_of(queue[0]))
                    except BrokenProcessPool:  # a worker died before its future said so
                        broken = True
                        break
                    inflight[fut] = queue.pop(0)
                if not inflight:
                    break
                ready, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for f in ready:
                    c = inflight.pop(f)
                    try:
                        info = f.result()
                    except NadsimError:
                        raise
                    except BrokenProcessPool as exc:
                        first[c.chunk_id] = _failure(exc)
                        broken = True
                    except Exception as exc:  # a chunk's failure is recorded, the run goes on
                        first[c.chunk_id] = _failure(exc)
                    else:
                        done(c, info)
            for f, c in inflight.items():  # the pool broke under them: suspects too
                try:
                    done(c, f.result())
                except NadsimError:
                    raise
                except Exception as exc:
                    first[c.chunk_id] = _failure(exc)
        if queue and len(queue) == before:  # a pool that broke before taking any chunk: never loop
            first[queue[0].chunk_id] = "the worker pool broke before the chunk started"
            queue.pop(0)


def _run_chunks(todo: list[Chunk], job_of: Callable[[Chunk], ChunkJob], workers: int,
                done: Callable[[Chunk, dict[str, Any]], None]) -> dict[str, str]:
    """Simulate ``todo``; a chunk that fails (its worker died or it raised) is retried once,
    alone in a fresh worker, then reported failed with its reason (returned: id -> reason)."""
    first: dict[str, str] = {}
    if workers <= 1:
        for c in todo:
            try:
                done(c, simulate_chunk(job_of(c)))
            except NadsimError:
                raise
            except Exception as exc:  # a chunk's failure is recorded, the run goes on
                first[c.chunk_id] = _failure(exc)
    else:
        _pooled(todo, job_of, workers, done, first)
    failed: dict[str, str] = {}
    for c in (c for c in todo if c.chunk_id in first):
        try:  # the retry runs alone, so a chunk that kills its worker cannot take others with it
            with process_pool(1) as pool:
                done(c, pool.submit(simulate_chunk, job_of(c)).result())
        except NadsimError:
            raise
        except Exception as exc:
            failed[c.chunk_id] = f"failed twice: {first[c.chunk_id]}; then {_failure(exc)}"
    return failed


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
    chunks = plan(spec)
    done = _done_chunks(reg, run_id, out, chunks)
    todo = [c for c in chunks if c.chunk_id not in done]
    total = sum(len(c.subjects) for c in chunks)
    finished = [total - sum(len(c.subjects) for c in todo)]
    reg.update_run(run_id, status="running", attempts=int(row.get("attempts") or 0) + 1)
    if progress:
        progress(finished[0], total)
    t0 = time.perf_counter()

    def register(c: Chunk, info: dict[str, Any]) -> None:
        reg.add_chunk(run_id, **info)
        finished[0] += len(c.subjects)
        if progress:
            progress(finished[0], total)

    draws = draw_values(spec, model) if todo else []
    failed = _run_chunks(todo, lambda c: chunk_job(spec, model, c, out, draws), workers, register) if todo else {}
    reg.add_compute(run_id, time.perf_counter() - t0)
    complete = _done_chunks(reg, run_id, out, chunks)
    missing = [c.chunk_id for c in chunks if c.chunk_id not in complete and c.chunk_id not in failed]
    if missing:
        reg.update_run(run_id, status="incomplete")
        raise InputError("run", "all chunks complete", f"{len(missing)} missing",
                         hint=f"resume with `nadsim trial resume {run_id}`")
    if len(failed) == len(chunks) or not any(c.draw < 0 and c.chunk_id in complete for c in chunks):
        reg.update_run(run_id, status="failed")
        raise InputError("run", "at least one chunk of the pool simulated", f"{len(failed)} failed chunk(s)",
                         hint="; ".join(f"{k}: {v}" for k, v in sorted(failed.items())[:3]))
    from nadsim.trial._results import finalize

    finalize(run_id, spec, model, out, reg, failed_chunks=failed)
    reg.update_run(run_id, status="complete" if not failed else "complete_with_failures", finished=time.time())


def trial_status(run: str | Path, registry: Registry | None = None) -> dict[str, Any]:
    """A run's state; ``running`` only while a live process holds its lock, else ``interrupted``."""
    run_id, reg = resolve_run(run, registry)
    row = reg.run(run_id)
    spec = effective_spec(row["trial_text"], row["overrides"])
    out = Path(row["out_dir"])
    done = _done_chunks(reg, run_id, out)
    status = row["status"]
    holder = lock_holder(out)
    if status in ("running", "incomplete") and holder is None:
        status = "interrupted"
    return {"run_id": run_id, "status": status, "held_by": holder, "out_dir": row["out_dir"],
            "chunks_done": len(done),
            "chunks_total": len(plan(spec)), "compute_s": row["compute_s"], "seed": row["seed"],
            "model_hash": row["model_hash"], "trial_sha256": row["trial_sha256"]}


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
