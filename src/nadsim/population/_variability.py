"""Inter-individual variability (IIV) and parameter uncertainty, kept apart.

*Variability* is how subjects differ from one another at fixed "true" typical values: each
subject ``i`` gets ``theta_i = theta_typical * exp(eta_i)``, ``eta ~ N(0, Omega)``, with
``Omega`` built from coefficients of variation and (where known) correlations.

*Uncertainty* is what we do not know about the typical values themselves (calibration
error): uncertainty draw ``u`` gives ``theta_typical_u = theta_nominal * exp(eps_u)``,
``eps ~ N(0, Sigma)``. A subject belongs to exactly one uncertainty draw, so a result can be
summarised within a draw (variability only) or across draws (both).

*Responder classes* are categorical: a parameter listed in ``classes`` is also multiplied by the
factor of one class per subject, drawn with the class shares (the placebo-arm improvement
follows Stone 2022's three-component mixture, :data:`STONE_PLACEBO_CLASSES`). The factors have
mean 1 over the shares, so the class draw keeps the population mean.

Values are clipped into each parameter's bounds from ``parameters.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nadsim._errors import InputError
from nadsim.population._covariates import (
    KEY_UNCERTAINTY,
    check_correlations,
    correlation_matrix,
    subject_normals,
)

__all__ = ["DEFAULT_CLASSES", "DEFAULT_IIV", "STONE_PLACEBO_CLASSES", "Uncertainty", "Variability",
           "class_factors", "class_multipliers", "lognormal_sd", "mixture_mean"]


def lognormal_sd(cv: float) -> float:
    """SD of log(theta) for a log-normal with coefficient of variation ``cv``."""
    return float(np.sqrt(np.log1p(cv * cv)))


#: default IIV (CV) on kinetic parameters of nad_core. None is measured between people in the
#: shared data: all are assumed (grade E) and stated here so that they can be changed.
DEFAULT_IIV: dict[str, tuple[float, str]] = {
    "t_half_NAD_rbc": (0.30, "assumed: between-person spread of erythrocyte NAD+ turnover"),
    "NRK_capacity_blood": (0.40, "assumed: blood-cell NR salvage capacity"),
    "Vmax_CD73": (0.40, "assumed: plasma CD73 activity"),
    "R_diet": (0.25, "assumed: dietary niacin equivalents"),
    "NAD0_wbc": (0.21, "kinetics.csv/human_pk.csv: PBMC NAD+ 131.8 +/- 27.4 uM (low-confidence secondary page), CV = 27.4/131.8"),
    "CL_ren_NAM": (0.30, "assumed: renal nicotinamide clearance"),
    "f_pbo": (0.15, "assumed: spread within a placebo responder class (Stone 2022 gives no component SD in its abstract)"),
}

#: Stone 2022 BMJ (doi:10.1136/bmj-2021-067606; 232 FDA trials, 73 388 participants), read with the
#: search tool (not in ../shared/data): placebo-arm improvements at the end of acute treatment form
#: three normal components, Large 16.0, Non-specific 8.9 and Minimal 1.7 HAM-D-17 points. Shares of
#: the placebo arm: Large 9.6 % (PubMed 35918097 abstract), Non-specific 69 % (madinamerica.com
#: 2022-09 summary, secondary), Minimal 21.4 % by difference. (share, points) per class.
STONE_PLACEBO_CLASSES: tuple[tuple[float, float], ...] = ((0.096, 16.0), (0.69, 8.9), (0.214, 1.7))


def mixture_mean(classes: tuple[tuple[float, float], ...]) -> float:
    """Mean of a mixture given as (share, mean) per class (8.03 points for Stone's placebo arm)."""
    return sum(w * mu for w, mu in classes)


def class_factors(classes: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    """(share, factor) per class: each class's points over the mixture's mean, so the factors
    average 1 over the shares (the class draw leaves the population mean where it was)."""
    mean = mixture_mean(classes)
    return tuple((w, mu / mean) for w, mu in classes)


#: responder classes per parameter: f_pbo scales the whole placebo-arm improvement (natural
#: course and expectancy; parameters.toml), so each patient is Large, Non-specific or Minimal
DEFAULT_CLASSES: dict[str, tuple[tuple[float, float], ...]] = {"f_pbo": class_factors(STONE_PLACEBO_CLASSES)}


@dataclass(frozen=True)
class Variability:
    """Log-normal IIV: ``cv`` per parameter and optional correlations of the log values, times a
    categorical responder-class factor for the parameters in ``classes`` ((share, factor) per class)."""

    cv: Mapping[str, float] = field(default_factory=lambda: {k: v[0] for k, v in DEFAULT_IIV.items()})

    def for_model(self, model: Any) -> Variability:
        """Drop parameters the model does not have (e.g. mechanism parameters in nad_core)."""
        keep = {k: v for k, v in self.cv.items() if k in model.parameters}
        corr = {k: r for k, r in self.correlations.items() if k[0] in keep and k[1] in keep}
        return Variability(cv=keep, correlations=corr, classes=self.classes_for(model))
    correlations: Mapping[tuple[str, str], float] = field(default_factory=dict)
    #: None: :data:`DEFAULT_CLASSES` for the parameters the model has; ``{}``: no classes
    classes: Mapping[str, tuple[tuple[float, float], ...]] | None = None

    def classes_for(self, model: Any) -> dict[str, tuple[tuple[float, float], ...]]:
        """The responder classes applied to ``model``: the defaults it has parameters for, or
        exactly those given (checked against the model by ``sample_population``)."""
        if self.classes is None:
            return {k: v for k, v in DEFAULT_CLASSES.items() if k in model.parameters}
        return dict(self.classes)

    def __post_init__(self) -> None:
        for k, v in self.cv.items():
            if not (0.0 <= float(v) <= 3.0):
                raise InputError(f"variability.{k}", "a coefficient of variation in [0, 3]", v)
        check_correlations(self.names, self.correlations, field="variability.correlations",
                           pairs="pairs of parameters that have a CV", matrix="a positive-definite matrix")
        for k, cls in (self.classes or {}).items():
            shares = [float(w) for w, _ in cls]
            if not cls or any(not (0.0 < w <= 1.0) for w in shares) or abs(sum(shares) - 1.0) > 1e-9:
                raise InputError(f"variability.classes.{k}", "class shares in (0, 1] that sum to 1", shares)
            if any(not (0.0 < float(f) <= 10.0) for _, f in cls):
                raise InputError(f"variability.classes.{k}", "class factors in (0, 10]", [f for _, f in cls])

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.cv)

    def correlation_matrix(self) -> np.ndarray:
        return correlation_matrix(self.names, self.correlations)

    def etas(self, z: np.ndarray) -> np.ndarray:
        """Map standard normals ``(n, k)`` to correlated log deviations ``eta``."""
        if not self.names:
            return np.zeros((z.shape[0], 0))
        sd = np.array([lognormal_sd(float(self.cv[n])) for n in self.names])
        chol = np.linalg.cholesky(self.correlation_matrix())
        return (z @ chol.T) * sd - 0.5 * sd**2  # mean-preserving: E[exp(eta)] = 1


def class_multipliers(classes: Mapping[str, tuple[tuple[float, float], ...]], u: np.ndarray) -> np.ndarray:
    """Map uniforms ``(n, len(classes))`` to each subject's class factor per classed parameter:
    class ``c`` when ``u`` falls in its slice of the cumulative shares."""
    out = np.ones_like(u, dtype=float)
    for k, cls in enumerate(classes.values()):
        edges = np.cumsum([float(w) for w, _ in cls])[:-1]
        out[:, k] = np.array([float(f) for _, f in cls])[np.searchsorted(edges, u[:, k], side="right")]
    return out


@dataclass(frozen=True)
class Uncertainty:
    """Calibration uncertainty of typical values: log-normal with ``cv`` per parameter.

    ``draws`` = 1 (the default) means nominal typical values (no uncertainty propagated).
    Draw 0 is always the nominal parameter set, so adding draws never moves the reference.
    """

    draws: int = 1
    cv: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (1 <= int(self.draws) <= 10_000):
            raise InputError("uncertainty.draws", "an integer in [1, 10000]", self.draws)
        for k, v in self.cv.items():
            if not (0.0 <= float(v) <= 3.0):
                raise InputError(f"uncertainty.{k}", "a coefficient of variation in [0, 3]", v)

    def log_factors(self, seed: int) -> np.ndarray:
        """``(draws, len(cv))`` log multipliers; row 0 is zero (nominal)."""
        names = tuple(self.cv)
        sd = np.array([lognormal_sd(float(self.cv[n])) for n in names])
        z = subject_normals(seed, np.arange(self.draws), len(names), key=KEY_UNCERTAINTY)
        eps = z * sd
        if self.draws:
            eps[0] = 0.0
        return eps
