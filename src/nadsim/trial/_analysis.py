"""Trial statistics: ANCOVA on change from baseline, proportions, intervals; MMRM and
subgroup interaction tests (statsmodels).

ANCOVA and the proportion test are vectorised over a leading *replicate* axis so that the same
code analyses the simulated trial (one replicate) and thousands of replicate trials for power;
the ANCOVA is checked against statsmodels' OLS in the tests. The mixed model over the visits
(:func:`mmrm`) and the treatment-by-subgroup interaction (:func:`interaction_test`) run once per
trial and use statsmodels directly.

References
----------
ANCOVA with the baseline as covariate is the standard analysis of change scores in
randomised trials (Vickers & Altman 2001, BMJ 323:1123, doi:10.1136/bmj.323.7321.1123).
Wilson score interval: Wilson 1927, J Am Stat Assoc 22:209, doi:10.1080/01621459.1927.10502953.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["TestResult", "ancova", "endpoint_values", "holm", "interaction_test", "mean_ci", "mmrm", "observe",
           "proportion_test", "t_test_power", "wilson"]


@dataclass(frozen=True)
class TestResult:
    """Treatment-minus-control effect per replicate (arrays of shape (R,))."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    p: np.ndarray
    low: np.ndarray
    high: np.ndarray


def observe(true: np.ndarray, z: np.ndarray, *, noise_sd: float = 0.0, noise_cv: float = 0.0,
            round_: bool = False, clip: tuple[float, float] | None = None) -> np.ndarray:
    """Add measurement error to true values: ``x (1 + cv z) + sd z`` with one ``z`` per value."""
    x = true * (1.0 + noise_cv * z) + noise_sd * z
    if round_:
        x = np.round(x)
    if clip is not None:
        x = np.clip(x, clip[0], clip[1])
    return x


def endpoint_values(kind: str, base: np.ndarray, visit: np.ndarray, cut: float) -> np.ndarray:
    """The endpoint from observed baseline and visit values (float; 0/1 for binary)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "change":
            return visit - base
        if kind == "percent_change":
            return 100.0 * (visit - base) / base
        if kind == "value":
            return visit.astype(float)
        if kind == "response":
            return ((base - visit) >= cut * base).astype(float)
        if kind == "remission":
            return (visit <= cut).astype(float)
    raise ValueError(kind)


def ancova(y: np.ndarray, baseline: np.ndarray, treat: np.ndarray, *, level: float = 0.95) -> TestResult:
    """OLS of ``y ~ 1 + treat + baseline`` per replicate (rows); two-sided t test on ``treat``.

    Shapes ``(R, m)`` (or ``(m,)`` for one trial). Rows with NaN are not allowed: drop failed
    subjects first. The normal equations are built from row sums (the baseline centred per row,
    so it is orthogonal to the intercept): thousands of replicate trials cost a few passes over
    the data instead of an ``(R, m, 3)`` design matrix.
    """
    y, baseline, treat = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (y, baseline, treat))
    y, baseline, treat = np.broadcast_arrays(y, baseline, treat)
    R, m = y.shape
    b = baseline - baseline.mean(axis=1, keepdims=True)
    s_t, s_tt, s_tb, s_bb = treat.sum(axis=1), (treat * treat).sum(axis=1), (treat * b).sum(axis=1), (b * b).sum(axis=1)
    s_y, s_ty, s_by = y.sum(axis=1), (treat * y).sum(axis=1), (b * y).sum(axis=1)
    XtX = np.zeros((R, 3, 3))
    XtX[:, 0, 0] = m
    XtX[:, 0, 1] = XtX[:, 1, 0] = s_t
    XtX[:, 1, 1] = s_tt
    XtX[:, 1, 2] = XtX[:, 2, 1] = s_tb
    XtX[:, 2, 2] = s_bb
    Xty = np.stack([s_y, s_ty, s_by], axis=1)
    # a constant baseline makes the design singular: fall back to the two-sample t test
    const_b = np.ptp(baseline, axis=1) <= 1e-12 * np.maximum(1.0, np.abs(baseline).max(axis=1))
    XtX[const_b, 2, 2] = 1.0
    beta = np.linalg.solve(XtX, Xty[..., None])[..., 0]
    resid = y - beta[:, :1] - beta[:, 1:2] * treat - beta[:, 2:3] * b
    k = np.where(const_b, 2, 3)
    df = (m - k).astype(float)
    s2 = (resid**2).sum(axis=1) / np.maximum(df, 1.0)
    cov11 = np.linalg.inv(XtX)[:, 1, 1]
    se = np.sqrt(s2 * cov11)
    est = beta[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        tstat = est / se
    p = 2.0 * stats.t.sf(np.abs(tstat), df)
    p = np.where(se > 0, p, np.where(est != 0, 0.0, 1.0))
    q = stats.t.ppf(0.5 + level / 2.0, df)
    return TestResult(est, se, df, p, est - q * se, est + q * se)


def proportion_test(y: np.ndarray, treat: np.ndarray, *, level: float = 0.95) -> TestResult:
    """Difference in proportions (treated minus control): pooled z test, Wald interval."""
    y, treat = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (y, treat))
    n1 = treat.sum(axis=1)
    n0 = (1 - treat).sum(axis=1)
    p1 = (y * treat).sum(axis=1) / n1
    p0 = (y * (1 - treat)).sum(axis=1) / n0
    pp = (y.sum(axis=1)) / (n1 + n0)
    est = p1 - p0
    se0 = np.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se0 > 0, est / se0, 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    q = stats.norm.ppf(0.5 + level / 2.0)
    return TestResult(est, se, np.full_like(est, np.inf), p, est - q * se, est + q * se)


def mean_ci(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, SD and the t interval of the mean."""
    x = np.asarray(x, dtype=float)
    n = x.size
    m = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else 0.0
    h = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
    return m, sd, m - h, m + h


def wilson(k: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return float("nan"), float("nan")
    z = stats.norm.ppf(0.5 + level / 2)
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(c - h), float(c + h)


def t_test_power(delta: float, sd: float, n: int, alpha: float = 0.05, *, covariates: int = 0) -> float:
    """Closed-form power of the two-sided two-sample t test (noncentral t), ``n`` per arm.

    ``covariates`` extra regressors (1 for ANCOVA's baseline) each remove one degree of freedom.
    """
    df = 2 * n - 2 - covariates
    ncp = delta / (sd * np.sqrt(2.0 / n))
    tc = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(tc, df, ncp) + stats.nct.cdf(-tc, df, ncp))


def mmrm(visits: pd.DataFrame, *, level: float = 0.95) -> dict:
    """Treatment effect at the last visit from a mixed model over every post-baseline visit.

    ``visits`` has one row per subject and visit: ``subject``, ``visit`` (h), ``y`` (change
    from baseline), ``base`` (observed baseline) and ``treat`` (0/1). The model is
    ``y ~ visit * treat + visit:base`` (visit as a factor, the last visit as reference, so the
    ``treat`` coefficient is the effect at the last visit) with a random intercept per subject,
    fitted by REML with statsmodels' MixedLM. MixedLM has no unstructured residual covariance,
    so this is the compound-symmetric form of an MMRM; with one unexplained subject effect and
    independent rater error per visit (how nadsim makes observations) that is the true
    covariance structure.
    """
    # statsmodels is imported where it is used: worker processes import this package only to
    # simulate chunks, and statsmodels costs them 1-10 s of start-up
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    d = visits.copy()
    last = float(d["visit"].max())
    d["v"] = pd.Categorical([f"h{v:g}" for v in d["visit"]],
                            categories=[f"h{v:g}" for v in sorted(d["visit"].unique(), key=lambda x: (x != last, x))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fit = smf.mixedlm("y ~ v * treat + v:base", d, groups=d["subject"]).fit(reml=True)
    lo, hi = fit.conf_int(alpha=1 - level).loc["treat"]
    converged = bool(getattr(fit, "converged", True)) and not any(
        issubclass(w.category, ConvergenceWarning) for w in caught)
    return {"estimate": float(fit.params["treat"]), "se": float(fit.bse["treat"]), "ci": [float(lo), float(hi)],
            "p": float(fit.pvalues["treat"]), "visit_h": last, "n_subjects": int(d["subject"].nunique()),
            "converged": converged,
            "method": "MMRM: change ~ visit * arm + visit:baseline, random intercept per subject "
                      "(statsmodels MixedLM, REML; effect at the last visit)"}


def interaction_test(y: np.ndarray, base: np.ndarray | None, treat: np.ndarray, member: np.ndarray) -> dict:
    """Treatment-by-subgroup interaction: OLS ``y ~ treat * member (+ baseline)``, t test on the
    ``treat:member`` term (statsmodels). For a 0/1 endpoint this is the linear probability
    model, i.e. the difference of the risk differences."""
    import statsmodels.formula.api as smf  # see mmrm

    d = pd.DataFrame({"y": np.asarray(y, float), "treat": np.asarray(treat, float),
                      "member": np.asarray(member, float)})
    formula = "y ~ treat * member"
    if base is not None:
        d["base"] = np.asarray(base, float)
        formula += " + base"
    fit = smf.ols(formula, d).fit()
    lo, hi = fit.conf_int().loc["treat:member"]
    return {"interaction": float(fit.params["treat:member"]), "se": float(fit.bse["treat:member"]),
            "ci": [float(lo), float(hi)], "p": float(fit.pvalues["treat:member"]),
            "method": f"OLS {formula} (statsmodels), t test on treat:member"}


def holm(p: list[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p values (statsmodels ``multipletests``)."""
    from statsmodels.stats.multitest import multipletests  # see mmrm

    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return p
    return np.asarray(multipletests(p, method="holm")[1])
