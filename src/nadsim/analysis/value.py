"""The HAM-D effect as an interval over every mechanism link at once, and what to measure next.

Why global. One-at-a-time ranges miss that the links multiply: the predicted HAM-D benefit of
NMN is a product of NAD+ -> SIRT1 -> NF-kB -> cytokines -> HAM-D weights, each uncertain.
:func:`run_draws` samples every mechanism parameter that has a documented range (Latin hypercube;
log-uniform where a range spans 20x or more), plus the brain-barrier permeabilities of nad_core,
and simulates each draw under the article's regimen (active and placebo arm) and under the
regimens of the human cytokine studies.

How the cytokine data constrain. Elhassan 2019 (NR 1 g/day, 21 d, 12 aged men) and NADPARK
(Brakedal 2022; NR 1 g/day, 30 d, 30 Parkinson patients) report *lower* circulating inflammatory
cytokines, direction only (effect_sizes.csv rows: "values not captured"); Yoshino 2021 (NMN
250 mg/day, 10 weeks, 25 women) is cited in issue #13 as a null on inflammatory markers (the
searched abstract says nothing either way; not confirmed). Each becomes an acceptance region for
the predicted change of IL-6 (and CRP) against the same patient's placebo arm, at the end of that
study's dosing: a fall (any size up to ``max_fall``) for the two NR studies, a change smaller than
``null_detectable`` for Yoshino. A draw is kept only if it satisfies all three: the draws are
filtered *jointly*, so a link that is strong in one study's regimen must also be so in the others.

What to measure next. :func:`value_of_information` asks, for each candidate human measurement
(a small trial of ``n`` per arm with the measurement's between-subject SD), how much the 90 %
interval of the HAM-D effect would shrink once its result were known: outcomes are simulated
from the accepted draws themselves (preposterior), and the effect that a regression on the
observed outcome leaves unexplained is the interval that remains.

Research model, not medical advice: the interval is what the documented bounds allow, not a
forecast of benefit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm, qmc

from nadsim._errors import InputError
from nadsim.dosing import Regimen, parse_regimen
from nadsim.library.full import with_trial_arm
from nadsim.library.mechanisms import PROFILE_PARAMETERS
from nadsim.library.mechanisms.model import PARAMETERS, load_parameters
from nadsim.model import Model
from nadsim.population import STONE_PLACEBO_CLASSES, mixture_mean
from nadsim.simulate import compile_model, simulate, simulate_batch

__all__ = [
    "ARTICLE_REGIMEN",
    "CYTOKINE_CONSTRAINTS",
    "MEASUREMENTS",
    "CytokineConstraint",
    "Draws",
    "Measurement",
    "hamd_interval",
    "link_parameters",
    "noise_floor",
    "placebo_response_rate",
    "rejected_by_any",
    "rejections",
    "run_draws",
    "sample_links",
    "significance_weights",
    "value_of_information",
    "weighted_quantile",
]

ProgressFn = Callable[[int, int], None]

#: the article's drip (README; the clinic gives no schedule, so weekly as in the example trial)
ARTICLE_REGIMEN: Mapping[str, object] = {"compound": "NMN", "route": "iv", "dose": "300 mg",
                                         "infusion": "100 mL at 5 mL/min", "every": "7 d", "doses": 8}

#: parameters identical in both arms (placebo, natural course), set by the profile or the trial, or
#: fixing the clock's time of day: not link uncertainty, so never sampled
NOT_SAMPLED = frozenset({
    "pbo_ref_pts", "HAMD_pbo_ref", "pbo_sev_slope", "f_pbo_max", "f_pbo", "nat_pts", "tau_nat", "tau_pbo",
    "trial_on", "t_trial_start", "t_clock0", "light_on", "light_off", "PHQ9_per_HAMD", "SD_HAMD",
})

#: nad_core's brain-barrier permeabilities (grade E, unconstrained by human data; issue #13 item 7)
BARRIER_PARAMETERS = ("PS_NMN_b", "PS_NR_b")


def link_parameters(model: Model) -> dict[str, tuple[float, float]]:
    """Every mechanism parameter with a documented range, plus the brain-barrier permeabilities.

    Free (not derived), not a 0/1 gate, not a profile parameter, not in :data:`NOT_SAMPLED`, and
    ``low < high``. Bounds are canonical units, as in the model.
    """

    names = [*load_parameters(PARAMETERS), *(b for b in BARRIER_PARAMETERS if b in model.parameters)]
    out: dict[str, tuple[float, float]] = {}
    for n in names:
        if n not in model.parameters:
            raise InputError("model", "a model with the mechanism modules (build_full())", model.name)
        q = model.parameters[n]
        lo, hi = (float(v) for v in q.bounds)
        if (q.expr is None and hi > lo and "gate" not in q.tags and q.provenance.kind != "derived"
                and n not in PROFILE_PARAMETERS and n not in NOT_SAMPLED):
            out[n] = (lo, hi)
    return out


def sample_links(bounds: Mapping[str, tuple[float, float]], n: int, seed: int) -> np.ndarray:
    """Latin-hypercube sample ``(n, len(bounds))`` inside ``bounds``; log-uniform where high/low >= 20."""
    if not isinstance(n, int) or n < 2:
        raise InputError("draws", "a whole number of at least 2", n)
    u = qmc.LatinHypercube(d=len(bounds), seed=seed).random(n)
    X = np.empty_like(u)
    for k, (lo, hi) in enumerate(bounds.values()):
        if lo > 0 and hi / lo >= 20:
            X[:, k] = np.exp(np.log(lo) + u[:, k] * (np.log(hi) - np.log(lo)))
        else:
            X[:, k] = lo + u[:, k] * (hi - lo)
    return X


@dataclass(frozen=True)
class CytokineConstraint:
    """A human study's inflammatory-marker result as an acceptance region on the predicted change.

    ``region`` bounds ln(active / placebo) of each output in ``outputs`` at the end of dosing.
    """

    name: str
    regimen: Mapping[str, object]
    outputs: tuple[str, ...]
    region: tuple[float, float]
    source: str
    note: str
    #: what the study reported: "fall" (a significant decrease) or "null" (no detectable change)
    reported: str = "fall"
    #: standard error of the study's estimate of ln(active/placebo), for the significance weights
    se_ln: float = 0.2


#: largest fall of IL-6 a vitamin is allowed (assumed: a halving; no human magnitude in the data)
MAX_FALL = math.log(0.5)
#: a change a 25-person parallel trial would not detect: 2.8 SE with an assumed between-subject SD
#: of ln IL-6 of 0.5 (not in the shared data): 2.8 * 0.5 * sqrt(1/13 + 1/12) = 0.56
NULL_DETECTABLE = 2.8 * 0.5 * math.sqrt(1 / 13 + 1 / 12)

CYTOKINE_CONSTRAINTS: tuple[CytokineConstraint, ...] = (
    CytokineConstraint(
        "Elhassan 2019", {"compound": "NR", "route": "oral", "dose": "1 g", "every": "1 d", "doses": 21},
        ("IL6",), (MAX_FALL, 0.0),
        "effect_sizes.csv: Elhassan 2019 Cell Rep (PMC6702140), NR 1 g/day 21 d, 12 aged men, crossover",
        "circulating inflammatory cytokines decreased; direction only (values not captured)",
        "fall", 0.5 / math.sqrt(12)),
    CytokineConstraint(
        "NADPARK 2022", {"compound": "NR", "route": "oral", "dose": "1 g", "every": "1 d", "doses": 30},
        ("IL6",), (MAX_FALL, 0.0),
        "effect_sizes.csv: Brakedal 2022 Cell Metab (NADPARK), NR 1000 mg/day 30 d, 15 + 15 PD patients",
        "serum and CSF inflammatory cytokines decreased; direction only (values not captured)",
        "fall", 0.5 * math.sqrt(2 / 15)),
    CytokineConstraint(
        "Yoshino 2021", {"compound": "NMN", "route": "oral", "dose": "250 mg", "every": "1 d", "doses": 70},
        ("IL6", "CRP"), (-NULL_DETECTABLE, NULL_DETECTABLE),
        "Yoshino 2021 Science (doi:10.1126/science.abe9985), NMN 250 mg/day 10 weeks, 13 + 12 women",
        "null on inflammatory markers as stated in issue #13; not confirmed in the abstracts searched; "
        "region = what 25 women would not detect (assumed SD of ln IL-6 0.5)",
        "null", 0.5 * math.sqrt(1 / 13 + 1 / 12)),
)
#: the SE of each study assumes an SD of 0.5 for a person's change in ln IL-6 (or ln CRP): the
#: shared data give no dispersion for these markers, so the weights are a sensitivity analysis


@dataclass(frozen=True)
class Measurement:
    """A candidate human measurement: ``output`` under the article's regimen at ``time_h``,
    as ln(active/placebo) (``scale='log'``) or active - placebo (``'diff'``), measured in a trial of
    ``n_per_arm`` with between-subject SD ``sd`` of the change on that scale."""

    name: str
    label: str
    output: str
    time_h: float
    scale: str
    sd: float
    source: str

    def se(self, n_per_arm: int) -> float:
        return self.sd * math.sqrt(2.0 / n_per_arm)


MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("wb_nad_2wk", "whole-blood NAD+ at 2 weeks", "whole_blood_NAD", 14 * 24.0, "log", 0.25,
                "assumed SD 0.25 of ln change (shared data give means only)"),
    Measurement("brain_nad_4wk", "brain NAD+ by 31P-MRS at 4 weeks", "brain_NAD", 28 * 24.0, "log", 0.16,
                "human_pk.csv Ren 2020: brain NAD+/NADH 5.3 +/- 0.6 (CV 11 %), so SD of a change ~0.16"),
    Measurement("crp_8wk", "hs-CRP change at 8 weeks", "CRP", 56 * 24.0, "log", 0.6,
                "assumed SD 0.6 of ln hs-CRP change (within-person variability; not in the shared data)"),
    Measurement("il6_8wk", "IL-6 change at 8 weeks", "IL6", 56 * 24.0, "log", 0.5,
                "assumed SD 0.5 of ln IL-6 change (not in the shared data)"),
    Measurement("tnf_8wk", "TNF-alpha change at 8 weeks", "TNF_index", 56 * 24.0, "log", 0.4,
                "assumed SD 0.4 of ln TNF-alpha change (not in the shared data)"),
    Measurement("kyn_8wk", "plasma kynurenine at 8 weeks", "kynurenine", 56 * 24.0, "log", 0.2,
                "assumed SD 0.2 of ln kynurenine change (kinetics.csv range 1.0-3.3 uM is between people)"),
    Measurement("sleep_8wk", "actigraphy sleep index at 8 weeks", "sleep_quality", 56 * 24.0, "diff", 0.1,
                "assumed SD 0.1 of the 0-1 sleep index (about 2 PSQI points)"),
    Measurement("cortisol_8wk", "cortisol exposure (hair/saliva) at 8 weeks", "stress_load", 56 * 24.0, "diff", 0.2,
                "assumed SD 0.2 of the relative cortisol load"),
    Measurement("hamd_8wk", "HAM-D itself: an 8-week RCT", "HAMD", 56 * 24.0, "diff", 6.5,
                "kinetics.csv Rush 2021: HAM-D-17 change SD 6.5 (sign: active - placebo)"),
)


@dataclass(frozen=True)
class Draws:
    """Joint draws of the link parameters and what each predicts.

    ``effect``: HAM-D benefit (placebo arm minus active arm, points) at ``effect_h``;
    ``constraints``: ln(active/placebo) per constraint and output; ``accepted``: inside every
    region and solved; ``predictions``: each measurement's true value per draw.
    """

    names: tuple[str, ...]
    X: np.ndarray
    effect: np.ndarray
    constraints: dict[str, np.ndarray]
    accepted: np.ndarray
    predictions: dict[str, np.ndarray]
    solved: np.ndarray
    effect_h: float
    regimen: str
    profile: dict[str, float] = field(default_factory=dict)

    @property
    def n_accepted(self) -> int:
        return int(np.count_nonzero(self.accepted))


def _batch(model: Model, regimen: Regimen | None, t: np.ndarray, P: np.ndarray, outputs: Sequence[str],
           progress: ProgressFn | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    ds = simulate_batch(model, regimen, t, P, progress=progress)
    return {o: np.asarray(ds[o].values) for o in outputs}, np.asarray(ds["status"].values) == 0


def run_draws(model: Model, *, n: int = 300, seed: int = 0, regimen: Regimen | None = None,
              effect_weeks: float = 8.0, constraints: Sequence[CytokineConstraint] = CYTOKINE_CONSTRAINTS,
              measurements: Sequence[Measurement] = MEASUREMENTS, progress: ProgressFn | None = None) -> Draws:
    """Simulate ``n`` joint draws of every link (see module docstring) for ``model``'s profile.

    Parameters
    ----------
    model : the full model with a patient profile applied (``apply_profile(build_full(), ...)``).
    n, seed : number of draws and the seed of the Latin hypercube.
    regimen : the regimen whose HAM-D effect is reported (default: :data:`ARTICLE_REGIMEN`).
    effect_weeks : when the effect is read (weeks from the first dose).
    progress : ``progress(done, total)`` over every simulated subject.
    """
    if not (math.isfinite(effect_weeks) and 1.0 <= effect_weeks <= 26.0):
        raise InputError("weeks", "between 1 and 26 weeks", effect_weeks)
    regimen = regimen or parse_regimen(**ARTICLE_REGIMEN)  # type: ignore[arg-type]
    bounds = link_parameters(model)
    names = tuple(bounds)
    X = sample_links(bounds, n, seed)
    cm = compile_model(model)
    P = np.tile(cm.base_parameters(), (n, 1))
    for k, name in enumerate(names):
        P[:, cm.pidx(name)] = X[:, k]
    first_h = regimen.doses[0].time_h if regimen.doses else 0.0
    effect_h = first_h + effect_weeks * 7 * 24.0
    study_regimens = [parse_regimen(**c.regimen) for c in constraints]  # type: ignore[arg-type]
    ends = [r.doses[-1].time_h + 24.0 for r in study_regimens]
    horizon = max([effect_h, *ends, *(m.time_h for m in measurements)])
    t = np.unique(np.concatenate([np.arange(0.0, horizon + 1e-9, 24.0), [effect_h, *ends],
                                  [m.time_h for m in measurements]]))
    outputs = sorted({"HAMD", *(o for c in constraints for o in c.outputs), *(m.output for m in measurements)})
    total = n * (2 + len(constraints))
    runs = 0

    def step() -> ProgressFn | None:
        if progress is None:
            return None
        offset = runs * n
        return lambda d, _t: progress(offset + d, total)

    Pp = P.copy()  # the placebo arm enters the trial at the first dose, as the active arm does
    Pp[:, cm.pidx("trial_on")] = 1.0
    Pp[:, cm.pidx("t_trial_start")] = first_h
    pbo, ok_p = _batch(model, None, t, Pp, outputs, step())
    runs += 1
    act, ok_a = _batch(model, regimen, t, P, outputs, step())
    runs += 1
    i_eff = int(np.searchsorted(t, effect_h))
    effect = pbo["HAMD"][:, i_eff] - act["HAMD"][:, i_eff]
    solved = ok_p & ok_a
    accepted = solved.copy()
    cons: dict[str, np.ndarray] = {}
    for c, reg, end in zip(constraints, study_regimens, ends, strict=True):
        out, ok = _batch(model, reg, t, P, c.outputs, step())
        runs += 1
        i = int(np.searchsorted(t, end))
        solved &= ok
        accepted &= ok
        for o in c.outputs:
            with np.errstate(all="ignore"):
                v = np.log(out[o][:, i] / pbo[o][:, i])
            cons[f"{c.name}: {o}"] = v
            accepted &= (v >= c.region[0]) & (v <= c.region[1])
    preds: dict[str, np.ndarray] = {}
    for m in measurements:
        i = int(np.searchsorted(t, m.time_h))
        with np.errstate(all="ignore"):
            preds[m.name] = (np.log(act[m.output][:, i] / pbo[m.output][:, i]) if m.scale == "log"
                             else act[m.output][:, i] - pbo[m.output][:, i])
    profile = {p: float(model.parameters[p].value) for p in ("CRP0", "HAMD0", "age", "PSQI0")}
    return Draws(names, X, effect, cons, accepted & np.isfinite(effect), preds, solved, effect_h,
                 regimen.describe(), profile)


def _rejected(draws: Draws, constraints: Sequence[CytokineConstraint]) -> dict[str, np.ndarray]:
    """Per study, the solved draws outside its region (any of its outputs)."""
    out = {}
    for c in constraints:
        bad = np.zeros(draws.solved.shape, bool)
        for o in c.outputs:
            v = draws.constraints[f"{c.name}: {o}"]
            bad |= ~((v >= c.region[0]) & (v <= c.region[1]))
        out[c.name] = bad & draws.solved
    return out


def rejections(draws: Draws, constraints: Sequence[CytokineConstraint] = CYTOKINE_CONSTRAINTS) -> dict[str, int]:
    """How many solved draws each study's region rejects (a draw can fail several)."""
    return {name: int(np.count_nonzero(bad)) for name, bad in _rejected(draws, constraints).items()}


def rejected_by_any(draws: Draws, constraints: Sequence[CytokineConstraint] = CYTOKINE_CONSTRAINTS) -> int:
    """Solved draws outside at least one study's region, each counted once (:func:`rejections`
    overlap: their sum counts a draw once per study that rejects it)."""
    masks = list(_rejected(draws, constraints).values())
    return int(np.count_nonzero(np.logical_or.reduce(masks))) if masks else 0


def significance_weights(draws: Draws, constraints: Sequence[CytokineConstraint] = CYTOKINE_CONSTRAINTS,
                         z: float = 1.959963984540054) -> np.ndarray:
    """Likelihood of each study's *reported* result given a draw's true change (a sensitivity
    analysis, not the default): a significant fall has probability Phi(-z - delta/se), a null
    Phi(z - delta/se) - Phi(-z - delta/se). Normalised over the accepted draws (zero elsewhere).

    Taking small trials' significant results at face value favours strong links (selection of
    significant findings and several markers per study are not modelled), so this tilts the
    interval toward benefit; it is reported beside the unweighted interval, never instead of it.
    """
    w = draws.accepted.astype(float)
    for c in constraints:
        for o in c.outputs:
            d = draws.constraints[f"{c.name}: {o}"] / c.se_ln
            with np.errstate(all="ignore"):
                lik = norm.cdf(-z - d) if c.reported == "fall" else norm.cdf(z - d) - norm.cdf(-z - d)
            w = w * np.where(np.isfinite(lik), lik, 0.0)
    total = w.sum()
    if not total > 0:
        raise InputError("draws", "at least one draw consistent with the reported studies", 0)
    return w / total


def weighted_quantile(x: np.ndarray, q: Sequence[float], w: np.ndarray | None = None) -> np.ndarray:
    """Quantiles ``q`` (0-1) of ``x`` with weights ``w`` (midpoint rule on the weighted CDF)."""
    x = np.asarray(x, dtype=float)
    w = np.ones_like(x) if w is None else np.asarray(w, dtype=float)
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    cdf = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(np.asarray(q, dtype=float), cdf, xs)


def hamd_interval(draws: Draws, level: float = 0.9, weights: np.ndarray | None = None) -> dict[str, float]:
    """Median and central ``level`` interval of the HAM-D effect over the accepted draws
    (``weights``: e.g. :func:`significance_weights`; default equal). ``p_meaningful``: share at or
    above the 3.9 points patients notice (Rush 2021, kinetics.csv)."""
    if not (0.5 <= level < 1.0):
        raise InputError("level", "an interval level in [0.5, 1)", level)
    keep = draws.accepted
    e = draws.effect[keep]
    if e.size < 2:
        raise InputError("draws", "at least 2 draws inside the cytokine constraints", int(e.size))
    w = np.ones(e.size) if weights is None else np.asarray(weights, dtype=float)[keep]
    a = (1 - level) / 2
    lo, med, hi = weighted_quantile(e, [a, 0.5, 1 - a], w)
    ess = float(w.sum() ** 2 / np.sum(w * w))
    return {"median": float(med), "low": float(lo), "high": float(hi), "level": level,
            "n_draws": int(draws.X.shape[0]), "n_accepted": int(e.size), "effective_draws": ess,
            "p_harm": float(np.sum(w * (e < 0)) / w.sum()), "p_meaningful": float(np.sum(w * (e >= 3.9)) / w.sum())}


def _unexplained_variance(e: np.ndarray, y_obs: np.ndarray, degree: int = 3) -> float:
    """Variance of the effect left once ``y_obs`` is known: the residual variance of a cubic
    regression of the effect on the observed value (Strong & Oakley's regression estimator of the
    expected posterior variance), with the degrees of freedom the fit used taken off, so that a
    measurement unrelated to the effect leaves the variance unchanged on average."""
    sd = float(np.std(y_obs))
    if not sd > 0:
        return float(np.var(e, ddof=1))
    z = (y_obs - y_obs.mean()) / sd
    V = np.vander(z, degree + 1)
    coef, *_ = np.linalg.lstsq(V, e, rcond=None)
    r = e - V @ coef
    return float(np.sum(r * r) / (e.size - degree - 1))


def value_of_information(draws: Draws, measurements: Sequence[Measurement] = MEASUREMENTS, *,
                         n_per_arm: int = 30, n_replicates: int = 20, level: float = 0.9,
                         seed: int = 0) -> list[dict[str, object]]:
    """Rank measurements by the expected narrowing of the ``level`` interval of the HAM-D effect.

    Preposterior analysis over the accepted draws: each draw, taken as the truth, yields an
    observed result (its predicted value plus noise N(0, se^2), se = sd sqrt(2/n)); the variance
    of the effect that a smooth (cubic) regression on the observed results leaves unexplained is
    what the measurement cannot resolve (averaged over ``n_replicates`` noise draws). The
    expected width is the current width scaled by the ratio of standard deviations; regression
    rather than re-weighting the draws, because likelihood weights of a precise measurement
    collapse on a few draws whose interval then shrinks for no reason. ``reduction_if_exact_pct``
    is the same for a measurement without error: the most that measuring this quantity can give.
    Rows are sorted narrowest first (ties within 0.1 % broken by the exact-measurement gain).
    """
    if not isinstance(n_per_arm, int) or n_per_arm < 2:
        raise InputError("n-per-arm", "a whole number of at least 2", n_per_arm)
    if not (0.5 <= level < 1.0):
        raise InputError("level", "an interval level in [0.5, 1)", level)
    keep = draws.accepted
    e = draws.effect[keep]
    if e.size < 10:
        raise InputError("draws", "at least 10 draws inside the cytokine constraints", int(e.size))
    a = (1 - level) / 2
    lo0, hi0 = weighted_quantile(e, [a, 1 - a])
    prior = float(hi0 - lo0)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    var0 = float(np.var(e, ddof=1))
    for m in measurements:
        y = draws.predictions[m.name][keep]
        se = m.se(n_per_arm)
        var = float(np.mean([_unexplained_variance(e, y + rng.normal(0.0, se, y.size)) for _ in range(n_replicates)]))
        exact = _unexplained_variance(e, y)
        post = prior * math.sqrt(min(var / var0, 1.0)) if var0 > 0 else prior
        best = prior * math.sqrt(min(exact / var0, 1.0)) if var0 > 0 else prior
        rows.append({"measurement": m.name, "label": m.label, "se": se, "spread_of_prediction": float(np.std(y)),
                     "prior_width": prior, "expected_width": post,
                     "reduction_pct": 100.0 * (1 - post / prior) if prior > 0 else 0.0,
                     "reduction_if_exact_pct": 100.0 * (1 - best / prior) if prior > 0 else 0.0,
                     "sd_source": m.source})
    # narrowest first; widths within 0.1 % of the current one are ties (Monte Carlo noise), broken
    # by what an exact measurement would give
    rows.sort(key=lambda r: (round(float(r["reduction_pct"]), 1) * -1,  # type: ignore[arg-type]
                             -float(r["reduction_if_exact_pct"])))  # type: ignore[arg-type]
    return rows


def noise_floor(draws: Draws, *, level: float = 0.9, n_replicates: int = 50, seed: int = 0) -> float:
    """The 95th percentile of the narrowing (%) that an exact measurement *unrelated* to the effect
    shows with these draws: gains below it are indistinguishable from Monte Carlo noise."""
    e = draws.effect[draws.accepted]
    if e.size < 10:
        raise InputError("draws", "at least 10 draws inside the cytokine constraints", int(e.size))
    rng = np.random.default_rng(seed)
    var0 = float(np.var(e, ddof=1))
    gains = [100.0 * (1 - math.sqrt(min(_unexplained_variance(e, rng.normal(size=e.size)) / var0, 1.0)))
             for _ in range(n_replicates)]
    return float(np.percentile(gains, 95))


def placebo_response_rate(model: Model, *, weeks: float = 8.0, component_sd: float = 4.0) -> float:
    """Share of a placebo arm with a >= 50 % HAM-D fall after ``weeks`` for ``model``'s profile.

    The model gives the arm's mean improvement M (points, placebo + natural course). Between
    patients the improvement is Stone 2022's three-component mixture (means 16.0/8.9/1.7 points;
    placebo shares 9.6/69/21.4 %, the last by difference) rescaled to mean M, each component normal with
    ``component_sd`` (assumed: the components' SDs are not in the sources searched).
    """

    if not (math.isfinite(component_sd) and component_sd > 0):
        raise InputError("component_sd", "a positive SD in HAM-D points", component_sd)
    t = np.array([0.0, weeks * 7 * 24.0])
    ds = simulate(with_trial_arm(model), None, t)
    h0 = float(model.parameters["HAMD0"].value)
    mean_pts = h0 - float(ds["HAMD"].values[-1])
    scale = mean_pts / mixture_mean(STONE_PLACEBO_CLASSES)
    return float(sum(w * norm.sf(h0 / 2, loc=mu * scale, scale=component_sd) for w, mu in STONE_PLACEBO_CLASSES))
