"""Parameter uncertainty as draws: the one interface that propagates it (intervals, assurance).

:func:`parameter_draws` returns ``n`` sets of free-parameter values, each a mapping from name to
value in canonical units, to be applied with ``model.with_parameters(draw)`` or stacked into a
population's parameter matrix. Consumers (prediction intervals, trial assurance) depend only on
this signature, not on how the draws were made.

Sources:

``"posterior"`` (the default once a fit is stored in ``calibration/posterior.json``)
             the calibration's posterior: the stored importance-resampled draws
             (:func:`nadsim.calibration._calibrator.posterior_samples`: Laplace proposals
             weighted by the exact likelihood) when present, else the Laplace approximation
             itself (normal in log space around the estimate, covariance (J^T J)^-1 of the
             weighted residuals, so the data's correlations are kept), clipped to the bounds. Parameters the
             calibration data cannot reach (:data:`UNCONSTRAINED`, e.g. the blood-brain
             barrier's NR permeability) are drawn from their prior, so their uncertainty shows
             in every prediction that depends on them instead of vanishing.
``"prior"``  each calibrated parameter (:data:`nadsim.calibration.FIT_PARAMETERS`) and the
             :data:`UNCONSTRAINED` ones drawn independently, log-uniform over their documented
             bounds in ``parameters.toml``: the honest spread *before* the data, wide, and
             blind to the correlations the data impose, so intervals from it are conservative.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nadsim._errors import InputError
from nadsim.calibration._fit import FIT_PARAMETERS
from nadsim.calibration._posterior import load_posterior
from nadsim.model import Model

__all__ = ["DRAW_SOURCES", "UNCONSTRAINED", "default_source", "parameter_draws"]

DRAW_SOURCES: tuple[str, ...] = ("posterior", "prior")
#: free parameters no calibration row constrains but predictions depend on: always drawn from
#: their prior (log-uniform over the bounds), so their spread is visible (issue #13, tissues)
UNCONSTRAINED: tuple[str, ...] = ("PS_NR_b", "PS_NMN_b", "t_half_NAD_b", "t_half_NAD_m", "PS_NR_m")


def default_source() -> str:
    """``"posterior"`` when a fit is stored with the package, else ``"prior"``."""
    return "posterior" if load_posterior() is not None else "prior"


def _log_uniform(model: Model, names: Sequence[str], rng: np.random.Generator, n: int) -> np.ndarray:
    lo = np.log([max(model.parameters[p].bounds[0], 1e-12) for p in names])
    hi = np.log([model.parameters[p].bounds[1] for p in names])
    x = np.exp(rng.uniform(lo, hi, size=(n, len(names))))
    return np.clip(x, [model.parameters[p].bounds[0] for p in names], [model.parameters[p].bounds[1] for p in names])


def parameter_draws(model: Model, n: int, *, seed: int = 0, source: str | None = None,
                    parameters: Sequence[str] | None = None) -> list[dict[str, float]]:
    """``n`` draws of the uncertain free parameters of ``model`` (canonical units).

    ``source``: ``"posterior"`` or ``"prior"`` (default: :func:`default_source`).
    ``parameters`` defaults to the calibrated set plus :data:`UNCONSTRAINED`; a name the model
    lacks is skipped, so the same call works for the metabolome alone and the full model.
    Deterministic in ``seed``.
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise InputError("n", "a whole number of draws >= 1", n)
    source = default_source() if source is None else source
    if source not in DRAW_SOURCES:
        raise InputError("source", f"one of {', '.join(DRAW_SOURCES)}", source)
    wanted = list(parameters) if parameters is not None else list(FIT_PARAMETERS) + list(UNCONSTRAINED)
    names = [p for p in dict.fromkeys(wanted) if p in model.parameters and model.parameters[p].expr is None]
    rng = np.random.default_rng(seed)
    if source == "prior":
        x = _log_uniform(model, names, rng, int(n))
        return [dict(zip(names, row.tolist(), strict=True)) for row in x]
    post = load_posterior()
    if post is None:
        raise InputError("source", "'prior' (no calibration posterior is stored; run nadsim calibrate --write-back)",
                         source)
    fitted = [p for p in post["parameters"] if p in names]
    idx = [post["names"].index(p) for p in fitted]
    if "samples_log" in post:  # importance-resampled draws stored with the fit
        S = np.array(post["samples_log"])[:, idx]
        z = S[rng.integers(0, S.shape[0], size=int(n))]
    else:
        mean = np.array(post["x_log"])[idx]
        cov = np.array(post["cov_log"])[np.ix_(idx, idx)]
        cov = 0.5 * (cov + cov.T) + 1e-12 * np.eye(len(idx))
        z = rng.multivariate_normal(mean, cov, size=int(n), method="eigh") if idx else np.empty((int(n), 0))
    lo = np.log([model.parameters[p].bounds[0] for p in fitted])
    hi = np.log([model.parameters[p].bounds[1] for p in fitted])
    # clip after exp as well: exp(log(bound)) can land one ulp outside the bound
    x = np.clip(np.exp(np.clip(z, lo, hi)), [model.parameters[p].bounds[0] for p in fitted],
                [model.parameters[p].bounds[1] for p in fitted])
    rest = [p for p in names if p not in fitted]
    xr_ = _log_uniform(model, rest, rng, int(n)) if rest else np.empty((int(n), 0))
    out = []
    for i in range(int(n)):
        d = dict(zip(fitted, x[i].tolist(), strict=True))
        d.update(zip(rest, xr_[i].tolist(), strict=True))
        out.append({k: d[k] for k in names})
    return out
