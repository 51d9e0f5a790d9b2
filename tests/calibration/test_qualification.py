"""The qualification report is generated, covers every row, and judges on the change from baseline.

Reference values: the rows of shared/data/human_pk.csv (and cited papers) listed in
src/nadsim/calibration/targets.toml. Targets (issue #13): GMFE on the rise <= 1.3 over the
calibration rows and <= 1.5 over the held-out validation rows.
"""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from nadsim.calibration import (
    Target,
    gmfe,
    load_targets,
    predict_with_reference,
    qualification_table,
    rise_fold_error,
    write_report,
)
from nadsim.calibration._writeback import update_parameter_table
from nadsim.library import build_nad_core
from nadsim.library.nad_core.model import PARAMETERS
from nadsim.model import load_parameters


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("qual")
    model = build_nad_core()
    exps, targets = load_targets()
    rows = qualification_table(targets, *predict_with_reference(model, exps, targets, workers=1))
    summary = write_report(rows, out, model_hash=model.hash())
    return out, rows, summary, targets


def _t(stat, observed, **kw):
    return Target(id="x", experiment="e", output="y", statistic=stat, observed=observed, unit="", weight=1.0,
                  role="fit", source="", row="", **kw)


def test_rise_fold_error_by_hand():
    # Conze 2019 300 mg/day: observed +51 %; a prediction of +29 % is 0.85 on the level but 0.57 on the rise
    pr, orr, fe = rise_fold_error(_t("fold_at", 1.51, at_h=1.0), 1.29, 1.0)
    assert (pr, orr) == pytest.approx((0.29, 0.51)) and fe == pytest.approx(0.29 / 0.51)
    # an AUC is judged above the baseline AUC
    assert rise_fold_error(_t("auc", 510.0, window_h=(0, 24)), 400.0, 10.0)[2] == pytest.approx(390 / 500)
    # a flat prediction of a real rise is floored at 1 % of baseline, not zero
    assert rise_fold_error(_t("fold_at", 2.0, at_h=1.0), 0.9, 1.0)[2] == pytest.approx(0.01 / 1.0)
    # a 'no change' row: within its undetectable rise the error is 1, beyond it the ratio to it
    null = _t("fold_at", 1.0, at_h=2.0, null_rise=0.5)
    assert rise_fold_error(null, 1.3, 1.0)[2] == 1.0
    assert rise_fold_error(null, 3.0, 1.0)[2] == pytest.approx(4.0)
    # times are judged as they are; baseline levels have no rise
    assert rise_fold_error(_t("tmax", 8.0, window_h=(0, 24)), 4.0, float("nan"))[2] == pytest.approx(0.5)
    assert np.isnan(rise_fold_error(_t("value_at", 33.0, at_h=0.0), 30.0, 30.0)[2])


def test_report_lists_every_row_with_both_errors(report):
    out, rows, summary, targets = report
    md = (out / "qualification.md").read_text(encoding="utf-8")
    for t in targets:
        assert f"| {t.id} |" in md
    assert "GMFE on the rise" in md and "level ratio" in md
    assert (out / "qualification.png").stat().st_size > 10_000
    data = json.loads((out / "qualification.json").read_text(encoding="utf-8"))
    assert len(data["rows"]) == len(targets)
    assert all(np.isfinite(r["fold_error"]) for r in rows)
    assert all(np.isfinite(r["fold_error_rise"]) for r in rows if r["rise_kind"] != "level")
    # the summary's figures are the GMFE of the table's own rows
    fit = [r for r in rows if r["role"] == "fit"]
    assert summary["gmfe_rise_fit"] == pytest.approx(gmfe(fit, on="rise"))
    assert summary["gmfe_fit"] == pytest.approx(gmfe(fit))


def test_qualify_command_regenerates_the_report(tmp_path):
    from nadsim.cli import app

    res = CliRunner().invoke(app, ["qualify", "--out", str(tmp_path), "--workers", "1", "--draws", "10", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "GMFE on the rise" in res.output
    md = (tmp_path / "qualification.md").read_text(encoding="utf-8")
    assert "Kinetic checks of the blood pools" in md and "trammell" in md
    assert "90 % interval coverage" in res.output and "90 % prediction intervals" in md


def test_fitted_parameters_are_inside_bounds_and_cite_rows():
    _, targets = load_targets()
    ids = {t.id for t in targets if t.role == "fit"}
    for p in build_nad_core().parameters.values():
        if p.provenance.kind == "fitted":
            assert p.bounds[0] <= p.value <= p.bounds[1]
            assert set(p.provenance.fitted_to) <= ids, p.name


def test_write_back_updates_only_named_entries(tmp_path):
    text = update_parameter_table(PARAMETERS, {"CL_AOX": 7.0, "Vmax_CD38_p": 123.0},
                                  {"CL_AOX": ["nam1g_auc_2py"], "Vmax_CD38_p": ["grant_plasma_nad_6h"]}, note="test")
    f = tmp_path / "p.toml"
    f.write_text(text)
    new, old = load_parameters(f), load_parameters(PARAMETERS)
    assert new["CL_AOX"].value == pytest.approx(7.0) and new["CL_AOX"].provenance.kind == "fitted"
    assert new["CL_AOX"].provenance.fitted_to == ("nam1g_auc_2py",)
    assert new["Vmax_CD38_p"].value == pytest.approx(123.0)
    assert {n for n in old if old[n].value != new[n].value} == {"CL_AOX", "Vmax_CD38_p"} - (
        {"CL_AOX"} if old["CL_AOX"].value == 7.0 else set())


def test_stored_fit_matches_the_table_and_its_gmfe(report):
    """The package posterior was fitted to the current parameter table, stopped by the optimiser's
    own test, and its draws did not collapse; the GMFE on the rise at the table values is the one
    `nadsim qualify` reported for this fit (1.366 fitted, 1.363 over the nine validation rows; the solver's rtol and
    thread order move it by < 0.005, so tolerance 0.01). Issue #13 targets: 1.3 / 1.5."""
    from nadsim.calibration._calibrator import load_posterior, posterior_matches

    _, rows, _, _ = report
    post = load_posterior()
    assert posterior_matches(build_nad_core(), post)
    assert post["optimizer"]["success"] and post["optimizer"]["status"] in (1, 2, 3, 4)
    assert post["ess"] >= 50  # SMC draws (the importance-resampled draws before this fit: 5.3)
    assert gmfe([r for r in rows if r["role"] == "fit"], on="rise") == pytest.approx(1.366, abs=0.01)
    assert gmfe([r for r in rows if r["role"] == "validate"], on="rise") == pytest.approx(1.363, abs=0.01)


def test_report_shows_the_posterior_median_and_points_outside_their_interval(report, tmp_path):
    """Synthetic intervals on the real rows: one row's point is put outside its interval and the
    posterior-median GMFE is checked against the definition exp(mean |ln FE|) computed here."""
    from nadsim.calibration._report import outside_own_interval

    _, rows, _, _ = report
    rows = [dict(r) for r in rows]
    for i, r in enumerate(rows):
        p = r["predicted"]
        r["lo90"], r["hi90"] = (0.9 * p, 1.1 * p) if i else (1.5 * p, 2.0 * p)  # row 0: point below its interval
        r["posterior_median"] = p
        r["abs_log_fold_error_rise_median"] = 0.1 if r["rise_kind"] != "level" else float("nan")
    counted = [r for r in rows if r["role"] in ("fit", "validate")]
    assert rows[0]["role"] == "fit" and outside_own_interval(counted) == [rows[0]["id"]]
    summary = write_report(rows, tmp_path, model_hash="x")
    assert summary["gmfe_rise_fit_posterior_median"] == pytest.approx(np.exp(0.1), rel=1e-12)
    md = (tmp_path / "qualification.md").read_text(encoding="utf-8")
    assert "| posterior median |" in md and "Judged on the posterior median instead" in md
    assert summary["point_outside_interval"] == outside_own_interval(counted)


def test_report_json_is_strict_and_states_each_target(report, tmp_path):
    """qualification.json must parse as strict JSON (no NaN/Infinity tokens: JavaScript's
    JSON.parse refuses them), and the report says for each issue #13 target whether it is met."""
    _, rows, _, _ = report
    write_report(rows, tmp_path, model_hash="x")

    def refuse(token):
        raise ValueError(token)

    json.loads((tmp_path / "qualification.json").read_text(encoding="utf-8"), parse_constant=refuse)
    md = (tmp_path / "qualification.md").read_text(encoding="utf-8")
    assert "fitted GMFE on the rise" in md and ("**met**" in md or "**missed**" in md)
    # the by-study GMFE of rows that have no rise (baseline levels) is 'not applicable', not a failure
    assert np.isnan(gmfe([r for r in rows if r["rise_kind"] == "level"], on="rise"))


def test_a_no_change_row_is_covered_by_an_interval_inside_its_undetectable_rise():
    from nadsim.calibration._report import _coverage_mark, covered

    row = {"observed": 1.0, "null_rise": 0.15, "lo90": 1.06, "hi90": 1.14}
    assert covered(row) and "covers 'no change' = 1–1.15" in _coverage_mark(row)
    assert not covered({**row, "lo90": 1.2, "hi90": 1.4})
    assert _coverage_mark({"observed": 2.0, "null_rise": None, "lo90": 1.5, "hi90": 2.5}) == ""


def test_report_compares_the_full_model_on_the_same_rows(report, tmp_path):
    """The faces run the full model: the report gives its GMFE on the same rows and lists rows that
    move by > 1 % (here one row is moved by 5 % on purpose, one by 0.5 %)."""
    _, rows, _, _ = report
    full = [dict(r) for r in rows]
    full[0]["predicted"] *= 1.05
    full[1]["predicted"] *= 1.005
    write_report(rows, tmp_path, model_hash="x", full_model=("fullhash", full))
    md = (tmp_path / "qualification.md").read_text(encoding="utf-8")
    section = md.split("## The full model", 1)[1].split("## ", 1)[0]
    assert "`fullhash`" in section and f"| {rows[0]['id']} |" in section and f"| {rows[1]['id']} |" not in section
