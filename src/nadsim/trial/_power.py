"""Replicate trials from one super-population: power, the probability of success, assurance.

A replicate trial draws ``n`` patients per arm from the common pool of digital twins
(:class:`~nadsim.trial._twins.TwinPool`): different patients in each arm, each contributing
the potential outcome of the arm it was drawn into, plus fresh measurement error at baseline
and at the visit and a fresh unexplained subject effect. While ``2 n`` fits in the pool the
patients are drawn without replacement (a random split of the pool, as a real randomisation
would do), so the mean of the replicate estimates is the pool's average treatment effect; when
``2 n`` exceeds the pool, patients are drawn with replacement and ``pool_reuse`` says how many
draws repeat a patient. Power is the share of replicates with ``p < alpha``; the probability of
success also asks the estimate to point the favourable way (``Endpoint.better``).

Assurance averages the probability of success over the parameter-uncertainty draws
(``nadsim.calibration.parameter_draws``): each draw has its own pool of twins, and its Monte
Carlo SE is the SD of the per-draw probabilities over sqrt(draws), which holds both the spread
between draws and the replicate noise within each.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from nadsim.population._covariates import KEY_REPLICATE
from nadsim.trial._analysis import ancova, endpoint_values, proportion_test
from nadsim.trial._spec import Endpoint
from nadsim.trial._twins import TwinPool

__all__ = ["assurance_curve", "n_for_assurance", "n_for_power", "n_normal_approx", "power_at", "power_curve",
           "replicate_trials"]

_BLOCK = 2_000_000  # patients x replicates held in memory at once


def _rng(seed: int, key: Sequence[int], n: int) -> np.random.Generator:
    ss = np.random.SeedSequence(int(seed), spawn_key=(KEY_REPLICATE, *map(int, key), int(n)))
    return np.random.Generator(np.random.PCG64(ss))


def _draw_patients(rng: np.random.Generator, N: int, n: int, R: int) -> np.ndarray:
    """``(R, 2n)`` pool indices: the first ``n`` columns are the control arm."""
    if 2 * n <= N:
        return rng.permuted(np.tile(np.arange(N), (R, 1)), axis=1)[:, : 2 * n]
    return rng.integers(0, N, (R, 2 * n))


def _observe_in_place(x: np.ndarray, z: np.ndarray, e: Endpoint) -> np.ndarray:
    """:func:`~nadsim.trial._analysis.observe` on a scratch array, overwriting it: the same
    arithmetic (so the same values), without the temporaries of a zero CV or SD."""
    if e.noise_cv:
        x *= 1.0 + e.noise_cv * z
    if e.noise_sd:
        x += e.noise_sd * z
    if e.round:
        np.round(x, out=x)
    if e.clip is not None:
        np.clip(x, e.clip[0], e.clip[1], out=x)
    return x


def replicate_trials(pool: TwinPool, e: Endpoint, n: int, R: int, rng: np.random.Generator, *,
                     level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and p values of ``R`` replicate trials with ``n`` patients per arm."""
    est, p = np.empty(R), np.empty(R)
    block = max(1, _BLOCK // max(pool.size, 2 * n))
    g = np.concatenate([np.zeros(n), np.ones(n)])
    for r0 in range(0, R, block):
        rows = min(block, R - r0)
        idx = _draw_patients(rng, pool.size, n, rows)
        ob = pool.base[idx]
        # the first n columns are the control arm: each patient's outcome under the arm drawn into
        vis = np.concatenate([pool.ctrl[idx[:, :n]], pool.trt[idx[:, n:]]], axis=1)
        # single-precision normals: the RNG is most of the cost at large n, and rater error needs
        # no more than 24 bits (observed scores are rounded to whole points)
        z = rng.standard_normal((3, *idx.shape), dtype=np.float32)
        _observe_in_place(ob, z[0], e)
        if e.subject_sd:
            vis += e.subject_sd * z[2]
        ov = _observe_in_place(vis, z[1], e)
        y = endpoint_values(e.kind, ob, ov, e.cut)
        gg = np.broadcast_to(g, idx.shape)
        res = proportion_test(y, gg, level=level) if e.binary else ancova(y, ob, gg, level=level)
        est[r0:r0 + rows], p[r0:r0 + rows] = res.estimate, res.p
    return est, p


def _success(est: np.ndarray, p: np.ndarray, e: Endpoint, alpha: float) -> np.ndarray:
    sig = p < alpha
    return sig if e.favourable == 0 else sig & (np.sign(est) == e.favourable)


def power_at(pool: TwinPool, e: Endpoint, n: int, *, replicates: int = 500, alpha: float = 0.05, seed: int = 0,
             key: Sequence[int] = (), level: float = 0.95) -> dict:
    """Power, probability of success and the replicate estimates' mean, each with its MC SE."""
    R = int(replicates)
    est, p = replicate_trials(pool, e, int(n), R, _rng(seed, key, n), level=level)
    pw = float(np.mean(p < alpha))
    ps = float(np.mean(_success(est, p, e, alpha)))
    sd = float(np.std(est, ddof=1)) if R > 1 else float("nan")
    reuse = 0.0 if 2 * n <= pool.size else 1.0 - pool.size * (1 - np.exp(-2 * n / pool.size)) / (2 * n)
    return {"n": int(n), "power": pw, "mc_se": float(np.sqrt(pw * (1 - pw) / R)),
            "success": ps, "success_mc_se": float(np.sqrt(ps * (1 - ps) / R)),
            "mean_estimate": float(np.mean(est)), "se_mean_estimate": sd / np.sqrt(R), "sd_estimate": sd,
            "replicates": R, "pool_reuse": float(reuse)}


def power_curve(pool: TwinPool, e: Endpoint, ns: Sequence[int], *, replicates: int = 500, alpha: float = 0.05,
                seed: int = 0, key: Sequence[int] = ()) -> list[dict]:
    return [power_at(pool, e, n, replicates=replicates, alpha=alpha, seed=seed, key=key) for n in ns]


def n_normal_approx(delta: float, sd_estimate: float, n_ref: int, *, alpha: float = 0.05,
                    target: float = 0.8) -> int | None:
    """Patients per arm for ``target`` power at effect ``delta`` by the normal approximation:
    the SD of the estimate at ``n_ref`` scales as ``1/sqrt(n)``, so
    ``n = n_ref (z_{1-alpha/2} + z_target)^2 sd^2 / delta^2`` (``None`` for a zero effect)."""
    if not np.isfinite(delta) or delta == 0 or not np.isfinite(sd_estimate):
        return None
    k = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target)
    return int(np.ceil(n_ref * (k * sd_estimate / delta) ** 2))


def n_for_power(curve: list[dict], target: float = 0.8, *, delta: float | None = None,
                delta_ci: Sequence[float] | None = None, alpha: float = 0.05) -> dict:
    """Patients per arm for ``target`` power: the first grid point reaching it, else the normal
    approximation at the true effect ``delta`` from the largest grid point's estimate SD (with
    the same at the ends of the effect's interval, ``None`` where the interval reaches 0)."""
    first = next((c["n"] for c in curve if c["power"] >= target), None)
    out: dict = {"target": target, "n_first_grid_point": first, "reached_in_grid": first is not None,
                 "grid_max": curve[-1]["n"]}
    if delta is not None:
        ref = curve[-1]
        out["n_normal_approx"] = n_normal_approx(delta, ref["sd_estimate"], ref["n"], alpha=alpha, target=target)
        if delta_ci is not None:
            lo, hi = sorted(float(x) for x in delta_ci)
            ends = [] if lo <= 0 <= hi else [n_normal_approx(x, ref["sd_estimate"], ref["n"], alpha=alpha, target=target)
                                             for x in (lo, hi)]
            out["n_normal_approx_range"] = sorted(ends) if ends else [None, None]
    out["note"] = ("" if first is not None else
                   f"not reached within the grid (n <= {curve[-1]['n']} per arm); n_normal_approx extrapolates "
                   "from the largest grid point")
    return out


def assurance_curve(pools: Sequence[TwinPool], e: Endpoint, ns: Sequence[int], *, replicates: int = 500,
                    alpha: float = 0.05, seed: int = 0, key: Sequence[int] = ()) -> list[dict]:
    """Assurance (mean probability of success over the draws' pools) at each ``n``, with its MC SE.

    ``replicates`` is split evenly over the draws (at least 20 per draw)."""
    D = len(pools)
    per = max(20, int(np.ceil(replicates / max(D, 1))))
    out = []
    for n in ns:
        ps = np.array([power_at(pl, e, n, replicates=per, alpha=alpha, seed=seed, key=(*key, 1000 + d))["success"]
                       for d, pl in enumerate(pools)])
        out.append({"n": int(n), "assurance": float(ps.mean()),
                    "mc_se": float(ps.std(ddof=1) / np.sqrt(D)) if D > 1 else float("nan"),
                    "draws": D, "replicates_per_draw": per,
                    "success_by_draw_quantiles": {q: float(np.quantile(ps, float(q))) for q in ("0.1", "0.5", "0.9")}})
    return out


def n_for_assurance(curve: list[dict], target: float = 0.8) -> dict:
    """First grid point whose assurance reaches ``target``; otherwise says so with the best seen."""
    first = next((c["n"] for c in curve if c["assurance"] >= target), None)
    best = max(curve, key=lambda c: c["assurance"])
    return {"target": target, "n": first, "reached_in_grid": first is not None, "grid_max": curve[-1]["n"],
            "note": "" if first is not None else
            (f"not reached within the grid (n <= {curve[-1]['n']} per arm; highest assurance "
             f"{best['assurance']:.3f} at n = {best['n']})")}
