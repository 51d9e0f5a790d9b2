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
])
def test_bad_input_one_line_error_no_traceback(args, needle):
    r = run("simulate", *args)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) <= 2, r.stderr  # one message (click may add a usage hint line)
    assert needle in r.stderr


def test_no_partial_output_file_on_error(tmp_path):
    out = tmp_path / "res.csv"
    r = run("simulate", "--dose", "-1 mg", "--format", "csv", "--out", str(out))
    assert r.returncode != 0 and not out.exists()
    r = run("simulate", "--format", "csv", "--out", str(tmp_path / "missing" / "x.csv"))
    assert r.returncode != 0 and "out" in r.stderr and not list(tmp_path.glob("**/*.csv"))
    assert not list(tmp_path.iterdir())


def test_debug_shows_traceback():
    r = run("--debug", "simulate", "--dose", "-1 mg")
    assert r.returncode != 0 and "Traceback" in r.stderr
