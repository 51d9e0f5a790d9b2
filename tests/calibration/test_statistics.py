"""Summary statistics on synthetic curves with known answers."""

import numpy as np
import pytest

from nadsim.calibration import Target, evaluate


def _t(stat, **kw):
    return Target(id="x", experiment="e", output="y", statistic=stat, observed=1.0, unit="", weight=1.0,
                  role="fit", source="", row="", **kw)


T = np.linspace(0, 100, 10001)


def test_fold_peak_tmax_mean_auc():
    y = 10 + 5 * np.exp(-((T - 8) ** 2) / 8)
    assert evaluate(_t("fold_at", at_h=8.0), T, y) == pytest.approx(15 / y[0])  # y[0] = 10 + 5e^-8
    assert evaluate(_t("peak_fold", window_h=(0, 24)), T, y) == pytest.approx(15 / y[0])
    assert evaluate(_t("tmax", window_h=(0, 24)), T, y) == pytest.approx(8.0, abs=0.01)
    assert evaluate(_t("auc", window_h=(0, 100)), T, y) == pytest.approx(1000 + 5 * np.sqrt(8 * np.pi), rel=1e-4)
    assert evaluate(_t("mean_fold", window_h=(50, 100)), T, y) == pytest.approx(10 / y[0], rel=1e-6)


def test_washout_half_life_and_rise_time():
    k = np.log(2) / 6.0
    y = 20 + np.where(T < 40, 10 * (1 - np.exp(-k * T)), 10 * (1 - np.exp(-k * 40)) * np.exp(-k * (T - 40)))
    assert evaluate(_t("washout_half_life", stop_h=40, window_h=(45, 100)), T, y) == pytest.approx(6.0, rel=1e-3)
    # 90 % of the rise reached at 40 h happens at t solving 1 - e^{-kt} = 0.9 (1 - e^{-40k})
    goal = -np.log(1 - 0.9 * (1 - np.exp(-40 * k))) / k
    assert evaluate(_t("t_frac_rise", frac=0.9, ref_h=40), T, y) == pytest.approx(goal, abs=0.02)
