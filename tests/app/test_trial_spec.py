"""The trial verbs' spec handling: a TrialSpec in memory becomes the run's trial file and
parses back to the same spec; the web's quick trial is a valid spec."""

import tomllib
from pathlib import Path

import pytest

from nadsim.app import PatientTrialRequest, patient_profile, patient_trial_spec, trial_toml
from nadsim.trial import load_trial, parse_trial

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "trials").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_trials_round_trip(path):
    spec, _, _ = load_trial(path)
    assert parse_trial(tomllib.loads(trial_toml(spec))) == spec


def test_patient_trial_spec_is_centred_on_the_profile():
    prof = {**patient_profile(crp_mg_L=6.0, hamd=24.0, age=50.0, sleep=9.0), "weight_kg": 80.0}
    spec = patient_trial_spec(PatientTrialRequest(
        active={"compound": "NMN", "route": "iv", "dose": "300 mg", "infusion": "20 min", "every": "7 d", "doses": 2},
        profile=prof, n_per_arm=6, weeks=2, seed=3))
    cov = spec.population.covariates
    assert cov["HAMD"]["mean"] == 24.0 and cov["HAMD"]["bounds"] == [12.0, 36.0]
    assert cov["CRP"]["median"] == 6.0 and cov["BW"]["median"] == 80.0
    assert [a.name for a in spec.arms] == ["placebo", "active"] and spec.arms[0].placebo
    assert spec.primary().name == "hamd_change"
    assert parse_trial(tomllib.loads(trial_toml(spec))) == spec


def test_trial_files_keep_text_that_toml_must_escape():
    """Quotes, backslashes, control characters, DEL and non-ASCII text in a spec survive the
    trial file the verb writes (tomli_w) and read back unchanged."""
    spec = patient_trial_spec(PatientTrialRequest(active={"compound": "NMN", "route": "iv", "dose": "300 mg"},
                                                  profile={"hamd": 22.0, "age": 45.0, "crp_mg_L": 2.0, "sleep": 8.0,
                                                           "weight_kg": 70.0}))
    for text in ('quote " and \\ backslash', "tab\tnewline\n", "DEL \x7f", "日本語 😀", "\x00\x1f"):
        odd = spec.model_copy(update={"description": text})
        assert parse_trial(tomllib.loads(trial_toml(odd))).description == text


def test_patient_profile_drops_unset_covariates():
    assert patient_profile(crp_mg_L=2.0, sleep=None) == {"crp_mg_L": 2.0}
    assert patient_profile() == {}
