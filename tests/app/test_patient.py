"""simulate_patient: the runs a dose response and a mood change are judged against."""

import numpy as np
import pytest

from nadsim._errors import InputError
from nadsim.app import PatientRequest, simulate_patient
from nadsim.dosing import parse_regimen
from nadsim.library import get_model
from nadsim.simulate import simulate

REG = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min")
T = np.linspace(0.0, 24.0, 49)


def test_runs_are_the_same_patient_with_and_without_the_regimen():
    runs = simulate_patient(PatientRequest(REG, T, profile={"crp_mg_L": 6.0}))
    model = get_model(profile={"crp_mg_L": 6.0})
    assert runs.model is model
    # reference: the engine directly, same model and grid (tolerance: identical code path)
    np.testing.assert_array_equal(runs.undosed["whole_blood_NAD"].values,
                                  simulate(model, None, T)["whole_blood_NAD"].values)
    rise = runs.dosed["whole_blood_NAD"].values - runs.undosed["whole_blood_NAD"].values
    assert rise.max() > 0  # the drip raises whole-blood NAD+ above the same patient undosed
    # the placebo arm has no compound: its NAD+ is the undosed patient's (same rtol as the engine)
    assert runs.placebo is not None
    np.testing.assert_allclose(runs.placebo["whole_blood_NAD"].values, runs.undosed["whole_blood_NAD"].values,
                               rtol=1e-6)


def test_placebo_arm_and_errors():
    runs = simulate_patient(PatientRequest(REG, T, placebo=True, compare=False))
    assert "placebo drips" in runs.dosed.attrs["regimen"] and runs.placebo is None
    with pytest.raises(InputError, match="--placebo"):
        simulate_patient(PatientRequest(REG, T, model="nad_core", placebo=True))
