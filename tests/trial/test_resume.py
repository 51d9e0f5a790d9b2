"""A run killed with SIGKILL resumes (`nadsim trial resume RUN_ID`) to the same results as an
uninterrupted run; corrupt or unregistered chunk files are never read as complete."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

MINI = """
name = "mini"
model = "nad_core"
seed = 42
duration = "1 week"
visits = ["0 d", "2 d", "7 d"]
[population]
n_per_arm = 4
[[arms]]
name = "placebo"
placebo = true
[[arms]]
name = "nmn"
compound = "NMN"
route = "iv"
dose = "300 mg"
infusion = "20 min"
doses = 1
[[endpoints]]
name = "nad_change"
output = "whole_blood_NAD"
kind = "change"
noise_cv = 0.05
primary = true
[[endpoints]]
name = "nad_up"
output = "whole_blood_NAD"
kind = "value"
[[subgroups]]
name = "high_crp"
where = "CRP > 3"
[power]
n_grid = [5, 10, 20]
replicates = 100
[solver]
chunk_size = 1
"""

CLI = [sys.executable, "-c", "from nadsim.cli import main; main()"]


def _env(home: Path) -> dict:
    return {**os.environ, "NADSIM_HOME": str(home)}


def _summary(out: Path) -> dict:
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    s.pop("run_id")
    return s


def _n_chunks(home: Path, run_id: str) -> int:
    db = home / "registry.sqlite"
    if not db.exists():
        return 0
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT COUNT(*) FROM chunks WHERE run_id = ?", (run_id,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    trial = tmp_path / "mini.toml"
    trial.write_text(MINI)
    home = tmp_path / "home"
    # uninterrupted reference (in-process; same code path as the CLI)
    from nadsim.trial import Registry, run_trial

    run_trial(trial, tmp_path / "ref", registry=Registry(home / "registry.sqlite"))
    s_ref = _summary(tmp_path / "ref")
    for key in ("per_arm", "treatment_effect", "power", "endpoints", "subgroups"):
        assert key in s_ref
    assert s_ref["treatment_effect"]["ci"][0] < s_ref["treatment_effect"]["estimate"] < s_ref["treatment_effect"]["ci"][1]

    # the same trial, killed (SIGKILL, whole process group) after a few chunks
    out = tmp_path / "killed"
    proc = subprocess.Popen([*CLI, "trial", "run", str(trial), "--out", str(out), "--workers", "1", "--no-progress"],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    run_id = proc.stdout.readline().strip()
    assert run_id.startswith("mini-")
    deadline = time.time() + 300
    while _n_chunks(home, run_id) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done = _n_chunks(home, run_id)
    assert 2 <= done < 8, "the kill should land mid-run"
    assert not (out / "summary.json").exists()

    # damage: a registered chunk is corrupted, and a stray half-written temp file lies around
    chunk = sorted((out / "chunks").glob("*.parquet"))[0]
    chunk.write_bytes(b"not parquet")
    (out / "chunks" / ".nmn-00003.parquet.999.tmp").write_bytes(b"half")

    res = subprocess.run([*CLI, "trial", "resume", run_id, "--workers", "1", "--no-progress"],
                         env=_env(home), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert _summary(out) == s_ref
    pd.testing.assert_frame_equal(pd.read_parquet(out / "subjects.parquet"),
                                  pd.read_parquet(tmp_path / "ref" / "subjects.parquet"))
    from nadsim.trial import trial_status

    st = trial_status(run_id, Registry(home / "registry.sqlite"))
    assert st["status"] == "complete" and st["chunks_done"] == st["chunks_total"] == 8


def test_report_and_unknown_run(tmp_path):
    from nadsim._errors import InputError
    from nadsim.trial import Registry, run_trial
    from nadsim.trial._report import write_report

    trial = tmp_path / "mini.toml"
    trial.write_text(MINI.replace('n_per_arm = 4', 'n_per_arm = 3').replace("chunk_size = 1", "chunk_size = 3"))
    reg = Registry(tmp_path / "reg.sqlite")
    rid = run_trial(trial, tmp_path / "out", registry=reg)
    page = write_report(rid, registry=reg)
    text = page.read_text(encoding="utf-8")
    assert "not medical advice" in text and "figures/power_nmn.png" in text
    assert (tmp_path / "out" / "figures" / "timecourse_whole_blood_NAD.png").exists()
    with pytest.raises(InputError, match="RUN_ID"):
        reg.run("no-such-run")
    with pytest.raises(InputError, match="--out"):  # the directory already holds a run
        run_trial(trial, tmp_path / "out", registry=reg)
