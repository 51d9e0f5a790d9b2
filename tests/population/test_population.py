"""Virtual populations: seeded reproducibility, sourced marginals, IIV vs uncertainty, batch == loop."""

import numpy as np
import pytest

from nadsim._errors import InputError
from nadsim.dosing import parse_regimen
from nadsim.library import build_nad_core
from nadsim.population import (
    CovariateModel,
    Uncertainty,
    Variability,
    covariate_parameters,
    sample_population,
    simulate_population,
)
from nadsim.simulate import simulate


@pytest.fixture(scope="module")
def core():
    return build_nad_core()


def test_same_seed_same_population_and_subsets_match(core):
    a = sample_population(40, model=core, seed=7)
    b = sample_population(40, model=core, seed=7)
    c = sample_population(40, model=core, seed=8)
    assert np.array_equal(a.params, b.params) and a.covariates.equals(b.covariates)
    assert not np.allclose(a.params, c.params)
    # subject i depends only on (seed, i): any subset or chunking gives the same rows (exact)
    sub = sample_population(model=core, seed=7, subjects=[3, 39, 11])
    assert np.array_equal(sub.params, a.params[[3, 39, 11]])
    assert sub.covariates.equals(a.covariates.iloc[[3, 39, 11]])
    big = sample_population(80, model=core, seed=7)
    assert np.array_equal(big.params[:40], a.params)


def test_covariate_marginals_match_their_sources(core):
    df = CovariateModel().sample(11, np.arange(6000))
    se = lambda p: np.sqrt(p * (1 - p) / len(df))  # noqa: E731
    # Osimo 2019: CRP > 3 mg/L in 27 %, > 1 mg/L in 58 % of depressed patients; tolerance 4 binomial SE
    assert abs((df.CRP > 3).mean() - 0.27) < 4 * se(0.27)
    assert abs((df.CRP > 1).mean() - 0.58) < 4 * se(0.58)
    # Yang 2022: whole-blood NAD+ men 34.5, women 31.3 uM (SD 5.5; truncated 18-45); tolerance 0.4 uM
    assert abs(df.loc[df.female, "NAD_whole_blood"].mean() - 31.3) < 0.4
    assert abs(df.loc[~df.female, "NAD_whole_blood"].mean() - 34.5) < 0.4
    # Kirsch 2002 baselines 21-30: inclusion window 18-35 is respected exactly
    assert df.HAMD.between(18, 35).all()
    # latent CRP-HAM-D correlation 0.05 (PMC6800199): rank correlation within 0.05
    from scipy.stats import spearmanr

    assert abs(spearmanr(df.CRP, df.HAMD)[0] - 0.05) < 0.05


def test_covariates_set_parameters(core):
    pop = sample_population(30, model=core, seed=1, variability=Variability(cv={}))
    bw = pop.params[:, core.parameter_names.index("BW")]
    nad = pop.params[:, core.parameter_names.index("NAD0_whole_blood")]
    assert np.array_equal(bw, pop.covariates.BW.to_numpy())
    assert np.array_equal(nad, pop.covariates.NAD_whole_blood.to_numpy())


def test_profile_covariates_match_apply_profile():
    full = pytest.importorskip("nadsim.library.full")
    model = full.build_full()
    cov = CovariateModel().sample(3, [0, 1])
    P = covariate_parameters(model, cov)
    for j in range(2):
        r = cov.iloc[j]
        m2 = full.apply_profile(model, crp_mg_L=r.CRP, hamd=r.HAMD, age=r.age, sleep=r.PSQI)
        expect = np.array([m2.parameters[n].value for n in model.parameter_names])
        expect[model.parameter_names.index("BW")] = r.BW
        expect[model.parameter_names.index("NAD0_whole_blood")] = r.NAD_whole_blood
        free = np.array([model.parameters[n].expr is None for n in model.parameter_names])
        np.testing.assert_array_equal(P[j, free], expect[free])


def test_variability_and_uncertainty_are_separate(core):
    no_cov = CovariateModel(covariates=(), correlations={})
    unc = Uncertainty(draws=3, cv={"R_diet": 0.3})
    # uncertainty only: subjects of one draw share the typical value; draw 0 is nominal
    p = sample_population(30, model=core, seed=5, covariates=no_cov, variability=Variability(cv={}), uncertainty=unc)
    r = p.params[:, core.parameter_names.index("R_diet")]
    for u in range(3):
        assert np.ptp(r[p.draw == u]) == 0.0
    assert r[p.draw == 0][0] == core.parameters["R_diet"].value
    assert len(np.unique(r)) == 3
    # variability on top spreads subjects within a draw, with the stated CV (log-normal, 3000 subjects)
    # (V_other: nominal 10 L well inside its bounds [4, 30] L, so clipping at the bounds is rare)
    q = sample_population(3000, model=core, seed=5, covariates=no_cov, variability=Variability(cv={"V_other": 0.25}))
    x = q.params[:, core.parameter_names.index("V_other")]
    lo, hi = core.parameters["V_other"].bounds
    inside = (x > lo) & (x < hi)  # log-normal CV 0.25: the bounds lie > 3.6 SD away, clipping < 1 %
    assert inside.mean() > 0.99
    cv = np.std(x) / np.mean(x)
    assert abs(cv - 0.25) < 0.02  # sampling SE of a CV at n=3000 is ~0.004
    assert abs(np.mean(x) / core.parameters["V_other"].value - 1) < 0.02  # mean-preserving


def test_bad_inputs_name_the_field(core):
    with pytest.raises(InputError, match="variability"):
        sample_population(3, model=core, variability=Variability(cv={"not_a_parameter": 0.2}))
    with pytest.raises(InputError, match="population"):
        sample_population(0, model=core)
    with pytest.raises(InputError, match=r"variability\.R_diet"):
        Variability(cv={"R_diet": -1.0})
    with pytest.raises(InputError, match="correlations"):
        CovariateModel(correlations={("CRP", "nope"): 0.1})


def test_batched_equals_loop(core):
    """simulate_population (one batch call) vs nadsim.simulate per subject.

    Both use the SciPy reference solver at rtol 1e-8; agreement within relative 1e-5 (the
    batch path may order floating-point work differently).
    """
    pop = sample_population(3, model=core, seed=2)
    regimen = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min")
    t = np.array([0.0, 1.0, 4.0, 12.0])
    ds = simulate_population(core, regimen, t, pop, outputs=["whole_blood_NAD", "plasma_NMN"], rtol=1e-8, atol=1e-10)
    assert ds["whole_blood_NAD"].dims == ("subject", "time")
    assert (ds["status"].values == 0).all()
    free = [n for n in core.parameter_names if core.parameters[n].expr is None]
    for i in range(3):
        pars = {n: float(pop.params[i, core.parameter_names.index(n)]) for n in free}
        one = simulate(core, regimen, t, parameters=pars, rtol=1e-8, atol=1e-10)
        for o in ("whole_blood_NAD", "plasma_NMN"):
            np.testing.assert_allclose(ds[o].values[i], one[o].values, rtol=1e-5, atol=1e-9)


def test_truncated_marginals_equal_scipy_stats():
    """The inverse-CDF transform (scipy.special ndtr/ndtri) against scipy.stats' truncated
    normal and log-normal; reference: scipy.stats; tolerance 1e-10 relative."""
    from scipy import stats

    from nadsim.population import COVARIATES

    z = np.linspace(-3.5, 3.5, 201)
    for cov in COVARIATES:
        if cov.dist == "bernoulli":
            continue
        p = cov.params
        base = (stats.norm(loc=p["mean"], scale=p["sd"]) if cov.dist == "normal"
                else stats.lognorm(s=p["sd_log"], scale=p["median"]))
        lo, hi = cov.bounds
        a = base.cdf(lo) if np.isfinite(lo) else 0.0
        b = base.cdf(hi) if np.isfinite(hi) else 1.0
        ref = np.clip(base.ppf(a + stats.norm.cdf(z) * (b - a)), lo, hi)
        np.testing.assert_allclose(cov.transform(z), ref, rtol=1e-10, err_msg=cov.name)
