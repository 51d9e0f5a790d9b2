"""The statistical model of the calibration data and its fit (multistart least squares, profiles).

Every fitted row ``i`` contributes a residual on the log scale,

    r_i = sqrt(w_i) / sigma0 * (ln rise_pred_i + b_study(i) - ln rise_obs_i)

where the rise is the change from baseline (:func:`nadsim.calibration.rise_fold_error`: floored
at 1 % of baseline or at a "no change" row's undetectable rise; times and baseline levels enter as
they are, without ``b``). ``sigma0`` (:data:`NOISE_LOG_SD`) is the log-scale error of a row of
weight 1, and ``w_i = confidence_i x n_i / (n_i + N0)``: a mean of many subjects is trusted more
than a pilot of one, but never beyond the spread between studies (``N0``).

``b_study`` is a random effect per study on its reported rises (a log scale factor, prior
N(0, :data:`STUDY_EFFECT_SD`)): assay and pre-analytical differences between studies (whole-blood
NAD+ losses of 30-80 % with freeze-thaw, shared/data/human_pk.csv, Tretowicz row) change the
fraction of a rise a study sees, and the same prior lets Airhart 2017's +100 % at day 9 and
the 1 g/day trials disagree without dragging every parameter. Measured parameters that are fitted
carry a log-normal prior around their table value (SD = a quarter of the log width of their
bounds); assumed ones are flat within their bounds.

The fit is ``scipy.optimize.least_squares`` (trf, bounds in log space) from several starts, each
run to the optimiser's own convergence test; the best is kept, the others are reported. At the
optimum, the Jacobian gives the Laplace approximation of the posterior (stored with the fit, used
by ``parameter_draws(source="posterior")``), and a profile likelihood of every fitted parameter
(eight fixed values each, out to both bounds, the others re-optimised by Gauss-Newton steps with a
fresh Jacobian) says which are identified, on a bound, or not identified.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from nadsim._errors import CalibrationError
from nadsim._files import atomic_path
from nadsim._procs import process_pool
from nadsim.calibration._fit import (
    FIT_PARAMETERS,
    RISE_FLOOR,
    predict_with_reference,
    qualification_table,
)
from nadsim.calibration._posterior import POSTERIOR_FILE, STUDY_EFFECT_SD, load_posterior, study_of
from nadsim.calibration._sampler import adaptive_importance_samples, smc_samples
from nadsim.calibration._targets import Experiment, Target, load_targets, rise_kind
from nadsim.model import Model

__all__ = ["CHI2_95", "N0", "NOISE_LOG_SD", "POSTERIOR_FILE", "STUDY_EFFECT_SD", "Calibrator", "Objective",
           "fit_summary", "load_posterior", "posterior_matches", "posterior_samples", "row_weight"]

#: log-scale error of a summary statistic of confidence weight 1 (as the PEtab export uses)
NOISE_LOG_SD = 0.25
#: subjects at which a study's mean is half as informative as one of very many
N0 = 4
#: cost rise (0.5 * sum r^2) that bounds a 95 % profile-likelihood interval (chi-square 1 df / 2)
CHI2_95 = 1.92


def row_weight(target: Target) -> float:
    """Confidence weight x n / (n + N0); a row without a stated n counts as n = N0."""
    n = target.n if target.n else N0
    return target.weight * n / (n + N0)


_study_of = study_of  # the statistical model's study effects (nadsim.calibration._posterior)


@dataclass(frozen=True)
class Objective:
    """Residuals of the statistical model for one model, data set and parameter list (picklable)."""

    model: Model
    experiments: dict[str, Experiment]
    targets: tuple[Target, ...]
    parameters: tuple[str, ...]
    rtol: float = 1e-6
    log_every: int = 0  # print a line every this many simulations (0: silent)

    @property
    def studies(self) -> tuple[str, ...]:
        return tuple(sorted({s for t in self.targets if (s := _study_of(t)) is not None}))

    @property
    def names(self) -> tuple[str, ...]:
        return self.parameters + tuple(f"study:{s}" for s in self.studies)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        p = self.model.parameters
        lo = [math.log(p[n].bounds[0]) for n in self.parameters] + [-3 * STUDY_EFFECT_SD] * len(self.studies)
        hi = [math.log(p[n].bounds[1]) for n in self.parameters] + [3 * STUDY_EFFECT_SD] * len(self.studies)
        return np.array(lo), np.array(hi)

    def x0(self) -> np.ndarray:
        lo, hi = self.bounds()
        x = [math.log(self.model.parameters[n].value) for n in self.parameters] + [0.0] * len(self.studies)
        return np.clip(np.array(x), lo + 1e-9, hi - 1e-9)

    def _prior_centre(self) -> list[tuple[int, float, float]]:
        """(index, centre, sd) of the log-normal priors of fitted *measured* parameters."""
        out = []
        for i, n in enumerate(self.parameters):
            par = self.model.parameters[n]
            if par.provenance.kind == "measured":
                lo, hi = par.bounds
                out.append((i, math.log(par.value), math.log(hi / lo) / 4))
        return out

    def model_at(self, x: np.ndarray) -> Model:
        # exp(log(bound)) can land one ulp outside the bound, which the model refuses: clip after exp
        values = {n: min(max(math.exp(v), self.model.parameters[n].bounds[0]), self.model.parameters[n].bounds[1])
                  for n, v in zip(self.parameters, x[: len(self.parameters)], strict=True)}
        return self.model.with_parameters(values)

    def _predict(self, x_model: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
        """Predictions for the model coordinates; the last one is kept, because the study
        effects' Jacobian columns (and the priors') need no new simulation."""
        key = x_model.tobytes()
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            cache.clear()
            cache[key] = predict_with_reference(self.model_at(x_model), self.experiments, self.targets, rtol=self.rtol)
            n = self.__dict__["_n_sim"] = self.__dict__.get("_n_sim", 0) + 1
            if self.log_every and n % self.log_every == 0:
                print(f"  [{os.getpid()}] simulation {n}", flush=True)
        return cache[key]

    def residuals(self, x: np.ndarray) -> np.ndarray:
        pred, ref = self._predict(np.ascontiguousarray(x[: len(self.parameters)]))
        b = dict(zip(self.studies, x[len(self.parameters):], strict=True))
        r = []
        for t in self.targets:
            p, q = pred[t.id], ref[t.id]
            scale = math.sqrt(row_weight(t)) / NOISE_LOG_SD
            kind = rise_kind(t)
            if not (np.isfinite(p) and p > 0):
                r.append(10.0 * scale)  # a failed simulation costs as much as a 20 000-fold error
                continue
            if kind == "change":
                floor = t.null_rise if t.null_rise is not None else RISE_FLOOR * abs(q)
                obs = 0.0 if t.null_rise is not None else t.observed - q
                s = _study_of(t)
                r.append(scale * (math.log(max(p - q, floor)) + (b[s] if s else 0.0) - math.log(max(obs, floor))))
            else:
                r.append(scale * (math.log(p) - math.log(t.observed)))
        r += [b[s] / STUDY_EFFECT_SD for s in self.studies]
        r += [(x[i] - c) / sd for i, c, sd in self._prior_centre()]
        return np.array(r)

    def jacobian(self, x: np.ndarray, f0: np.ndarray | None = None, step: float = 1e-3) -> np.ndarray:
        """Forward differences with a fixed step in log space (0.1 %: far above the solver's 1e-6)."""
        f0 = self.residuals(x) if f0 is None else f0
        _, hi = self.bounds()
        J = np.empty((f0.size, x.size))
        for j in range(x.size):
            h = step if x[j] + step <= hi[j] else -step
            xj = x.copy()
            xj[j] += h
            J[:, j] = (self.residuals(xj) - f0) / h
        return J


def _run_start(args: tuple[Objective, np.ndarray, int]) -> dict[str, Any]:
    obj, x0, max_nfev = args
    lo, hi = obj.bounds()
    t0 = time.perf_counter()
    # tolerances 1e-6: the cost itself is computed with solver rtol 1e-6 and 0.1 % finite
    # differences, so relative changes below ~1e-6 are noise, and a stricter test never fires
    res = least_squares(obj.residuals, x0, jac=lambda x: obj.jacobian(x), bounds=(lo, hi), method="trf",
                        x_scale=1.0, max_nfev=max_nfev, ftol=1e-6, xtol=1e-6, gtol=1e-6)
    if obj.log_every:
        print(f"  [{os.getpid()}] start done: cost {res.cost:.4f}, status {res.status}, nfev {res.nfev}, "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return {"x": res.x.tolist(), "cost": float(res.cost), "status": int(res.status), "message": str(res.message),
            "nfev": int(res.nfev), "njev": int(res.njev or 0), "optimality": float(res.optimality),
            "success": bool(res.success), "wall_s": time.perf_counter() - t0, "x0": x0.tolist()}


def _profile_point(args: tuple[Objective, np.ndarray, np.ndarray, int, float, int]) -> tuple[int, float, float]:
    """Cost minimised over all other coordinates with coordinate ``i`` fixed at ``value``.

    Projected Gauss-Newton steps from the optimum with the ``i``-th coordinate moved: the first
    with the optimum's Jacobian ``J``, then a fresh forward-difference Jacobian at the moved point
    (the optimum's misleads far from it), up to ``steps`` steps, each halved up to three times if
    it does not lower the cost. The best cost seen is kept, so the profile is an upper bound of
    the exact one (an interval can only come out too narrow where a full re-optimisation would
    have moved further).
    """
    obj, x_hat, J, i, value, steps = args
    lo, hi = obj.bounds()
    keep = np.arange(x_hat.size) != i
    x = x_hat.copy()
    x[i] = value
    r = obj.residuals(x)
    best = float(0.5 * r @ r)
    for k in range(steps):
        if k == 1:
            J = obj.jacobian(x, r)
        Jk = J[:, keep]
        delta = np.linalg.lstsq(Jk, -r, rcond=1e-10)[0]
        for _ in range(4):
            x_new = x.copy()
            x_new[keep] = np.clip(x[keep] + delta, lo[keep], hi[keep])
            r_new = obj.residuals(x_new)
            c = float(0.5 * r_new @ r_new)
            if c < best:
                break
            delta = 0.5 * delta
        else:
            break
        x, r, best = x_new, r_new, c
    return i, value, best


#: profile points on each side of the estimate, as fractions of its log distance to the bound
PROFILE_FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def _interval_side(points: list[tuple[float, float]], x_hat: float, bound: float, cmin: float) -> tuple[float, bool]:
    """Where the profile crosses cmin + CHI2_95 going from the estimate outward (linear
    interpolation of the cost); (bound, False) when it never does."""
    prev_x, prev_c = x_hat, cmin
    for xv, c in sorted(points, key=lambda pc: abs(pc[0] - x_hat)):
        if c - cmin >= CHI2_95:
            f = (cmin + CHI2_95 - prev_c) / (c - prev_c) if c > prev_c else 1.0
            return prev_x + f * (xv - prev_x), True
        prev_x, prev_c = xv, c
    return bound, False


@dataclass
class Calibrator:
    """Fit of :data:`FIT_PARAMETERS` (log space) and one effect per study, by the model above.

    scikit-learn contract: ``__init__`` stores settings, ``fit`` does the work and returns
    ``self``; results end in ``_``: ``params_`` (canonical units), ``starts_`` (every start with
    the optimiser's status), ``result_`` (the best), ``cov_`` (Laplace, log space),
    ``identifiability_``, ``table_`` (qualification rows), ``elapsed_s_``.
    """

    parameters: Sequence[str] = FIT_PARAMETERS
    n_starts: int = 2
    max_nfev: int = 25
    profile: bool = True
    profile_steps: int = 4
    rtol: float = 1e-6
    workers: int = 2
    seed: int = 0
    verbose: bool = False
    #: a stored fit (``posterior()`` dict) to start the first start from (continuation)
    start_from: dict[str, Any] | None = None
    params_: dict[str, float] = field(default_factory=dict, init=False)
    table_: list[dict] = field(default_factory=list, init=False)

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(msg, flush=True)

    def fit(self, model: Model, experiments: dict[str, Experiment] | None = None,
            targets: Sequence[Target] | None = None) -> Calibrator:
        if experiments is None or targets is None:
            experiments, targets = load_targets()
        if self.n_starts < 1:
            raise CalibrationError("n_starts", "at least 1 start", self.n_starts)
        for n in self.parameters:
            if n not in model.parameters or model.parameters[n].expr is not None:
                raise CalibrationError("parameters", "free parameters of the model", n)
        fit_targets = tuple(t for t in targets if t.role == "fit")
        obj = Objective(model, experiments, fit_targets, tuple(self.parameters), rtol=self.rtol,
                        log_every=100 if self.verbose else 0)
        lo, hi = obj.bounds()
        rng = np.random.default_rng(self.seed)
        starts = [obj.x0()]
        if self.start_from is not None:
            prev = dict(zip(self.start_from["names"], self.start_from["x_log"], strict=True))
            starts[0] = np.clip(np.array([prev.get(n, x) for n, x in zip(obj.names, starts[0], strict=True)]),
                                lo + 1e-9, hi - 1e-9)
        for _ in range(self.n_starts - 1):  # random starts: log-uniform within the bounds, no study effect
            x = rng.uniform(lo, hi)
            x[len(self.parameters):] = 0.0
            starts.append(x)
        t0 = time.perf_counter()
        jobs = [(obj, x, self.max_nfev) for x in starts]
        if self.workers > 1 and len(jobs) > 1:
            with process_pool(min(self.workers, len(jobs))) as pool:
                self.starts_ = list(pool.map(_run_start, jobs))
        else:
            self.starts_ = [_run_start(j) for j in jobs]
        for k, st in enumerate(self.starts_):
            self._log(f"start {k}: cost {st['cost']:.4f} status {st['status']} ({st['message']}) "
                      f"nfev {st['nfev']} {st['wall_s']:.0f} s")
        best = min(self.starts_, key=lambda s: s["cost"])
        self.result_ = best
        x_hat = np.array(best["x"])
        self.x_ = x_hat
        self.names_ = obj.names
        f = obj.residuals(x_hat)
        J = obj.jacobian(x_hat, f)
        self.jac_ = J
        self.cov_ = np.linalg.pinv(J.T @ J)
        self.fit_wall_s_ = time.perf_counter() - t0
        self.identifiability_ = self._identifiability(obj, x_hat, float(0.5 * f @ f))
        self.elapsed_s_ = time.perf_counter() - t0
        self.params_ = {n: obj.model_at(x_hat).parameters[n].value for n in self.parameters}
        self.study_effects_ = dict(zip(obj.studies, x_hat[len(self.parameters):].tolist(), strict=True))
        self.model_ = obj.model_at(x_hat)
        self.fit_targets_ = [t.id for t in fit_targets]
        self.table_ = qualification_table(targets, *predict_with_reference(self.model_, experiments, targets))
        return self

    def _identifiability(self, obj: Objective, x_hat: np.ndarray, cmin: float) -> list[dict]:
        lo, hi = obj.bounds()
        se = np.sqrt(np.clip(np.diag(self.cov_), 0, None))
        n_par = len(self.parameters)
        grid: dict[int, list[float]] = {}
        for i in range(n_par):  # both sides out to the bounds, closer points first
            values = {float(x_hat[i] + f * (b - x_hat[i])) for b in (lo[i], hi[i]) for f in PROFILE_FRACTIONS}
            grid[i] = sorted(v for v in values if abs(v - x_hat[i]) > 1e-6 * (hi[i] - lo[i]))
        profiles: dict[int, list[tuple[float, float]]] = {i: [] for i in range(n_par)}
        if self.profile:
            jobs = [(obj, x_hat, self.jac_, i, v, self.profile_steps) for i in range(n_par) for v in grid[i]]
            t0 = time.perf_counter()
            if self.workers > 1:
                with process_pool(self.workers) as pool:
                    out = list(pool.map(_profile_point, jobs))
            else:
                out = [_profile_point(j) for j in jobs]
            for i, v, c in out:
                profiles[i].append((v, c))
            self.profile_wall_s_ = time.perf_counter() - t0
            self._log(f"profiles: {len(jobs)} points in {self.profile_wall_s_:.0f} s")
        rows = []
        for i, name in enumerate(self.parameters):
            par = obj.model.parameters[name]
            pts = profiles[i]
            left = [(v, c) for v, c in pts if v < x_hat[i]]
            right = [(v, c) for v, c in pts if v > x_hat[i]]
            lo95, lcross = _interval_side(left, x_hat[i], lo[i], cmin)
            hi95, rcross = _interval_side(right, x_hat[i], hi[i], cmin)
            width = hi[i] - lo[i]
            on_bound = min(x_hat[i] - lo[i], hi[i] - x_hat[i]) < 0.01 * width
            lower_cost = any(c < cmin - 1e-3 for _, c in pts)
            if not self.profile:
                status = "Laplace only"
            elif lcross and rcross:
                status = "identified"
            elif lcross or rcross:
                status = "one-sided (bounded by the data on one side only)"
            else:
                status = "not identified"
            if on_bound:
                status = "on bound; " + status
            if lower_cost:
                status += "; profile found a lower cost (not the global optimum)"
            rows.append({"name": name, "value": float(math.exp(x_hat[i])), "unit": par.unit,
                         "bounds": list(par.bounds), "laplace_sd_log": float(se[i]),
                         "lo95": float(math.exp(lo95)), "hi95": float(math.exp(hi95)),
                         "status": status, "profile": [(float(math.exp(v)), float(c - cmin)) for v, c in sorted(pts)]})
        return rows

    def posterior(self) -> dict[str, Any]:
        """What ``parameter_draws(source="posterior")`` needs, plus the provenance of the fit."""
        return {
            "names": list(self.names_), "x_log": self.x_.tolist(), "cov_log": self.cov_.tolist(),
            "parameters": list(self.parameters), "study_effect_sd": STUDY_EFFECT_SD,
            "study_effects": self.study_effects_,
            "optimizer": {k: self.result_[k] for k in ("cost", "status", "message", "nfev", "njev", "optimality", "success")},
            "starts": [{k: s[k] for k in ("cost", "status", "message", "nfev", "success", "wall_s")} for s in self.starts_],
            "fit_wall_s": self.fit_wall_s_, "elapsed_s": self.elapsed_s_,
            "identifiability": self.identifiability_, "fit_targets": self.fit_targets_,
            "model_hash": self.model_.hash(),
            "method": "scipy.optimize.least_squares trf, multistart; Laplace approximation (J^T J)^-1 in log space",
        }

    def save_posterior(self, path: Path | str | None = None) -> Path:
        path = Path(path) if path is not None else POSTERIOR_FILE
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.posterior(), indent=1), encoding="utf-8")
        return Path(path)


def posterior_samples(obj: Objective, post: dict[str, Any], *, n_proposals: int = 8000, n_keep: int = 200,
                      seed: int = 0, workers: int = 2, rounds: int = 4, method: str = "smc") -> dict[str, Any]:
    """Posterior draws of the fit ``post`` for the statistical model ``obj``, with their effective
    sample size. ``method="smc"`` (default): sequential Monte Carlo tempered from the Laplace
    proposal (:func:`nadsim.calibration._sampler.smc_samples`), ``n_proposals`` cost evaluations in
    all; ``"amis"``: adaptive importance sampling over ``rounds`` rounds
    (:func:`nadsim.calibration._sampler.adaptive_importance_samples`)."""
    lo, hi = obj.bounds()
    if method == "smc":
        return smc_samples(partial(_cost_of, obj), post, lo, hi, n_evaluations=n_proposals, n_keep=n_keep,
                           seed=seed, workers=workers)
    if method == "amis":
        return adaptive_importance_samples(partial(_cost_of, obj), post, lo, hi, n_proposals=n_proposals,
                                           rounds=rounds, n_keep=n_keep, seed=seed, workers=workers)
    raise CalibrationError("method", "'smc' or 'amis'", method)


def _cost_of(obj: Objective, x: np.ndarray) -> float:
    r = obj.residuals(x)
    return float(0.5 * r @ r)


def posterior_matches(model: Model, post: dict[str, Any] | None, rtol: float = 1e-5) -> bool:
    """Whether ``post`` was fitted to this model's current values (the table keeps 6 digits)."""
    if not post:
        return False
    for name, x in zip(post["names"], post["x_log"], strict=False):
        if name in post["parameters"] and (
                name not in model.parameters
                or not math.isclose(model.parameters[name].value, math.exp(x), rel_tol=rtol)):
            return False
    return True


def fit_summary(post: dict[str, Any]) -> dict[str, str]:
    """Lines for the report's "The fit" section from a stored posterior."""
    opt = post["optimizer"]
    starts = "; ".join(f"cost {s['cost']:.4g}, status {s['status']} ({s['message']}), {s['nfev']} evaluations, "
                       f"{s['wall_s']:.0f} s" for s in post["starts"])
    effects = ", ".join(f"{k} {math.exp(v):.3g}x" for k, v in post["study_effects"].items())
    return {
        "method": post["method"],
        "best start": f"cost {opt['cost']:.4g}; scipy status {opt['status']}: {opt['message']}; "
                      f"first-order optimality {opt['optimality']:.3g}",
        "every start": starts,
        "wall time": f"{post['fit_wall_s']:.0f} s for the starts, {post['elapsed_s']:.0f} s with the profiles",
        "study effects on reported rises (prior SD 0.2 on the log scale)": effects,
        **({"posterior draws": _draws_line(post)} if "samples_log" in post else {}),
    }


def _draws_line(post: dict[str, Any]) -> str:
    if "sampler" not in post:  # a fit stored before the adaptive sampler
        return (f"{len(post['samples_log'])} draws resampled from {post['n_proposals']} Laplace proposals; "
                f"effective sample size {post['ess']:.1f}")
    by_round = ", ".join(f"{e:.0f}" for e in post.get("ess_by_round", []))
    if "n_particles" in post:  # sequential Monte Carlo
        acc = post.get("acceptance") or [0.0]
        return (f"{len(post['samples_log'])} draws from {post['n_particles']} SMC particles after {post['rounds']} "
                f"tempering steps and {post['n_proposals']} cost evaluations ({post['sampler']}); effective sample "
                f"size {post['ess']:.0f} (weight ESS at each step: {by_round}; {post['distinct_particles']} distinct "
                f"particles; Metropolis acceptance {min(acc):.2f}-{max(acc):.2f})")
    return (f"{len(post['samples_log'])} draws resampled from {post['n_proposals']} weighted draws in "
            f"{post['rounds']} rounds ({post['sampler']}); effective sample size {post['ess']:.1f} "
            f"(after each round: {by_round})")


