"""Power by simulation: resample virtual subjects, add fresh measurement error, analyse.

Each replicate trial draws ``n`` subjects per arm with replacement from that arm's simulated
pool (so the model's spread of individual responses carries over), adds new measurement
error at baseline and at the visit, and runs the trial's analysis. Power is the share of
replicates with p < alpha. With several calibration-uncertainty draws, replicate ``r``
resamples only subjects of draw ``r mod U``, so power averages over the uncertainty of the
typical effect ("assurance") rather than pooling it into the variability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from nadsim._errors import InputError
from nadsim.population._covariates import KEY_REPLICATE
from nadsim.trial._analysis import ancova, endpoint_values, observe, proportion_test
from nadsim.trial._spec import Endpoint

__all__ = ["ArmPool", "n_for_power", "power_at", "power_curve", "power_search"]


@dataclass(frozen=True)
class ArmPool:
    """True (noise-free) values of one output for the simulated subjects of one arm."""

    base: np.ndarray  # (m,) value at the baseline visit
    visit: np.ndarray  # (m,) value at the endpoint's visit
    draw: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # (m,) uncertainty draw

    def __post_init__(self) -> None:
        if self.base.shape != self.visit.shape or self.base.ndim != 1 or self.base.size == 0:
            raise InputError("pool", "matching non-empty 1-D arrays of baseline and visit values", self.base.shape)
        if self.draw.size == 0:
            object.__setattr__(self, "draw", np.zeros(self.base.size, dtype=int))


def _replicate_stats(pool_c: ArmPool, pool_t: ArmPool, e: Endpoint, n: int, R: int,
                     rng: np.random.Generator, level: float):
    draws = np.unique(pool_c.draw)
    p = np.empty(R)
    est = np.empty(R)
    for k, u in enumerate(draws):
        rows = np.arange(k, R, draws.size)
        if rows.size == 0:
            continue
        ic = np.flatnonzero(pool_c.draw == u)
        it = np.flatnonzero(pool_t.draw == u)
        if ic.size == 0 or it.size == 0:
            raise InputError("uncertainty draws", "subjects of every draw in every arm", f"draw {u}")
        sc = ic[rng.integers(0, ic.size, (rows.size, n))]
        st = it[rng.integers(0, it.size, (rows.size, n))]
        base = np.concatenate([pool_c.base[sc], pool_t.base[st]], axis=1)
        vis = np.concatenate([pool_c.visit[sc], pool_t.visit[st]], axis=1)
        z = rng.standard_normal((3, *base.shape))
        ob = observe(base, z[0], noise_sd=e.noise_sd, noise_cv=e.noise_cv, round_=e.round, clip=e.clip)
        ov = observe(vis + e.subject_sd * z[2], z[1], noise_sd=e.noise_sd, noise_cv=e.noise_cv, round_=e.round,
                     clip=e.clip)
        y = endpoint_values(e.kind, ob, ov, e.cut)
        g = np.concatenate([np.zeros((rows.size, n)), np.ones((rows.size, n))], axis=1)
        res = proportion_test(y, g, level=level) if e.binary else ancova(y, ob, g, level=level)
        p[rows] = res.p
        est[rows] = res.estimate
    return p, est


def power_at(pool_c: ArmPool, pool_t: ArmPool, e: Endpoint, n: int, *, replicates: int = 500,
             alpha: float = 0.05, seed: int = 0, key: Sequence[int] = (), level: float = 0.95) -> dict:
    """Power (and its Monte-Carlo SE) of one comparison at ``n`` subjects per arm."""
    ss = np.random.SeedSequence(int(seed), spawn_key=(KEY_REPLICATE, *map(int, key), int(n)))
    rng = np.random.Generator(np.random.PCG64(ss))
    p, est = _replicate_stats(pool_c, pool_t, e, int(n), int(replicates), rng, level)
    pw = float(np.mean(p < alpha))
    return {"n": int(n), "power": pw, "mc_se": float(np.sqrt(pw * (1 - pw) / replicates)),
            "mean_estimate": float(np.mean(est)), "replicates": int(replicates)}


def power_curve(pool_c: ArmPool, pool_t: ArmPool, e: Endpoint, ns: Sequence[int], *, replicates: int = 500,
                alpha: float = 0.05, seed: int = 0, key: Sequence[int] = ()) -> list[dict]:
    return [power_at(pool_c, pool_t, e, n, replicates=replicates, alpha=alpha, seed=seed, key=key) for n in ns]


def n_for_power(curve: list[dict], target: float = 0.8) -> dict:
    """Subjects per arm for ``target`` power: first grid point reaching it, and a probit fit.

    The fit uses ``probit(power) ~ a + b sqrt(n)``, the large-sample shape of the power of a
    z test (its noncentrality grows with sqrt(n)); only points with 0.02 < power < 0.98 enter.
    """
    ns = np.array([c["n"] for c in curve], dtype=float)
    pw = np.array([c["power"] for c in curve])
    first = next((int(n) for n, p in zip(ns, pw, strict=True) if p >= target), None)
    ok = (pw > 0.02) & (pw < 0.98)
    fit = None
    if ok.sum() >= 2:
        b, a = np.polyfit(np.sqrt(ns[ok]), stats.norm.ppf(pw[ok]), 1)
        if b > 0:
            root = (stats.norm.ppf(target) - a) / b
            if root > 0:
                fit = int(np.ceil(root**2))
    return {"target": target, "n_first_grid_point": first, "n_fit": fit,
            "reached_in_grid": first is not None,
            "note": "" if first is not None else "target not reached on the grid; n_fit is an extrapolation"}


def power_search(pool_c: ArmPool, pool_t: ArmPool, e: Endpoint, ns: Sequence[int], *, target: float = 0.8,
                 replicates: int = 500, alpha: float = 0.05, seed: int = 0, key: Sequence[int] = (),
                 n_max: int = 100_000) -> tuple[list[dict], dict]:
    """Power on the grid ``ns``, extended until it brackets ``target``; then :func:`n_for_power`.

    The grid is doubled upwards while no point reaches the target (up to ``n_max``) and halved
    downwards while every point exceeds it (down to 3 per arm), so that the probit fit has
    points on both sides of the target.
    """
    def at(grid: Sequence[int]) -> list[dict]:
        return power_curve(pool_c, pool_t, e, grid, replicates=replicates, alpha=alpha, seed=seed, key=key)

    curve = at(sorted(set(ns)))
    while max(c["power"] for c in curve) < target and curve[-1]["n"] < n_max:
        curve += at([min(2 * curve[-1]["n"], n_max)])
    while min(c["power"] for c in curve) >= target and curve[0]["n"] > 3:
        curve = at([max(curve[0]["n"] // 2, 3)]) + curve
    return curve, n_for_power(curve, target)
