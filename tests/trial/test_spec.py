"""Trial files: the example validates; bad files fail with the field named."""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from nadsim._errors import InputError
from nadsim.trial import load_trial, parse_trial

EXAMPLE = Path(__file__).parents[2] / "examples" / "trials" / "nmn-drip-depression.toml"


def _example() -> dict:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_trial_is_valid():
    spec, _, sha = load_trial(EXAMPLE)
    assert [a.name for a in spec.arms] == ["placebo", "nmn_300mg_weekly"]
    assert spec.population.n_per_arm == 100
    assert spec.primary().name == "hamd_change"
    assert [s.where for s in spec.subgroups] == ["CRP > 3"]
    np.testing.assert_allclose(spec.visit_times(), np.arange(9) * 168.0)
    reg = spec.arms[1].regimen()
    assert len(reg.doses) == 8 and reg.doses[-1].time_h == pytest.approx(7 * 168.0)
    assert len(sha) == 64


@pytest.mark.parametrize(("edit", "field"), [
    (lambda d: d["population"].update(n_per_arm=1), "population.n_per_arm"),
    (lambda d: d["arms"][1].pop("dose"), "arms.1"),
    (lambda d: d["arms"][1].update(dose="300 kg"), "arms.nmn_300mg_weekly"),
    (lambda d: d["arms"][1].update(doses=20), "arms.nmn_300mg_weekly"),
    (lambda d: d["endpoints"][0].update(kind="median"), "endpoints.0.kind"),
    (lambda d: d["subgroups"][0].update(where="CRP is high"), "subgroups.0.where"),
    (lambda d: d["analysis"].update(control="nobody"), "analysis.control"),
    (lambda d: d.update(duration=8), "duration"),
    (lambda d: d.update(colour="blue"), "colour"),
    (lambda d: d["power"].update(n_grid=[1]), "power.n_grid"),
])
def test_bad_trial_files_name_the_field(edit, field):
    d = _example()
    edit(d)
    with pytest.raises(InputError) as exc:
        parse_trial(d)
    assert field in str(exc.value)


def test_unreadable_file(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text("name = [")
    with pytest.raises(InputError, match="valid TOML"):
        load_trial(p)


def test_every_arm_is_in_the_trial():
    """The expectancy/visit response of the HAM-D model applies to placebo too (trial_on = 1 from 0 h)."""
    from nadsim.trial._run import trial_model

    m = trial_model("default")
    if "trial_on" not in m.parameters:
        pytest.skip("the default model has no HAM-D endpoint in this checkout")
    assert m.parameters["trial_on"].value == 1.0 and m.parameters["t_trial_start"].value == 0.0
    assert "HAMD" in {r.name for r in m.rules}


def test_subgroup_on_unknown_covariate_fails_before_simulating():
    d = _example()
    d["subgroups"][0]["where"] = "crp > 3"
    with pytest.raises(InputError, match=r"subgroups\.high_crp\.where.*CRP"):
        parse_trial(d)
    d = _example()
    d["population"]["covariates"] = {"weight": {"mean": 70}}
    with pytest.raises(InputError, match=r"population\.covariates"):
        parse_trial(d)


def test_a_spec_too_large_for_memory_is_refused_before_it_starts():
    """The largest legal spec (a million patients per arm, daily visits for a year, 200,000
    replicates at n = 100,000) needs far more memory than any machine here: refused with the
    estimate named; the example trial's estimate is small (reference: the estimate's formula)."""
    from nadsim.trial._run import check_memory

    spec = parse_trial(_example())
    assert spec.memory_estimate_bytes() < 2**30
    check_memory(spec, available=16 * 2**30)  # fits
    d = _example()
    d["population"].update(n_per_arm=1_000_000)
    d["population"].pop("pool")  # the default, twice the trial: a pool below the trial is refused
    d.update(duration="52 weeks", visits="daily")
    d["power"].update(replicates=200_000, n_grid=[100_000])
    huge = parse_trial(d)
    with pytest.raises(InputError, match="trial") as info:
        check_memory(huge, available=16 * 2**30)
    assert "GiB" in str(info.value) and huge.memory_estimate_bytes() > 100 * 2**30


def _refusal(d: dict) -> str:
    with pytest.raises(InputError) as exc:
        parse_trial(d)
    msg = str(exc.value)
    assert "\n" not in msg and "'endpoints':" not in msg  # one line, never the whole trial echoed back
    return msg


def test_wrong_control_names_the_field_and_only_its_value():
    d = _example()
    d["analysis"]["control"] = "nobody"
    msg = _refusal(d)
    assert msg.startswith("`analysis.control` must be")
    assert "placebo, nmn_300mg_weekly" in msg and msg.endswith("got 'nobody'")


def test_duplicate_arm_names_name_the_second_arm():
    d = _example()
    d["arms"][1]["name"] = "placebo"
    msg = _refusal(d)
    assert msg.startswith("`arms.1.name` must be") and "arms.0.name" in msg and msg.endswith("got 'placebo'")


def test_duplicate_endpoint_names_and_two_primaries_name_the_field():
    d = _example()
    d["endpoints"][2]["name"] = "response"
    assert _refusal(d).startswith("`endpoints.2.name`")
    d = _example()
    d["endpoints"][3]["primary"] = True
    assert _refusal(d).startswith("`endpoints.3.primary`")


def test_an_active_arm_without_a_dose_names_the_missing_field():
    d = _example()
    d["arms"][1].pop("dose")
    assert _refusal(d).startswith("`arms.1.dose`")


@pytest.mark.parametrize(("pool", "n_per_arm"), [(10, 20), (39, 20)])
def test_a_pool_smaller_than_the_trial_is_refused(pool, n_per_arm):
    """The trial's own n_per_arm x arms subjects are the pool's first patients (allocation), so
    `pool` below them cannot be its documented fixed size; before, pool 10 ran as 40."""
    d = _example()
    d["population"].update(pool=pool, n_per_arm=n_per_arm)
    msg = _refusal(d)
    assert msg.startswith("`population.pool` must be at least") and "= 40" in msg and msg.endswith(f"got {pool}")
    d["population"].update(pool=40)
    assert parse_trial(d).pool_size == 40  # exactly the trial's subjects is allowed


def test_a_binary_trial_file_names_the_file_and_the_byte(tmp_path):
    p = tmp_path / "t.toml"
    p.write_bytes(b'name = "x"\n\xff\xfe\x00\x01')
    with pytest.raises(InputError) as exc:
        load_trial(p)
    msg = str(exc.value)
    assert msg.startswith("`trial file` must be a UTF-8 text (TOML) file") and "0xff at offset 11" in msg
    assert "\n" not in msg
