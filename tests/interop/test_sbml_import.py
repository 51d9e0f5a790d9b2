"""SBML import: models nadsim did not write, simulated by nadsim, against libRoadRunner.

Reference: libRoadRunner (CVODE, rtol 1e-10) on the same file at the same times (converted to
the file's time unit). nadsim: :func:`nadsim.io.simulate_sbml` (SciPy BDF, rtol 1e-10).
Absolute tolerances follow each file's concentration scale (mM files: 1e-15 / 1e-16).
Tolerance: max relative error 1e-6, ``|a - b| / max(|b|, floor)`` with the floor stated per test.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nadsim._errors import InputError
from nadsim.io.sbml_import import ImportedModel, read_sbml, simulate_sbml

from ._compare import rel_err

libsbml = pytest.importorskip("libsbml")


def _rr(path: Path, model: ImportedModel, times_h: np.ndarray, atol: float) -> tuple[list[str], np.ndarray]:
    import roadrunner

    doc = libsbml.readSBMLFromFile(str(path))
    sm = doc.getModel()
    names, sel = [], []
    for s in model.species:
        names.append(s.name)
        sel.append(s.name if sm.getSpecies(s.name).getHasOnlySubstanceUnits() else f"[{s.name}]")
    for a in model.rules:
        names.append(a.name)
        sel.append(a.name)
    for st in model.states:
        names.append(st.name)
        sel.append(st.name)
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = atol
    rr.integrator.max_steps = 1_000_000
    rr.timeCourseSelections = ["time", *sel]
    res = np.asarray(rr.simulate(times=[float(t) for t in times_h / model.time_unit_h]))
    return names, res[:, 1:]


def _worst(path: Path, times_h: np.ndarray, *, atol: float, rr_atol: float, floor: float, **kw) -> tuple[float, str, object]:
    model = read_sbml(path, **kw)
    ds = simulate_sbml(model, times_h, rtol=1e-10, atol=atol)
    names, res = _rr(path, model, times_h, rr_atol)
    errs = {n: rel_err(ds[n].values, res[:, j], floor) for j, n in enumerate(names)}
    worst = max(errs, key=errs.__getitem__)
    return errs[worst], worst, ds


def _handwritten(path: Path) -> Path:
    """A small model written with libSBML by hand (not by nadsim): minutes, mmol, L.

    Mass action (incl. stoichiometry 2), Michaelis-Menten through a function definition, a
    local parameter, a boundary species, an amount-only species, an initial assignment,
    assignment rules (one using another), a rate rule, and two events (time- and state-triggered).
    """
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId("handwritten")
    for uid, kind, scale, mult in (("min", libsbml.UNIT_KIND_SECOND, 0, 60.0), ("mmol", libsbml.UNIT_KIND_MOLE, -3, 1.0)):
        ud = m.createUnitDefinition()
        ud.setId(uid)
        u = ud.createUnit()
        u.setKind(kind)
        u.setExponent(1)
        u.setScale(scale)
        u.setMultiplier(mult)
    m.setTimeUnits("min")
    m.setSubstanceUnits("mmol")
    m.setExtentUnits("mmol")
    m.setVolumeUnits("litre")

    def comp(cid, size):
        c = m.createCompartment()
        c.setId(cid)
        c.setSize(size)
        c.setConstant(True)
        c.setSpatialDimensions(3)

    def species(sid, cid, *, conc=None, amount=None, hosu=False, boundary=False):
        s = m.createSpecies()
        s.setId(sid)
        s.setCompartment(cid)
        if conc is not None:
            s.setInitialConcentration(conc)
        if amount is not None:
            s.setInitialAmount(amount)
        s.setHasOnlySubstanceUnits(hosu)
        s.setBoundaryCondition(boundary)
        s.setConstant(False)

    def param(pid, value=None, constant=True):
        p = m.createParameter()
        p.setId(pid)
        if value is not None:
            p.setValue(value)
        p.setConstant(constant)

    def reaction(rid, reactants, products, formula, local=None, modifiers=()):
        r = m.createReaction()
        r.setId(rid)
        r.setReversible(False)
        for sid, st in reactants:
            ref = r.createReactant()
            ref.setSpecies(sid)
            ref.setStoichiometry(st)
            ref.setConstant(True)
        for sid, st in products:
            ref = r.createProduct()
            ref.setSpecies(sid)
            ref.setStoichiometry(st)
            ref.setConstant(True)
        for sid in modifiers:
            r.createModifier().setSpecies(sid)
        kl = r.createKineticLaw()
        for k, v in (local or {}).items():
            lp = kl.createLocalParameter()
            lp.setId(k)
            lp.setValue(v)
        kl.setMath(libsbml.parseL3Formula(formula))

    comp("cell", 2.0)
    comp("ext", 5.0)
    species("S1", "cell", conc=1.0)
    species("S2", "cell", conc=0.0)
    species("E", "cell")
    species("P", "ext", amount=0.5, hosu=True)
    species("X", "ext", conc=3.0, boundary=True)
    for pid, v in (("k1", 0.3), ("Vmax", 1.2), ("Km", 0.5), ("Etot", 1.0), ("kin", 0.05)):
        param(pid, v)
    m.getParameter("kin").setConstant(False)
    param("ramp", 0.0, constant=False)
    param("total", constant=False)
    param("signal", constant=False)
    fd = m.createFunctionDefinition()
    fd.setId("mm")
    fd.setMath(libsbml.parseL3Formula("lambda(V, S, K, V * S / (K + S))"))
    ia = m.createInitialAssignment()
    ia.setSymbol("E")
    ia.setMath(libsbml.parseL3Formula("Etot / 2"))
    ar = m.createAssignmentRule()  # written before the rule it depends on: import must sort them
    ar.setVariable("signal")
    ar.setMath(libsbml.parseL3Formula("2 * total + P"))
    ar = m.createAssignmentRule()
    ar.setVariable("total")
    ar.setMath(libsbml.parseL3Formula("S1 + S2"))
    rr_ = m.createRateRule()
    rr_.setVariable("ramp")
    rr_.setMath(libsbml.parseL3Formula("0.1"))
    reaction("R_in", [("X", 1)], [("S1", 1)], "kin * X * ext")
    reaction("R_mm", [("S1", 1)], [("S2", 1)], "cell * mm(Vmax, S1, Km)")
    reaction("R_out", [("S2", 1)], [("P", 1)], "cell * k1 * S2 * E", modifiers=("E",))
    reaction("R_deg", [("S2", 1)], [], "cell * kdeg * S2 * (1 + ramp)", {"kdeg": 0.1})
    reaction("R_dim", [("S1", 2)], [("S2", 1)], "cell * 0.01 * S1^2")
    ev = m.createEvent()
    ev.setId("boost")
    ev.setUseValuesFromTriggerTime(True)
    tr = ev.createTrigger()
    tr.setPersistent(True)
    tr.setInitialValue(False)
    tr.setMath(libsbml.parseL3Formula("time >= 6.1"))
    for var, f in (("kin", "0.5"), ("S1", "S1 + 1")):
        ea = ev.createEventAssignment()
        ea.setVariable(var)
        ea.setMath(libsbml.parseL3Formula(f))
    ev = m.createEvent()
    ev.setId("low_S1")
    ev.setUseValuesFromTriggerTime(True)
    tr = ev.createTrigger()
    tr.setPersistent(True)
    tr.setInitialValue(True)
    tr.setMath(libsbml.parseL3Formula("S1 < 0.3"))
    ea = ev.createEventAssignment()
    ea.setVariable("X")
    ea.setMath(libsbml.parseL3Formula("X * 2"))
    doc.checkConsistency()
    errors = [doc.getError(i).getMessage() for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    assert errors == []
    libsbml.writeSBMLToFile(doc, str(path))
    return path


@pytest.fixture(scope="module")
def handwritten(tmp_path_factory) -> Path:
    return _handwritten(tmp_path_factory.mktemp("sbml") / "handwritten.xml")


def test_handwritten_structure(handwritten):
    m = read_sbml(handwritten)
    assert isinstance(m, ImportedModel)
    assert m.time_unit_h == pytest.approx(1 / 60)
    assert {s.name for s in m.species} == {"S1", "S2", "E", "P"}
    assert "X" in m.parameters and "R_deg_kdeg" in m.parameters  # boundary species, local parameter
    assert [a.name for a in m.rules] == ["total", "signal"]  # dependency order
    assert [st.name for st in m.states] == ["ramp"]
    assert [e.name for e in m.events] == ["boost", "low_S1"]


def test_handwritten_matches_roadrunner(handwritten):
    pytest.importorskip("roadrunner")
    times_h = np.linspace(0.0, 12.0 / 60.0, 43)  # 0-12 min; the 6.1 min event falls between points
    err, worst, ds = _worst(handwritten, times_h, atol=1e-13, rr_atol=1e-14, floor=1e-9)
    assert ds.attrs["events_fired"] >= 2, "both events must fire for the test to mean anything"
    assert err < 1e-6, f"max relative error {err:.2e} at {worst}"


def test_import_comparison_can_fail(handwritten):
    """Without the minute -> hour conversion the time axes disagree, and the check notices."""
    pytest.importorskip("roadrunner")
    m = read_sbml(handwritten, to_hours=False)
    times_h = np.linspace(0.0, 0.2, 21)
    ds = simulate_sbml(m, times_h, rtol=1e-10, atol=1e-13)
    names, res = _rr(handwritten, read_sbml(handwritten), times_h, 1e-14)
    assert rel_err(ds["S1"].values, res[:, names.index("S1")], 1e-9) > 1e-3


ROADRUNNER_TESTS = Path(__file__).parent  # replaced below when roadrunner is installed
try:  # libRoadRunner ships a few SBML test models (written by Antimony/JDesigner, not by nadsim)
    import roadrunner as _rr_mod

    ROADRUNNER_TESTS = Path(_rr_mod.__file__).parent / "tests"
except ImportError:  # pragma: no cover
    pass


@pytest.mark.parametrize("name", ["feedback.xml", "linearPathwayClosed.xml", "test_1.xml"])
def test_bundled_roadrunner_models(name):
    path = ROADRUNNER_TESTS / name
    if not path.is_file():
        pytest.skip(f"{name} not shipped with this libRoadRunner")
    # 0-2 in the file's own time unit (seconds by SBML's default for these Level 2 files)
    unit_h = read_sbml(path).time_unit_h
    err, worst, _ = _worst(path, np.linspace(0.0, 2.0, 41) * unit_h, atol=1e-12, rr_atol=1e-14, floor=1e-9)
    assert err < 1e-6, f"{name}: max relative error {err:.2e} at {worst}"


def test_unsupported_constructs_are_named(tmp_path):
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    c = m.createCompartment()
    c.setId("c")
    c.setSize(1.0)
    c.setConstant(True)
    p = m.createParameter()
    p.setId("x")
    p.setConstant(False)
    p.setValue(0.0)
    ar = m.createAssignmentRule()
    ar.setVariable("x")
    ar.setMath(libsbml.parseL3Formula("piecewise(1, time > 2, 0)"))
    path = tmp_path / "pw.xml"
    libsbml.writeSBMLToFile(doc, str(path))
    with pytest.raises(InputError, match="piecewise"):
        read_sbml(path)
    with pytest.raises(InputError, match="path"):
        read_sbml(tmp_path / "missing.xml")


def test_export_import_round_trip(tmp_path):
    """nadsim -> SBML (default model, 2 daily NMN drips as events) -> read_sbml -> simulate_sbml
    reproduces nadsim.simulate on every CSV output (tolerance 1e-6 relative, floor 1e-4)."""
    from nadsim.dosing import parse_regimen
    from nadsim.io import export_sbml
    from nadsim.library import get_model
    from nadsim.simulate import simulate

    model = get_model()
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min", every="1 d", doses=2)
    path = tmp_path / "nad.xml"
    path.write_text(export_sbml(model, reg), encoding="utf-8")
    imported = read_sbml(path)
    assert len(imported.events) == 4
    times = np.concatenate([[0.0], np.linspace(0.1, 48.1, 49)])  # dose events fall between points
    a = simulate_sbml(imported, times, rtol=1e-10, atol=1e-12)
    b = simulate(model, reg, times, rtol=1e-10, atol=1e-12)
    for name in model.outputs:
        assert rel_err(a[name].values, b[name].values, 1e-4) < 1e-6, name


# --------------------------------------------------------------------- Bockwoldt et al. 2019 (slow)
def _bockwoldt_files() -> list[Path]:
    raw = os.environ.get("NADSIM_BOCKWOLDT_SBML", "")
    paths: list[Path] = []
    for part in filter(None, raw.split(os.pathsep)):
        p = Path(part)
        paths += sorted(p.glob("*.xml")) if p.is_dir() else [p]
    return [p for p in paths if p.is_file()]


@pytest.mark.slow
@pytest.mark.parametrize("window_h", [0.05, 10.0])
def test_bockwoldt_2019_models(window_h):
    """Bockwoldt et al. 2019 PNAS (doi:10.1073/pnas.1902346116, PMID:31341085) NAD models
    (GitHub MathiasZiegler/literature, supplements/model-files/*.xml), read from the path in
    $NADSIM_BOCKWOLDT_SBML (a file, a folder of .xml, or several joined by ':'); never committed.

    Files are in mM and seconds: nadsim atol 1e-15 mM, libRoadRunner 1e-16, floor 1e-12 mM.
    """
    files = _bockwoldt_files()
    if not files:
        pytest.skip("set NADSIM_BOCKWOLDT_SBML to the Bockwoldt 2019 SBML file(s)")
    pytest.importorskip("roadrunner")
    for path in files:
        err, worst, _ = _worst(path, np.linspace(0.0, window_h, 201), atol=1e-15, rr_atol=1e-16, floor=1e-12)
        print(f"{path.name} 0-{window_h:g} h: max relative error {err:.3e} ({worst})")
        assert err < 1e-6, f"{path.name}: max relative error {err:.2e} at {worst}"


# --------------------------------------------------------------------- hostile files (issue #15)
_MATH = 'xmlns="http://www.w3.org/1998/Math/MathML"'


def _raw_sbml(law: str, *, functions: str = "", k: str = "0.5", size: str = "1", s0: str = "1") -> str:
    """A one-reaction SBML L3V2 file as raw text (libSBML would refuse to write some of these)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="hostile">
    <listOfFunctionDefinitions>{functions}</listOfFunctionDefinitions>
    <listOfCompartments><compartment id="c" size="{size}" constant="true" spatialDimensions="3"/></listOfCompartments>
    <listOfSpecies><species id="S" compartment="c" initialConcentration="{s0}" hasOnlySubstanceUnits="false"
      boundaryCondition="false" constant="false"/></listOfSpecies>
    <listOfParameters><parameter id="k" value="{k}" constant="true"/></listOfParameters>
    <listOfReactions><reaction id="deg" reversible="false">
      <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
      <kineticLaw><math {_MATH}>{law}</math></kineticLaw></reaction></listOfReactions>
  </model>
</sbml>
"""


def _fdef(fid: str, body: str, args: tuple[str, ...] = ("x",)) -> str:
    bvars = "".join(f"<bvar><ci>{a}</ci></bvar>" for a in args)
    return f'<functionDefinition id="{fid}"><math {_MATH}><lambda>{bvars}{body}</lambda></math></functionDefinition>'


_KS = "<apply><times/><ci>k</ci><ci>S</ci></apply>"


def _bomb(levels: int) -> str:
    """f0(x) = x, f_i(x) = f_{i-1}(x) + f_{i-1}(x): f_levels has 2**levels leaves once inlined."""
    out = _fdef("f0", "<ci>x</ci>")
    for i in range(1, levels + 1):
        call = f"<apply><ci>f{i - 1}</ci><ci>x</ci></apply>"
        out += _fdef(f"f{i}", f"<apply><plus/>{call}{call}</apply>")
    return out


# Each of these crashed (segfault) or hung nadsim before the raw-XML checks (issue #15 item 2).
HOSTILE = {
    "nested 20,000 deep": ("<apply><minus/>" * 20_000) + _KS + ("</apply>" * 20_000),
    "200,000-term sum": "<apply><plus/>" + "<ci>S</ci>" * 200_000 + "</apply>",
    "recursive function": ("<apply><ci>f</ci><ci>S</ci></apply>",
                           _fdef("f", "<apply><plus/><apply><ci>f</ci><ci>x</ci></apply><cn>1</cn></apply>")),
    "mutually recursive functions": ("<apply><ci>f</ci><ci>S</ci></apply>",
                                     _fdef("f", "<apply><ci>g</ci><ci>x</ci></apply>")
                                     + _fdef("g", "<apply><ci>f</ci><ci>x</ci></apply>")),
    "function bomb (2**40 leaves)": ("<apply><ci>f40</ci><ci>S</ci></apply>", _bomb(40)),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_maths_is_refused_before_libsbml_parses_it(tmp_path, case):
    spec = HOSTILE[case]
    law, functions = (spec, "") if isinstance(spec, str) else spec
    path = tmp_path / "hostile.xml"
    path.write_text(_raw_sbml(law, functions=functions), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_sbml(path, isolate=False)  # the raw check alone must catch it: no libSBML call
    assert "\n" not in str(err.value)
    assert "SBML" in err.value.field or "function definition" in err.value.field


def test_a_modest_function_chain_still_reads(tmp_path):
    path = tmp_path / "chain.xml"
    path.write_text(_raw_sbml("<apply><times/><ci>k</ci><apply><ci>f3</ci><ci>S</ci></apply></apply>",
                              functions=_bomb(3)), encoding="utf-8")
    m = read_sbml(path)  # isolated (child process) by default
    assert "S" in m.reactions[0].rate and m.reactions[0].rate.count("S") == 8


@pytest.mark.parametrize(("attr", "element"), [("k", "parameter k"), ("size", "compartment c"), ("s0", "species S")])
@pytest.mark.parametrize("value", ["NaN", "INF", "-INF"])
def test_nan_and_inf_values_are_errors_naming_the_element(tmp_path, attr, element, value):
    path = tmp_path / "nan.xml"
    path.write_text(_raw_sbml(_KS, **{attr: value}), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_sbml(path, isolate=False)  # before: silently read as 0
    assert element in err.value.field


@pytest.mark.parametrize(("law", "field"), [("<infinity/>", "reaction deg"), ("<notanumber/>", "reaction deg"),
                                           ("<cn>NaN</cn>", "path"),  # libSBML itself refuses these two
                                           ('<cn type="e-notation"> 1 <sep/> 400 </cn>', "path")])
def test_non_finite_numbers_in_maths_are_errors(tmp_path, law, field):
    path = tmp_path / "nanlaw.xml"
    path.write_text(_raw_sbml(f"<apply><times/>{law}<ci>S</ci></apply>"), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_sbml(path, isolate=False)
    assert err.value.field == field


def test_dtd_entities_and_broken_xml_are_refused(tmp_path):
    path = tmp_path / "lol.xml"
    text = _raw_sbml(_KS).replace('<?xml version="1.0" encoding="UTF-8"?>',
                                  '<?xml version="1.0"?><!DOCTYPE sbml [<!ENTITY a "aaaaaaaaaa">]>')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="DOCTYPE"):
        read_sbml(path, isolate=False)
    path.write_text(_raw_sbml(_KS)[:-30], encoding="utf-8")
    with pytest.raises(InputError, match="well-formed"):
        read_sbml(path, isolate=False)


def test_a_native_crash_in_the_child_becomes_a_one_line_error(tmp_path, monkeypatch):
    """The child process is what stands between libSBML and nadsim: a real segfault in a child
    (ctypes reading address 0) comes back as ChildCrashed, and read_sbml turns that into an
    InputError."""
    import ctypes

    from nadsim._procs import ChildCrashed, run_isolated
    from nadsim.io import sbml_import

    with pytest.raises(ChildCrashed, match="SIGSEGV"):
        run_isolated(ctypes.string_at, 0, timeout_s=120)
    path = tmp_path / "ok.xml"
    path.write_text(_raw_sbml(_KS), encoding="utf-8")

    def crashed(*_a, **_k):
        raise ChildCrashed("killed by SIGSEGV")

    monkeypatch.setattr(sbml_import, "run_isolated", crashed)
    with pytest.raises(InputError, match="SIGSEGV"):
        read_sbml(path)


def test_two_events_inside_one_output_interval(tmp_path):
    """S' = -k S (k = 0.5 /h); at t = 1.2 h S := 5, at t = 1.5 h S := S + 10; outputs at 0, 1, 2, 3 h,
    so both events fall between the outputs 1 and 2. Reference: the closed form
    S(2) = (5 e^{-0.15} + 10) e^{-0.25}, S(3) = S(2) e^{-0.5}; tolerance 1e-7 relative
    (rtol 1e-10, event times bisected to 1e-10 h)."""
    t = '<csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>'

    def event(eid: str, at: float, value: str) -> str:
        return (f'<event id="{eid}" useValuesFromTriggerTime="true"><trigger initialValue="false" persistent="true">'
                f"<math {_MATH}><apply><geq/>{t}<cn>{at}</cn></apply></math></trigger><listOfEventAssignments>"
                f'<eventAssignment variable="S"><math {_MATH}>{value}</math></eventAssignment>'
                "</listOfEventAssignments></event>")

    events = event("e1", 1.2, "<cn>5</cn>") + event("e2", 1.5, "<apply><plus/><ci>S</ci><cn>10</cn></apply>")
    text = _raw_sbml(_KS).replace("</listOfReactions>", f"</listOfReactions><listOfEvents>{events}</listOfEvents>")
    path = tmp_path / "two_events.xml"
    path.write_text(text, encoding="utf-8")
    ds = simulate_sbml(read_sbml(path), np.array([0.0, 1.0, 2.0, 3.0]), rtol=1e-10, atol=1e-12)
    s2 = (5 * np.exp(-0.15) + 10) * np.exp(-0.25)
    want = np.array([1.0, np.exp(-0.5), s2, s2 * np.exp(-0.5)])
    assert rel_err(ds["S"].values, want, 1e-12) < 1e-7
    assert ds.attrs["events_fired"] == 2


# "0": no flux at the start, only the Jacobian shows it (S stays 0 here, but any inflow would stall)
@pytest.mark.parametrize("s0", ["1", "0"])
def test_an_absurd_rate_constant_fails_fast_naming_the_state(tmp_path, s0):
    """k = 1e300 / h: LSODA stalled at t = 0 for the whole 60 s wall-clock budget; the initial
    rate check refuses it before integrating (10 s allows a slow machine; the check is < 1 ms)."""
    import time

    path = tmp_path / "stiff.xml"
    path.write_text(_raw_sbml(_KS, k="1e300", s0=s0), encoding="utf-8")
    model = read_sbml(path)
    t0 = time.perf_counter()
    with pytest.raises(InputError, match="per h") as exc:
        simulate_sbml(model, np.linspace(0.0, 1.0, 5))
    assert time.perf_counter() - t0 < 10.0
    assert exc.value.field == "state S" and "\n" not in str(exc.value)


def test_a_fast_but_resolvable_decay_still_runs(tmp_path):
    """k = 1e9 / h, far under the 1e100 / h refusal: S(1 h) = exp(-1e9) = 0 within atol 1e-10."""
    path = tmp_path / "fast.xml"
    path.write_text(_raw_sbml(_KS, k="1e9"), encoding="utf-8")
    ds = simulate_sbml(read_sbml(path), np.array([0.0, 1.0]))
    assert ds["S"].values[0] == 1.0 and abs(ds["S"].values[-1]) < 1e-8


def test_one_wall_clock_budget_for_the_whole_run_and_a_plain_message(tmp_path, monkeypatch):
    """The budget (60 s) is the run's, not each event-free piece's: a clock 61 s on at the first
    piece stops it there, and the message is one sentence ending in the solver's status."""
    from types import SimpleNamespace

    from nadsim._errors import SolverError
    from nadsim.io import sbml_import

    clock = iter(range(0, 10_000, 61))
    monkeypatch.setattr(sbml_import, "time", SimpleNamespace(monotonic=lambda: float(next(clock))))
    path = tmp_path / "decay.xml"
    path.write_text(_raw_sbml(_KS), encoding="utf-8")
    with pytest.raises(SolverError) as exc:
        simulate_sbml(read_sbml(path), np.linspace(0.0, 1.0, 5))
    assert str(exc.value) == ("`solver` must be a successful integration from t = 0 h; "
                              "got 'the subject ran past its wall-clock budget'")


def test_counts_report_file_species_and_integrated_states(tmp_path):
    """S (reactions), B (boundary: a parameter here) and q (a parameter with a rate rule): two
    species in the file, two integrated states (S and q)."""
    text = _raw_sbml(_KS).replace(
        "</listOfSpecies>", '<species id="B" compartment="c" initialConcentration="2" hasOnlySubstanceUnits="false" '
                            'boundaryCondition="true" constant="false"/></listOfSpecies>',
    ).replace("</listOfParameters>", '<parameter id="q" value="0" constant="false"/></listOfParameters>').replace(
        "<listOfReactions>", f'<listOfRules><rateRule variable="q"><math {_MATH}><ci>B</ci></math></rateRule>'
                             "</listOfRules><listOfReactions>")
    path = tmp_path / "counts.xml"
    path.write_text(text, encoding="utf-8")
    model = read_sbml(path)
    assert (model.file_species, len(model.state_names)) == (2, 2)
    assert model.counts() == ("2 species in the file; 2 integrated states (1 species, 1 rate rule), "
                              "1 reaction, 0 events")
    one = tmp_path / "one.xml"
    one.write_text(_raw_sbml(_KS), encoding="utf-8")
    assert read_sbml(one).counts().startswith("1 species in the file; 1 integrated state (1 species, 0 rate rules)")
