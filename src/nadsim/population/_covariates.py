"""Covariates of virtual subjects: distributions, their sources, and seeded sampling.

Every distribution below carries its source (a row of ``/work/shared/data`` or a DOI) or
says ``assumed`` where no source was found. Sampling is reproducible per subject: subject
``i`` of a population drawn with seed ``s`` always gets the same covariates, whatever the
population size or chunking, because its random stream is ``SeedSequence(s, spawn_key=(0, i))``.

Correlated covariates (CRP and HAM-D, r = 0.05) are drawn on a latent standard-normal scale
through a Gaussian copula and then transformed to their marginal distributions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from nadsim._errors import InputError

__all__ = ["COVARIATES", "Covariate", "CovariateModel", "default_covariates", "subject_normals"]

#: spawn-key namespaces, so that covariates, variability, uncertainty and noise never share a stream
KEY_SUBJECT = 0
KEY_UNCERTAINTY = 1
KEY_NOISE = 2
KEY_REPLICATE = 3
KEY_ALLOCATION = 4
KEY_RATER_CHECK = 6  # 5 is KEY_IIV (population._population)
KEY_CLASS = 7  # responder classes (population._variability)


def subject_normals(seed: int, subjects: Sequence[int] | np.ndarray, k: int, *, key: int = KEY_SUBJECT) -> np.ndarray:
    """Standard normals ``(len(subjects), k)``; row ``j`` depends only on ``(seed, subjects[j])``."""
    out = np.empty((len(subjects), k))
    for j, i in enumerate(subjects):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(key, int(i)))))
        out[j] = rng.standard_normal(k)
    return out


def correlation_matrix(names: Sequence[str], correlations: Mapping[tuple[str, str], float]) -> np.ndarray:
    """The symmetric unit-diagonal matrix over ``names`` with the given pairwise correlations."""
    idx = {n: i for i, n in enumerate(names)}
    c = np.eye(len(idx))
    for (a, b), r in correlations.items():
        c[idx[a], idx[b]] = c[idx[b], idx[a]] = r
    return c


def check_correlations(names: Sequence[str], correlations: Mapping[tuple[str, str], float], *,
                       field: str, pairs: str, matrix: str) -> None:
    """Raise :class:`InputError` unless each pair names two of ``names``, each r is in (-1, 1) and
    the matrix is positive definite. ``pairs`` and ``matrix`` are the errors' *expected* texts."""
    for (a, b), r in correlations.items():
        if a not in names or b not in names:
            raise InputError(field, pairs, (a, b))
        if not -1 < r < 1:
            raise InputError(f"{field}.{a}.{b}", "a correlation in (-1, 1)", r)
    try:
        np.linalg.cholesky(correlation_matrix(names, correlations))
    except np.linalg.LinAlgError:
        raise InputError(field, matrix, dict(correlations)) from None


@dataclass(frozen=True)
class Covariate:
    """One covariate: a marginal distribution, truncation bounds, a unit and its source.

    ``dist`` is one of ``normal`` (``mean``, ``sd``), ``lognormal`` (``median``, ``gsd_log`` =
    SD of log) or ``bernoulli`` (``p``). ``by_sex`` optionally overrides parameters for
    ``female``/``male`` subjects (drawn after ``sex``).
    """

    name: str
    dist: str
    params: Mapping[str, float]
    unit: str = ""
    bounds: tuple[float, float] = (-np.inf, np.inf)
    source: str = "assumed"
    note: str = ""
    by_sex: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        need = {"normal": {"mean", "sd"}, "lognormal": {"median", "sd_log"}, "bernoulli": {"p"}}
        if self.dist not in need:
            raise InputError(f"covariates.{self.name}.dist", f"one of {sorted(need)}", self.dist)
        if not need[self.dist] <= set(self.params):
            raise InputError(f"covariates.{self.name}", f"parameters {sorted(need[self.dist])}", dict(self.params))
        lo, hi = self.bounds
        if lo >= hi:
            raise InputError(f"covariates.{self.name}.bounds", "[low, high] with low < high", self.bounds)
        if self.dist == "bernoulli" and not 0.0 <= self.params["p"] <= 1.0:
            raise InputError(f"covariates.{self.name}.p", "a probability in [0, 1]", self.params["p"])
        for key in ("sd", "sd_log"):
            if key in self.params and self.params[key] < 0:
                raise InputError(f"covariates.{self.name}.{key}", "non-negative", self.params[key])

    def transform(self, z: np.ndarray, female: np.ndarray | None = None) -> np.ndarray:
        """Map latent standard normals ``z`` to this covariate (truncated by inverse CDF)."""
        n = z.shape[0]
        pars = {k: np.full(n, float(v)) for k, v in self.params.items()}
        if self.by_sex and female is not None:
            for sex, over in self.by_sex.items():
                mask = female if sex == "female" else ~female
                for k, v in over.items():
                    pars[k][mask] = float(v)
        # the normal CDF and its inverse from scipy.special (scipy.stats costs ~0.6 s to import)
        u = ndtr(z)
        if self.dist == "bernoulli":
            return (u < pars["p"]).astype(float)
        if self.dist == "normal":
            loc, scale = pars["mean"], np.maximum(pars["sd"], 1e-300)

            def cdf(x: float) -> np.ndarray:
                return ndtr((x - loc) / scale)

            def ppf(q: np.ndarray) -> np.ndarray:
                return loc + scale * ndtri(q)
        else:
            mu, s_log = np.log(pars["median"]), np.maximum(pars["sd_log"], 1e-300)

            def cdf(x: float) -> np.ndarray:
                return ndtr((np.log(x) - mu) / s_log) if x > 0 else np.zeros(n)

            def ppf(q: np.ndarray) -> np.ndarray:
                return np.exp(mu + s_log * ndtri(q))
        lo, hi = self.bounds
        a = cdf(lo) if np.isfinite(lo) else np.zeros(n)
        b = cdf(hi) if np.isfinite(hi) else np.ones(n)
        x = ppf(a + u * (b - a))
        return np.clip(x, lo, hi)

    def with_params(self, **kw: float) -> Covariate:
        return replace(self, params={**self.params, **kw})


def _crp_lognormal() -> tuple[float, float]:
    """Log-normal CRP (mg/L) in depression fitted to two prevalences from Osimo 2019.

    27 % of depressed patients have CRP > 3 mg/L and 58 % have CRP > 1 mg/L
    (Osimo et al. 2019 Psychol Med, doi:10.1017/S0033291719001454; kinetics.csv row
    "prevalence CRP >3 mg/L in depression"). Solving both quantiles of a log-normal gives
    the median and the SD of log CRP.
    """
    z3 = float(ndtri(1 - 0.27))
    z1 = float(ndtri(1 - 0.58))
    sd_log = (np.log(3.0) - np.log(1.0)) / (z3 - z1)
    mu = np.log(1.0) - z1 * sd_log
    return float(np.exp(mu)), float(sd_log)


_CRP_MEDIAN, _CRP_SD_LOG = _crp_lognormal()

#: default covariates of adults with major depression entering an antidepressant trial
COVARIATES: tuple[Covariate, ...] = (
    Covariate("female", "bernoulli", {"p": 0.6}, "", (0.0, 1.0), "assumed",
              "share of women typical of depression trials; no source in the shared data"),
    Covariate("age", "normal", {"mean": 43.0, "sd": 12.0}, "year", (18.0, 75.0),
              "human_pk.csv: Yang 2022 (doi:10.3389/fendo.2022.829658) cohort mean age 43.0 y",
              "SD and the 18-75 y range are assumed"),
    Covariate("BW", "lognormal", {"median": 75.0, "sd_log": 0.18}, "kg", (40.0, 150.0), "assumed",
              "adult body weight; no source in the shared data",
              by_sex={"female": {"median": 68.0}, "male": {"median": 82.0}}),
    Covariate("NAD_whole_blood", "normal", {"mean": 33.0, "sd": 5.5}, "uM", (18.0, 45.0),
              "human_pk.csv: Yang 2022 whole-blood NAD+ 33.0 (SD 5.5) uM; men 34.5, women 31.3",
              "truncated to the model's bounds for NAD0_whole_blood",
              by_sex={"female": {"mean": 31.3}, "male": {"mean": 34.5}}),
    Covariate("CRP", "lognormal", {"median": _CRP_MEDIAN, "sd_log": _CRP_SD_LOG}, "mg/L", (0.05, 50.0),
              "kinetics.csv/effect_sizes.csv: Osimo 2019 (doi:10.1017/S0033291719001454): CRP > 3 mg/L in 27 %, > 1 mg/L in 58 % of depressed patients",
              "log-normal through both prevalences; truncation at 50 mg/L assumed (acute infection excluded)"),
    Covariate("HAMD", "normal", {"mean": 24.0, "sd": 4.0}, "points", (18.0, 35.0),
              "kinetics.csv: Kirsch 2002 FDA trials, mean baseline HAM-D 21.0-29.7",
              "mean chosen inside the reported range; SD 4 and the inclusion window 18-35 are assumed"),
    Covariate("PSQI", "normal", {"mean": 10.0, "sd": 4.0}, "points", (0.0, 21.0), "assumed",
              "Pittsburgh Sleep Quality Index (0-21, > 5 = poor sleep); no depression-trial value in the shared data"),
)

#: latent correlations between covariates where a source gives one
CORRELATIONS: dict[tuple[str, str], tuple[float, str]] = {
    ("CRP", "HAMD"): (0.05, "effect_sizes.csv: PMC6800199 tiered meta-analysis, depression vs CRP r = 0.05"),
}


@dataclass(frozen=True)
class CovariateModel:
    """The joint covariate distribution: marginals plus a latent correlation matrix."""

    covariates: tuple[Covariate, ...] = COVARIATES
    correlations: Mapping[tuple[str, str], float] = field(
        default_factory=lambda: {k: v[0] for k, v in CORRELATIONS.items()})

    def __post_init__(self) -> None:
        names = self.names
        if len(set(names)) != len(names):
            raise InputError("covariates", "unique names", names)
        check_correlations(names, self.correlations, field="correlations",
                           pairs=f"pairs of known covariates {names}",
                           matrix="a positive-definite correlation matrix")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.covariates)

    def correlation_matrix(self) -> np.ndarray:
        return correlation_matrix(self.names, self.correlations)

    def override(self, changes: Mapping[str, Mapping[str, Any]]) -> CovariateModel:
        """Return a copy with some distribution parameters changed (``{"HAMD": {"mean": 26}}``)."""
        cov = {c.name: c for c in self.covariates}
        for name, given in changes.items():
            if name not in cov:
                raise InputError("population.covariates", f"one of {sorted(cov)}", name)
            kw: dict[str, Any] = dict(given)
            bounds = kw.pop("bounds", None)
            c = cov[name].with_params(**{k: float(v) for k, v in kw.items()})
            if bounds is not None:
                c = replace(c, bounds=(float(bounds[0]), float(bounds[1])))
                c.__post_init__()
            cov[name] = c
        return replace(self, covariates=tuple(cov[c.name] for c in self.covariates))

    def sample(self, seed: int, subjects: Sequence[int] | np.ndarray) -> pd.DataFrame:
        """Covariates for the given subject indices (rows reproducible per ``(seed, subject)``)."""
        k = len(self.covariates)
        z = subject_normals(seed, subjects, k, key=KEY_SUBJECT)
        z = z @ np.linalg.cholesky(self.correlation_matrix()).T
        out: dict[str, np.ndarray] = {}
        female = None
        for j, c in enumerate(self.covariates):
            out[c.name] = c.transform(z[:, j], female)
            if c.name == "female":
                female = out[c.name] > 0.5
        df = pd.DataFrame(out, index=pd.Index(np.asarray(subjects, dtype=int), name="subject"))
        if "female" in df:
            df["female"] = df["female"].astype(bool)
        return df

    def table(self) -> pd.DataFrame:
        """One row per covariate: distribution, parameters, bounds, unit and source."""
        return pd.DataFrame([{"covariate": c.name, "distribution": c.dist, "parameters": dict(c.params),
                              "by_sex": dict(c.by_sex), "bounds": c.bounds, "unit": c.unit,
                              "source": c.source, "note": c.note} for c in self.covariates])


def default_covariates() -> CovariateModel:
    return CovariateModel()
