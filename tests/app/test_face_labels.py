"""Every face says what its changes are measured against and which sign is an improvement
(audit: ``attribute`` gave the compound -0.476 HAM-D, ``measure`` a benefit of +0.12 and
``claims --lang ja`` "+0.317 HAM-D点", each without a direction; ``simulate`` called the
undosed run "no treatment" and then split off "placebo and natural course" from it)."""

from __future__ import annotations

import numpy as np
import xarray as xr
from typer.testing import CliRunner

from nadsim import app
from nadsim.analysis.value import CYTOKINE_CONSTRAINTS, Draws, rejections
from nadsim.app._measure import outside_constraints
from nadsim.cli import _claims as claims_cli
from nadsim.cli import _measure as measure_cli
from nadsim.cli import _simulate as sim_cli
from nadsim.cli._app import console
from nadsim.dosing import parse_regimen
from nadsim.evidence import load_claims
from nadsim.evidence._claims import AuditResult, ClaimCheck, _unit, render_claims
from nadsim.library import get_model

REG = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min")
SIGN = "(< 0 = improvement)"


def _printed(fn, *args, **kwargs) -> str:
    width = console.width
    console.width = 400  # one line per row, so a label is never wrapped apart
    try:
        with console.capture() as cap:
            fn(*args, **kwargs)
    finally:
        console.width = width
    return cap.get()


def test_simulate_tables_name_their_reference_and_the_hamd_sign():
    _, runs = sim_cli.run_patient(app.PatientRequest(REG, np.linspace(0.0, 48.0, 9)), progress=False)
    text = _printed(sim_cli.print_tables, runs, REG)
    assert "change vs no treatment" not in text  # the placebo arm's natural course is not "no treatment"
    assert "change vs undosed" in text and "of which any drip" in text and "of which the compound" in text
    assert "undosed: no drip, no visits; any drip: placebo arm - undosed; the compound: dosed - placebo arm" in text
    hamd = next(line for line in text.splitlines() if " HAMD " in line)
    assert SIGN in hamd


def test_interval_table_says_its_changes_are_from_0_h():
    t = np.array([0.0, 24.0])
    q = ("lower", "median", "upper")
    data = {v: (("quantile", "time"), np.array([[20.0, 19.0], [20.0, 19.5], [20.0, 19.8]])) for v in ("HAMD",)}
    data["change_HAMD"] = (("quantile", "time"), np.array([[0.0, -1.0], [0.0, -0.5], [0.0, -0.2]]))
    iv = xr.Dataset(data, coords={"quantile": list(q), "time": t},
                    attrs={"level": 0.9, "draws": 3, "source": "posterior", "failed_draws": 0})
    text = _printed(sim_cli.show_intervals, iv, t, fmt="table")
    assert "change from 0 h: median" in text and "not from the undosed run" in text
    assert "change from baseline" not in text
    assert SIGN in next(line for line in text.splitlines() if " HAMD " in line)


def test_attribute_names_its_reference_and_the_hamd_sign():
    runs = []
    text = _printed(lambda: runs.append(CliRunner().invoke(claims_cli.app, ["attribute", "--doses", "1",
                                                                             "--until", "2 d"])))
    assert runs[0].exit_code == 0, runs[0].output
    assert "from the same patient untreated" not in text
    assert "against the same patient not in a treatment arm (no drip, no visits" in text
    assert ("total change: dosed - untreated; any drip (placebo response and natural course): placebo arm - untreated; "
            "compound: dosed - placebo arm") in text
    assert "; HAMD in points, < 0 = improvement" in text.splitlines()[0]


def test_claims_state_that_their_ham_d_numbers_are_improvements():
    """The claims' HAM-D measures are falls (placebo minus active, or a relief route): their
    unit says so in both languages."""
    model = get_model()
    claims = [c for c in load_claims(model=model) if c.measure == "benefit_end"]
    assert claims
    checks = tuple(ClaimCheck(c, 0.317, 0.1, 0.5, _unit(c, model), "small") for c in claims)
    res = AuditResult("300 mg NMN", {}, "E", 8, 672.0, checks)
    assert "+0.317 (+0.1 to +0.5) HAM-D points of improvement" in render_claims(res, "en", "md")
    assert "+0.317(+0.1〜+0.5)HAM-D点の改善" in render_claims(res, "ja", "md")


def _draws(constraints: dict[str, np.ndarray], solved: np.ndarray) -> Draws:
    n = solved.size
    return Draws(names=("x",), X=np.zeros((n, 1)), effect=np.zeros(n), constraints=constraints,
                 accepted=solved.copy(), predictions={}, solved=solved, effect_h=1.0, regimen="r")


def test_outside_constraints_counts_each_draw_once():
    """4 draws: draw 0 fails every constraint, draw 1 one of them, draws 2-3 none. The per-study
    counts overlap (sum 1 x studies + 1); the distinct count is 2."""
    solved = np.ones(4, bool)
    cons = {}
    for k, c in enumerate(CYTOKINE_CONSTRAINTS):
        inside = 0.5 * (c.region[0] + c.region[1])
        outside = c.region[1] + 1.0
        for o in c.outputs:
            cons[f"{c.name}: {o}"] = np.array([outside, outside if k == 0 else inside, inside, inside])
    d = _draws(cons, solved)
    per_study = rejections(d)
    assert sum(per_study.values()) == len(CYTOKINE_CONSTRAINTS) + 1
    assert outside_constraints(d) == 2


def test_measure_prints_the_distinct_count_and_the_benefit_sign(monkeypatch):
    payload = {"regimen": "r", "effect": "x", "interval": {"median": 0.12, "low": -0.1, "high": 0.6, "n_accepted": 480,
                                                           "n_draws": 500, "p_harm": 0.1, "p_meaningful": 0.0,
                                                           "level": 0.9},
               "interval_significance_weighted": {"median": 0.2, "low": 0.0, "high": 0.7, "effective_draws": 50.0},
               "constraints": [{"study": "A", "rejected": 20}, {"study": "B", "rejected": 15},
                               {"study": "C", "rejected": 8}],
               "n_solved": 500, "n_outside_constraints": 20, "measurements": [], "noise_floor_pct": 1.0}
    solved = np.ones(500, bool)
    fake = app.MeasureResult(draws=_draws({}, solved), payload=payload)
    monkeypatch.setattr(measure_cli, "measure_verb", lambda request, progress=None: fake)
    runs = []
    text = _printed(lambda: runs.append(CliRunner().invoke(measure_cli.app, ["--no-progress"])))
    assert runs[0].exit_code == 0, runs[0].output
    assert "20 outside at least one cytokine constraint" in text  # distinct, not 20 + 15 + 8 = 43
    assert "43" not in text
    assert "overlap" in text and "A 20, B 15, C 8" in text
    assert "placebo minus active, points; positive = improvement" in text
