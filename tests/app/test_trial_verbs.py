"""The trial verbs under ``nadsim trial ...``: each command calls one of them, and they hand back
the run's analysis as data (no re-reading by the face)."""

import json

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
