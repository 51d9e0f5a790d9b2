"""The qualification report is generated, covers every row, and meets the accuracy target.

Reference values: the rows of shared/data/human_pk.csv (and cited papers) listed in
src/nadsim/calibration/targets.toml. Target: geometric mean fold error over the calibration rows
at most 1.5 (issue #2). Held-out validation rows are reported and must stay within 2-fold GMFE.
"""

import json

import numpy as np
import pytest

from nadsim.calibration import load_targets, predict, qualification_table, write_report
from nadsim.calibration._writeback import update_parameter_table
from nadsim.library import build_nad_core
from nadsim.library.nad_core.model import PARAMETERS
from nadsim.model import load_parameters


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("qual")
    model = build_nad_core()
    exps, targets = load_targets()
    rows = qualification_table(targets, predict(model, exps, targets, workers=2))
    summary = write_report(rows, out, model_hash=model.hash())
    return out, rows, summary, targets


def test_report_lists_every_row(report):
    out, rows, _, targets = report
    md = (out / "qualification.md").read_text(encoding="utf-8")
    for t in targets:
        assert f"| {t.id} |" in md
    assert (out / "qualification.png").stat().st_size > 10_000
    data = json.loads((out / "qualification.json").read_text(encoding="utf-8"))
    assert len(data["rows"]) == len(targets)
    assert all(np.isfinite(r["fold_error"]) for r in rows)


def test_gmfe_targets(report):
    _, _, summary, _ = report
    assert summary["gmfe_fit"] <= 1.5, summary
    assert summary["gmfe_validation"] <= 2.0, summary


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
