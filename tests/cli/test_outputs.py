"""Honest outputs and the data contract (issue #16): responses relative to the undosed orbit,
tidy CSV and Parquet with units and run metadata, read by pandas, pyarrow and DuckDB; files
honour the umask; SBML's default time unit; progress without a TTY."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nadsim.analysis import summarize
from nadsim.dosing import parse_regimen
from nadsim.library import build_full
from nadsim.report._data import LONG_COLUMNS, read_run_metadata, sql_name, write_parquet
from nadsim.simulate import simulate, time_grid


def run(*args: str, cwd: Path | None = None, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run([sys.executable, "-m", "nadsim", *args], capture_output=True, text=True, timeout=600,
                          encoding="utf-8", cwd=cwd, env={**os.environ, "COLUMNS": "160"}, preexec_fn=set_umask)


@pytest.fixture(scope="module")
def drip_runs():
    model = build_full()
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min")
    t = time_grid(48.0, step_h=0.25, regimen=reg)
    return simulate(model, reg, t), simulate(model, None, t)


def test_an_undosed_run_shows_no_response_though_it_swings_with_the_day(drip_runs):
    """The old summary (peak minus the value at t = 0) reported the daily swing as a response:
    on an undosed run it is not zero. Relative to the undosed orbit it is exactly zero."""
    _, undosed = drip_runs
    old_style = summarize(undosed)  # flat baseline at t = 0: what the tables used to show
    assert (old_style["largest_change"].abs() > 0).any()
    new = summarize(undosed, reference=undosed)
    assert (new["largest_change"] == 0).all() and (new["auc_change"] == 0).all()


def test_dose_response_peaks_after_the_drip_and_falling_scores_show_their_largest_fall(drip_runs):
    dosed, undosed = drip_runs
    df = summarize(dosed, ["whole_blood_NAD", "plasma_NMN", "HAMD"], reference=undosed).set_index("variable")
    # the drip ends at 20 min: plasma NMN peaks within the hour; whole-blood NAD+ follows the
    # blood cells' slower uptake and turnover (hours; PBMC NAD+ peaks at ~8 h in Trammell 2016,
    # docs/model.md), but well before the daily peak of the undosed swing (~22 h), which the old
    # summary reported as the response
    assert df.loc["plasma_NMN", "time_of_largest_change_h"] < 1.0
    assert df.loc["whole_blood_NAD", "time_of_largest_change_h"] < 12.0
    hamd = dosed["HAMD"].values - undosed["HAMD"].values
    assert df.loc["HAMD", "largest_change"] == pytest.approx(hamd[np.argmax(np.abs(hamd))], abs=0)
    assert df.loc["HAMD", "largest_change"] < 0  # the score falls: its largest change is a fall
    assert df.loc["HAMD", "largest_change_pct"] < 0


def test_sql_names():
    assert sql_name("HAMD@168h_true") == "HAMD_at_168h_true"
    assert sql_name("whole_blood_NAD") == "whole_blood_NAD"
    assert sql_name("2nd value [uM]") == "c_2nd_value_uM"


def test_parquet_carries_units_and_run_metadata_for_pandas_pyarrow_duckdb(tmp_path):
    frame = pd.DataFrame({"subject": [0, 0, 1], "time_h": [0.0, 1.0, 0.0], "HAMD@168h_true": [20.0, 19.5, 22.0],
                          "whole_blood_NAD": [33.0, 35.0, 31.0]})
    path = write_parquet(frame, tmp_path / "x.parquet", units={"time_h": "h", "whole_blood_NAD": "uM", "HAMD@168h_true": ""},
                         metadata={"nadsim_version": "0.1.0", "model_hash": "abc", "rtol": 1e-6, "seed": 3})
    meta, units = read_run_metadata(path)
    assert meta == {"nadsim_version": "0.1.0", "model_hash": "abc", "rtol": 1e-6, "seed": 3}
    assert units["whole_blood_NAD"] == "uM" and units["time_h"] == "h"
    assert list(pd.read_parquet(path).columns) == ["subject", "time_h", "HAMD_at_168h_true", "whole_blood_NAD"]
    assert json.loads(pq.read_schema(path).metadata[b"nadsim"])["seed"] == 3
    got = duckdb.sql(f"SELECT avg(HAMD_at_168h_true) AS m FROM '{path}' WHERE subject = 0").fetchall()[0]
    assert got[0] == pytest.approx(19.75)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600)])
def test_cli_csv_is_tidy_and_honours_the_umask(tmp_path, umask, mode):
    out = tmp_path / "sim.csv"
    r = run("simulate", "--until", "6 h", "--step", "1 h", "--format", "csv", "--out", str(out), umask=umask)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == mode  # was 0600 whatever the umask
    df = pd.read_csv(out)
    assert tuple(df.columns) == LONG_COLUMNS
    n = duckdb.sql(f"SELECT count(DISTINCT variable) FROM read_csv_auto('{out}')").fetchall()[0][0]
    assert n == df["variable"].nunique() > 10


def test_population_parquet_units_metadata_and_progress_without_a_tty(tmp_path):
    out = tmp_path / "pop.parquet"
    r = run("simulate", "--population", "2", "--seed", "1", "--until", "6 h", "--step", "3 h", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "simulating subjects: 2/2 (100 %)" in r.stderr  # plain progress lines on a pipe
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    meta, units = read_run_metadata(out)
    for key in ("nadsim_version", "model_hash", "solver", "rtol", "atol", "regimen", "seed", "disclaimer"):
        assert key in meta, key
    assert meta["seed"] == 1 and units["whole_blood_NAD"] == "uM" and units["time_h"] == "h"
    df = pd.read_parquet(out)
    n_times = df["time_h"].nunique()  # 0, 3, 6 h and the end of the drip
    assert len(df) == 2 * n_times and set(df["subject"]) == {0, 1}
    got = duckdb.sql(f"SELECT count(*), min(time_h), max(time_h) FROM '{out}' WHERE status = 0").fetchall()[0]
    assert got == (2 * n_times, 0.0, 6.0)


def _l2_decay(path: Path) -> None:
    """SBML Level 2 Version 4, no time unit declared: A -> 0 at k = 0.1 (per second by SBML's default)."""
    import libsbml

    doc = libsbml.SBMLDocument(2, 4)
    m = doc.createModel()
    m.setId("decay")
    c = m.createCompartment()
    c.setId("c")
    c.setSize(1.0)
    sp = m.createSpecies()
    sp.setId("A")
    sp.setCompartment("c")
    sp.setInitialConcentration(1.0)
    k = m.createParameter()
    k.setId("k")
    k.setValue(0.1)
    rx = m.createReaction()
    rx.setId("r")
    rx.setReversible(False)
    rx.createReactant().setSpecies("A")
    rx.createKineticLaw().setMath(libsbml.parseL3Formula("k * A * c"))
    assert libsbml.writeSBMLToFile(doc, str(path)) == 1


def test_import_sbml_reads_a_level2_file_without_time_unit_in_seconds(tmp_path):
    """A(60 s) = exp(-0.1 * 60) = 2.48e-3 (analytic); read as hours it was 0.998."""
    f = tmp_path / "decay.xml"
    _l2_decay(f)
    r = run("import", "sbml", str(f), "--until", "60 s", "--step", "6 s", "--format", "csv")
    assert r.returncode == 0, r.stderr
    df = pd.read_csv(io.StringIO(r.stdout))
    a = df[df["variable"] == "A"]
    assert a["time_h"].iloc[-1] == pytest.approx(60 / 3600)
    assert a["value"].iloc[-1] == pytest.approx(np.exp(-6.0), rel=1e-4)  # solver rtol 1e-8
    table = run("import", "sbml", str(f), "--until", "60 s")
    assert table.returncode == 0 and "time unit is 1 s" in table.stdout
    assert "1 species in the file; 1 integrated state (1 species, 0 rate rules), 1 reaction, 0 events" in table.stdout


def test_import_sbml_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text("<sbml>not really</sbml>", encoding="utf-8")
    r = run("import", "sbml", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "path" in r.stderr
