"""Shared test settings: fixed seeds, headless plotting, a quiet Hypothesis profile."""

import os

import matplotlib
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")
os.environ.setdefault("NADSIM_HOME", os.path.join(os.path.dirname(__file__), "..", ".pytest_nadsim_home"))

settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(20261126)
