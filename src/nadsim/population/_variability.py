"""Inter-individual variability (IIV) and parameter uncertainty, kept apart.

*Variability* is how subjects differ from one another at fixed "true" typical values: each
subject ``i`` gets ``theta_i = theta_typical * exp(eta_i)``, ``eta ~ N(0, Omega)``, with
``Omega`` built from coefficients of variation and (where known) correlations.

*Uncertainty* is what we do not know about the typical values themselves (calibration
error): uncertainty draw ``u`` gives ``theta_typical_u = theta_nominal * exp(eps_u)``,
``eps ~ N(0, Sigma)``. A subject belongs to exactly one uncertainty draw, so a result can be
summarised within a draw (variability only) or across draws (both).

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

__all__ = ["DEFAULT_IIV", "Uncertainty", "Variability", "lognormal_sd"]


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
    "f_pbo": (0.15, "assumed: between-patient spread of the expectancy/visit response (full model only)"),
}


@dataclass(frozen=True)
class Variability:
    """Log-normal IIV: ``cv`` per parameter and optional correlations of the log values."""

    cv: Mapping[str, float] = field(default_factory=lambda: {k: v[0] for k, v in DEFAULT_IIV.items()})

    def for_model(self, model: Any) -> Variability:
        """Drop parameters the model does not have (e.g. mechanism parameters in nad_core)."""
        keep = {k: v for k, v in self.cv.items() if k in model.parameters}
        corr = {k: r for k, r in self.correlations.items() if k[0] in keep and k[1] in keep}
        return Variability(cv=keep, correlations=corr)
    correlations: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for k, v in self.cv.items():
            if not (0.0 <= float(v) <= 3.0):
                raise InputError(f"variability.{k}", "a coefficient of variation in [0, 3]", v)
        check_correlations(self.names, self.correlations, field="variability.correlations",
                           pairs="pairs of parameters that have a CV", matrix="a positive-definite matrix")

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
