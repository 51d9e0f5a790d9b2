"""Runs that behave: a run killed with SIGKILL at several points leaves no process behind and
resumes (by run id or by its directory) to the same summary as an uninterrupted run; a lost
registry is rebuilt from the run directory; a chunk whose worker dies is retried once, then
reported failed; one process holds a run at a time; a run nobody holds shows `interrupted`."""

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

from nadsim._errors import InputError
from nadsim.trial import Registry, resume_trial, run_trial, trial_status
from nadsim.trial._lock import RunLock

MINI = """
name = "mini"
model = "nad_core"
seed = 42
duration = "1 week"
visits = ["0 d", "2 d", "7 d"]
[population]
n_per_arm = 4
pool = 12
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
better = "higher"
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
[assurance]
draws = 2
patients_per_draw = 4
[solver]
chunk_size = 1
"""
N_CHUNKS = 12 + 2 * 4

CLI = [sys.executable, "-c", "from nadsim.cli import main; main()"]


def _env(home: Path, **extra: str) -> dict:
    return {**os.environ, "NADSIM_HOME": str(home), **extra}


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


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc: Linux only)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in parents.items() if p in frontier} - out
        out |= frontier
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has finished; it only waits to be reaped


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run (in-process, one worker)."""
    d = tmp_path_factory.mktemp("ref")
    trial = d / "mini.toml"
    trial.write_text(MINI)
    run_trial(trial, d / "out", registry=Registry(d / "registry.sqlite"))
    return trial, _summary(d / "out"), pd.read_parquet(d / "out" / "subjects.parquet")


def _kill_at(point: str, trial: Path, out: Path, home: Path) -> tuple[str, set[int]]:
    """Start `nadsim trial run` with 2 workers, SIGKILL only the parent at ``point``; returns
    the run id and the processes it had started."""
    proc = subprocess.Popen([*CLI, "trial", "run", str(trial), "--out", str(out), "--workers", "2", "--no-progress"],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()
    assert run_id.startswith("mini-"), proc.stderr.read() if proc.poll() is not None else run_id
    want = {"start": 0, "mid": 4, "finalize": N_CHUNKS}[point]
    deadline = time.time() + 600
    kids: set[int] = set()
    while time.time() < deadline and proc.poll() is None:
        kids |= _descendants(proc.pid)
        if _n_chunks(home, run_id) >= want and (point != "start" or kids):
            break
        time.sleep(0.02)
    kids |= _descendants(proc.pid)
    assert proc.poll() is None, "the run ended before the kill point"
    os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers must notice on their own
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return run_id, kids


def _no_orphans(kids: set[int], within_s: float = 10.0) -> None:
    deadline = time.time() + within_s
    while time.time() < deadline and any(_alive(k) for k in kids):
        time.sleep(0.1)
    assert not [k for k in kids if _alive(k)], "worker processes outlived their killed parent"


def _kill_resume_check(point, reference, tmp_path, *, by_dir: bool, lose_registry: bool = False):
    trial, s_ref, subj_ref = reference
    home, out = tmp_path / "home", tmp_path / "killed"
    run_id, kids = _kill_at(point, trial, out, home)
    assert kids, "the run had started worker processes"
    _no_orphans(kids)
    assert not (out / "summary.json").exists()
    reg = Registry(home / "registry.sqlite")
    assert trial_status(run_id, reg)["status"] == "interrupted"
    if lose_registry:
        for f in home.glob("registry.sqlite*"):
            f.unlink()
    res = subprocess.run([*CLI, "trial", "resume", str(out) if by_dir else run_id, "--workers", "1", "--no-progress"],
                         env=_env(home), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    assert _summary(out) == s_ref
    pd.testing.assert_frame_equal(pd.read_parquet(out / "subjects.parquet"), subj_ref)
    st = trial_status(out, reg)
    assert st["status"] == "complete" and st["chunks_done"] == st["chunks_total"] == N_CHUNKS


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_mid_run_no_orphans_resume_by_id_identical(reference, tmp_path):
    _kill_resume_check("mid", reference, tmp_path, by_dir=False)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("point", "lose_registry"), [("start", False), ("mid", True), ("finalize", False)])
def test_kill_at_several_points(point, lose_registry, reference, tmp_path):
    _kill_resume_check(point, reference, tmp_path, by_dir=True, lose_registry=lose_registry)


def test_corrupt_chunk_and_litter_are_recomputed(reference, tmp_path):
    trial, s_ref, _ = reference
    reg = Registry(tmp_path / "reg.sqlite")
    out = tmp_path / "out"
    rid = run_trial(trial, out, registry=reg)
    chunk = sorted((out / "chunks").glob("*.parquet"))[0]
    chunk.write_bytes(b"not parquet")
    (out / "chunks" / ".pool-00003.parquet.999.tmp").write_bytes(b"half")
    (out / "summary.json").unlink()
    resume_trial(out, registry=reg)
    assert _summary(out) == s_ref
    assert trial_status(rid, reg)["status"] == "complete"


def test_second_resume_says_who_holds_the_run(reference, tmp_path):
    trial, _, _ = reference
    reg = Registry(tmp_path / "reg.sqlite")
    out = tmp_path / "out"
    rid = run_trial(trial, out, registry=reg)
    with RunLock(out, "resume"):
        assert trial_status(rid, reg)["held_by"].startswith(f"pid {os.getpid()} ")
        with pytest.raises(InputError, match=f"held by pid {os.getpid()} on .*resume"):
            resume_trial(rid, registry=reg)
    resume_trial(rid, registry=reg)  # released: the resume re-verifies and finishes


def test_chunk_whose_worker_dies_is_retried_once_then_failed(reference, tmp_path, monkeypatch):
    trial, s_ref, _ = reference
    once = tmp_path / "fault-once"
    once.write_text("")
    monkeypatch.setenv("NADSIM_FAULT_CHUNK", "pool-00002")
    monkeypatch.setenv("NADSIM_FAULT_ONCE", str(once))
    reg = Registry(tmp_path / "reg.sqlite")
    rid = run_trial(trial, tmp_path / "retried", registry=reg, workers=2)
    assert not once.exists()  # the first attempt died
    assert _summary(tmp_path / "retried") == s_ref  # and the retry made the same chunk
    assert trial_status(rid, reg)["status"] == "complete"

    monkeypatch.delenv("NADSIM_FAULT_ONCE")  # now the chunk kills every worker that touches it
    rid = run_trial(trial, tmp_path / "failed", registry=reg, workers=2)
    s = json.loads((tmp_path / "failed" / "summary.json").read_text(encoding="utf-8"))
    assert list(s["failed_chunks"]) == ["pool-00002"]
    assert "failed twice" in s["failed_chunks"]["pool-00002"] and "worker process died" in s["failed_chunks"]["pool-00002"]
    assert s["pool_size"] == 11 and any("pool-00002" in w for w in s["warnings"])
    assert trial_status(rid, reg)["status"] == "complete_with_failures"


def test_report_and_unknown_run(tmp_path):
    from nadsim.trial._report import write_report

    trial = tmp_path / "mini.toml"
    trial.write_text(MINI.replace("chunk_size = 1", "chunk_size = 6"))
    reg = Registry(tmp_path / "reg.sqlite")
    rid = run_trial(trial, tmp_path / "out", registry=reg)
    page = write_report(rid, registry=reg)
    text = page.read_text(encoding="utf-8")
    assert "not medical advice" in text and "figures/power_nmn.png" in text
    assert "True effect" in text and "Assurance" in text
    s = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    sg = s["subgroups"]["high_crp"]
    assert sg["prespecified"] and min(sg["n"].values()) < 20
    assert any("fewer than 20 patients" in w for w in sg["warnings"]) and sg["warnings"][0] in s["warnings"]
    assert "mmrm" in s["endpoints"]["nad_change"] and s["placebo_response"] is None  # no response endpoint here
    assert (tmp_path / "out" / "figures" / "timecourse_whole_blood_NAD.png").exists()
    with pytest.raises(InputError, match=r"^`RUN`"):  # the argument's name in `nadsim trial ... --help`
        reg.run("no-such-run")
    with pytest.raises(InputError, match="--out"):  # the directory already holds a run
        run_trial(trial, tmp_path / "out", registry=reg)


def test_lost_registry_is_rebuilt_from_the_directory(reference, tmp_path):
    trial, s_ref, _ = reference
    out = tmp_path / "out"
    rid = run_trial(trial, out, registry=Registry(tmp_path / "reg.sqlite"))
    (out / "summary.json").unlink()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match="registry"):
        resume_trial(out, registry=Registry(garbage))
    fresh = Registry(tmp_path / "fresh.sqlite")  # the registry is gone: a new, empty one
    assert resume_trial(out, registry=fresh) == rid
    assert _summary(out) == s_ref
    st = trial_status(rid, fresh)
    assert st["status"] == "complete" and st["chunks_done"] == N_CHUNKS  # every chunk from its checksum file
    with pytest.raises(InputError, match=r"^`RUN`"):
        resume_trial(tmp_path / "no-such-dir", registry=fresh)
