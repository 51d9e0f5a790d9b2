"""One chunk of virtual patients, simulated under several regimens and stored with its checksum.

This is the work a trial hands to its worker processes. It lives here, below the trial
package, so that a spawned worker imports only the population, library and engine layers
(about half of what importing :mod:`nadsim.trial` costs: no SciPy stats, statsmodels,
calibration or report figures). The parent describes the chunk completely in a
:class:`ChunkJob`; the worker samples the patients from it, solves them under every arm
(same parameter rows, so the engine's baseline cache serves every arm after the first) and
writes one Parquet file with a JSON checksum beside it.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadsim._errors import InputError
from nadsim._files import atomic_write_bytes
from nadsim.dosing import Regimen
from nadsim.library import get_model
from nadsim.population._batch import run_batch
from nadsim.population._covariates import CovariateModel
from nadsim.population._population import sample_population
from nadsim.population._variability import Uncertainty, Variability

__all__ = ["ChunkJob", "sidecar_path", "simulate_chunk"]


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to simulate one chunk, with no trial file to parse.

    The chunk is written to ``out_dir / relpath``. ``model``/``arm_entry`` name the library model (``get_model(model, arm=arm_entry)``);
    ``draw`` is -1 for the nominal parameters, ``d >= 0`` for uncertainty draw ``d`` with its
    typical values in ``draw_values``. ``arms`` pairs each arm's name with its regimen
    (``None`` for placebo); ``outputs`` are the model outputs stored at ``times`` (h).
    """

    chunk_id: str
    out_dir: str
    relpath: str
    model: str
    arm_entry: float | None
    seed: int
    subjects: tuple[int, ...]
    covariates: CovariateModel
    variability: Variability
    uncertainty: Uncertainty
    arms: tuple[tuple[str, Regimen | None], ...]
    times: tuple[float, ...]
    outputs: tuple[str, ...]
    solver: Mapping[str, Any]
    draw: int = -1
    draw_values: Mapping[str, float] | None = None


def sidecar_path(chunk_path: Path) -> Path:
    """Where a chunk's checksum lives beside it (a lost registry is rebuilt from these)."""
    return chunk_path.with_name(chunk_path.name + ".sha256.json")


def _fault_hook(chunk_id: str) -> None:
    """Fault injection for the crash tests: ``NADSIM_FAULT_CHUNK=<id>`` kills the worker process
    that simulates that chunk while the file ``NADSIM_FAULT_ONCE`` exists (it is removed first,
    so the retry succeeds), or every time when that variable is unset."""
    if os.environ.get("NADSIM_FAULT_CHUNK") != chunk_id:
        return
    once = os.environ.get("NADSIM_FAULT_ONCE")
    if once:
        try:
            os.unlink(once)
        except FileNotFoundError:
            return
    os._exit(13)


def simulate_chunk(job: ChunkJob) -> dict[str, Any]:
    """Simulate the job's patients under every arm and store them (long format: subject x arm x
    visit, with status, draw, outputs and ``cov_*`` covariates); returns the chunk's record."""
    t0 = time.perf_counter()
    _fault_hook(job.chunk_id)
    if (job.draw >= 0) != (job.draw_values is not None):
        raise InputError("draw", "parameter values exactly for the chunks of an uncertainty draw", job.chunk_id)
    model = get_model(job.model, arm=job.arm_entry)
    source = model if job.draw_values is None else model.with_parameters(dict(job.draw_values))
    pop = sample_population(model=source, seed=job.seed, subjects=np.array(job.subjects),
                            covariates=job.covariates, variability=job.variability, uncertainty=job.uncertainty)
    times = np.asarray(job.times, dtype=float)
    rules = {r.name for r in model.rules}
    n, T = len(pop), times.size
    frames, n_failed = [], 0
    for name, regimen in job.arms:
        res = run_batch(model, regimen, times, pop.params, chunk_size=n,
                        keep_states=any(o not in rules for o in job.outputs), **job.solver)
        ti = np.searchsorted(res.times, times)
        df = pd.DataFrame({
            "subject": np.repeat(pop.subjects, T).astype(np.int64),
            "arm": name,
            "time_h": np.tile(times, n),
            "status": np.repeat(res.status.astype(np.int64), T),
            "draw": np.int64(job.draw),
        })
        for o in job.outputs:
            df[o] = res.get(o)[:, ti].reshape(-1)
        for c in pop.covariates.columns:
            df[f"cov_{c}"] = np.repeat(pop.covariates[c].to_numpy(), T)
        frames.append(df)
        n_failed = max(n_failed, int(np.sum(res.status != 0)))
    path = Path(job.out_dir) / job.relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pd.concat(frames, ignore_index=True).to_parquet(buf, index=False, engine="pyarrow")
    sha = atomic_write_bytes(path, buf.getvalue())
    info = {"chunk_id": job.chunk_id, "path": job.relpath, "sha256": sha, "n_subjects": n,
            "n_failed": n_failed, "elapsed_s": time.perf_counter() - t0}
    atomic_write_bytes(sidecar_path(path), json.dumps(info, sort_keys=True).encode())
    return info
