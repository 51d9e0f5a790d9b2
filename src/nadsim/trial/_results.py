"""From verified chunks to the trial's results: summaries, effects, subgroups, power."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nadsim.model import Model
from nadsim.population._covariates import KEY_NOISE
from nadsim.trial._analysis import (
    ancova,
    endpoint_values,
    mean_ci,
    observe,
    proportion_test,
    wilson,
)
from nadsim.trial._power import ArmPool, power_search
from nadsim.trial._registry import Registry, atomic_write_bytes, atomic_write_parquet, sha256_file
from nadsim.trial._spec import Endpoint, TrialSpec

__all__ = ["finalize", "load_chunks", "observed_endpoints"]


def load_chunks(run_id: str, out: Path, reg: Registry) -> pd.DataFrame:
    """All registered chunks whose checksum matches, concatenated (long: subject x visit)."""
    frames = []
    for _cid, row in sorted(reg.chunks(run_id).items()):
        path = out / row["path"]
        if sha256_file(path) != row["sha256"]:
            continue
        frames.append(pd.read_parquet(path))
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(["arm", "subject", "time_h"], kind="stable").reset_index(drop=True)


def _noise(seed: int, subjects: np.ndarray, k: int) -> np.ndarray:
    """Per-subject measurement-error normals ``(n, k)``: row i depends only on (seed, subject)."""
    out = np.empty((subjects.size, k))
    for j, s in enumerate(subjects):
        ss = np.random.SeedSequence(int(seed), spawn_key=(KEY_NOISE, int(s)))
        out[j] = np.random.Generator(np.random.PCG64(ss)).standard_normal(k)
    return out


def observed_endpoints(spec: TrialSpec, long: pd.DataFrame, outputs: list[str]) -> pd.DataFrame:
    """One row per subject: arm, status, covariates, true and observed values, endpoint values."""
    times = spec.visit_times()
    T = times.size
    ok = long.sort_values(["subject", "time_h"], kind="stable")
    subj = ok["subject"].to_numpy()[::T]
    first = ok.iloc[::T]
    res = pd.DataFrame({"subject": subj, "arm": first["arm"].to_numpy(), "status": first["status"].to_numpy(),
                        "draw": first["draw"].to_numpy()})
    for c in [c for c in ok.columns if c.startswith("cov_")]:
        res[c.removeprefix("cov_")] = first[c].to_numpy()
    noise_spec: dict[str, Endpoint] = {}
    for e in spec.endpoints:
        if e.output in outputs:
            noise_spec.setdefault(e.output, e)
    z = _noise(spec.seed, subj, len(outputs) * (T + 1)).reshape(subj.size, len(outputs), T + 1)
    for k, o in enumerate(outputs):
        true = ok[o].to_numpy().reshape(subj.size, T)
        e = noise_spec[o]
        dev = np.where(times > 0, 1.0, 0.0)[None, :] * (e.subject_sd * z[:, k, T])[:, None]
        obs = observe(true + dev, z[:, k, :T], noise_sd=e.noise_sd, noise_cv=e.noise_cv, round_=e.round, clip=e.clip)
        for j in range(T):
            res[f"{o}@{times[j]:g}h_true"] = true[:, j]
            res[f"{o}@{times[j]:g}h"] = obs[:, j]
    for e in spec.endpoints:
        if e.output not in outputs:
            continue
        j = spec.visit_index(e)
        b = res[f"{e.output}@0h"].to_numpy()
        v = res[f"{e.output}@{times[j]:g}h"].to_numpy()
        res[e.name] = endpoint_values(e.kind, b, v, e.cut)
    return res


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        x = float(x)
        return None if not math.isfinite(x) else x
    return x


def _arm_summary(y: np.ndarray, binary: bool, level: float) -> dict[str, Any]:
    if y.size == 0:
        return {"n": 0}
    if binary:
        k = float(y.sum())
        lo, hi = wilson(k, y.size, level)
        return {"n": int(y.size), "proportion": k / y.size, "ci": [lo, hi], "interval": "Wilson"}
    m, sd, lo, hi = mean_ci(y, level)
    return {"n": int(y.size), "mean": m, "sd": sd, "ci": [lo, hi], "interval": "t",
            "p05": float(np.percentile(y, 5)), "p95": float(np.percentile(y, 95))}


def _compare(df: pd.DataFrame, e: Endpoint, control: str, arm: str, baseline_col: str, level: float) -> dict[str, Any]:
    sub = df[df["arm"].isin([control, arm])]
    if (sub["arm"] == control).sum() < 2 or (sub["arm"] == arm).sum() < 2:
        return {"estimate": None, "note": "fewer than 2 subjects in an arm"}
    y = sub[e.name].to_numpy(dtype=float)
    g = (sub["arm"] == arm).to_numpy(dtype=float)
    if e.binary:
        r = proportion_test(y, g, level=level)
        method = "difference in proportions (pooled z test, Wald interval)"
    else:
        r = ancova(y, sub[baseline_col].to_numpy(dtype=float), g, level=level)
        method = "ANCOVA: endpoint ~ arm + baseline (OLS, two-sided t test)"
    return {"estimate": float(r.estimate[0]), "se": float(r.se[0]), "ci": [float(r.low[0]), float(r.high[0])],
            "p": float(r.p[0]), "method": method, "contrast": f"{arm} - {control}"}


def _endpoint_block(df: pd.DataFrame, spec: TrialSpec, e: Endpoint, unit: str) -> dict[str, Any]:
    lvl = spec.analysis.level
    base_col = f"{e.output}@0h"
    block: dict[str, Any] = {"output": e.output, "kind": e.kind, "unit": "" if e.binary else unit,
                             "visit_h": float(spec.visit_times()[spec.visit_index(e)]),
                             "noise": {"sd": e.noise_sd, "cv": e.noise_cv, "subject_sd": e.subject_sd,
                                       "source": e.noise_source},
                             "arms": {}, "effects": {}}
    if e.binary:
        block["threshold"] = e.cut
    for a in spec.arms:
        block["arms"][a.name] = _arm_summary(df.loc[df["arm"] == a.name, e.name].to_numpy(dtype=float), e.binary, lvl)
    for a in spec.arms:
        if a.name != spec.control:
            block["effects"][a.name] = _compare(df, e, spec.control, a.name, base_col, lvl)
    return block


def finalize(run_id: str, spec: TrialSpec, model: Model, out: Path, reg: Registry) -> dict[str, Any]:
    from nadsim.simulate import DISCLAIMER
    from nadsim.trial._run import endpoint_outputs

    outputs, skipped = endpoint_outputs(spec, model)
    long = load_chunks(run_id, out, reg)
    subj = observed_endpoints(spec, long, outputs)
    ok = subj[subj["status"] == 0]
    endpoints = [e for e in spec.endpoints if e.output in outputs]
    primary = spec.primary()
    if primary.output not in outputs:
        primary = endpoints[0]
    # measurement settings of an output come from the first endpoint that names it
    primary = primary.model_copy(update={k: getattr(next(e for e in spec.endpoints if e.output == primary.output), k)
                                         for k in ("noise_sd", "noise_cv", "subject_sd", "round", "clip")})
    summary: dict[str, Any] = {
        "run_id": run_id, "trial": spec.name, "seed": spec.seed, "model": model.name, "model_hash": model.hash(),
        "n_per_arm": spec.population.n_per_arm, "control": spec.control, "alpha": spec.analysis.alpha,
        "level": spec.analysis.level, "visit_times_h": spec.visit_times().tolist(),
        "arms": {a.name: {"regimen": a.regimen().describe(), "n": int((subj["arm"] == a.name).sum()),
                          "n_failed": int(((subj["arm"] == a.name) & (subj["status"] != 0)).sum())} for a in spec.arms},
        "primary_endpoint": primary.name, "skipped_endpoints": skipped,
        "endpoints": {}, "subgroups": {}, "power": {},
        "disclaimer": DISCLAIMER,
    }
    for e in endpoints:
        summary["endpoints"][e.name] = _endpoint_block(ok, spec, e, model.unit_of(e.output))
    for sg in spec.subgroups:
        mask = sg.mask(ok)
        part = ok[mask]
        summary["subgroups"][sg.name] = {
            "where": sg.where, "n": {a.name: int((part["arm"] == a.name).sum()) for a in spec.arms},
            "share": float(mask.mean()) if mask.size else None,
            "endpoints": {e.name: _endpoint_block(part, spec, e, model.unit_of(e.output)) for e in endpoints}}
    # power for the primary endpoint, every active arm vs control
    times = spec.visit_times()
    j = spec.visit_index(primary)
    col_b, col_v = f"{primary.output}@0h_true", f"{primary.output}@{times[j]:g}h_true"

    def pool(arm: str, frame: pd.DataFrame) -> ArmPool:
        r = frame[frame["arm"] == arm]
        return ArmPool(r[col_b].to_numpy(dtype=float), r[col_v].to_numpy(dtype=float), r["draw"].to_numpy(dtype=int))

    ns = sorted(set(spec.power.n_grid) | {spec.population.n_per_arm})
    for k, a in enumerate(spec.arms):
        if a.name == spec.control:
            continue
        curve, n_target = power_search(pool(spec.control, ok), pool(a.name, ok), primary, ns,
                                       target=spec.power.target, replicates=spec.power.replicates,
                                       alpha=spec.analysis.alpha, seed=spec.seed, key=(k,))
        at_n = next(c for c in curve if c["n"] == spec.population.n_per_arm)
        # the effect the replicates resample: the model's (noise-free) effect in the simulated pools;
        # its interval reflects only between-subject variability of the model, i.e. pool size
        pc, pt = pool(spec.control, ok), pool(a.name, ok)
        yb = np.concatenate([pc.base, pt.base])
        yv = np.concatenate([pc.visit, pt.visit])
        g = np.concatenate([np.zeros(pc.base.size), np.ones(pt.base.size)])
        if primary.binary:
            true = proportion_test(endpoint_values(primary.kind, yb, yv, primary.cut), g)
        else:
            true = ancova(endpoint_values(primary.kind, yb, yv, primary.cut), yb, g)
        summary["power"][a.name] = {"endpoint": primary.name, "contrast": f"{a.name} - {spec.control}",
                                    "at_n_per_arm": at_n["power"], "mc_se": at_n["mc_se"], "curve": curve,
                                    "n_for_target": n_target,
                                    "model_effect": {"estimate": float(true.estimate[0]),
                                                     "ci": [float(true.low[0]), float(true.high[0])],
                                                     "note": "noise-free effect in the simulated pools; a wide "
                                                             "interval means n_per_arm is too small to pin it"},
                                    "method": "resampled virtual subjects + fresh measurement error, "
                                              f"{spec.power.replicates} replicate trials per n"}
    active = next(a.name for a in spec.arms if a.name != spec.control)
    eff = summary["endpoints"][primary.name]["effects"][active]
    summary["treatment_effect"] = {"endpoint": primary.name, "arm": active, **eff}
    summary["per_arm"] = summary["endpoints"][primary.name]["arms"]
    summary["power_at_n"] = summary["power"][active]["at_n_per_arm"]
    summary = _clean(summary)
    atomic_write_parquet(subj, out / "subjects.parquet")
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=1, sort_keys=True).encode())
    return summary
