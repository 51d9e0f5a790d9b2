"""CLI: `nadsim simulate --population`, `nadsim sensitivity`, `nadsim trial power` (in-process)."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nadsim.cli import app

runner = CliRunner()


def test_simulate_population_writes_parquet_reproducibly(tmp_path):
    args = ["simulate", "--population", "2", "--seed", "4", "--until", "6 h", "--step", "3 h", "--infusion", "20 min"]
    a = runner.invoke(app, [*args, "--out", str(tmp_path / "a.parquet")])
    assert a.exit_code == 0, a.output
    b = runner.invoke(app, [*args, "--out", str(tmp_path / "b.parquet")])
    assert b.exit_code == 0, b.output
    da, db = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    pd.testing.assert_frame_equal(da, db)
    assert set(da.subject) == {0, 1} and {"time_h", "whole_blood_NAD", "CRP", "cov_CRP", "cov_BW", "status"} <= set(da.columns)
    assert np.allclose(sorted(set(da.time_h)), [0, 0.3333333333333333, 3, 6])


def test_simulate_population_needs_parquet_out(tmp_path):
    r = runner.invoke(app, ["simulate", "--population", "2", "--out", str(tmp_path / "a.csv")])
    assert r.exit_code != 0
    assert "--out" in str(r.exception) or "--out" in r.output


def test_sensitivity_local_cli(tmp_path):
    r = runner.invoke(app, ["sensitivity", "--model", "nad_core", "--method", "local", "--output", "whole_blood_NAD",
                            "--metric", "final", "--parameters", "NAD0_whole_blood,BW", "--until", "2 h",
                            "--infusion", "20 min", "--out", str(tmp_path / "s.json"), "--plot", str(tmp_path / "t.png")])
    assert r.exit_code == 0, r.output
    rows = {d["parameter"]: d["coefficient"] for d in json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))}
    # the baseline whole-blood NAD+ parameter sets the output nearly 1:1 two hours after a 300 mg drip
    assert 0.7 < rows["NAD0_whole_blood"] < 1.1
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("bad", [["--method", "morris"], ["--method", "sobol"], ["--metric", "median"]])
def test_sensitivity_bad_options(bad):
    r = runner.invoke(app, ["sensitivity", "--model", "nad_core", "--until", "1 h", *bad])
    assert r.exit_code != 0


def _help(*args: str) -> str:
    r = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert r.exit_code == 0, r.output
    return " ".join(r.output.replace("│", " ").split())


def test_trial_help_shows_the_allowed_ranges_of_the_validation():
    from nadsim.trial import CHUNK_SIZE, N_PER_ARM, POWER_TARGET, REPLICATES, WORKERS

    run = _help("trial", "run")
    for lim in (N_PER_ARM, REPLICATES, CHUNK_SIZE, WORKERS):
        assert f"[{lim[0]}, {lim[1]}]" in run
    assert f"({POWER_TARGET[0]:g}, {POWER_TARGET[1]:g})" in _help("trial", "power")


def test_every_run_argument_and_its_errors_say_run(tmp_path, monkeypatch):
    monkeypatch.setenv("NADSIM_HOME", str(tmp_path))
    for verb in ("resume", "status", "power", "report"):
        assert "RUN" in _help("trial", verb) and "RUN_ID" not in _help("trial", verb)
    r = runner.invoke(app, ["trial", "status", "no-such-run"])
    assert r.exit_code != 0 and "`RUN`" in (r.output + str(r.exception))
