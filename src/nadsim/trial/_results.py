"""From verified chunks to the trial's results: summaries, effects, subgroups, power."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from nadsim._files import json_safe
from nadsim._version import __version__
from nadsim.model import Model
from nadsim.population import STONE_PLACEBO_CLASSES, mixture_mean
from nadsim.population._covariates import KEY_NOISE, KEY_RATER_CHECK
from nadsim.simulate import DISCLAIMER
from nadsim.trial._analysis import (
    ancova,
    endpoint_values,
    holm,
    interaction_test,
    mean_ci,
    mmrm,
    observe,
    proportion_test,
    wilson,
)
from nadsim.trial._power import assurance_curve, n_for_assurance, n_for_power, power_at, power_curve
from nadsim.trial._registry import Registry, atomic_write_bytes, atomic_write_parquet, sha256_file
from nadsim.trial._spec import Endpoint, TrialSpec
from nadsim.trial._twins import PotentialOutcomes, TwinPool, true_effect

__all__ = ["PLACEBO_RESPONSE_RANGE", "PLACEBO_RESPONSE_SOURCE", "PLACEBO_RESPONSE_WEEKS", "SMALL_SUBGROUP_ARM",
           "finalize", "load_chunks", "observed_endpoints", "placebo_comparison"]

#: placebo response (>= 50 % drop) in antidepressant RCTs, 35-40 %: Furukawa 2016 Lancet
#: Psychiatry (252 trials, 26,324 placebo patients), ../shared/data/kinetics.csv row
#: "placebo response rate (>=50% reduction)". A check on the model, never a tuning target.
PLACEBO_RESPONSE_RANGE = (0.35, 0.40)
PLACEBO_RESPONSE_SOURCE = "Furukawa 2016 Lancet Psychiatry, doi:10.1016/S2215-0366(16)30307-8 (kinetics.csv)"
#: the trial length that range is read at here: acute trials, the model's placebo response set
#: against it at 8 weeks (HAMD_pbo_ref note, library/mechanisms/parameters.toml); Furukawa's
#: rate rises with length (RR 1.03 per extra week, kinetics.csv), so a shorter trial is not compared
PLACEBO_RESPONSE_WEEKS = 8.0
#: the placebo response rate is read as its expectation over rater error: each pool patient's
#: response is averaged over this many independent error draws (one draw of 1000 patients moves
#: the rate by +/- 1.5 percentage points, SD, on its own)
RATER_DRAWS = 64
#: HAM-D-17 moderate/severe cut-off (Zimmerman 2013, kinetics.csv): the placebo response is
#: also shown below and above it, since it falls with baseline severity (Kirsch 2008)
SEVERE_HAMD = 24.0
#: a subgroup arm below this many patients gets a warning (its estimate is mostly noise)
SMALL_SUBGROUP_ARM = 20
#: the normal-approximation n for the target power is checked by simulation up to this n per arm
MAX_CHECKED_N = 200_000


def load_chunks(run_id: str, out: Path, reg: Registry) -> pd.DataFrame:
    """All registered chunks whose checksum matches, concatenated (long: subject x arm x visit)."""
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


#: rating scales are dimensionless in the model; the summary still says what a unit is
SCORE_UNITS = {"HAMD": "HAM-D-17 points", "PHQ9": "PHQ-9 points"}


def _unit(model: Model, output: str) -> str:
    unit = model.unit_of(output)
    return SCORE_UNITS.get(output, unit) if unit in ("", "dimensionless", "1") else unit


def _measurement(spec: TrialSpec, e: Endpoint) -> Endpoint:
    """``e`` with the measurement settings of its output (those of the first endpoint naming it)."""
    first = next(x for x in spec.endpoints if x.output == e.output)
    return e.model_copy(update={k: getattr(first, k) for k in ("noise_sd", "noise_cv", "subject_sd", "round", "clip")})


def _pool_noise(spec: TrialSpec, po: PotentialOutcomes, outputs: list[str], e: Endpoint) -> np.ndarray:
    """The ``(3, N_ok)`` error normals (baseline, visit, subject effect) of each pool patient for
    ``e``: the same draws the observed trial uses for that patient, shared by the arms."""
    T = po.times.size
    z = _noise(spec.seed, po.subject, len(outputs) * (T + 1)).reshape(po.subject.size, len(outputs), T + 1)
    k, j = outputs.index(e.output), spec.visit_index(e)
    return np.stack([z[:, k, 0], z[:, k, j], z[:, k, T]])[:, po.ok]


def _observed_long(long: pd.DataFrame, spec: TrialSpec) -> pd.DataFrame:
    """The simulated trial: each of the first ``A n`` pool patients under its randomised arm."""
    from nadsim.trial._run import allocation

    pick = pd.DataFrame([(int(s), arm) for arm, subj in allocation(spec).items() for s in subj],
                        columns=["subject", "arm"])
    return long.merge(pick, on=["subject", "arm"], how="inner")


def _mmrm_block(ok: pd.DataFrame, spec: TrialSpec, e: Endpoint, arm: str) -> dict[str, Any]:
    times = spec.visit_times()
    sub = ok[ok["arm"].isin([spec.control, arm])]
    rows = []
    base = sub[f"{e.output}@0h"].to_numpy(dtype=float)
    for t in times[1:spec.visit_index(e) + 1]:
        rows.append(pd.DataFrame({"subject": sub["subject"].to_numpy(), "visit": float(t),
                                  "y": sub[f"{e.output}@{t:g}h"].to_numpy(dtype=float) - base, "base": base,
                                  "treat": (sub["arm"] == arm).to_numpy(dtype=float)}))
    if not rows or len(sub) < 6:
        return {"estimate": None, "note": "needs post-baseline visits and at least 6 subjects"}
    try:
        return {**mmrm(pd.concat(rows, ignore_index=True), level=spec.analysis.level), "contrast": f"{arm} - {spec.control}"}
    except (np.linalg.LinAlgError, ValueError) as exc:
        return {"estimate": None, "note": f"the mixed model could not be fitted: {exc}"}


def _subgroups(ok: pd.DataFrame, spec: TrialSpec, po: PotentialOutcomes, endpoints: list[Endpoint],
               primary: Endpoint, outputs: list[str], unit_of: Any, warn: list[str]) -> dict[str, Any]:
    """Prespecified subgroups only: treatment-by-subgroup interaction on the primary endpoint
    (Holm-adjusted over subgroups x active arms), descriptive within-subgroup estimates, the
    twins' true effect inside the subgroup, and a warning for any arm under 20 patients."""
    out: dict[str, Any] = {}
    tests: list[tuple[str, str]] = []
    pvals: list[float] = []
    base_col = f"{primary.output}@0h"
    jp = spec.visit_index(primary)
    for sg in spec.subgroups:
        member = sg.mask(ok)
        n = {a.name: int(((ok["arm"] == a.name) & member).sum()) for a in spec.arms}
        n_out = {a.name: int(((ok["arm"] == a.name) & ~member).sum()) for a in spec.arms}
        small = sorted(a for a, k in n.items() if k < SMALL_SUBGROUP_ARM)
        block: dict[str, Any] = {
            "where": sg.where, "prespecified": True, "n": n, "n_outside": n_out,
            "share": float(member.mean()) if member.size else None,
            "endpoints": {e.name: _endpoint_block(ok[member], spec, e, unit_of(e.output)) for e in endpoints},
            "interaction": {}, "true_effect": {}, "warnings": []}
        if small:
            msg = (f"subgroup {sg.name}: arm(s) {', '.join(small)} have fewer than {SMALL_SUBGROUP_ARM} patients "
                   f"({', '.join(f'{a} {n[a]}' for a in small)}); its estimates are descriptive and mostly noise")
            block["warnings"].append(msg)
            warn.append(msg)
        pool_member = sg.mask(po.covariates)[po.ok]
        for a in spec.arms:
            if a.name == spec.control:
                continue
            sub = ok[ok["arm"].isin([spec.control, a.name])]
            m = sg.mask(sub)
            if m.all() or not m.any() or min(n[spec.control], n[a.name], n_out[spec.control], n_out[a.name]) < 2:
                block["interaction"][a.name] = {"p": None, "note": "too few patients in or outside the subgroup"}
            else:
                y = sub[primary.name].to_numpy(dtype=float)
                it = interaction_test(y, None if primary.binary else sub[base_col].to_numpy(dtype=float),
                                      (sub["arm"] == a.name).to_numpy(dtype=float), m.astype(float))
                block["interaction"][a.name] = {**it, "endpoint": primary.name}
                tests.append((sg.name, a.name))
                pvals.append(it["p"])
            twin = po.pool(primary.output, jp, spec.control, a.name)
            if pool_member.sum() >= 2:
                sel = TwinPool(twin.base[pool_member], twin.ctrl[pool_member], twin.trt[pool_member])
                z = _pool_noise(spec, po, outputs, primary)[:, pool_member] if primary.binary else None
                block["true_effect"][a.name] = true_effect(sel, primary, level=spec.analysis.level, z=z)
        out[sg.name] = block
    for (sg_name, arm), p_adj in zip(tests, holm(pvals), strict=True):
        out[sg_name]["interaction"][arm]["p_holm"] = float(p_adj)
        out[sg_name]["interaction"][arm]["family_size"] = len(tests)
    return out


def _expected_response(pool: TwinPool, e: Endpoint, seed: int) -> np.ndarray:
    """Each pool patient's probability of a (placebo-arm) response over rater error and the
    unexplained subject effect: the mean of :data:`RATER_DRAWS` independent draws ``(N,)``."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(KEY_RATER_CHECK,))))
    out = np.empty(pool.size)
    step = 20_000  # patients at a time: the draws of a block stay near 30 MB, whatever the pool
    for lo in range(0, pool.size, step):
        hi = min(lo + step, pool.size)
        z = rng.standard_normal((3, RATER_DRAWS, hi - lo))
        ob = observe(pool.base[None, lo:hi], z[0], noise_sd=e.noise_sd, noise_cv=e.noise_cv, round_=e.round,
                     clip=e.clip)
        ov = observe(pool.ctrl[None, lo:hi] + e.subject_sd * z[2], z[1], noise_sd=e.noise_sd,
                     noise_cv=e.noise_cv, round_=e.round, clip=e.clip)
        out[lo:hi] = endpoint_values(e.kind, ob, ov, e.cut).mean(axis=0)
    return out


def _stone_rate(baselines: np.ndarray, component_sd: float) -> float:
    """Response rate (>= 50 % fall) that Stone's placebo mixture implies for patients with these
    baselines (no rater error; the components' SDs are not in the abstract, so assumed)."""
    return float(sum(w * norm.sf(baselines / 2, loc=mu, scale=component_sd) for w, mu in STONE_PLACEBO_CLASSES).mean())


def _placebo_validation(twin: TwinPool, rate: float) -> list[dict[str, Any]]:
    """The placebo arm against every source found for it (none fitted here): two rows of
    ../shared/data (kinetics.csv) and three read with the search tool, marked so."""
    mean_pts = float(np.mean(twin.base - twin.ctrl))
    stone_mean = mixture_mean(STONE_PLACEBO_CLASSES)
    stone = [_stone_rate(twin.base, sd) for sd in (4.0, 6.0)]
    return [
        {"source": "Furukawa 2016 Lancet Psychiatry, PMID:27726982 (kinetics.csv)", "data": "shared",
         "quantity": "placebo response rate, 252 trials since 1991", "reported": list(PLACEBO_RESPONSE_RANGE),
         "model": rate},
        {"source": "PMC3280655, review of antidepressant trial reports (kinetics.csv)", "data": "shared",
         "quantity": "crude placebo response rate (drug 54 %)", "reported": 0.37, "model": rate},
        {"source": "Ann Pharmacother 2003;37:1891, PMID:14632596 (PubMed abstract, search tool)", "data": "validation",
         "quantity": "placebo response rate, 24 trials, HAM-D >= 18, 6-8 weeks: intention to treat, per protocol",
         "reported": [0.269, 0.455], "model": rate,
         "note": "the model has no dropout, so it sits between the two"},
        {"source": "Stone 2022 BMJ, doi:10.1136/bmj-2021-067606 (abstract; shares partly secondary)", "data": "validation",
         "quantity": "mean placebo-arm improvement, HAM-D-17 points (the mixture's mean)", "reported": stone_mean,
         "model": mean_pts},
        {"source": "Stone 2022 BMJ mixture at this pool's baselines (component SD 4 or 6 points, assumed)",
         "data": "validation", "quantity": "response rate the mixture implies", "reported": stone, "model": rate},
    ]


def _placebo_response(spec: TrialSpec, po: PotentialOutcomes, outputs: list[str], warn: list[str]) -> dict[str, Any] | None:
    """The placebo arm's response rate over the whole pool (the model's own placebo response,
    observed through the endpoint's rater error), checked against :data:`PLACEBO_RESPONSE_RANGE`.

    The rate is the expectation over rater error (:func:`_expected_response`), with a t interval
    over patients; the rate under the trial's own single error draw is kept beside it."""
    e = next((x for x in spec.endpoints if x.kind == "response" and x.output in outputs), None)
    if e is None:
        return None
    e = _measurement(spec, e)
    twin = po.pool(e.output, spec.visit_index(e), spec.control, spec.control)
    one_draw = true_effect(twin, e, level=spec.analysis.level, z=_pool_noise(spec, po, outputs, e))["control_mean"]
    p = _expected_response(twin, e, spec.seed)
    rate, _sd, lo, hi = mean_ci(p, spec.analysis.level)
    n = int(p.size)
    severe = twin.base >= SEVERE_HAMD
    by_baseline = {f"HAMD0 < {SEVERE_HAMD:g}": {"rate": float(p[~severe].mean()) if (~severe).any() else None,
                                               "n_patients": int((~severe).sum())},
                   f"HAMD0 >= {SEVERE_HAMD:g}": {"rate": float(p[severe].mean()) if severe.any() else None,
                                                "n_patients": int(severe.sum())}}
    weeks = float(_visit_h(spec, e)) / 168.0
    text, inside, warn_it = placebo_comparison(rate, lo, hi, weeks, spec.analysis.level)
    res = {"endpoint": e.name, "arm": spec.control, "rate": rate, "ci": [lo, hi], "n_patients": n,
           "rater_draws": RATER_DRAWS, "rate_one_error_draw": one_draw,
           "baseline_mean": float(twin.base.mean()), "by_baseline": by_baseline,
           "validation": _placebo_validation(twin, rate),
           "expected": list(PLACEBO_RESPONSE_RANGE), "expected_weeks": PLACEBO_RESPONSE_WEEKS, "visit_weeks": weeks,
           "within_expected": inside, "comparison": text, "source": PLACEBO_RESPONSE_SOURCE,
           "note": ("the model's own rate (not tuned), averaged over rater error; the interval is over patients. "
                    "It falls with baseline severity (Kirsch 2008): see by_baseline")}
    if warn_it:
        msg = f"{text} (mean baseline HAM-D {twin.base.mean():.1f}); effects relative to placebo inherit this"
        res["warning"] = msg
        warn.append(msg)
    return res


def _visit_h(spec: TrialSpec, e: Endpoint) -> float:
    return float(spec.visit_times()[spec.visit_index(e)])


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def placebo_comparison(rate: float, lo: float, hi: float, weeks: float, level: float) -> tuple[str, bool | None, bool]:
    """The placebo response rate (point, ``level`` interval) against :data:`PLACEBO_RESPONSE_RANGE`,
    worded by what is true: ``(text, point inside the range or None when not compared, warn)``.
    Warns only when the whole interval lies outside the range; a response read before
    :data:`PLACEBO_RESPONSE_WEEKS` is not compared (the range is for trials of that length)."""
    a, b = PLACEBO_RESPONSE_RANGE
    ref = f"{100 * a:g}-{100 * b:g} % of {PLACEBO_RESPONSE_WEEKS:g}-week antidepressant trials (Furukawa 2016)"
    ci = f"{100 * level:g} % CI {100 * lo:.1f}-{100 * hi:.1f} %"
    got = f"placebo response rate {_pct(rate)} ({ci}) at week {weeks:g}"
    if weeks < PLACEBO_RESPONSE_WEEKS - 1e-9:
        return f"{got}: not compared, the {ref} is for trials of {PLACEBO_RESPONSE_WEEKS:g} weeks", None, False
    inside = a <= rate <= b
    if inside:
        return f"{got}: inside the {ref}", True, False
    side = "below" if rate < a else "above"
    if hi < a or lo > b:
        return f"{got}: {side} the {ref}, its whole interval outside it", False, True
    return f"{got}: point {side} the {ref}, but its interval overlaps it", False, False


def _design(spec: TrialSpec, po: PotentialOutcomes, draws: list[PotentialOutcomes], primary: Endpoint, outputs: list[str],
            arm: str, key: int, warn: list[str]) -> dict[str, Any]:
    """True effect, replicate trials at n per arm, the power curve, assurance and the n that
    would settle it, for one active arm on the primary endpoint."""
    j = spec.visit_index(primary)
    twin = po.pool(primary.output, j, spec.control, arm)
    z = _pool_noise(spec, po, outputs, primary) if primary.binary else None
    te = true_effect(twin, primary, level=spec.analysis.level, z=z)
    R, alpha, n0 = spec.power.replicates, spec.analysis.alpha, spec.population.n_per_arm
    ns = sorted(set(spec.power.n_grid) | {n0})
    curve = power_curve(twin, primary, ns, replicates=R, alpha=alpha, seed=spec.seed, key=(key,))
    at_n = next(c for c in curve if c["n"] == n0)
    rep = {"n": R, "n_per_arm": n0, "mean_effect": at_n["mean_estimate"], "se_mean_effect": at_n["se_mean_estimate"],
           "sd_effect": at_n["sd_estimate"], "pool_reuse": at_n["pool_reuse"],
           "z_vs_true_effect": (at_n["mean_estimate"] - te["estimate"]) / at_n["se_mean_estimate"]
           if at_n["se_mean_estimate"] > 0 else None}
    if rep["z_vs_true_effect"] is not None and abs(rep["z_vs_true_effect"]) > 3:
        warn.append(f"{arm}: the replicate mean differs from the true effect by {rep['z_vs_true_effect']:.1f} MC SE")
    nfp = n_for_power(curve, spec.power.target, delta=te["estimate"], delta_ci=te["ci"], alpha=alpha)
    n_star = nfp.get("n_normal_approx")
    if not nfp["reached_in_grid"] and n_star is not None and n_star <= MAX_CHECKED_N:
        # the extrapolation, checked by simulation at its own n (fewer replicates: it is one point)
        chk = power_at(twin, primary, n_star, replicates=min(R, 400), alpha=alpha, seed=spec.seed, key=(key, 1))
        nfp["simulated_at_n_normal_approx"] = {k2: chk[k2] for k2 in ("n", "power", "mc_se", "replicates", "pool_reuse")}
    block: dict[str, Any] = {
        "endpoint": primary.name, "contrast": f"{arm} - {spec.control}", "true_effect": te, "replicates": rep,
        "at_n_per_arm": at_n["power"], "mc_se": at_n["mc_se"], "success_at_n_per_arm": at_n["success"],
        "curve": curve, "n_for_target": nfp, "pool_size": twin.size,
        "method": (f"{R} replicate trials per n, each drawing different patients per arm from one pool of "
                   f"{twin.size} digital twins (without replacement while 2n <= pool), with fresh measurement "
                   "error; power = share with p < alpha")}
    pools = [d.pool(primary.output, j, spec.control, arm) for d in draws if d.ok.sum() >= 2]
    if pools:
        ac = assurance_curve(pools, primary, ns, replicates=R, alpha=alpha, seed=spec.seed, key=(key,))
        at = next(c for c in ac if c["n"] == n0)
        effects = [true_effect(p_, primary, level=spec.analysis.level,
                               z=_pool_noise(spec, d, outputs, primary)[:, :] if primary.binary else None)["estimate"]
                   for p_, d in zip(pools, [d for d in draws if d.ok.sum() >= 2], strict=True)]
        block["assurance"] = {
            "at_n_per_arm": at["assurance"], "mc_se": at["mc_se"], "curve": ac,
            "n_for_target": n_for_assurance(ac, spec.power.target), "draws": len(pools),
            "draws_failed": len(draws) - len(pools), "source": spec.assurance.source,
            "patients_per_draw": spec.assurance.patients_per_draw,
            "true_effect_by_draw": {"quantiles": {q: float(np.quantile(effects, float(q))) for q in ("0.1", "0.5", "0.9")},
                                    "share_favourable": float(np.mean(np.sign(effects) == primary.favourable))
                                    if primary.favourable else None},
            "method": ("probability of success (p < alpha with the favourable sign) averaged over parameter draws "
                       "from nadsim.calibration.parameter_draws; each draw has its own pool of twins, resampled "
                       "with replacement; MC SE = SD over draws / sqrt(draws)")}
    return block


def finalize(run_id: str, spec: TrialSpec, model: Model, out: Path, reg: Registry, *,
             failed_chunks: dict[str, str] | None = None) -> dict[str, Any]:
    from nadsim.trial._run import endpoint_outputs

    outputs, skipped = endpoint_outputs(spec, model)
    long = load_chunks(run_id, out, reg)
    arms = tuple(a.name for a in spec.arms)
    times = spec.visit_times()
    pool_long = long[long["draw"] < 0]
    po = PotentialOutcomes.from_long(pool_long, arms, outputs, times)
    draws = [PotentialOutcomes.from_long(g, arms, outputs, times) for _, g in long[long["draw"] >= 0].groupby("draw")]
    subj = observed_endpoints(spec, _observed_long(pool_long, spec), outputs)
    ok = subj[subj["status"] == 0]
    endpoints = [_measurement(spec, e) for e in spec.endpoints if e.output in outputs]
    primary = spec.primary()
    primary = next((e for e in endpoints if e.name == primary.name), endpoints[0])
    warn: list[str] = []
    if failed_chunks:
        warn.append(f"{len(failed_chunks)} chunk(s) failed twice and are left out: "
                    + "; ".join(f"{k}: {v}" for k, v in sorted(failed_chunks.items())))
    n_bad = int((~po.ok).sum())
    if n_bad:
        warn.append(f"{n_bad} of {po.ok.size} pool patients failed under some arm and are left out of every estimate")
    summary: dict[str, Any] = {
        "run_id": run_id, "trial": spec.name, "seed": spec.seed, "model": model.name, "model_hash": model.hash(),
        "nadsim_version": __version__,
        "n_per_arm": spec.population.n_per_arm, "pool_size": int(po.ok.sum()), "control": spec.control,
        "alpha": spec.analysis.alpha, "level": spec.analysis.level, "visit_times_h": times.tolist(),
        "arms": {a.name: {"regimen": a.regimen().describe(), "n": int((subj["arm"] == a.name).sum()),
                          "n_failed": int(((subj["arm"] == a.name) & (subj["status"] != 0)).sum())} for a in spec.arms},
        "primary_endpoint": primary.name, "skipped_endpoints": skipped, "failed_chunks": failed_chunks or {},
        "endpoints": {}, "subgroups": {}, "power": {},
        "disclaimer": DISCLAIMER,
    }
    for e in endpoints:
        block = _endpoint_block(ok, spec, e, _unit(model, e.output))
        z = _pool_noise(spec, po, outputs, e) if e.binary else None
        block["true_effects"] = {a: true_effect(po.pool(e.output, spec.visit_index(e), spec.control, a), e,
                                                level=spec.analysis.level, z=z)
                                 for a in arms if a != spec.control}
        if e.kind == "change":
            block["mmrm"] = {a: _mmrm_block(ok, spec, e, a) for a in arms if a != spec.control}
        summary["endpoints"][e.name] = block
    summary["subgroups"] = _subgroups(ok, spec, po, endpoints, primary, outputs, lambda o: _unit(model, o), warn)
    summary["placebo_response"] = _placebo_response(spec, po, outputs, warn)
    for k, a in enumerate(spec.arms):
        if a.name != spec.control:
            summary["power"][a.name] = _design(spec, po, draws, primary, outputs, a.name, k, warn)
    active = next(a.name for a in spec.arms if a.name != spec.control)
    eff = summary["endpoints"][primary.name]["effects"][active]
    d = summary["power"][active]
    summary["treatment_effect"] = {"endpoint": primary.name, "arm": active, **eff}
    summary["per_arm"] = summary["endpoints"][primary.name]["arms"]
    # the contract read by outside checks: the first active arm against control, primary endpoint
    summary["true_effect"] = {**d["true_effect"], "endpoint": primary.name, "contrast": d["contrast"],
                              "unit": summary["endpoints"][primary.name]["unit"]}
    summary["replicates"] = d["replicates"]
    summary["power_curve"] = [{k2: c[k2] for k2 in ("n", "power", "mc_se", "success", "success_mc_se", "mean_estimate")}
                              for c in d["curve"]]
    summary["power_at_n"] = d["at_n_per_arm"]
    summary["n_for_power"] = d["n_for_target"]
    summary["assurance"] = d["assurance"]["at_n_per_arm"] if "assurance" in d else None
    summary["assurance_mc_se"] = d["assurance"]["mc_se"] if "assurance" in d else None
    summary["n_for_assurance"] = d["assurance"]["n_for_target"] if "assurance" in d else None
    if "assurance" not in d:
        warn.append("assurance not computed ([assurance] draws = 0 or every draw failed)")
    summary["warnings"] = warn
    summary = _clean(summary)
    atomic_write_parquet(subj, out / "subjects.parquet")
    atomic_write_bytes(out / "summary.json", json.dumps(json_safe(summary), indent=1, sort_keys=True,
                                                                 allow_nan=False).encode())
    return summary
