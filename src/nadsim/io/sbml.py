"""SBML Level 3 Version 2 export of any :class:`~nadsim.model.Model`, at baseline, with dosing.

The written file is meant to run *identically* in other simulators (libRoadRunner, COPASI,
AMICI). The mapping, one element per model element:

================================  ==========================================================
nadsim                            SBML
================================  ==========================================================
compartment (volume parameter)    ``compartment`` (litre, constant) whose size is an
                                  ``initialAssignment`` to the volume parameter
species (uM)                      ``species`` with ``substanceUnits="umol"``,
                                  ``hasOnlySubstanceUnits=false``, initial concentration
                                  = the undosed baseline (:func:`nadsim.simulate.baselines`)
reaction (umol/h)                 ``reaction`` whose ``kineticLaw`` is the rate (umol/h);
                                  species read but not converted become modifiers
``State`` (non-chemical ODE)      ``parameter`` (``constant=false``) with a ``rateRule``,
                                  initial value = baseline
``AssignmentRule`` (outputs)      ``parameter`` (``constant=false``) with an
                                  ``assignmentRule`` -- the CLI's CSV variables keep their ids
free parameter                    ``parameter`` with value and unit
derived parameter (``expr``)      ``parameter`` with an ``initialAssignment`` (formula kept
                                  in the notes as well)
parameter provenance              MIRIAM ``bqbiol:isDescribedBy`` (identifiers.org DOI /
                                  PubMed / PMC) and XHTML notes with kind, grade, source,
                                  locator, bounds
dosing regimen                    one ``event`` per dose time (``time >= t``; persistent,
                                  ``initialValue=false``, values from trigger time) that adds
                                  bolus amounts and *sets* every infusion input to its rate
                                  until the next event time
================================  ==========================================================

Time is in hours, amounts in umol, volumes in L, concentrations in uM (the canonical units of
:mod:`nadsim._units`). One event per distinct dose time is written (rather than separate
start/stop events) so that simultaneous events never arise: back-to-back infusions, a bolus at
an infusion's end and doses at t = 0 all behave the same in every simulator.

The export is "at baseline": species start at the undosed steady state of the nominal (or
overridden) parameters. If another tool changes a parameter, the initial state is not
re-equilibrated; pre-equilibrate there (PEtab's ``preequilibrationConditionId`` does this).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from nadsim._errors import InputError, ModelDefinitionError
from nadsim._units import ureg
from nadsim._version import __version__
from nadsim.dosing import Regimen
from nadsim.library import get_model
from nadsim.model import Model, Parameter, parse_expr
from nadsim.simulate import (
    DISCLAIMER,
    PRESETS,
    baselines,
    compile_model,
    dose_events,
    free_parameter_mask,
    get_solver,
)
from nadsim.simulate._engine import arm_parameters

__all__ = [
    "SBML_LEVEL",
    "SBML_VERSION",
    "as_simulated",
    "atomic_write_text",
    "baseline_state",
    "dose_schedule",
    "export_sbml",
    "miriam_uris",
    "sbml_errors",
    "unit_id",
    "write_sbml",
]

SBML_LEVEL = 3
SBML_VERSION = 2
_XHTML = "http://www.w3.org/1999/xhtml"


def _libsbml():
    try:
        import libsbml
    except ImportError as exc:  # pragma: no cover - libsbml is a core dependency
        raise InputError("libsbml", "installed (python-libsbml)", "missing") from exc
    return libsbml


def _check(rc: int, what: str) -> None:
    libsbml = _libsbml()
    if rc != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ModelDefinitionError(f"SBML {what}", "accepted by libSBML", libsbml.OperationReturnValue_toString(rc))


# ---------------------------------------------------------------------------- units
_SBML_KIND = {  # pint base dimension -> (SBML unit kind, pint unit of that kind)
    "[length]": ("metre", "m"),
    "[mass]": ("kilogram", "kg"),
    "[time]": ("second", "s"),
    "[substance]": ("mole", "mol"),
    "[temperature]": ("kelvin", "K"),
    "[current]": ("ampere", "A"),
    "[luminosity]": ("candela", "cd"),
}
_BASE_NAMES = {"dimensionless"}


def unit_id(text: str) -> str:
    """An SBML UnitSId for a nadsim unit string ("umol/h" -> "umol_per_h")."""
    t = (text or "").strip()
    if t in ("", "1", "dimensionless"):
        return "dimensionless"
    s = t.replace("**", "_pow").replace("^", "_pow").replace(" ", "")
    s = s.replace("/", "_per_").replace("*", "_")
    s = re.sub(r"[^A-Za-z0-9_]", "_", s)
    s = re.sub(r"_+", "_", s).strip("_")
    if not s or not (s[0].isalpha() or s[0] == "_"):
        s = "u_" + s
    if s in ("per_h",):
        return s
    return s


def _unit_terms(text: str) -> tuple[list[tuple[str, float]], float]:
    """SBML base-unit terms ``[(kind, exponent)]`` and the overall multiplier of ``text``."""
    u = ureg.dimensionless if text in ("", "1", "dimensionless") else ureg.Unit(text)
    dims = dict(u.dimensionality)
    terms: list[tuple[str, float]] = []
    target = ureg.dimensionless
    for dim, exp_raw in sorted(dims.items()):
        exp = float(exp_raw)  # type: ignore[arg-type]  # pint exponents are real numbers here
        if dim not in _SBML_KIND:
            raise ModelDefinitionError("unit", "a unit built from SI base dimensions", text)
        if dim == "[length]" and float(exp) % 3 == 0:  # volumes read better in litres
            terms.append(("litre", float(exp) / 3))
            target = target * ureg.Unit("L") ** (float(exp) / 3)
        else:
            kind, pu = _SBML_KIND[dim]
            terms.append((kind, float(exp)))
            target = target * ureg.Unit(pu) ** float(exp)
    factor = float((1 * u).to(target).magnitude) if terms else float((1 * u).to("dimensionless").magnitude)
    return terms, factor


def _add_unit_definition(model, text: str, done: dict[str, str]) -> str:
    uid = unit_id(text)
    if uid in done or uid in _BASE_NAMES:
        return uid
    libsbml = _libsbml()
    terms, factor = _unit_terms(text)
    ud = model.createUnitDefinition()
    _check(ud.setId(uid), f"unit {text}")
    ud.setName(text)
    if not terms:
        terms = [("dimensionless", 1.0)]
    for i, (kind, exp) in enumerate(terms):
        un = ud.createUnit()
        un.setKind(libsbml.UnitKind_forName(kind))
        un.setExponent(exp)
        un.setScale(0)
        # put the whole conversion factor on the first term: (m * kind)^e
        un.setMultiplier(factor ** (1.0 / exp) if i == 0 and factor != 1.0 else 1.0)
    done[uid] = text
    return uid


# ---------------------------------------------------------------------------- annotations
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s;,()\[\]]+[^\s;,()\[\].])", re.IGNORECASE)
_PMID = re.compile(r"PMID[:\s]*(\d{5,9})", re.IGNORECASE)
_PMC = re.compile(r"\b(PMC\d{4,9})\b")


def miriam_uris(text: str) -> list[str]:
    """identifiers.org URIs for every DOI, PMID and PMCID named in a source string."""
    out: list[str] = []
    for d in _DOI.findall(text or ""):
        out.append(f"https://identifiers.org/doi:{d}")
    for p in _PMID.findall(text or ""):
        out.append(f"https://identifiers.org/pubmed:{p}")
    for p in _PMC.findall(text or ""):
        out.append(f"https://identifiers.org/pmc:{p}")
    return list(dict.fromkeys(out))


def _notes(rows: list[tuple[str, str]]) -> str:
    items = "".join(f"<p>{html.escape(k)}: {html.escape(str(v))}</p>" for k, v in rows if str(v))
    return f'<body xmlns="{_XHTML}">{items}</body>'


def _annotate(sbase, metaid: str, uris: list[str], notes: list[tuple[str, str]]) -> None:
    libsbml = _libsbml()
    sbase.setMetaId(metaid)
    if notes:
        _check(sbase.setNotes(_notes(notes)), f"notes of {metaid}")
    for uri in uris:
        cv = libsbml.CVTerm(libsbml.BIOLOGICAL_QUALIFIER)
        cv.setBiologicalQualifierType(libsbml.BQB_IS_DESCRIBED_BY)
        cv.addResource(uri)
        _check(sbase.addCVTerm(cv), f"annotation of {metaid}")


def _parameter_notes(p: Parameter) -> list[tuple[str, str]]:
    pv = p.provenance
    grade_text = {"A": "human randomised trial", "B": "human observational or genetic", "C": "animal",
                  "D": "in vitro or biochemical", "E": "hypothesis only"}.get(pv.grade, "")
    rows = [
        ("evidence grade", f"{pv.grade} ({grade_text})"),
        ("kind", pv.kind),
        ("source", pv.source),
        ("locator", pv.locator),
        ("note", pv.note),
        ("unit", p.unit),
        ("bounds", f"[{p.bounds[0]:.6g}, {p.bounds[1]:.6g}] {p.unit}" if p.expr is None else ""),
        ("as tabulated", p.original),
        ("formula", p.expr or ""),
    ]
    if pv.fitted_to:
        rows.append(("fitted to", "; ".join(pv.fitted_to)))
    return rows


# ---------------------------------------------------------------------------- maths
def _math(text: str, where: str):
    """libSBML AST for a nadsim expression; the nadsim time symbol ``t`` becomes csymbol time."""
    libsbml = _libsbml()
    formula = parse_expr(text, where).to_sbml()
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise ModelDefinitionError(where, "an expression libSBML can parse", formula)
    _retime(ast)
    return ast


def _retime(node) -> None:
    """Map nadsim's ``t`` to csymbol time; literal numbers are dimensionless, as nadsim's
    unit checker treats them, so libSBML can verify the units of every formula."""
    libsbml = _libsbml()
    if node.isNumber() and not node.isSetUnits():
        node.setUnits("dimensionless")
    if node.getType() == libsbml.AST_NAME and node.getName() == "t":
        node.setType(libsbml.AST_NAME_TIME)
        node.setName("time")
        node.setDefinitionURL("http://www.sbml.org/sbml/symbols/time")
    for i in range(node.getNumChildren()):
        _retime(node.getChild(i))


def _formula_math(formula: str, where: str):
    """Parse libSBML L3 infix text (which may carry units on numbers, e.g. ``2.5 umol``)."""
    libsbml = _libsbml()
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise ModelDefinitionError(where, "an expression libSBML can parse", formula)
    return ast


# ---------------------------------------------------------------------------- baseline and doses
def baseline_state(model: Model, parameters: Mapping[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Full parameter vector and undosed baseline that the export starts from: the engine's, at
    the reference tolerances (a file is an artefact others check against; ``simulate`` at those
    tolerances starts from the same state, and at looser ones within its own tolerance)."""
    m = model.with_parameters(parameters) if parameters else model
    cm = compile_model(m)
    p = cm.base_parameters()
    Y, ok = baselines(cm, p[None, :], get_solver(), PRESETS["reference"])
    if not ok[0]:
        raise InputError("parameters", "a parameter set with an undosed baseline", m.hash())
    return p, Y[0]


dose_schedule = dose_events  # the engine's schedule, as events


# ---------------------------------------------------------------------------- export
def as_simulated(model: Model, regimen: Regimen) -> Model:
    """The model exactly as :func:`nadsim.simulate.simulate` runs it with ``regimen``: the
    engine's treatment-arm rule (:func:`nadsim.simulate._engine.arm_parameters`) applied to the
    parameter table, so that the export is identical."""
    cm = compile_model(model)
    P = arm_parameters(cm, cm.base_parameters()[None, :], regimen)[0]
    free = free_parameter_mask(cm)
    changed = {n: float(v) for n, v, f in zip(cm.parameter_names, P, free, strict=True)
               if f and v != model.parameters[n].value}
    return model.with_parameters(changed) if changed else model


def export_sbml(model: Model | None = None, regimen: Regimen | None = None, *,
                parameters: Mapping[str, float] | None = None, model_id: str | None = None) -> str:
    """SBML L3V2 text of ``model`` at its undosed baseline, with ``regimen`` as events.

    Parameters
    ----------
    model : the model (default: :func:`nadsim.library.get_model`'s full model).
    regimen : doses written as events (``None``: no events).
    parameters : free-parameter overrides in canonical units, applied before the baseline.
    model_id : SBML model id (default: the model's name).

    Returns
    -------
    str: the SBML document. Raises :class:`ModelDefinitionError` if libSBML finds an error.
    """
    libsbml = _libsbml()
    model = model or get_model()
    if parameters:
        model = model.with_parameters(parameters)
    regimen = regimen or Regimen.none()
    model = as_simulated(model, regimen)
    p, y0 = baseline_state(model)
    pval = dict(zip(model.parameter_names, p, strict=True))
    yval = dict(zip(model.state_names, y0, strict=True))
    schedule = dose_schedule(model, regimen)
    changed_by_events = {par for _, _, rates in schedule for par in rates}

    doc = libsbml.SBMLDocument(SBML_LEVEL, SBML_VERSION)
    sm = doc.createModel()
    _check(sm.setId(model_id or model.name), "model id")
    sm.setName(f"nadsim {model.name} (model hash {model.hash()})")
    sm.setMetaId(f"meta_{model_id or model.name}")
    _check(sm.setNotes(_notes([
        ("generated by", f"nadsim {__version__}"),
        ("model", f"{model.name}, hash {model.hash()}"),
        ("initial state", "undosed baseline steady state of the parameters below (export is 'at baseline'); "
                          "re-equilibrate before dosing if parameters are changed"),
        ("regimen", regimen.describe()),
        ("units", "time h, amount umol, volume L, concentration uM, fluxes umol/h"),
        ("disclaimer", DISCLAIMER),
    ])), "model notes")

    units: dict[str, str] = {}
    for base in ("h", "umol", "L", "uM", "umol/h"):
        _add_unit_definition(sm, base, units)
    sm.setTimeUnits(unit_id("h"))
    sm.setSubstanceUnits(unit_id("umol"))
    sm.setExtentUnits(unit_id("umol"))
    sm.setVolumeUnits(unit_id("L"))

    # --- parameters (free: values; derived: initial assignments)
    for name, par in model.parameters.items():
        sp = sm.createParameter()
        _check(sp.setId(name), f"parameter {name}")
        sp.setValue(float(pval[name]))
        sp.setUnits(_add_unit_definition(sm, par.unit, units))
        sp.setConstant(name not in changed_by_events)
        _annotate(sp, f"meta_{name}", miriam_uris(par.provenance.source), _parameter_notes(par))
    for name in model.derived_order():
        ia = sm.createInitialAssignment()
        ia.setSymbol(name)
        _check(ia.setMath(_math(model.parameters[name].expr or "", f"parameter {name}")), f"initial assignment {name}")

    # --- compartments: size follows the volume parameter
    for c in model.compartments:
        sc = sm.createCompartment()
        _check(sc.setId(c.name), f"compartment {c.name}")
        sc.setName(c.description or c.name)
        sc.setSpatialDimensions(3)
        sc.setSize(float(pval[c.volume]))
        sc.setUnits(unit_id("L"))
        sc.setConstant(True)
        ia = sm.createInitialAssignment()
        ia.setSymbol(c.name)
        _check(ia.setMath(_formula_math(c.volume, c.name)), f"compartment size {c.name}")

    # --- species
    for s in model.species:
        ss = sm.createSpecies()
        _check(ss.setId(s.name), f"species {s.name}")
        ss.setName(s.description or s.name)
        ss.setCompartment(s.compartment)
        ss.setInitialConcentration(float(yval[s.name]))
        ss.setSubstanceUnits(unit_id("umol"))
        ss.setHasOnlySubstanceUnits(False)
        ss.setBoundaryCondition(False)
        ss.setConstant(False)
        _annotate(ss, f"meta_{s.name}", [], [
            ("unit", f"{s.unit} (amount umol / compartment volume L)"),
            ("initial concentration", "undosed baseline steady state" + (" (cumulative excreta start at 0)" if s.accumulates else "")),
            ("nicotinamide moiety per molecule", str(s.moiety)),
        ])

    # --- non-chemical states: parameters with rate rules
    for st in model.states:
        sp = sm.createParameter()
        _check(sp.setId(st.name), f"state {st.name}")
        sp.setName(st.description or st.name)
        sp.setValue(float(yval[st.name]))
        sp.setUnits(_add_unit_definition(sm, st.unit, units))
        sp.setConstant(False)
        _annotate(sp, f"meta_{st.name}", [], [("unit", st.unit), ("initial value", "undosed baseline steady state"),
                                                ("description", st.description)])
        rr = sm.createRateRule()
        rr.setVariable(st.name)
        _check(rr.setMath(_math(st.rhs, f"state {st.name}")), f"rate rule {st.name}")

    # --- assignment rules (outputs)
    for a in model.rules:
        sp = sm.createParameter()
        _check(sp.setId(a.name), f"rule {a.name}")
        sp.setName(a.description or a.name)
        sp.setUnits(_add_unit_definition(sm, a.unit, units))
        sp.setConstant(False)
        _annotate(sp, f"meta_{a.name}", [], [("unit", a.unit), ("definition", a.expr),
                                              ("output", "yes" if a.name in model.outputs else "no")])
        ar = sm.createAssignmentRule()
        ar.setVariable(a.name)
        _check(ar.setMath(_math(a.expr, f"rule {a.name}")), f"assignment rule {a.name}")

    # --- reactions
    species_ids = {s.name for s in model.species}
    for r in model.reactions:
        sr = sm.createReaction()
        _check(sr.setId(r.name), f"reaction {r.name}")
        sr.setName(r.description or r.name)
        e = parse_expr(r.rate, f"reaction {r.name}")
        sr.setReversible("-" in r.rate and not r.boundary)
        for sp_id, coef in r.stoichiometry:
            ref = sr.createReactant() if coef < 0 else sr.createProduct()
            ref.setSpecies(sp_id)
            ref.setStoichiometry(abs(float(coef)))
            ref.setConstant(True)
        stoich = {sp for sp, _ in r.stoichiometry}
        for sym in sorted(e.symbols & species_ids - stoich):
            mod = sr.createModifier()
            mod.setSpecies(sym)
        kl = sr.createKineticLaw()
        _check(kl.setMath(_math(r.rate, f"reaction {r.name}")), f"kinetic law {r.name}")
        _annotate(sr, f"meta_{r.name}", [], [("evidence grade", r.grade), ("rate (umol/h)", r.rate),
                                              ("boundary flux", "yes" if r.boundary else "no")])

    # --- dosing events
    for k, (t, boluses, rates) in enumerate(schedule):
        ev = sm.createEvent()
        eid = f"dose_event_{k + 1}"
        _check(ev.setId(eid), eid)
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setPersistent(True)
        trig.setInitialValue(False)
        _check(trig.setMath(_formula_math(f"time >= {t!r} {unit_id('h')}", eid)), f"trigger {eid}")
        desc = []
        for sp_id, amount in sorted(boluses.items()):
            comp = model.compartment_of[sp_id].name
            ea = ev.createEventAssignment()
            ea.setVariable(sp_id)
            _check(ea.setMath(_formula_math(f"{sp_id} + {amount!r} {unit_id('umol')} / {comp}", eid)), f"bolus {eid}")
            desc.append(f"{amount:.6g} umol into {sp_id}")
        for inp, rate in sorted(rates.items()):
            ea = ev.createEventAssignment()
            ea.setVariable(inp)
            _check(ea.setMath(_formula_math(f"{float(rate)!r} {unit_id('umol/h')}", eid)), f"infusion {eid}")
            desc.append(f"{inp} = {rate:.6g} umol/h")
        _annotate(ev, f"meta_{eid}", [], [("time (h)", f"{t:g}"), ("does", "; ".join(desc))])

    errors = sbml_errors(doc)
    if errors:
        raise ModelDefinitionError("SBML export", "free of libSBML errors", "; ".join(errors[:5]))
    return libsbml.writeSBMLToString(doc)


def sbml_errors(doc_or_text, *, units: bool = True) -> list[str]:
    """libSBML errors (severity error or fatal) with every consistency check on.

    Warnings (e.g. numbers without units in formulas) are not returned.
    """
    libsbml = _libsbml()
    doc = doc_or_text
    if isinstance(doc_or_text, str | Path):
        text = str(doc_or_text)
        doc = libsbml.readSBMLFromFile(text) if not text.lstrip().startswith("<") else libsbml.readSBMLFromString(text)
    for check in (libsbml.LIBSBML_CAT_GENERAL_CONSISTENCY, libsbml.LIBSBML_CAT_IDENTIFIER_CONSISTENCY,
                  libsbml.LIBSBML_CAT_MATHML_CONSISTENCY, libsbml.LIBSBML_CAT_SBO_CONSISTENCY,
                  libsbml.LIBSBML_CAT_OVERDETERMINED_MODEL, libsbml.LIBSBML_CAT_MODELING_PRACTICE):
        doc.setConsistencyChecks(check, True)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, units)
    doc.checkConsistency()
    out = []
    for i in range(doc.getNumErrors()):
        err = doc.getError(i)
        if err.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            out.append(f"{err.getErrorId()} line {err.getLine()}: {err.getMessage().strip()}")
    return out


def write_sbml(path: Path | str, model: Model | None = None, regimen: Regimen | None = None, *,
               parameters: Mapping[str, float] | None = None) -> Path:
    """Write :func:`export_sbml` to ``path`` (atomically) and return the path."""
    text = export_sbml(model, regimen, parameters=parameters)
    return atomic_write_text(path, text)


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` beside ``path`` and move it into place, so no half-written file remains."""
    import os
    import tempfile

    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError("out", "a path in an existing directory", str(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
