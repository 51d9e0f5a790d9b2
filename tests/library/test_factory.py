"""get_model: the one factory (names, profile, evidence filter, trial arm, errors, caching)."""

import pytest

from nadsim._errors import InputError
from nadsim.library import MODELS, build_full, build_nad_core, get_model


def test_names():
    assert set(MODELS) == {"full", "nad_core"}
    # equal values (the same digest), not always the same object: a fresh process may get them
    # from the disk store of built models
    assert get_model() == build_full()
    assert get_model("nad_core") == build_nad_core()
    assert get_model() is get_model()
    with pytest.raises(InputError, match="model"):
        get_model("no_such_model")


def test_profile_evidence_and_arm_are_applied():
    m = get_model(profile={"crp_mg_L": 8.0, "hamd": 24.0, "age": None})
    assert m.parameters["CRP0"].value == 8.0 and m.parameters["HAMD0"].value == 24.0
    weak = [ln for ln in m.links if ln.grade in ("D", "E")]
    assert weak, "the full model has weakly graded links"
    filtered = get_model(profile={"crp_mg_L": 8.0}, evidence="B")
    assert all(filtered.parameters[ln.gate].value == 0.0 for ln in weak)
    arm = get_model(arm=2.0)
    assert arm.parameters["trial_on"].value == 1.0 and arm.parameters["t_trial_start"].value == 2.0


def test_errors_name_the_field():
    with pytest.raises(InputError, match="profile"):
        get_model(profile={"weight": 70.0})
    with pytest.raises(InputError, match="--crp"):
        get_model(profile={"crp_mg_L": -1.0})
    with pytest.raises(InputError, match="--evidence"):
        get_model(evidence="Z")
    with pytest.raises(InputError, match="profile"):
        get_model(profile={"hamd": [20]})


def test_same_request_same_object():
    """Models are immutable, so the factory hands out one object per request (no re-checks)."""
    assert get_model(profile={"hamd": 20.0}, evidence="C") is get_model(evidence="C", profile={"hamd": 20.0})
