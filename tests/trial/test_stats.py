"""Trial statistics and power against closed forms; Sobol indices of the Ishigami function."""

import numpy as np
import pytest
from scipy import stats

from nadsim.trial import (
    ArmPool,
    Endpoint,
    ancova,
    n_for_power,
    power_at,
    power_curve,
    proportion_test,
    t_test_power,
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
    ctrl = ArmPool(np.full(m, 24.0), np.full(m, 24.0))
    trt = ArmPool(np.full(m, 24.0), np.full(m, 24.0 - delta))
    e = Endpoint(name="y", output="HAMD", kind="change", noise_sd=sigma, subject_sd=subject_sd)
    sim = power_at(ctrl, trt, e, n, replicates=4000, seed=1)
    exact = t_test_power(delta, float(np.hypot(sigma, subject_sd)), n, 0.05, covariates=1)
    assert 0.2 < exact < 0.95  # an informative point of the curve
    assert abs(sim["power"] - exact) < 0.03
    # and the estimate is unbiased for -delta (SE of the mean of 4000 estimates < 0.02)
    assert abs(sim["mean_estimate"] + delta) < 0.05


def test_power_curve_is_reproducible_and_n_for_power():
    m = 300
    ctrl = ArmPool(np.full(m, 24.0), np.full(m, 24.0))
    trt = ArmPool(np.full(m, 24.0), np.full(m, 23.0))
    e = Endpoint(name="y", output="HAMD", kind="change", noise_sd=2.0)
    ns = [10, 30, 60, 100, 150]
    a = power_curve(ctrl, trt, e, ns, replicates=800, seed=4)
    b = power_curve(ctrl, trt, e, ns, replicates=800, seed=4)
    assert a == b
    nt = n_for_power(a, 0.8)
    # closed form: smallest n with t-test power >= 0.8 for delta 1, SD 2 is 64 per arm
    exact = next(n for n in range(5, 500) if t_test_power(1.0, 2.0, n, covariates=1) >= 0.8)
    assert abs(nt["n_fit"] - exact) <= 0.15 * exact
    assert nt["n_first_grid_point"] == 100


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


def test_power_search_brackets_the_target():
    from nadsim.trial._power import power_search

    m = 300
    ctrl = ArmPool(np.full(m, 24.0), np.full(m, 24.0))
    trt = ArmPool(np.full(m, 24.0), np.full(m, 23.0))
    e = Endpoint(name="y", output="HAMD", kind="change", noise_sd=2.0)
    exact = next(n for n in range(5, 500) if t_test_power(1.0, 2.0, n, covariates=1) >= 0.8)  # 64
    for grid in ([400], [8]):  # all above / all below the target: the grid is extended
        curve, nt = power_search(ctrl, trt, e, grid, replicates=600, seed=9)
        pw = [c["power"] for c in curve]
        assert min(pw) < 0.8 <= max(pw)
        assert abs(nt["n_fit"] - exact) <= 0.2 * exact
