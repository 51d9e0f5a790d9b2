"""Trial statistics and power against closed forms; Sobol indices of the Ishigami function."""

import numpy as np
import pytest
from scipy import stats

from nadsim.trial import (
    Endpoint,
    TwinPool,
    ancova,
    holm,
    interaction_test,
    n_for_power,
    power_at,
    power_curve,
    proportion_test,
    t_test_power,
    true_effect,
)


def test_ancova_matches_least_squares_reference():
    rng = np.random.default_rng(3)
    m = 60
    g = np.repeat([0.0, 1.0], m // 2)
    b = rng.normal(24, 4, m)
    y = -8 - 3 * g - 0.4 * (b - 24) + rng.normal(0, 5, m)
    res = ancova(y, b, g)
    X = np.column_stack([np.ones(m), g, b - b.mean()])
    beta, rss, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = rss[0] / (m - 3)
    se = np.sqrt(s2 * np.linalg.inv(X.T @ X)[1, 1])
    p = 2 * stats.t.sf(abs(beta[1] / se), m - 3)
    np.testing.assert_allclose([res.estimate[0], res.se[0], res.p[0]], [beta[1], se, p], rtol=1e-10)
    q = stats.t.ppf(0.975, m - 3)
    np.testing.assert_allclose([res.low[0], res.high[0]], [beta[1] - q * se, beta[1] + q * se], rtol=1e-10)


def test_proportion_test_matches_pooled_z():
    y = np.array([1] * 12 + [0] * 28 + [1] * 20 + [0] * 20, dtype=float)
    g = np.array([0] * 40 + [1] * 40, dtype=float)
    r = proportion_test(y, g)
    pp = 32 / 80
    z = (0.5 - 0.3) / np.sqrt(pp * (1 - pp) * (2 / 40))
    np.testing.assert_allclose(r.estimate[0], 0.2)
    np.testing.assert_allclose(r.p[0], 2 * stats.norm.sf(z), rtol=1e-12)


@pytest.mark.parametrize(("n", "delta", "sigma", "subject_sd"), [(20, 1.0, 1.5, 0.0), (50, 2.0, 2.0, 4.0)])
def test_power_reproduces_closed_form_two_sample_power(n, delta, sigma, subject_sd):
    """Swap the model for a fixed known effect: every control subject stays at 24, every treated
    subject ends ``delta`` lower. Measurement error ``sigma`` at both visits plus a subject effect
    ``subject_sd`` at the visit make the ANCOVA residual SD sqrt(sigma^2 + subject_sd^2) (the
    baseline regression absorbs the baseline error), so power must equal the noncentral-t power
    of a two-sample t test with df = 2n - 3. 4000 replicates: Monte-Carlo SE <= 0.008; tolerance 0.03.
    """
    m = 500
    pool = TwinPool(np.full(m, 24.0), np.full(m, 24.0), np.full(m, 24.0 - delta))
    e = Endpoint(name="y", output="HAMD", kind="change", noise_sd=sigma, subject_sd=subject_sd)
    sim = power_at(pool, e, n, replicates=4000, seed=1)
    exact = t_test_power(delta, float(np.hypot(sigma, subject_sd)), n, 0.05, covariates=1)
    assert 0.2 < exact < 0.95  # an informative point of the curve
    assert abs(sim["power"] - exact) < 0.03
    # and the estimate is unbiased for -delta (SE of the mean of 4000 estimates < 0.02)
    assert abs(sim["mean_estimate"] + delta) < 0.05


def test_power_curve_is_reproducible_and_n_for_power():
    m = 300
    pool = TwinPool(np.full(m, 24.0), np.full(m, 24.0), np.full(m, 23.0))
    e = Endpoint(name="y", output="HAMD", kind="change", noise_sd=2.0)
    ns = [10, 30, 60, 100, 150]
    a = power_curve(pool, e, ns, replicates=800, seed=4)
    b = power_curve(pool, e, ns, replicates=800, seed=4)
    assert a == b
    # closed form: smallest n with t-test power >= 0.8 for delta 1, SD 2 is 64 per arm
    exact = next(n for n in range(5, 500) if t_test_power(1.0, 2.0, n, covariates=1) >= 0.8)
    nt = n_for_power(a, 0.8, delta=-1.0)
    assert nt["n_first_grid_point"] in (60, 100)  # exact power 0.78 at 60 (MC SE 0.015), 0.94 at 100
    # the normal approximation from the n = 150 point (SD of 800 estimates: ~2.5 % error, so
    # ~5 % in n); tolerance 15 %
    assert abs(nt["n_normal_approx"] - exact) <= 0.15 * exact
    short = n_for_power(a[:2], 0.8, delta=-1.0, delta_ci=[-1.2, -0.8])
    assert not short["reached_in_grid"] and "not reached" in short["note"]
    assert short["n_normal_approx_range"][0] < short["n_normal_approx"] < short["n_normal_approx_range"][1]


def test_replicate_mean_equals_the_twins_true_effect():
    """Heterogeneous twins: the individual effect grows with baseline severity and the outcome
    SD is large. Drawing different patients per arm from the one pool, the mean of 2000
    replicate ANCOVA estimates must equal the pool's paired average treatment effect within
    3 Monte Carlo SE (the issue's criterion); the old design (separate arm pools) failed it."""
    rng = np.random.default_rng(11)
    N = 600
    base = rng.normal(24, 4, N)
    ctrl = base - 9 + rng.normal(0, 5, N)
    trt = ctrl - 0.5 - 0.2 * (base - 24) + rng.normal(0, 0.3, N)
    pool = TwinPool(base, ctrl, trt)
    e = Endpoint(name="y", output="HAMD", kind="change", noise_sd=2.0, subject_sd=3.0)
    te = true_effect(pool, e)
    np.testing.assert_allclose(te["estimate"], np.mean(trt - ctrl), rtol=1e-12)
    assert te["ci"][0] < te["estimate"] < te["ci"][1]
    for n in (40, 250):  # 2n below the pool (a random split) and 500 of 600 patients
        r = power_at(pool, e, n, replicates=2000, seed=3)
        assert r["pool_reuse"] == 0.0
        assert abs(r["mean_estimate"] - te["estimate"]) <= 3 * r["se_mean_estimate"], (n, r, te)
    big = power_at(pool, e, 1000, replicates=200, seed=3)  # 2n > pool: with replacement, reuse reported
    # 2000 draws from 600 patients: expected distinct 600 (1 - exp(-2000/600)) = 578, so 71 % repeats
    assert big["pool_reuse"] == pytest.approx(1 - 600 * (1 - np.exp(-2000 / 600)) / 2000, rel=1e-9)


def test_success_needs_the_favourable_sign():
    m = 400
    harm = TwinPool(np.full(m, 24.0), np.full(m, 14.0), np.full(m, 16.0))  # treated 2 points worse
    e = Endpoint(name="y", output="HAMD", kind="change", noise_sd=2.0, better="lower")
    r = power_at(harm, e, 100, replicates=400, seed=2)
    assert r["power"] > 0.9 and r["success"] == 0.0


def test_ancova_matches_statsmodels_ols():
    """The hand-written ANCOVA against statsmodels OLS of y ~ treat + baseline (same model;
    tolerance 1e-9 relative, floating-point round-off only)."""
    import pandas as pd
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(8)
    m = 80
    g = np.repeat([0.0, 1.0], m // 2)
    b = rng.normal(24, 4, m)
    y = -9 - 1.5 * g - 0.3 * (b - 24) + rng.normal(0, 6, m)
    res = ancova(y, b, g)
    fit = smf.ols("y ~ treat + base", pd.DataFrame({"y": y, "treat": g, "base": b})).fit()
    lo, hi = fit.conf_int().loc["treat"]
    np.testing.assert_allclose([res.estimate[0], res.se[0], res.p[0], res.low[0], res.high[0]],
                               [fit.params["treat"], fit.bse["treat"], fit.pvalues["treat"], lo, hi], rtol=1e-9)


def test_holm_and_interaction():
    # Holm by hand: sorted p (0.01, 0.02, 0.04) x (3, 2, 1) = 0.03, 0.04, 0.04 (monotone)
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    rng = np.random.default_rng(5)
    m = 400
    treat = np.tile([0.0, 1.0], m // 2)
    member = (rng.random(m) < 0.3).astype(float)
    y = -3.0 * treat * member + rng.normal(0, 1, m)  # the effect lives only in the subgroup
    it = interaction_test(y, None, treat, member)
    assert it["ci"][0] < -3.0 < it["ci"][1] and it["p"] < 1e-6
    null = interaction_test(rng.normal(0, 1, m), None, treat, member)
    assert null["p"] > 1e-3


def test_local_sensitivity_of_a_power_law_is_exact():
    from nadsim.analysis.sensitivity import local_sensitivity

    df = local_sensitivity(lambda P: P[:, 0] ** 2 * P[:, 1] / P[:, 2], ["a", "b", "c"], [2.0, 3.0, 5.0])
    got = dict(zip(df.parameter, df.coefficient, strict=True))
    # normalised coefficients of a^2 b / c are 2, 1, -1; central differences are exact for the
    # first two and O(h^2) = 1e-4 off for 1/c
    assert got["a"] == pytest.approx(2.0, abs=1e-9)
    assert got["b"] == pytest.approx(1.0, abs=1e-9)
    assert got["c"] == pytest.approx(-1.0, abs=2e-4)


def test_sobol_indices_of_ishigami_match_published_values():
    """Ishigami function (a=7, b=0.1) on [-pi, pi]^3: analytic indices S1 = 0.314, 0.442, 0 and
    ST = 0.558, 0.442, 0.244 (Ishigami & Homma 1990, doi:10.1109/ISUMA.1990.151285; as listed
    in the SALib documentation). N = 4096 (20480 evaluations): tolerance 0.04 absolute, about
    the width of SALib's bootstrap 95 % intervals at this N.
    """
    from SALib.test_functions import Ishigami

    from nadsim.analysis.sensitivity import sobol_indices

    df = sobol_indices(Ishigami.evaluate, ["x1", "x2", "x3"], [(-np.pi, np.pi)] * 3, n=4096, seed=2)
    np.testing.assert_allclose(df.S1, [0.314, 0.442, 0.0], atol=0.04)
    np.testing.assert_allclose(df.ST, [0.558, 0.442, 0.244], atol=0.04)


def test_sensitivity_plots_are_png(tmp_path):
    from nadsim.analysis.sensitivity import local_sensitivity
    from nadsim.analysis.sensitivity import sobol_indices as si
    from nadsim.report._figures import sobol_figure, tornado_figure

    df = local_sensitivity(lambda P: P[:, 0] * P[:, 1] ** 0.5, ["a", "b"], [1.0, 4.0])
    df["grade"], df["unit"] = ["D", "E"], ["uM", "1/h"]
    tornado_figure(df, tmp_path / "t.png", output="y", output_unit="uM", metric="final", regimen="none")
    s = si(lambda X: X[:, 0] + 2 * X[:, 1], ["a", "b"], [(0, 1), (0, 1)], n=64)
    sobol_figure(s, tmp_path / "s.png", output="y", metric="final", regimen="none")
    for f in ("t.png", "s.png"):
        assert (tmp_path / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mmrm_recovers_a_known_last_visit_effect():
    """Synthetic visits the way nadsim observes them: a subject effect (SD 3) on every visit
    plus independent error (SD 2); the treated arm is 1.5 points lower at the last visit only
    (0.5 at the first). The MMRM effect at the last visit must cover -1.5 (95 % CI) and agree
    with the last-visit ANCOVA within 0.5 points (same data, different use of the visits)."""
    import pandas as pd

    from nadsim.trial import mmrm

    rng = np.random.default_rng(21)
    m = 300
    treat = np.repeat([0.0, 1.0], m // 2)
    base = rng.normal(24, 4, m)
    u = rng.normal(0, 3, m)
    rows = []
    for t, eff in ((168.0, -0.5), (336.0, -1.0), (504.0, -1.5)):
        y = -3.0 * t / 168 - 0.2 * (base - 24) + eff * treat + u + rng.normal(0, 2, m)
        rows.append(pd.DataFrame({"subject": np.arange(m), "visit": t, "y": y, "base": base, "treat": treat}))
    res = mmrm(pd.concat(rows, ignore_index=True))
    assert res["ci"][0] < -1.5 < res["ci"][1] and res["visit_h"] == 504.0 and res["converged"]
    last = rows[-1]
    anc = ancova(last["y"].to_numpy(), base, treat)
    assert abs(res["estimate"] - anc.estimate[0]) < 0.5


def test_placebo_response_is_its_expectation_over_rater_error():
    """Every patient at baseline 20 improves 8 points, with an unexplained subject effect of SD 4
    and no rater error: a response (a fall of >= 10) needs z <= -0.5, so the rate is
    Phi(-0.5) = 0.3085 (closed form). 2000 patients x 64 error draws: SE 0.0013, tolerance 0.006.
    The rate under one error draw of the same patients scatters by ~0.010 (binomial SD) instead."""
    from nadsim.trial._results import _expected_response

    N = 2000
    pool = TwinPool(np.full(N, 20.0), np.full(N, 12.0), np.full(N, 12.0))
    e = Endpoint(name="response", output="HAMD", kind="response", threshold=0.5, subject_sd=4.0)
    p = _expected_response(pool, e, seed=5)
    assert p.shape == (N,) and np.all((p >= 0) & (p <= 1))
    assert abs(p.mean() - stats.norm.cdf(-0.5)) < 0.006
    np.testing.assert_array_equal(p, _expected_response(pool, e, seed=5))  # seeded
