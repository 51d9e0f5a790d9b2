"""simulate_regimen (the web page's verb) and the prediction intervals of the patient verbs."""

import numpy as np

from nadsim.app import (
    INTERVAL_OUTPUTS,
    PatientRequest,
    RegimenRequest,
    simulate_patient,
    simulate_regimen,
)
from nadsim.dosing import parse_regimen
from nadsim.simulate import Tolerances

REG = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min")
PROFILE = {"crp_mg_L": 5.0, "hamd": 22.0}


def test_trial_context_reference_is_the_placebo_arm():
    """In a trial context the reference is the placebo arm (same patient, same visits, no
    compound): the placebo run of simulate_patient. Tolerance 1e-5 relative: both at rtol 1e-6."""
    run = simulate_regimen(RegimenRequest(REG, 24.0, profile=PROFILE, trial_context=True))
    t = run.dosed["time"].values
    pat = simulate_patient(PatientRequest(REG, t, profile=PROFILE, tolerances=Tolerances(rtol=1e-6, atol=1e-9)))
    assert pat.placebo is not None
    np.testing.assert_allclose(run.reference["HAMD"].values, pat.placebo["HAMD"].values, rtol=1e-5)
    np.testing.assert_allclose(run.dosed["whole_blood_NAD"].values, pat.dosed["whole_blood_NAD"].values, rtol=1e-5)
    assert run.applied["trial_context"] and "whole_blood_NAD" in run.outputs
    assert run.summary.empty  # no summary outputs asked


def test_without_trial_context_hamd_shows_the_mechanisms_alone():
    """Context links off: the undosed patient's HAM-D stays at its baseline course, so the
    reference HAM-D moves by less than 0.05 points over 24 h (placebo alone: tenths)."""
    run = simulate_regimen(RegimenRequest(REG, 24.0, profile=PROFILE), summary_outputs=("whole_blood_NAD", "HAMD"))
    h = run.reference["HAMD"].values
    assert abs(h[-1] - h[0]) < 0.05
    assert list(run.summary["variable"]) == ["whole_blood_NAD", "HAMD"]


def test_patient_intervals_bracket_the_median():
    runs = simulate_patient(PatientRequest(REG, np.linspace(0, 24, 25), intervals=20, compare=False))
    iv = runs.intervals
    assert iv is not None and iv.attrs["level"] == 0.9 and iv.attrs["draws"] + iv.attrs["failed_draws"] == 20
    names = [o for o in INTERVAL_OUTPUTS if o in runs.model.outputs]
    assert names and all(n in iv for n in names)
    for n in names:
        lo, mid, hi = (iv[n].sel(quantile=q).values for q in ("lower", "median", "upper"))
        assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12), n
