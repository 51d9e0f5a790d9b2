"""The CLI contract (used by outside checks) and every bad-input case, run as a real subprocess."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

CONTRACT = ("whole_blood_NAD", "plasma_NMN", "plasma_NAM", "liver_NAD", "muscle_NAD", "brain_NAD")


def run(*args, cwd=None):
    env = {**os.environ, "COLUMNS": "160"}
    return subprocess.run([sys.executable, "-m", "nadsim", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


def test_csv_contract():
    r = run("simulate", "--compound", "NMN", "--route", "iv", "--dose", "300 mg", "--infusion", "20 min",
            "--until", "24 h", "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["time_h", "variable", "value", "unit"]
    variables = {row["variable"] for row in rows}
    assert set(CONTRACT) <= variables
    wb = [row for row in rows if row["variable"] == "whole_blood_NAD"]
    assert wb[0]["unit"] == "uM" and float(wb[0]["time_h"]) == 0.0 and float(wb[-1]["time_h"]) == 24.0
    assert 25 < float(wb[0]["value"]) < 40  # baseline near the 33 uM measured (Yang et al.)


def test_repeated_dosing_json_and_out_file(tmp_path):
    out = tmp_path / "res.json"
    r = run("simulate", "--dose", "300 mg", "--infusion", "100 mL at 5 mL/min", "--every", "1 d", "--doses", "3",
            "--until", "72 h", "--format", "json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["metadata"]["n_doses"] == 3
    assert "research model" in data["metadata"]["disclaimer"]
    assert set(CONTRACT) <= set(data["variables"])


def test_table_reports_baseline_peak_tmax_auc_and_plot(tmp_path):
    png = tmp_path / "p.png"
    r = run("simulate", "--until", "48 h", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    for word in ("baseline", "largest change", "time of largest change", "AUC of the change", "undosed",
                 "whole_blood_NAD", "brain_NAD", "of which the compound"):
        assert word in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_writes_table_and_plot(tmp_path):
    r = run("demo", "--plot", "demo.png", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "300 mg NMN iv over 20 min" in r.stdout
    assert (tmp_path / "demo.png").stat().st_size > 10_000


@pytest.mark.parametrize(("args", "needle"), [
    (["--dose", "-300 mg"], "dose"),
    (["--dose", "0 mg"], "dose"),
    (["--dose", "300 mL"], "dose"),
    (["--dose", "three hundred mg"], "dose"),
    (["--compound", "caffeine"], "compound"),
    (["--route", "intrathecal"], "route"),
    (["--infusion", "25 h", "--every", "1 d", "--doses", "2", "--until", "3 d"], "infusion"),
    (["--every", "1 d", "--doses", "14", "--until", "2 d"], "until"),
    (["--until", "-4 h"], "until"),
    (["--format", "xml"], "format"),
    (["--doses", "many"], "doses"),
    (["--seed", "-1", "--population", "2", "--out", "pop.parquet"], "--seed"),
    (["--step", "2 h", "--until", "1 h"], "--step"),
    (["--interval", "3"], "at least 20"),
    (["--format", "table", "--out", "t.xlsx"], ".csv"),
    (["--format", "csv", "--out", "t.json"], ".csv"),
    (["--format", "json", "--out", "t.csv"], ".json"),
    (["--population", "2", "--out", "pop.csv"], ".parquet"),
])
def test_bad_input_one_line_error_no_traceback(args, needle, tmp_path):
    r = run("simulate", *args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) <= 2, r.stderr  # one message (click may add a usage hint line)
    assert needle in r.stderr
    assert not list(tmp_path.iterdir())  # refused before anything is written


def test_no_partial_output_file_on_error(tmp_path):
    out = tmp_path / "res.csv"
    r = run("simulate", "--dose", "-1 mg", "--format", "csv", "--out", str(out))
    assert r.returncode != 0 and not out.exists()
    r = run("simulate", "--format", "csv", "--out", str(tmp_path / "missing" / "x.csv"))
    assert r.returncode != 0 and "out" in r.stderr and not list(tmp_path.glob("**/*.csv"))
    assert not list(tmp_path.iterdir())


def _one_line(r) -> str:
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_a_default_step_too_fine_for_until_says_so_and_what_step_to_pass():
    """No --step given: the message is about the default step and names the --step that works
    (100000 d = 2.4e6 h over at most 200000 points: 12 h)."""
    line = _one_line(run("simulate", "--until", "100000 d"))
    assert "--step" in line and "default step" in line and "12 h or coarser" in line
    assert "got 1.0" not in line  # no value the user never gave


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_output_paths_are_checked_before_simulating(tmp_path, fmt):
    """A table run prints its tables before it writes files: empty stdout shows it stopped first."""
    for args, field in ((["--plot", str(tmp_path / "missing" / "p.png")], "--plot"),
                        (["--out", str(tmp_path / "missing" / "x.csv")], "--out")):
        r = run("simulate", "--format", fmt, *args)
        assert field in _one_line(r) and r.stdout == ""
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into any directory")
def test_an_unwritable_output_directory_is_refused_up_front(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    r = run("simulate", "--plot", str(ro / "p.png"))
    assert "--plot" in _one_line(r) and r.stdout == ""


def test_demo_plot_follows_the_simulate_rule(tmp_path):
    r = run("demo", "--plot", "out.jpg", cwd=tmp_path)
    assert "--plot" in _one_line(r) and ".png" in r.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["qualify", "calibrate"])
def test_qualify_and_calibrate_check_their_out_directory_first(tmp_path, command):
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    for out in (a_file, a_file / "sub"):
        line = _one_line(run(command, "--out", str(out)))
        assert "--out" in line and str(out) in line
    if os.path.isdir("/proc/self"):  # a directory no one can create in, root included
        assert "--out" in _one_line(run(command, "--out", "/proc/nadsim_qual"))
    assert a_file.read_text(encoding="utf-8") == "x" and sorted(tmp_path.iterdir()) == [a_file]


def test_debug_shows_traceback():
    r = run("--debug", "simulate", "--dose", "-1 mg")
    assert r.returncode != 0 and "Traceback" in r.stderr
