"""Posterior draws of the calibration in an unbounded space: sequential Monte Carlo (the default,
:func:`smc_samples`) or adaptive importance sampling (:func:`adaptive_importance_samples`).

Why not the Laplace approximation alone: several fitted parameters sit on (or near) a bound, and
in log space the posterior there is a half-normal cut by the bound, so a Gaussian proposal
around the estimate puts half its mass outside the box (clipping it piles the draws onto the
bound) and its importance weights collapse (the first version kept 5 of 400 proposals).

So the sampler works in logit coordinates ``u = logit((x - lo) / (hi - lo))`` of each log-space
coordinate ``x``: the box maps to all of R^d, and the posterior density in ``u`` is

    p(u) ~ exp(-cost(x(u))) * prod_j s_j (1 - s_j),    s = sigmoid(u)

(the flat prior on ``x`` inside its bounds times the Jacobian ``dx/du``). The first proposal is a
multivariate t (5 df) around the estimate, its covariance the Laplace precision carried to ``u``
plus the Jacobian term's curvature, inflated; each later round refits the proposal's mean and
covariance to all weighted draws so far (adaptive multiple importance sampling, AMIS: Cornuet et
al. 2012, Scand J Stat 39:798, every draw reweighted against the mixture of all proposals used).
The effective sample size ``(sum w)^2 / sum w^2`` of the final weights is reported; draws are
resampled from those weights.

Importance sampling alone stays thin in 26 dimensions (the stored fit of issue #13 kept an ESS of
5.3 from 400 Laplace proposals), because one proposal never matches a curved, bounded posterior.
SMC (Del Moral, Doucet & Jasra 2006, J R Stat Soc B 68:411) walks from the same proposal to the
posterior through tempered densities ``q0^(1-b) p^b``: each step is small enough to keep half the
weights' effective size, and Metropolis moves after each resampling spread the particles again,
so the final population is not a few reweighted proposals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, gammaln, logsumexp

from nadsim._procs import process_pool

__all__ = ["SAMPLER_METHOD", "SMC_METHOD", "adaptive_importance_samples", "smc_samples"]

SAMPLER_METHOD = ("adaptive multiple importance sampling (AMIS) in logit-of-bounds coordinates; multivariate-t "
                  "proposals (5 df), the first from the Laplace precision, each later one refitted to the weighted "
                  "draws; every draw weighted by the exact likelihood x priors against the mixture of all proposals")
#: degrees of freedom of the t proposals (heavier tails than the posterior keep the weights bounded)
T_DF = 5.0
#: covariance inflation of the first proposal and of each refitted one
INFLATE_FIRST = 2.0
INFLATE_REFIT = 1.5
#: how far inside a bound (fraction of the log width) an estimate on the bound is placed
EDGE = 0.02


def _to_u(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    s = np.clip((x - lo) / (hi - lo), EDGE, 1 - EDGE)
    return np.log(s) - np.log1p(-s)


def _to_x(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.clip(lo + (hi - lo) * expit(u), lo, hi)


def _log_jacobian(u: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    # log |dx/du| = sum log((hi - lo) s (1 - s)), with log s (1 - s) = -|u| - 2 log(1 + e^-|u|)
    a = np.abs(u)
    return np.sum(np.log(hi - lo) - a - 2 * np.log1p(np.exp(-a)), axis=-1)


def _t_logpdf(u: np.ndarray, mean: np.ndarray, cov: np.ndarray, df: float = T_DF) -> np.ndarray:
    d = mean.size
    L = np.linalg.cholesky(cov)
    z = np.linalg.solve(L, (u - mean).T)
    maha = np.sum(z * z, axis=0)
    logdet = 2 * np.sum(np.log(np.diag(L)))
    return (gammaln((df + d) / 2) - gammaln(df / 2) - 0.5 * d * np.log(df * np.pi) - 0.5 * logdet
            - 0.5 * (df + d) * np.log1p(maha / df))


def _t_draws(rng: np.random.Generator, mean: np.ndarray, cov: np.ndarray, n: int, df: float = T_DF) -> np.ndarray:
    z = rng.multivariate_normal(np.zeros(mean.size), cov, size=n, method="cholesky")
    g = rng.chisquare(df, size=n) / df
    return mean + z / np.sqrt(g)[:, None]


def _regularise(cov: np.ndarray, floor: float = 1e-4) -> np.ndarray:
    cov = 0.5 * (cov + cov.T)
    w, V = np.linalg.eigh(cov)
    return (V * np.clip(w, floor, None)) @ V.T


def _first_proposal(post: dict[str, Any], lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Laplace approximation carried to u: precision D P_x D + curvature of the Jacobian term."""
    x_hat = np.array(post["x_log"])
    u_hat = _to_u(x_hat, lo, hi)
    s = expit(u_hat)
    D = (hi - lo) * s * (1 - s)
    P_x = np.linalg.pinv(_regularise(np.array(post["cov_log"]), 1e-8))
    P_u = D[:, None] * P_x * D[None, :] + np.diag(2 * s * (1 - s))
    return u_hat, INFLATE_FIRST * _regularise(np.linalg.pinv(P_u))


def _costs(cost_fn, X: np.ndarray, workers: int) -> np.ndarray:
    jobs = list(X)
    if workers > 1:
        with process_pool(workers) as pool:
            return np.array(list(pool.map(cost_fn, jobs, chunksize=8)))
    return np.array([cost_fn(x) for x in jobs])


def adaptive_importance_samples(cost_fn, post: dict[str, Any], lo: np.ndarray, hi: np.ndarray, *,
                                n_proposals: int = 1200, rounds: int = 4, n_keep: int = 200, seed: int = 0,
                                workers: int = 2) -> dict[str, Any]:
    """Posterior draws (log space) of the stored fit ``post`` by AMIS; ``cost_fn(x)`` is the
    weighted cost 0.5 * sum r^2 (picklable). ``n_proposals`` is the total number of cost
    evaluations, split evenly over ``rounds``. Returns ``{"samples_log", "ess", "n_proposals",
    "rounds", "ess_by_round", "sampler"}``."""
    rng = np.random.default_rng(seed)
    per_round = max(n_proposals // rounds, 10)
    mean, cov = _first_proposal(post, lo, hi)
    proposals: list[tuple[np.ndarray, np.ndarray, int]] = []
    U = np.empty((0, mean.size))
    log_target = np.empty(0)
    ess_by_round = []
    log_w = np.empty(0)
    for _ in range(rounds):
        Un = _t_draws(rng, mean, cov, per_round)
        c = _costs(cost_fn, _to_x(Un, lo, hi), workers)
        lt = -c + _log_jacobian(Un, lo, hi)
        lt[~np.isfinite(lt)] = -np.inf
        U = np.vstack([U, Un])
        log_target = np.concatenate([log_target, lt])
        proposals.append((mean, cov, per_round))
        # deterministic-mixture weights: every draw against the mixture of all proposals so far
        total = sum(m for _, _, m in proposals)
        log_q = logsumexp(np.stack([np.log(m / total) + _t_logpdf(U, mu, C) for mu, C, m in proposals]), axis=0)
        log_w = log_target - log_q
        w = np.exp(log_w - np.max(log_w))
        ess_by_round.append(float(w.sum() ** 2 / np.sum(w ** 2)))
        w /= w.sum()
        mean = w @ U
        d = U - mean
        cov = INFLATE_REFIT * _regularise((w[:, None] * d).T @ d)
    w = np.exp(log_w - np.max(log_w))
    w /= w.sum()
    pick = rng.choice(U.shape[0], size=n_keep, replace=True, p=w)
    return {"samples_log": _to_x(U[pick], lo, hi).tolist(), "ess": float(1.0 / np.sum(w ** 2)),
            "n_proposals": int(U.shape[0]), "rounds": rounds, "ess_by_round": ess_by_round,
            "sampler": SAMPLER_METHOD}


# ----------------------------------------------------------------------------- SMC over tempering
SMC_METHOD = ("sequential Monte Carlo in logit-of-bounds coordinates: particles from the Laplace t proposal, "
              "tempered towards the exact posterior (each step chosen so the weights keep half their effective "
              "size), resampled, and moved by random-walk Metropolis steps with the particles' covariance")
#: conditional effective sample size (fraction of the particles) that sets each tempering step
SMC_ESS_FRACTION = 0.5
#: Metropolis moves after each resampling (more are spent at the end while the budget lasts)
SMC_MOVES = 3

_WORKER_COST = None


def _set_worker_cost(cost_fn) -> None:
    global _WORKER_COST
    _WORKER_COST = cost_fn


def _worker_cost(x: np.ndarray) -> float:
    return float(_WORKER_COST(x))  # type: ignore[misc]


class _Evaluator:
    """Cost evaluations in one pool kept for the whole run (the cost function is sent once)."""

    def __init__(self, cost_fn, workers: int):
        self.cost_fn, self.workers, self.n = cost_fn, workers, 0
        self.pool = process_pool(workers, initializer=_set_worker_cost, initargs=(cost_fn,)) if workers > 1 else None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.n += len(X)
        if self.pool is None:
            c = np.array([self.cost_fn(x) for x in X])
        else:
            c = np.array(list(self.pool.map(_worker_cost, list(X), chunksize=max(1, len(X) // (4 * self.workers)))))
        return np.where(np.isfinite(c), c, np.inf)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _ess(log_w: np.ndarray) -> float:
    if not np.any(np.isfinite(log_w)):
        return 0.0
    w = np.exp(log_w - np.max(log_w))
    return float(w.sum() ** 2 / np.sum(w ** 2))


def _next_beta(beta: float, log_ratio: np.ndarray, target: float) -> float:
    """Largest step (bisection) whose incremental weights keep an ESS of at least ``target``."""
    if _ess((1.0 - beta) * log_ratio) >= target:
        return 1.0
    lo, hi = beta, 1.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if _ess((mid - beta) * log_ratio) >= target:
            lo = mid
        else:
            hi = mid
    return max(lo, beta + 1e-6)


def _systematic(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    n = w.size
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return np.searchsorted(c, (rng.random() + np.arange(n)) / n)


def smc_samples(cost_fn, post: dict[str, Any], lo: np.ndarray, hi: np.ndarray, *, n_evaluations: int = 8000,
                n_particles: int | None = None, n_keep: int = 200, seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Posterior draws (log space) of the stored fit ``post`` by SMC with likelihood tempering.

    The path runs from the Laplace t proposal ``q0`` (as in :func:`adaptive_importance_samples`)
    to the posterior ``p``: ``pi_b ~ q0^(1-b) p^b``. Each step raises ``b`` as far as keeps the
    conditional ESS at :data:`SMC_ESS_FRACTION` of the particles, resamples, and moves every
    particle by :data:`SMC_MOVES` random-walk Metropolis steps (covariance from the particles,
    scale adapted to the acceptance). What is left of ``n_evaluations`` at ``b = 1`` goes into
    further moves. The reported ``ess`` is the smaller of the last step's weight ESS and the number
    of distinct particles after the moves (a resampled population is only as large as what moved).
    """
    rng = np.random.default_rng(seed)
    # ~7 tempering steps of 4 evaluations a particle, and moves at b = 1 with what is left
    n = n_particles or int(np.clip(n_evaluations // 40, 50, 1000))
    mean0, cov0 = _first_proposal(post, lo, hi)
    d = mean0.size
    evaluate = _Evaluator(cost_fn, workers)
    try:
        U = _t_draws(rng, mean0, cov0, n)

        def log_post(u: np.ndarray, c: np.ndarray) -> np.ndarray:
            return -c + _log_jacobian(u, lo, hi)

        lp = log_post(U, evaluate(_to_x(U, lo, hi)))
        lq = _t_logpdf(U, mean0, cov0)
        beta, betas, ess_steps, acceptance = 0.0, [0.0], [], []
        last_ess = float(n)
        scale = 2.38 / np.sqrt(d)
        while True:
            budget_left = n_evaluations - evaluate.n
            log_ratio = np.where(np.isfinite(lp), lp - lq, -np.inf)
            new = 1.0 if budget_left < SMC_MOVES * n else _next_beta(beta, log_ratio, SMC_ESS_FRACTION * n)
            log_w = (new - beta) * log_ratio
            last_ess = _ess(log_w)
            ess_steps.append(last_ess)
            beta = new
            betas.append(beta)
            w = np.exp(log_w - np.max(log_w))
            pick = _systematic(rng, w)
            U, lp, lq = U[pick], lp[pick], lq[pick]
            # moves: at b = 1 spend what is left of the budget, otherwise SMC_MOVES
            moves = max(SMC_MOVES, (n_evaluations - evaluate.n) // n) if beta >= 1.0 else SMC_MOVES
            moved = np.zeros(n, dtype=bool)
            for _ in range(int(moves)):
                if evaluate.n + n > n_evaluations and beta >= 1.0:
                    break
                C = _regularise(np.cov(U.T).reshape(d, d), 1e-6)
                prop = U + scale * rng.multivariate_normal(np.zeros(d), C, size=n, method="cholesky")
                lp_new = log_post(prop, evaluate(_to_x(prop, lo, hi)))
                lq_new = _t_logpdf(prop, mean0, cov0)
                cur = beta * lp + (1 - beta) * lq
                nxt = beta * lp_new + (1 - beta) * lq_new
                accept = np.log(rng.random(n)) < np.where(np.isfinite(nxt), nxt - cur, -np.inf)
                U[accept], lp[accept], lq[accept] = prop[accept], lp_new[accept], lq_new[accept]
                moved |= accept
                rate = float(accept.mean())
                acceptance.append(rate)
                scale *= 1.3 if rate > 0.4 else (0.7 if rate < 0.15 else 1.0)
            if beta >= 1.0:
                break
    finally:
        evaluate.close()
    distinct = len({u.tobytes() for u in U})
    keep = rng.choice(n, size=n_keep, replace=n_keep > n)
    return {"samples_log": _to_x(U[keep], lo, hi).tolist(), "ess": float(min(last_ess, distinct)),
            "n_proposals": int(evaluate.n), "n_particles": n, "rounds": len(betas) - 1, "betas": betas,
            "ess_by_round": ess_steps, "distinct_particles": distinct, "acceptance": acceptance,
            "sampler": SMC_METHOD}
