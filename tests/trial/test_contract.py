"""The command-line contract that outside checks read (issue #14):

``nadsim trial run FILE --out DIR [--n-per-arm N] [--replicates R] [--no-progress]`` writes
``DIR/summary.json`` with ``true_effect: {estimate, ci}`` (primary endpoint, its units),
``replicates: {n, mean_effect, se_mean_effect}``, ``assurance`` in [0, 1] and the power curve
with its Monte Carlo SE. A tiny trial (NAD+ metabolome, 1 week, 12 twins) keeps it cheap.
"""

import json
import math

from typer.testing import CliRunner

from nadsim.cli import app

TINY = """
name = "tiny"
model = "nad_core"
seed = 7
duration = "1 week"
visits = ["0 d", "7 d"]
[population]
n_per_arm = 6
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
[[endpoints]]
name = "nad_change"
output = "whole_blood_NAD"
kind = "change"
noise_cv = 0.05
primary = true
better = "higher"
[power]
n_grid = [3, 6]
replicates = 500
[assurance]
draws = 2
patients_per_draw = 4
[solver]
chunk_size = 100
"""


def test_trial_run_writes_the_contract(tmp_path, monkeypatch):
    monkeypatch.setenv("NADSIM_HOME", str(tmp_path / "home"))
    trial = tmp_path / "tiny.toml"
    trial.write_text(TINY)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["trial", "run", str(trial), "--out", str(out), "--n-per-arm", "4",
                                 "--replicates", "60", "--no-progress"])
    assert r.exit_code == 0, r.output
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    te = s["true_effect"]
    assert te["endpoint"] == "nad_change" and te["unit"] == "uM"
    assert te["ci"][0] <= te["estimate"] <= te["ci"][1]
    # --n-per-arm 4 leaves pool = 12 (>= 2 x 4); the override reached the trial
    assert s["n_per_arm"] == 4 and s["pool_size"] == 12 and te["n_patients"] == 12
    rep = s["replicates"]
    assert rep["n"] == 60 and rep["n_per_arm"] == 4 and rep["se_mean_effect"] > 0
    assert math.isfinite(rep["mean_effect"])
    assert 0.0 <= s["assurance"] <= 1.0
    curve = s["power_curve"]
    assert [c["n"] for c in curve] == [3, 4, 6]
    for c in curve:
        assert 0.0 <= c["power"] <= 1.0 and c["mc_se"] == math.sqrt(c["power"] * (1 - c["power"]) / 60)
    assert "true effect" in r.output and "assurance" in r.output
    # the other commands take the directory as well as the run id
    runner = CliRunner()
    st = runner.invoke(app, ["trial", "status", str(out)])
    assert st.exit_code == 0, st.output
    assert json.loads(st.output)["status"] == "complete"
    pw = runner.invoke(app, ["trial", "power", str(out), "--grid", "3,6", "--replicates", "40"])
    assert pw.exit_code == 0, pw.output
    p = json.loads((out / "power.json").read_text(encoding="utf-8"))["arms"]["nmn"]
    assert [c["n"] for c in p["curve"]] == [3, 6]
    assert p["true_effect"]["estimate"] == te["estimate"]  # the same twins give the same true effect
    ls = runner.invoke(app, ["trial", "list"])
    assert ls.exit_code == 0 and "\tcomplete\t" in ls.output
