"""SBML export: libSBML-valid, and libRoadRunner / COPASI reproduce nadsim's own simulation.

Reference for every numeric check: nadsim's SciPy BDF run (rtol 1e-10, atol 1e-12) of the
same model and regimen; the exported file is run in libRoadRunner (CVODE, rtol 1e-10,
atol 1e-14) and COPASI (LSODA via basico, rtol 1e-10, atol 1e-14) at the same times.
Tolerance: max relative error 1e-6 (floor 1e-4 in the variable's unit, see ``_compare``).
"""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from nadsim.dosing import Regimen, parse_regimen
from nadsim.io import export_sbml, sbml_errors
from nadsim.io.sbml import dose_schedule, miriam_uris, unit_id
from nadsim.library import build_nad_core
from nadsim.simulate import simulate, time_grid

from ._compare import NADSIM_ATOL, RTOL, rel_err, roadrunner_run

libsbml = pytest.importorskip("libsbml")

ARTICLE = dict(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min")


@pytest.fixture(scope="module")
def model():
    return build_nad_core()


@pytest.fixture(scope="module")
def article_sbml(model):
    return export_sbml(model, parse_regimen(**ARTICLE))


def _compare_rr(model, regimen, until_h: float, step_h: float) -> tuple[float, str]:
    """Worst relative error over every state and every CSV output (model.outputs); the other
    (internal) assignment rules are held to 1e-4, because some are differences of nearly equal
    states (e.g. ``HAMD_stress = c * (S_ref - stress_load)`` cancels ~3 digits), so states that
    agree to 5e-10 give them ~1e-6 relative differences."""
    text = export_sbml(model, regimen)
    times = time_grid(until_h, step_h=step_h, regimen=regimen)
    ds = simulate(model, regimen, times, rtol=RTOL, atol=NADSIM_ATOL)
    species = {s.name for s in model.species}
    names = [s.name for s in model.species] + [a.name for a in model.rules] + [st.name for st in model.states]
    sel = [f"[{n}]" if n in species else n for n in names]
    res = roadrunner_run(text, times, sel)
    errs = {n: rel_err(ds[n].values, res[:, j]) for j, n in enumerate(names)}
    strict = set(model.state_names) | set(model.outputs)
    loose = {n: e for n, e in errs.items() if n not in strict}
    bad = {n: e for n, e in loose.items() if e >= 1e-4}
    assert not bad, f"internal rules off by more than 1e-4: {bad}"
    worst = max(strict, key=errs.__getitem__)
    return errs[worst], worst


# ------------------------------------------------------------------ structure and validity
def test_libsbml_reports_no_errors_or_warnings(article_sbml):
    assert sbml_errors(article_sbml) == []
    doc = libsbml.readSBMLFromString(article_sbml)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, True)
    doc.checkConsistency()
    msgs = [doc.getError(i).getMessage() for i in range(doc.getNumErrors())]
    assert msgs == []  # not even unit warnings: every number in every formula carries a unit
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)


def test_csv_contract_variables_keep_ids_and_units(model, article_sbml):
    m = libsbml.readSBMLFromString(article_sbml).getModel()
    assert m.getTimeUnits() == "h"
    rules = {m.getRule(i).getVariable(): m.getRule(i) for i in range(m.getNumRules())}
    for name in model.outputs:
        el = m.getElementBySId(name)
        assert el is not None, name
        want = model.unit_of(name)
        if isinstance(el, libsbml.Species):
            assert not el.getHasOnlySubstanceUnits() and want == "uM"
        else:
            assert isinstance(el, libsbml.Parameter)
            assert el.getUnits() == unit_id(want), (name, el.getUnits(), want)
            assert rules[name].isAssignment()
    for name in ("whole_blood_NAD", "plasma_NMN", "plasma_NAM", "liver_NAD", "muscle_NAD", "brain_NAD"):
        assert m.getParameter(name) is not None
    ud = m.getUnitDefinition("uM")
    # uM = (1e-3 mol/L)^1 in SBML terms: mole * litre^-1 with multiplier 1e-6 on the mole
    scale = 1.0
    for i in range(ud.getNumUnits()):
        u = ud.getUnit(i)
        scale *= (u.getMultiplier() * 10 ** u.getScale()) ** u.getExponent()
    assert scale == pytest.approx(1e-6, rel=1e-12)


def test_every_parameter_has_units_and_species_volumes(model, article_sbml):
    m = libsbml.readSBMLFromString(article_sbml).getModel()
    for i in range(m.getNumParameters()):
        assert m.getParameter(i).isSetUnits(), m.getParameter(i).getId()
    for i in range(m.getNumCompartments()):
        c = m.getCompartment(i)
        assert c.isSetSize() and c.getSize() > 0 and c.getUnits() == "L"
    for i in range(m.getNumSpecies()):
        s = m.getSpecies(i)
        assert s.getSubstanceUnits() == "umol" and not s.getHasOnlySubstanceUnits()


def test_parameter_provenance_is_annotated(model, article_sbml):
    m = libsbml.readSBMLFromString(article_sbml).getModel()
    with_doi = [n for n, p in model.parameters.items() if "10." in p.provenance.source and miriam_uris(p.provenance.source)]
    assert with_doi, "the parameter table cites DOIs"
    name = with_doi[0]
    el = m.getParameter(name)
    resources = [el.getCVTerm(i).getResourceURI(j) for i in range(el.getNumCVTerms())
                 for j in range(el.getCVTerm(i).getNumResources())]
    assert any(r.startswith("https://identifiers.org/doi:10.") for r in resources)
    assert f"evidence grade: {model.parameters[name].provenance.grade}" in el.getNotesString()


def test_miriam_uris_parse_ids():
    uris = miriam_uris("kinetics.csv: Km (NR) NRK1 (UniProt Q9NWW6; PMID:17914902), doi:10.1021/bi801198m; PMC7395074")
    assert "https://identifiers.org/pubmed:17914902" in uris
    assert "https://identifiers.org/doi:10.1021/bi801198m" in uris
    assert "https://identifiers.org/pmc:PMC7395074" in uris


def test_dose_schedule_merges_simultaneous_events(model):
    # back-to-back 1 h infusions: one event per time, rate set (not added), 0 after the last
    reg = parse_regimen(compound="NMN", route="iv", dose="100 mg", infusion="1 h", every="1 h", doses=3)
    sched = dose_schedule(model, reg)
    assert [t for t, _, _ in sched] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    rate = reg.doses[0].rate_umol_h
    assert [r["inf_NMN"] for _, _, r in sched] == pytest.approx([rate, rate, rate, 0.0])


# ------------------------------------------------------------------ libRoadRunner reproduces nadsim
@pytest.mark.parametrize("label,regimen,until", [
    ("baseline", Regimen.none(), 24.0),
    ("article 300 mg NMN IV over 20 min", parse_regimen(**ARTICLE), 24.0),
    ("3 daily drips", parse_regimen(**ARTICLE, every="1 d", doses=3), 96.0),
    ("back-to-back infusions + oral NR bid", parse_regimen(compound="NMN", route="iv", dose="100 mg", infusion="1 h", every="1 h", doses=3)
     + parse_regimen(compound="NR", route="oral", dose="500 mg", every="12 h", doses=2), 36.0),
])
def test_roadrunner_matches_nadsim(model, label, regimen, until):
    pytest.importorskip("roadrunner")
    err, worst = _compare_rr(model, regimen, until, 0.5)
    assert err < 1e-6, f"{label}: max relative error {err:.2e} at {worst}"


def test_roadrunner_comparison_can_fail(model):
    """The comparison detects a wrong dose: a file written for 200 mg vs nadsim at 300 mg."""
    pytest.importorskip("roadrunner")
    reg300 = parse_regimen(**ARTICLE)
    text = export_sbml(model, parse_regimen(**{**ARTICLE, "dose": "200 mg"}))
    times = time_grid(6.0, step_h=0.5, regimen=reg300)
    ds = simulate(model, reg300, times, rtol=RTOL, atol=NADSIM_ATOL)
    res = roadrunner_run(text, times, ["[NMN_p]"])
    assert rel_err(ds["NMN_p"].values, res[:, 0]) > 1e-2


def test_default_model_roadrunner(model):
    """The default model (whatever modules it holds by now) exports and runs identically."""
    pytest.importorskip("roadrunner")
    from nadsim.library import get_model

    m = get_model()
    err, worst = _compare_rr(m, parse_regimen(**ARTICLE, every="1 d", doses=3), 96.0, 1.0)
    assert err < 1e-6, f"max relative error {err:.2e} at {worst}"


# ------------------------------------------------------------------ COPASI
def test_copasi_loads_and_matches(tmp_path):
    """The default model with 3 daily drips in COPASI: every CSV output within 1e-6."""
    basico = pytest.importorskip("basico")
    from nadsim.library import get_model

    model = get_model()
    reg = parse_regimen(**ARTICLE, every="1 d", doses=3)
    path = tmp_path / "nad.xml"
    path.write_text(export_sbml(model, reg))
    dm = basico.load_model(str(path))
    try:
        basico.set_task_settings(basico.T.TIME_COURSE, {"method": {
            "Relative Tolerance": RTOL, "Absolute Tolerance": 1e-14, "Max Internal Steps": 1_000_000}}, model=dm)
        tc = basico.run_time_course(duration=72.0, intervals=144, model=dm, use_sbml_id=True)
    finally:
        basico.remove_datamodel(dm)
    times = tc.index.values
    ds = simulate(model, reg, time_grid(72.0, step_h=0.5, regimen=reg), rtol=RTOL, atol=NADSIM_ATOL)
    assert set(model.outputs) <= set(tc.columns)
    errs = {n: rel_err(ds[n].sel(time=times).values, tc[n].values) for n in model.outputs}
    worst = max(errs, key=errs.__getitem__)
    assert errs[worst] < 1e-6, f"max relative error {errs[worst]:.2e} at {worst}"


# ------------------------------------------------------------------ CLI
def test_cli_export_sbml(tmp_path):
    from nadsim.cli import app

    out = tmp_path / "model.xml"
    res = CliRunner().invoke(app, ["export", "sbml", "--compound", "NMN", "--route", "iv", "--dose", "300 mg",
                                   "--infusion", "20 min", "--every", "1 d", "--doses", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    m = libsbml.readSBMLFromFile(str(out)).getModel()
    assert m.getNumEvents() == 6  # 3 starts + 3 stops, each its own time
    assert sbml_errors(str(out)) == []


def test_cli_export_sbml_bad_input(tmp_path, monkeypatch, capsys):
    from nadsim.cli import main

    out = tmp_path / "model.xml"
    monkeypatch.setattr("sys.argv", ["nadsim", "export", "sbml", "--compound", "XYZ", "--out", str(out)])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "compound" in capsys.readouterr().err and not out.exists()


def test_timing_order_events_at_zero(model):
    """A bolus at t = 0 fires at t = 0 in libRoadRunner (initialValue=false trigger)."""
    pytest.importorskip("roadrunner")
    reg = parse_regimen(compound="NAM", route="iv_bolus", dose="100 mg")
    text = export_sbml(model, reg)
    ds = simulate(model, reg, np.array([0.0, 0.01, 1.0]), rtol=RTOL, atol=NADSIM_ATOL)
    res = roadrunner_run(text, [0.0, 0.01, 1.0], ["[NAM_p]"])
    assert rel_err(ds["NAM_p"].values[1:], res[1:, 0]) < 1e-6
