"""PEtab export: the linter accepts it, and its gated events reproduce nadsim's experiments.

References: PEtab's own linter (``petab.v1.lint_problem``); for the numbers, nadsim's SciPy BDF
simulation of the same experiment (rtol 1e-10, atol 1e-12) vs libRoadRunner on the PEtab
model with the condition's ``experiment_index`` set (rtol 1e-10, atol 1e-14).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nadsim.io.petab import export_petab, lint_petab
from nadsim.library import build_nad_core
from nadsim.simulate import simulate

from ._compare import NADSIM_ATOL, RR_ATOL, RTOL

pytest.importorskip("petab")
pytestmark = pytest.mark.filterwarnings("ignore::Warning:petab")  # pandas deprecations inside petab


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    out = tmp_path_factory.mktemp("petab")
    return export_petab(out, build_nad_core())


def test_petab_lint_accepts(problem):
    assert lint_petab(problem)


def test_petab_tables_trace_to_data(problem):
    d = problem.parent
    meas = pd.read_csv(d / "measurements.tsv", sep="\t")
    src = pd.read_csv(d / "measurement_sources.tsv", sep="\t")
    params = pd.read_csv(d / "parameters.tsv", sep="\t")
    conds = pd.read_csv(d / "conditions.tsv", sep="\t")
    assert len(meas) >= 5
    assert set(meas.datasetId) <= set(src.datasetId)
    assert src.data_row.notna().all()  # every number names its data row
    est = params[params.estimate == 1]
    assert len(est) >= 5
    assert (est.lowerBound < est.upperBound).all()
    assert est.objectivePriorType.isin(["logNormal", "normal"]).all()
    assert (meas.preequilibrationConditionId == "preequilibration").all()
    assert conds.loc[conds.conditionId == "preequilibration", "experiment_index"].item() == 0
    assert (d / "skipped_targets.tsv").is_file()


def _rr_condition(problem, condition: str, times):
    import roadrunner

    conds = pd.read_csv(problem.parent / "conditions.tsv", sep="\t").set_index("conditionId")
    rr = roadrunner.RoadRunner(str(problem.parent / "model.xml"))
    rr.integrator.relative_tolerance = RTOL
    rr.integrator.absolute_tolerance = RR_ATOL
    rr.integrator.max_steps = 200_000
    for col in ("experiment_index", "preequilibration_on"):
        rr.setValue(col, float(conds.loc[condition, col]))
    rr.reset()  # re-evaluate triggers with the condition applied, so doses at t = 0 fire at t = 0
    return rr, times


def test_petab_experiment_events_reproduce_nadsim(problem):
    """grant2019 (750 mg NAD+ IV over 6 h): fold of plasma NAD+ at 2 and 6 h, tolerance 1e-6 relative."""
    pytest.importorskip("roadrunner")
    from nadsim.calibration import load_targets

    experiments, _ = load_targets()
    reg = experiments["grant2019"].regimen
    times = [0.0, 1.0, 2.0, 4.0, 6.0]
    rr, _ = _rr_condition(problem, "grant2019", times)
    rr.timeCourseSelections = ["time", "plasma_NAD", "ref_plasma_NAD"]
    res = np.asarray(rr.simulate(times=times))
    fold_rr = res[:, 1] / res[:, 2]
    ds = simulate(build_nad_core(), reg, np.array(times), rtol=RTOL, atol=NADSIM_ATOL)
    fold_nadsim = ds["plasma_NAD"].values / ds["plasma_NAD"].values[0]
    assert fold_nadsim[-1] > 1.5  # the infusion does something
    np.testing.assert_allclose(fold_rr, fold_nadsim, rtol=1e-6)


def test_petab_auc_state(problem):
    """nam1g (1 g NAM oral): AUC0-24 of plasma NAM from the rate-ruled integral vs nadsim's
    trapezoid on a 0.005 h grid (trapezoid error ~1e-6 relative; tolerance 1e-4)."""
    pytest.importorskip("roadrunner")
    from nadsim.calibration import load_targets

    experiments, _ = load_targets()
    rr, _ = _rr_condition(problem, "nam1g", [0.0, 24.0])
    rr.timeCourseSelections = ["time", "auc_plasma_NAM"]
    res = np.asarray(rr.simulate(times=[0.0, 24.0]))
    t = np.linspace(0.0, 24.0, 4801)
    ds = simulate(build_nad_core(), experiments["nam1g"].regimen, t, rtol=RTOL, atol=NADSIM_ATOL)
    auc = float(np.trapezoid(ds["plasma_NAM"].values, t))
    assert res[-1, 1] == pytest.approx(auc, rel=1e-4)


def test_cli_export_petab(tmp_path):
    from typer.testing import CliRunner

    from nadsim.cli import app

    res = CliRunner().invoke(app, ["export", "petab", "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "p" / "problem.yaml").is_file()
