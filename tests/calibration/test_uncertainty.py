"""Parameter draws (prior and Laplace posterior) and the prediction intervals built on them.

References: the draws are checked against the distribution they claim (bounds, the stored
covariance); intervals against their own ordering and definition. Tolerances are stated inline.
"""

import json

import numpy as np
import pytest

import nadsim.calibration._posterior as posterior_store
from nadsim._errors import InputError
from nadsim.calibration import FIT_PARAMETERS, parameter_draws
from nadsim.calibration._intervals import prediction_intervals
from nadsim.calibration._uncertainty import UNCONSTRAINED, default_source
from nadsim.dosing import Dose, Regimen
from nadsim.library import build_nad_core


@pytest.fixture()
def synthetic_posterior(tmp_path, monkeypatch):
    """A stored posterior over three parameters, narrow enough that no draw hits a bound."""
    model = build_nad_core()
    names = ["ka_NR", "CL_AOX", "k_NADS"]
    x = [float(np.log(model.parameters[n].value)) for n in names]
    cov = [[0.01, 0.006, 0.0], [0.006, 0.01, 0.0], [0.0, 0.0, 0.0025]]
    f = tmp_path / "posterior.json"
    f.write_text(json.dumps({"names": [*names, "study:x"], "x_log": [*x, 0.0],
                             "cov_log": [[*r, 0.0] for r in cov] + [[0.0, 0.0, 0.0, 0.04]], "parameters": names}))
    monkeypatch.setattr(posterior_store, "POSTERIOR_FILE", f)
    return model, names, np.array(x), np.array(cov)


def test_prior_draws_stay_in_bounds_and_repeat_with_the_seed():
    model = build_nad_core()
    a = parameter_draws(model, 50, seed=3, source="prior")
    assert a == parameter_draws(model, 50, seed=3, source="prior")
    for d in a:
        assert set(d) == {p for p in (*FIT_PARAMETERS, *UNCONSTRAINED) if p in model.parameters}
        for k, v in d.items():
            lo, hi = model.parameters[k].bounds
            assert lo <= v <= hi


def test_posterior_draws_have_the_stored_covariance(synthetic_posterior):
    model, names, x, cov = synthetic_posterior
    assert default_source() == "posterior"
    draws = parameter_draws(model, 4000, seed=1)  # the default source is the stored posterior
    z = np.log([[d[n] for n in names] for d in draws])
    # 4000 draws: the sample mean is within 4 standard errors, the covariance within 15 %
    assert np.all(np.abs(z.mean(axis=0) - x) < 4 * np.sqrt(np.diag(cov) / 4000))
    assert np.cov(z.T) == pytest.approx(cov, rel=0.15, abs=3e-4)
    # parameters the posterior does not hold come from their prior: the brain barrier spreads
    ps = np.array([d["PS_NR_b"] for d in draws])
    lo, hi = model.parameters["PS_NR_b"].bounds
    assert ps.min() >= lo and ps.max() <= hi and np.log(ps.max() / ps.min()) > 0.9 * np.log(hi / lo)


def test_posterior_without_a_fit_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(posterior_store, "POSTERIOR_FILE", tmp_path / "none.json")
    assert default_source() == "prior"
    with pytest.raises(InputError, match="source"):
        parameter_draws(build_nad_core(), 2, source="posterior")
    with pytest.raises(InputError, match="source"):
        parameter_draws(build_nad_core(), 2, source="sampler")


def test_prediction_intervals_are_ordered_and_relative_to_each_draws_baseline(synthetic_posterior):
    model = synthetic_posterior[0]
    reg = Regimen((Dose("NR", "oral", 1000.0, 1.0),))
    t = np.arange(0.0, 24.01, 0.5)
    iv = prediction_intervals(model, reg, t, n=20, outputs=["pbmc_NAD", "whole_blood_NAD"])
    assert iv.attrs["draws"] + iv.attrs["failed_draws"] == 20 and iv.attrs["level"] == 0.9
    for v in ("pbmc_NAD", "change_pbmc_NAD", "whole_blood_NAD"):
        lo, med, hi = iv[v].values
        assert np.all(lo <= med + 1e-12) and np.all(med <= hi + 1e-12)
    assert np.allclose(iv["change_pbmc_NAD"].values[:, 0], 0.0)  # before the dose every draw is at its baseline
    assert iv["change_pbmc_NAD"].values[2].max() > 0  # the dose raises PBMC NAD+ in the upper draws
    with pytest.raises(InputError, match="level"):
        prediction_intervals(model, reg, t, n=4, level=0.3)
    # 19 draws leave the 5 % tails of a 90 % interval without a draw: refused, for every face
    with pytest.raises(InputError, match=">= 20"):
        prediction_intervals(model, reg, t, n=19)


def test_simulate_interval_option_prints_intervals():
    import json as _json

    from typer.testing import CliRunner

    from nadsim.cli import app

    res = CliRunner().invoke(app, ["simulate", "--compound", "NR", "--route", "oral", "--dose", "1000 mg",
                                   "--until", "12 h", "--format", "json", "--interval", "20", "--no-progress"])
    assert res.exit_code == 0, res.output
    iv = _json.loads(res.stdout.strip().splitlines()[-1])["intervals"]
    assert iv["level"] == 0.9 and iv["draws"] <= 20 and iv["time_h"] == 12.0
    wb = iv["outputs"]["whole_blood_NAD"]
    assert wb["lower"] <= wb["median"] <= wb["upper"]
    assert "change_brain_NAD" in iv["outputs"]
