"""Every number of the NAD+ metabolome can be traced (issue #13, item 6).

Rule: each free parameter (not derived, not a dosing input) has a `source`, or is `fitted` with
the calibration rows it was fitted to, or is `assumed` with a reason (`note`) and wide bounds
(upper / lower >= 3, or a lower bound of 0). Nominal bookkeeping volumes (bounds equal, the note
says "nominal") are not uncertain and pass with their note.
"""

from pathlib import Path

import pytest

from nadsim.calibration import load_targets
from nadsim.library import build_nad_core

MODEL = build_nad_core()
SOURCES_DOC = Path(__file__).resolve().parents[2] / "docs" / "qualification_sources.md"
FREE = [p for p in MODEL.parameters.values() if p.expr is None and p.name not in set(MODEL.infusion_inputs.values())]


def _problem(p) -> str:
    pv = p.provenance
    if pv.source:
        return ""
    if pv.kind == "fitted":
        return "" if pv.fitted_to else "fitted without the rows it was fitted to"
    if pv.kind != "assumed":
        return f"{pv.kind} without a source"
    if not pv.note:
        return "assumed without a reason (note)"
    lo, hi = p.bounds
    if lo == hi and "nominal" in pv.note:
        return ""
    if not (lo == 0 or hi / lo >= 3):
        return f"assumed with narrow bounds {p.bounds}"
    return ""


@pytest.mark.parametrize("param", FREE, ids=[p.name for p in FREE])
def test_every_free_parameter_is_traceable(param):
    assert _problem(param) == "", f"{param.name}: {_problem(param)}"


def test_fitted_parameters_name_existing_fit_rows():
    _, targets = load_targets()
    fit_rows = {t.id for t in targets if t.role == "fit"}
    for p in FREE:
        if p.provenance.kind == "fitted":
            assert set(p.provenance.fitted_to) <= fit_rows, p.name


def test_the_rule_catches_an_untraceable_parameter():
    from dataclasses import replace

    p = MODEL.parameters["CL_ren_NR"]  # assumed, with a reason and bounds 0.5-10 L/h
    assert _problem(replace(p, provenance=replace(p.provenance, note=""))) == "assumed without a reason (note)"
    assert "narrow" in _problem(replace(p, bounds=(4.0, 6.0)))


def test_only_shared_data_rows_are_fitted_and_found_rows_are_held_out():
    """The data discipline of issue #13: a fitted row cites ../shared/data (human_pk.csv or
    kinetics.csv); a published result found later (listed in docs/qualification_sources.md)
    is a validation or excluded row, never fitted."""
    _, targets = load_targets()
    for t in targets:
        if t.role == "fit":
            assert "human_pk.csv" in t.source or "kinetics.csv" in t.source, t.id
    listed = SOURCES_DOC.read_text(encoding="utf-8")
    found = [t for t in targets if f"`{t.id}`" in listed]
    assert len(found) >= 7
    assert all(t.role in ("validate", "excluded") for t in found), [t.id for t in found if t.role == "fit"]
