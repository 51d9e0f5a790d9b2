"""Sensitivity of any model output: local normalised coefficients and global Sobol indices.

*Local*: the normalised sensitivity coefficient ``S_i = (dY / Y) / (dp_i / p_i)``, by central
differences at ``p_i (1 +/- h)``; ``S = 1`` means a 1 % change of the parameter moves the
output by 1 %.

*Global*: first-order (S1) and total (ST) Sobol indices over parameter ranges, with the
Saltelli sampling scheme and estimators of SALib (Herman & Usher 2017, JOSS,
doi:10.21105/joss.00097; Saltelli et al. 2010, Comput Phys Commun 181:259,
doi:10.1016/j.cpc.2009.09.018).

Both work on any function ``f(P) -> y`` of a parameter matrix ``P (k, d)``; :func:`model_metric`
builds such a function from a model, a regimen and an output, running every row through the
batch solver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nadsim._errors import InputError
from nadsim.population import run_batch

__all__ = ["METRICS", "bounds_for", "local_sensitivity", "model_metric", "sobol_indices"]

Fn = Callable[[np.ndarray], np.ndarray]

METRICS = ("final", "max", "min", "mean", "change_final", "change_max", "percent_change_final")


def local_sensitivity(f: Fn, names: Sequence[str], x0: Sequence[float], *, rel_step: float = 0.01) -> pd.DataFrame:
    """Normalised local sensitivity coefficients of ``f`` at ``x0`` (one row per parameter)."""
    x = np.asarray(x0, dtype=float)
    d = x.size
    if len(names) != d:
        raise InputError("names", f"{d} names, one per value", len(names))
    if not 0 < rel_step < 0.5:
        raise InputError("rel_step", "a relative step in (0, 0.5)", rel_step)
    P = np.tile(x, (2 * d + 1, 1))
    for i in range(d):
        P[1 + 2 * i, i] *= 1 + rel_step
        P[2 + 2 * i, i] *= 1 - rel_step
    y = np.asarray(f(P), dtype=float)
    y0 = y[0]
    rows = []
    for i, n in enumerate(names):
        up, dn = y[1 + 2 * i], y[2 + 2 * i]
        dy = (up - dn) / (2 * rel_step)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = dy / y0 if x[i] != 0 else np.nan
        rows.append({"parameter": n, "value": x[i], "output": y0, "output_up": up, "output_down": dn,
                     "coefficient": float(s)})
    df = pd.DataFrame(rows)
    return df.reindex(df["coefficient"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def sobol_indices(f: Fn, names: Sequence[str], bounds: Sequence[tuple[float, float]], *, n: int = 1024,
                  seed: int = 0, log_scale: Sequence[bool] | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """First-order and total Sobol indices (SALib, Saltelli scheme; ``n (d + 2)`` evaluations).

    ``n`` should be a power of two. ``log_scale[i]`` samples parameter i uniformly in log space
    (for rate constants spanning decades).
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    d = len(names)
    if d < 2:
        raise InputError("parameters", "at least two parameters for Sobol indices", d)
    if n < 8 or n & (n - 1):
        raise InputError("n", "a power of two >= 8", n)
    logs = np.asarray(log_scale if log_scale is not None else [False] * d, dtype=bool)
    b = np.array(bounds, dtype=float)
    if b.shape != (d, 2) or np.any(b[:, 0] >= b[:, 1]):
        raise InputError("bounds", "[low, high] with low < high for every parameter", bounds)
    if np.any(logs & (b[:, 0] <= 0)):
        raise InputError("bounds", "positive bounds for log-scaled parameters", bounds)
    sb = b.copy()
    sb[logs] = np.log(b[logs])
    problem = {"num_vars": d, "names": list(names), "bounds": sb.tolist()}
    X = sobol_sample.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)
    X = np.where(logs, np.exp(X), X)
    y = np.asarray(f(X), dtype=float)
    if not np.all(np.isfinite(y)):
        raise InputError("output", "finite values for every sampled parameter set",
                         f"{int(np.sum(~np.isfinite(y)))} non-finite of {y.size}", hint="narrow the bounds")
    Si = sobol_analyze.analyze(problem, y, calc_second_order=False, conf_level=conf_level, seed=seed)
    return pd.DataFrame({"parameter": list(names), "S1": Si["S1"], "S1_conf": Si["S1_conf"],
                         "ST": Si["ST"], "ST_conf": Si["ST_conf"], "low": b[:, 0], "high": b[:, 1]})


def model_metric(model: Any, regimen: Any, times: Sequence[float] | np.ndarray, output: str, parameters: Sequence[str],
                 *, metric: str = "final", backend: str | None = None, device: str = "cpu",
                 rtol: float | None = None, atol: float | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Fn:
    """``f(P)``: simulate each row (values of ``parameters``) and reduce ``output`` to ``metric``.

    ``progress(done, total)`` is called as the rows of each ``f(P)`` finish.
    """
    names = model.parameter_names
    for p in parameters:
        if p not in names:
            raise InputError("parameters", f"parameters of model '{model.name}'", p)
        if model.parameters[p].expr is not None:
            raise InputError("parameters", "free parameters (not derived)", p)
    if metric not in METRICS:
        raise InputError("metric", f"one of {', '.join(METRICS)}", metric)
    is_rule = output in {r.name for r in model.rules}
    if not is_rule and output not in model.state_names:
        raise InputError("output", f"an output or state of model '{model.name}'", output)
    base = np.array([model.parameters[n].value for n in names], dtype=float)
    cols = [names.index(p) for p in parameters]
    t = np.asarray(times, dtype=float)

    def f(X: np.ndarray) -> np.ndarray:
        P = np.tile(base, (X.shape[0], 1))
        P[:, cols] = X
        res = run_batch(model, regimen, t, P, backend=backend, device=device, rtol=rtol, atol=atol,
                        keep_states=not is_rule, progress=progress)
        Y = res.get(output)[:, np.searchsorted(res.times, t)]
        y0 = Y[:, 0]
        return {"final": Y[:, -1], "max": Y.max(axis=1), "min": Y.min(axis=1), "mean": Y.mean(axis=1),
                "change_final": Y[:, -1] - y0, "change_max": Y.max(axis=1) - y0,
                "percent_change_final": 100 * (Y[:, -1] - y0) / y0}[metric]

    return f


def bounds_for(model: Any, parameters: Sequence[str], *, spread: float | None = None) -> list[tuple[float, float]]:
    """Ranges for Sobol: the parameter table's bounds, or ``value / (1 + s) .. value (1 + s)``."""
    out = []
    for p in parameters:
        par = model.parameters[p]
        if spread is not None:
            out.append((par.value / (1 + spread), par.value * (1 + spread)))
        else:
            out.append(tuple(par.bounds))
    return out
