"""Digital twins: every virtual patient simulated under every arm, and the effect they imply.

Each patient of the pool is one parameter row, solved once per arm with the same parameters
and the same undosed baseline (the engine caches baselines by parameter set with the arm switch
excluded, so the arms of a chunk share them). The *true effect* of an arm is the average over
the pool of the patient's paired difference ``Y_i(arm) - Y_i(control)``; its interval is the
t interval of those paired differences, i.e. how well a pool of this size pins the
super-population's average treatment effect. Because the same patient appears in both terms,
between-patient variability cancels and no arm-pool imbalance can masquerade as an effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nadsim._errors import InputError
from nadsim.trial._analysis import endpoint_values, mean_ci, observe
from nadsim.trial._spec import Endpoint

__all__ = ["PotentialOutcomes", "TwinPool", "true_effect"]


@dataclass(frozen=True)
class TwinPool:
    """Noise-free potential outcomes of one output for one contrast (control, treated).

    ``base`` is the value at the baseline visit and ``ctrl``/``trt`` the value at the
    endpoint's visit under each arm, for the same patients (shape ``(N,)`` each).
    """

    base: np.ndarray
    ctrl: np.ndarray
    trt: np.ndarray

    def __post_init__(self) -> None:
        shapes = {self.base.shape, self.ctrl.shape, self.trt.shape}
        if len(shapes) != 1 or self.base.ndim != 1 or self.base.size < 2:
            raise InputError("pool", "matching 1-D arrays of at least 2 patients", sorted(shapes))

    @property
    def size(self) -> int:
        return int(self.base.size)


@dataclass(frozen=True)
class PotentialOutcomes:
    """Every patient's outcomes under every arm: ``values[output]`` has shape ``(A, N, T)``.

    ``ok`` marks patients solved under every arm; ``draw`` is -1 for the trial's own parameters
    and ``d >= 0`` for parameter-uncertainty draw ``d``.
    """

    arms: tuple[str, ...]
    subject: np.ndarray
    draw: np.ndarray
    ok: np.ndarray
    times: np.ndarray
    values: dict[str, np.ndarray]
    covariates: pd.DataFrame

    @classmethod
    def from_long(cls, long: pd.DataFrame, arms: tuple[str, ...], outputs: list[str],
                  times: np.ndarray) -> PotentialOutcomes:
        """From chunk rows (subject, arm, time_h, status, draw, outputs, cov_*)."""
        A, T = len(arms), times.size
        order = {a: k for k, a in enumerate(arms)}
        df = long.assign(_arm=long["arm"].map(order)).sort_values(["subject", "_arm", "time_h"], kind="stable")
        N = df.shape[0] // (A * T)
        if df.shape[0] != N * A * T:
            raise InputError("chunks", "every patient under every arm at every visit", f"{df.shape[0]} rows")
        status = df["status"].to_numpy().reshape(N, A, T)[:, :, 0]
        first = df.iloc[:: A * T]
        values = {o: df[o].to_numpy(dtype=float).reshape(N, A, T).transpose(1, 0, 2) for o in outputs}
        cov = pd.DataFrame({c.removeprefix("cov_"): first[c].to_numpy() for c in df.columns if c.startswith("cov_")})
        return cls(arms, first["subject"].to_numpy(), first["draw"].to_numpy(), (status == 0).all(axis=1),
                   times, values, cov)

    def select(self, rows: np.ndarray) -> PotentialOutcomes:
        rows = np.asarray(rows)
        return PotentialOutcomes(self.arms, self.subject[rows], self.draw[rows], self.ok[rows], self.times,
                                 {o: v[:, rows] for o, v in self.values.items()},
                                 self.covariates.iloc[rows].reset_index(drop=True))

    def pool(self, output: str, visit: int, control: str, arm: str) -> TwinPool:
        v = self.values[output][:, self.ok]
        c, t = self.arms.index(control), self.arms.index(arm)
        return TwinPool(v[c, :, 0].copy(), v[c, :, visit].copy(), v[t, :, visit].copy())


def true_effect(pool: TwinPool, e: Endpoint, *, level: float = 0.95, z: np.ndarray | None = None) -> dict:
    """Average treatment effect over the pool from the paired outcomes, with a t interval.

    Continuous endpoints use the noise-free values (measurement error has mean zero, so it
    changes the estimand by nothing). Binary endpoints depend on the error (a noisy score crosses
    the cut-off more often), so they are read on observed values with one error draw ``z``
    (shape ``(3, N)``) per patient, the same under both arms.
    """
    if e.binary:
        if z is None:
            raise InputError("z", "measurement-error normals for a binary endpoint", None)
        dev = e.subject_sd * z[2]
        ob = observe(pool.base, z[0], noise_sd=e.noise_sd, noise_cv=e.noise_cv, round_=e.round, clip=e.clip)
        yc = endpoint_values(e.kind, ob, observe(pool.ctrl + dev, z[1], noise_sd=e.noise_sd, noise_cv=e.noise_cv,
                                                 round_=e.round, clip=e.clip), e.cut)
        yt = endpoint_values(e.kind, ob, observe(pool.trt + dev, z[1], noise_sd=e.noise_sd, noise_cv=e.noise_cv,
                                                 round_=e.round, clip=e.clip), e.cut)
    else:
        yc = endpoint_values(e.kind, pool.base, pool.ctrl, e.cut)
        yt = endpoint_values(e.kind, pool.base, pool.trt, e.cut)
    d = yt - yc
    m, sd, lo, hi = mean_ci(d, level)
    return {"estimate": m, "ci": [lo, hi], "se": sd / np.sqrt(d.size), "sd_individual_effect": sd,
            "n_patients": int(d.size), "control_mean": float(np.mean(yc)), "treated_mean": float(np.mean(yt)),
            "method": "paired potential outcomes (every virtual patient under every arm), t interval"}
