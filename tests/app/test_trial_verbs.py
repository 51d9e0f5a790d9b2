"""The trial verbs under ``nadsim trial ...``: each command calls one of them, and they hand back
the run's analysis as data (no re-reading by the face)."""

import json
import re
import tomllib

import pytest
from tests.trial.test_contract import TINY

import nadsim.app as app
from nadsim._errors import InputError
from nadsim.trial import Registry


@pytest.mark.parametrize("workers", [0, 257, -1, 1.5, True])
def test_workers_out_of_range_name_the_field(workers, tmp_path):
    with pytest.raises(InputError, match="workers"):
        app.run_trial_file(tmp_path / "none.toml", tmp_path / "out", workers=workers)


def test_run_resume_status_power_report_through_the_verbs(tmp_path):
    reg = Registry(tmp_path / "registry.sqlite")
    trial = tmp_path / "tiny.toml"
    trial.write_text(TINY, encoding="utf-8")
    started: list[str] = []
    run = app.run_trial_file(trial, tmp_path / "out", n_per_arm=4, replicates=40, workers=1, registry=reg,
                             on_start=started.append)
    assert started == [run.run_id]
    assert run.summary == json.loads((run.out_dir / "summary.json").read_text(encoding="utf-8"))
    assert set(run.subjects["arm"]) == {"placebo", "nmn"}  # read on first use
    again = app.resume_trial_run(run.out_dir, workers=1, registry=reg)  # a finished run is re-verified
    assert again.run_id == run.run_id and again.summary["true_effect"] == run.summary["true_effect"]
    assert app.trial_run_status(run.run_id, registry=reg)["status"] == "complete"
    assert [r["run_id"] for r in app.list_trial_runs(registry=reg)] == [run.run_id]
    report = app.write_trial_report(run.out_dir, registry=reg)
    assert report.name == "report.html" and report.stat().st_size > 0


def _with_endpoints(endpoints: str) -> str:
    """TINY with its [[endpoints]] replaced by ``endpoints``."""
    head, rest = TINY.split("[[endpoints]]", 1)
    return head + endpoints + "[power]" + rest.split("[power]", 1)[1]


UNKNOWN_OUTPUT = _with_endpoints("""
[[endpoints]]
name = "nad_change"
output = "whole_blood_NAD"
kind = "change"
[[endpoints]]
name = "typo"
output = "NOPE"
kind = "change"
primary = true
""")


def test_an_endpoint_on_an_unknown_output_is_refused_before_anything_is_written(tmp_path):
    """Before, the run went ahead, made nad_change primary and listed `typo` under skipped_endpoints."""
    reg = Registry(tmp_path / "registry.sqlite")
    trial = tmp_path / "typo.toml"
    trial.write_text(UNKNOWN_OUTPUT, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        app.run_trial_file(trial, tmp_path / "out", n_per_arm=4, replicates=20, workers=1, registry=reg)
    msg = str(exc.value)
    assert msg.startswith("`endpoints.1.output` must be an output of model 'nad_core': one of whole_blood_NAD, ")
    assert "\n" not in msg and "got 'NOPE'" in msg
    assert not (tmp_path / "out").exists() and not reg.path.exists()


def test_a_spec_on_an_unknown_output_leaves_no_directory(tmp_path):
    from nadsim.trial import parse_trial

    spec = parse_trial(tomllib.loads(UNKNOWN_OUTPUT.replace("n_per_arm = 6", "n_per_arm = 4")))
    with pytest.raises(InputError, match=r"^`endpoints\.1\.output`"):
        app.run_trial(spec, tmp_path / "out", registry=Registry(tmp_path / "registry.sqlite"))
    assert not (tmp_path / "out").exists()


REPORT_ORDER = _with_endpoints("""
[[endpoints]]
name = "zeta_value"
output = "whole_blood_NAD"
kind = "value"
noise_cv = 0.05
[[endpoints]]
name = "nad_change"
output = "whole_blood_NAD"
kind = "change"
primary = true
[[endpoints]]
name = "alpha_pct"
output = "whole_blood_NAD"
kind = "percent_change"
[[subgroups]]
name = "high_crp"
where = "CRP > 3"
""")


def test_the_report_shows_the_primary_endpoint_first_then_the_file_order(tmp_path):
    """Before, the report listed the endpoints alphabetically (summary.json sorts its keys)."""
    reg = Registry(tmp_path / "registry.sqlite")
    trial = tmp_path / "order.toml"
    trial.write_text(REPORT_ORDER, encoding="utf-8")
    run = app.run_trial_file(trial, tmp_path / "out", n_per_arm=4, replicates=20, workers=1, registry=reg)
    html = app.write_trial_report(run.out_dir, registry=reg).read_text(encoding="utf-8")
    names = {"zeta_value", "nad_change", "alpha_pct"}
    shown = [m for m in re.findall(r"<h2>(\w+)", html) if m in names]
    assert shown == ["nad_change", "zeta_value", "alpha_pct"]
    in_subgroup = [m for m in re.findall(r"<h3>(\w+)</h3>", html) if m in names]
    assert in_subgroup == ["nad_change", "zeta_value", "alpha_pct"]
