"""Read SBML models that others wrote into a :class:`~nadsim.model.Model`, and simulate them.

Supported (the subset kinetic NAD models use): compartments of constant size; species in
concentration or amount (``hasOnlySubstanceUnits``), boundary and constant species; reactions
with any kinetic law over the whitelisted maths (mass action, Michaelis-Menten, inhibition
terms ...), local parameters (renamed ``<reaction>_<id>``), function definitions (inlined);
assignment rules and rate rules on parameters and species; initial assignments; events with
a single relational trigger (``time >= 10``, ``S1 < 0.5``), no delay.
Not supported (an :class:`~nadsim.InputError` names the element): algebraic rules, delays,
``piecewise``, variable compartments, conversion factors, variable stoichiometry,
reaction ids used in formulas, SBML packages that change the maths (comp, fbc, ...).

Units: nadsim keeps the file's own numbers. Time is converted to hours when the file declares
its time unit, or by SBML's default when it does not (Level 1-2: seconds; every rate is
multiplied by model-time-units per hour), so that nadsim's time axis is always h; a Level 3
file without ``timeUnits`` has none and is read as hours; amounts and volumes stay in the file's units and the species' unit label
records them. Foreign files rarely declare units for every parameter, so the imported model
skips nadsim's dimensional and moiety-balance checks (it is an :class:`ImportedModel`) but
keeps the structural ones (unique ids, defined symbols).

Species, ``State``s and the initial values follow the file; :func:`simulate_sbml` integrates
from there (not from a steady state, which nadsim's own models start from) and executes the
events where a trigger changes sign: checked at the outputs and on a grid of
:data:`EVENT_SCAN` points, then bisected to :data:`EVENT_TIME_TOL`.
"""

from __future__ import annotations

import keyword
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nadsim._errors import InputError, ModelDefinitionError, SolverError
from nadsim._procs import ChildCrashed, run_isolated
from nadsim.dosing import Regimen
from nadsim.model import (
    AssignmentRule,
    Compartment,
    Model,
    Parameter,
    Provenance,
    Reaction,
    Species,
    State,
    parse_expr,
)
from nadsim.simulate import AbstractSolver, Status, Tolerances, compile_model, get_solver, solve

__all__ = ["EVENT_SCAN", "EVENT_TIME_TOL", "ImportedModel", "SbmlEvent", "check_sbml_xml", "read_sbml", "simulate_sbml"]

#: trigger values are checked at the outputs and at this many points over what is left to simulate
EVENT_SCAN = 400
#: an event's time is bisected to this, relative to max(1, |t|) h
EVENT_TIME_TOL = 1e-10
#: a state relaxing faster than this at the start (per h: a time scale under 1e-100 h, where the
#: fastest chemistry is ~1e-15 s) is a unit slip or a typo, refused before integrating: SciPy's
#: LSODA still integrates a decay of 1e150 / h in < 1000 evaluations (measured here), but from
#: ~1e200 / h it stalls at t = 0 until the wall-clock budget (60 s) runs out
MAX_INITIAL_RATE_PER_H = 1e100

_RESERVED = {"t", "time", "pi", "xp", "y", "p", "math", "np", "cols"}


@dataclass(frozen=True)
class SbmlEvent:
    """An SBML event: fires when ``trigger`` (an expression, fires on crossing from < 0 to >= 0)
    becomes non-negative; then every ``(variable, expression)`` is evaluated and assigned."""

    name: str
    trigger: str
    assignments: tuple[tuple[str, str], ...]
    initial_value: bool = True
    strict: bool = False  # ``>`` / ``<``: fires only when strictly positive


@dataclass(frozen=True, eq=False)
class ImportedModel(Model):
    """A :class:`Model` read from a foreign SBML file: structural checks only, plus events."""

    events: tuple[SbmlEvent, ...] = ()
    #: hours per model time unit of the file (1.0 when times were already hours or undeclared)
    time_unit_h: float = 1.0
    source_file: str = ""
    #: species declared in the file: those reactions change (``species``) and the boundary,
    #: constant and rule-defined ones (parameters, rules or ``states`` here)
    file_species: int = 0

    def counts(self) -> str:
        """What was read, in words: the integrated states are the species plus the
        rate-rule ``states``, and the file's own species count beside them."""
        n, rr = len(self.state_names), len(self.states)
        return (f"{self.file_species} species in the file; {n} integrated state{'s' * (n != 1)} "
                f"({len(self.species)} species, {rr} rate rule{'s' * (rr != 1)}), "
                f"{len(self.reactions)} reaction{'s' * (len(self.reactions) != 1)}, "
                f"{len(self.events)} event{'s' * (len(self.events) != 1)}")

    def _validate(self) -> None:
        names: dict[str, str] = {}
        for what, items in (("parameter", list(self.parameters)), ("compartment", [c.name for c in self.compartments]),
                            ("species", [s.name for s in self.species]), ("state", [s.name for s in self.states]),
                            ("reaction", [r.name for r in self.reactions]), ("rule", [a.name for a in self.rules])):
            for n in items:
                if not n.isidentifier() or keyword.iskeyword(n) or n in _RESERVED:
                    raise ModelDefinitionError(f"{what} id", "an identifier nadsim can use", n)
                if n in names:
                    raise ModelDefinitionError(f"{what} {n}", "a unique id", f"already used by a {names[n]}")
                names[n] = what
        known = set(names) | {"t"}
        exprs = [(f"reaction {r.name}", r.rate) for r in self.reactions]
        exprs += [(f"rule {a.name}", a.expr) for a in self.rules]
        exprs += [(f"state {s.name}", s.rhs) for s in self.states]
        exprs += [(f"event {e.name}", x) for e in self.events for x in (e.trigger, *(v for _, v in e.assignments))]
        for where, text in exprs:
            missing = parse_expr(text, where).symbols - known
            if missing:
                raise ModelDefinitionError(where, "defined symbols only", sorted(missing))
        self.derived_order()  # no cycles

    def _compute_hash(self, values: bool = True) -> str:
        import hashlib

        base = super()._compute_hash(values)  # events enter both hashes (their times and targets are structure)
        blob = repr((base, self.events, self.time_unit_h)).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def __reduce__(self):
        kw = {f: getattr(self, f) for f in self.__dataclass_fields__}
        for f in ("parameters", "dose_targets", "infusion_inputs"):
            kw[f] = dict(kw[f])
        return (_rebuild, (kw,))


def _rebuild(kw: dict) -> ImportedModel:
    return ImportedModel(**kw)


# ------------------------------------------------------------------------------- maths
class _Maths:
    """libSBML AST -> nadsim expression text, with ids renamed and functions inlined."""

    def __init__(self, libsbml: Any, fdefs: dict[str, Any], rename: dict[str, str], time_text: str):
        self.L = libsbml
        self.fdefs = fdefs
        self.rename = rename
        self.time_text = time_text

    def text(self, node: Any, where: str, subst: Mapping[str, str] | None = None, local: Mapping[str, str] | None = None) -> str:
        L = self.L
        if node is None:
            raise InputError(where, "a formula", "none")
        t = node.getType()
        kids = [node.getChild(i) for i in range(node.getNumChildren())]

        def rec(n: Any) -> str:
            return self.text(n, where, subst, local)

        if t == L.AST_INTEGER:
            return repr(float(node.getInteger()))
        if t in (L.AST_REAL, L.AST_REAL_E, L.AST_RATIONAL):
            v = node.getReal()
            if not math.isfinite(v):
                raise InputError(where, "finite numbers", v)
            return repr(float(v))
        if t == L.AST_NAME:
            name = node.getName()
            if subst and name in subst:
                return f"({subst[name]})"
            if local and name in local:
                return local[name]
            return self.rename.get(name, name)
        if t == L.AST_NAME_TIME:
            return self.time_text
        if t == L.AST_NAME_AVOGADRO:
            return repr(6.02214076e23)
        if t == L.AST_CONSTANT_PI:
            return "pi"
        if t == L.AST_CONSTANT_E:
            return "exp(1.0)"
        if t == L.AST_PLUS:
            return "(" + " + ".join(rec(k) for k in kids) + ")" if kids else "0.0"
        if t == L.AST_MINUS:
            return f"(-{rec(kids[0])})" if len(kids) == 1 else f"({rec(kids[0])} - {rec(kids[1])})"
        if t == L.AST_TIMES:
            return "(" + " * ".join(rec(k) for k in kids) + ")" if kids else "1.0"
        if t == L.AST_DIVIDE:
            return f"({rec(kids[0])} / {rec(kids[1])})"
        if t in (L.AST_POWER, L.AST_FUNCTION_POWER):
            return f"({rec(kids[0])} ** {rec(kids[1])})"
        simple = {L.AST_FUNCTION_EXP: "exp", L.AST_FUNCTION_LN: "log", L.AST_FUNCTION_ABS: "abs",
                  L.AST_FUNCTION_SIN: "sin", L.AST_FUNCTION_COS: "cos", L.AST_FUNCTION_TANH: "tanh"}
        if t in simple:
            return f"{simple[t]}({rec(kids[0])})"
        if t == L.AST_FUNCTION_LOG:  # log(base, x) or log10(x)
            if len(kids) == 2:
                return f"(log({rec(kids[1])}) / log({rec(kids[0])}))"
            return f"(log({rec(kids[0])}) / log(10.0))"
        if t == L.AST_FUNCTION_ROOT:
            if len(kids) == 2:
                return f"({rec(kids[1])} ** (1.0 / {rec(kids[0])}))"
            return f"sqrt({rec(kids[0])})"
        if t in (getattr(L, "AST_FUNCTION_MAX", -1), getattr(L, "AST_FUNCTION_MIN", -1)):
            fn = "max" if t == getattr(L, "AST_FUNCTION_MAX", -1) else "min"
            out = rec(kids[0])
            for k in kids[1:]:
                out = f"{fn}({out}, {rec(k)})"
            return out
        if t == L.AST_FUNCTION:
            name = node.getName()
            if name not in self.fdefs:
                raise InputError(where, "calls of functions defined in the file", name)
            fd = self.fdefs[name]
            body = fd.getBody()
            args = [fd.getArgument(i).getName() for i in range(fd.getNumArguments())]
            if len(args) != len(kids):
                raise InputError(where, f"{name}() with {len(args)} arguments", len(kids))
            inner = {a: rec(k) for a, k in zip(args, kids, strict=True)}
            return f"({self.text(body, f'function {name}', inner, None)})"
        raise InputError(where, "maths nadsim supports (no piecewise, delay, logic outside triggers)",
                         self.L.formulaToL3String(node))

    def trigger(self, node: Any, where: str) -> tuple[str, bool]:
        """A relational trigger as ``(g, strict)``: the event fires when g crosses to >= 0."""
        L = self.L
        t = node.getType()
        kids = [node.getChild(i) for i in range(node.getNumChildren())]
        if t in (L.AST_RELATIONAL_GEQ, L.AST_RELATIONAL_GT) and len(kids) == 2:
            return f"({self.text(kids[0], where)} - {self.text(kids[1], where)})", t == L.AST_RELATIONAL_GT
        if t in (L.AST_RELATIONAL_LEQ, L.AST_RELATIONAL_LT) and len(kids) == 2:
            return f"({self.text(kids[1], where)} - {self.text(kids[0], where)})", t == L.AST_RELATIONAL_LT
        raise InputError(where, "a single comparison (>=, >, <=, <) as event trigger", L.formulaToL3String(node))


def _time_unit_h(libsbml: Any, sm: Any) -> float | None:
    """Hours per model time unit, or None when the file does not declare it.

    SBML Level 1 and 2 have a built-in time unit, ``second``, that a file may redefine with a
    unit definition of id ``time``; Level 3 has no default (``timeUnits`` or nothing).
    """
    tu = sm.getTimeUnits() if sm.isSetTimeUnits() else ""
    if not tu and sm.getLevel() < 3:
        tu = "time" if sm.getUnitDefinition("time") is not None else "second"
    if not tu:
        return None
    if tu == "second":
        return 1.0 / 3600.0
    ud = sm.getUnitDefinition(tu)
    if ud is None or ud.getNumUnits() != 1:
        return None
    u = ud.getUnit(0)
    if u.getKind() != libsbml.UNIT_KIND_SECOND or u.getExponent() != 1:
        return None
    return u.getMultiplier() * 10.0 ** u.getScale() / 3600.0


def _unit_label(libsbml: Any, sm: Any, sp: Any) -> str:
    ud = sp.getDerivedUnitDefinition()
    if ud is None or ud.getNumUnits() == 0:
        return "as in the SBML file (undeclared)"
    return libsbml.UnitDefinition.printUnits(ud, True)


# ------------------------------------------------------------------------------- hostile files
#: limits checked on the raw XML before libSBML parses anything (libSBML recurses natively over
#: MathML: 20,000-deep nesting and a 200,000-term sum crashed it; the largest curated models
#: in BioModels are a few MB, with kinetic laws of tens to hundreds of MathML nodes)
MAX_SBML_BYTES = 64 * 2**20
MAX_XML_DEPTH = 256
MAX_XML_ELEMENTS = 4_000_000
MAX_MATH_NODES = 20_000  # MathML elements in one <math>
MAX_MATH_DEPTH = 128  # nesting inside one <math>
#: MathML nodes of one formula after every function call in it is inlined (a chain of
#: functions that each call the previous one twice doubles per link: a "function bomb")
MAX_EXPANDED_NODES = 200_000
#: seconds libSBML may take to read a file (in a child process) before it is stopped
MAX_READ_S = 300.0

_MATHML = "http://www.w3.org/1998/Math/MathML"
_NAMED = ("id", "variable", "symbol")


class _RawScan:
    """One pass of expat over the file: depth, element counts, and each <math> block's node
    count and the names it uses (``<ci>``), keyed by the SBML element that holds it."""

    def __init__(self, path: Path):
        self.path = path
        self.depth = 0
        self.elements = 0
        self.owner: list[str] = []  # the nearest SBML element with an id, per open element
        self.math_start = -1  # depth of the open <math>, -1 outside
        self.math_nodes = 0
        self.math_names: dict[str, int] = {}
        self.ci_text: list[str] | None = None
        self.fdef: str | None = None
        self.maths: list[tuple[str, str | None, int, dict[str, int]]] = []  # (where, fdef id, nodes, names)

    def fail(self, expected: str, got: object) -> None:
        raise InputError(f"SBML file ({self.where()})", expected, got)

    def where(self) -> str:
        return self.owner[-1] if self.owner else "the file"

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        self.elements += 1
        if self.depth > MAX_XML_DEPTH:
            self.fail(f"XML nested at most {MAX_XML_DEPTH} deep", f"deeper than {MAX_XML_DEPTH}")
        if self.elements > MAX_XML_ELEMENTS:
            self.fail(f"at most {MAX_XML_ELEMENTS:,} XML elements", f"more than {MAX_XML_ELEMENTS:,}")
        ns, _, local = name.rpartition(" ")
        if ns == _MATHML:
            if local == "math" and self.math_start < 0:
                self.math_start, self.math_nodes, self.math_names = self.depth, 0, {}
            self.math_nodes += 1
            if self.math_nodes > MAX_MATH_NODES:
                self.fail(f"formulas of at most {MAX_MATH_NODES:,} MathML elements", f"more than {MAX_MATH_NODES:,}")
            if self.depth - self.math_start > MAX_MATH_DEPTH:
                self.fail(f"formulas nested at most {MAX_MATH_DEPTH} deep", f"deeper than {MAX_MATH_DEPTH}")
            if local == "ci":
                self.ci_text = []
        label = next((f"{local} {attrs[k]}" for k in _NAMED if k in attrs), None)
        self.owner.append(label or (self.owner[-1] if self.owner else local))
        if local == "functionDefinition" and ns != _MATHML:
            self.fdef = attrs.get("id", "")

    def end(self, name: str) -> None:
        ns, _, local = name.rpartition(" ")
        if ns == _MATHML and local == "ci" and self.ci_text is not None:
            ci = "".join(self.ci_text).strip()
            self.math_names[ci] = self.math_names.get(ci, 0) + 1
            self.ci_text = None
        if ns == _MATHML and local == "math" and self.depth == self.math_start:
            self.maths.append((self.where(), self.fdef, self.math_nodes, self.math_names))
            self.math_start = -1
        if local == "functionDefinition" and ns != _MATHML:
            self.fdef = None
        self.owner.pop()
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.ci_text is not None:
            self.ci_text.append(data)


def _refuse_dtd(*_: object) -> None:
    raise InputError("SBML file", "XML without a DOCTYPE or entity declarations (SBML uses none)", "a DOCTYPE")


def check_sbml_xml(path: Path) -> None:
    """Refuse a file that could crash or stall libSBML, before libSBML reads it.

    Checks the raw XML with expat (which never recurses): the file size, the nesting depth and
    element count, the size and depth of every ``<math>``, no DTD (entity-expansion bombs), and
    the function definitions: none may call itself (directly or through others) and no formula
    may grow past :data:`MAX_EXPANDED_NODES` nodes once its calls are inlined. Raises
    :class:`~nadsim.InputError` naming the limit and the element.
    """
    from xml.parsers import expat

    size = path.stat().st_size
    if size > MAX_SBML_BYTES:
        raise InputError("SBML file", f"at most {MAX_SBML_BYTES // 2**20} MiB", f"{size / 2**20:.1f} MiB")
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        raise InputError("SBML file", "uncompressed XML (unpack .gz files first)", "a gzip file")
    scan = _RawScan(path)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.text
    try:
        with open(path, "rb") as fh:
            parser.ParseFile(fh)
    except expat.ExpatError as exc:
        raise InputError("SBML file", "well-formed XML", str(exc)) from None
    _check_expansion(scan.maths)


def _check_expansion(maths: list[tuple[str, str | None, int, dict[str, int]]]) -> None:
    """Function definitions: no recursion, and bounded size once inlined."""
    fdefs = {f: (nodes, names) for _, f, nodes, names in maths if f}
    expanded: dict[str, int] = {}

    def size_of(fid: str, chain: tuple[str, ...]) -> int:
        if fid in chain:
            raise InputError(f"function definition {fid}", "not recursive (SBML functions may not call themselves)",
                             " -> ".join((*chain[chain.index(fid):], fid)))
        if fid not in expanded:
            nodes, names = fdefs[fid]
            total = nodes
            for callee, count in names.items():
                if callee in fdefs:
                    total += count * size_of(callee, (*chain, fid))
                    if total > MAX_EXPANDED_NODES:
                        break
            expanded[fid] = total
        return expanded[fid]

    for where, fdef, nodes, names in maths:
        total = nodes if fdef is None else size_of(fdef, ())
        if fdef is None:
            for callee, count in names.items():
                if callee in fdefs:
                    total += count * size_of(callee, ())
        if total > MAX_EXPANDED_NODES:
            raise InputError(where if fdef is None else f"function definition {fdef}",
                             f"at most {MAX_EXPANDED_NODES:,} MathML nodes once its function calls are inlined",
                             f"{total:,} or more")


# ------------------------------------------------------------------------------- reader
def read_sbml(path: Path | str, *, to_hours: bool = True, name: str | None = None,
              isolate: bool = True) -> ImportedModel:
    """Read an SBML file (Level 2 or 3) into a nadsim model.

    Parameters
    ----------
    path : SBML file.
    to_hours : convert the file's declared time unit to hours (rates scaled accordingly).
    name : model name (default: the SBML model id).
    isolate : let libSBML read the file in a child process (:func:`nadsim._procs.run_isolated`),
        so that a native crash or a runaway read becomes an :class:`~nadsim.InputError` here;
        costs the start of one interpreter that imports nadsim (5 s measured on the shared 2-core
        development machine, against 1 s for the read itself). The raw-XML limits of
        :func:`check_sbml_xml` apply either way.

    Raises
    ------
    InputError : the file cannot be read, has errors, breaks a limit, or uses an unsupported
        construct.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("path", "an existing SBML file", str(path))
    check_sbml_xml(path)
    if not isolate:
        return _read_checked(path, to_hours, name)
    try:
        model: ImportedModel = run_isolated(_read_checked, path, to_hours, name, timeout_s=MAX_READ_S)
    except ChildCrashed as exc:
        raise InputError("SBML file", "a file libSBML reads without crashing", exc.reason) from None
    return model


def _read_checked(path: Path, to_hours: bool, name: str | None) -> ImportedModel:
    try:
        return _read(path, to_hours, name)
    except RecursionError:
        raise InputError("SBML file", "formulas nested less deeply (once functions are inlined)",
                         "deeper than Python's recursion limit") from None


def _read(path: Path, to_hours: bool, name: str | None) -> ImportedModel:
    import libsbml

    doc = libsbml.readSBMLFromFile(str(path))
    errs = [doc.getError(i) for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errs:
        raise InputError("path", "an SBML file libSBML reads without errors", errs[0].getMessage().strip())
    sm = doc.getModel()
    if sm is None:
        raise InputError("path", "an SBML file with a model", str(path))
    if doc.getLevel() >= 3:  # packages that change the maths (comp, fbc, ...) are required="true"
        for i in range(doc.getNumPlugins()):
            pkg = doc.getPlugin(i).getPackageName()
            if doc.getPackageRequired(pkg) and doc.isPackageEnabled(pkg) and pkg not in ("layout", "render", "l3v2extendedmath"):
                raise InputError("SBML package", "no required packages", pkg)

    hours = _time_unit_h(libsbml, sm) if to_hours else None
    k_time = 1.0 / hours if hours else 1.0  # model time units per hour
    time_unit_h = hours or 1.0
    time_text = f"(t * {k_time!r})" if k_time != 1.0 else "t"

    # ---- ids and renaming
    used: set[str] = set()
    rename: dict[str, str] = {}

    def claim(sid: str) -> str:
        new = sid
        while new in _RESERVED or keyword.iskeyword(new) or new in used or not new.isidentifier():
            new = new + "_"
        used.add(new)
        rename[sid] = new
        return new

    for lst in (sm.getListOfCompartments(), sm.getListOfSpecies(), sm.getListOfParameters(), sm.getListOfReactions()):
        for el in lst:
            claim(el.getId())

    fdefs = {sm.getFunctionDefinition(i).getId(): sm.getFunctionDefinition(i) for i in range(sm.getNumFunctionDefinitions())}
    maths = _Maths(libsbml, fdefs, rename, time_text)

    rules: dict[str, Any] = {}
    for i in range(sm.getNumRules()):
        r = sm.getRule(i)
        if r.isAlgebraic():
            raise InputError("rule", "assignment or rate rules (algebraic rules are not supported)", "algebraic")
        rules[r.getVariable()] = r
    ias = {sm.getInitialAssignment(i).getSymbol(): sm.getInitialAssignment(i) for i in range(sm.getNumInitialAssignments())}
    event_targets = {sm.getEvent(i).getEventAssignment(j).getVariable()
                     for i in range(sm.getNumEvents()) for j in range(sm.getEvent(i).getNumEventAssignments())}
    for rid in (r.getId() for r in sm.getListOfReactions()):
        for where, node in [(f"rule {v}", r.getMath()) for v, r in rules.items()]:
            if rid in _names_in(node):
                raise InputError(where, "formulas without reaction ids", rid)

    prov = Provenance(kind="assumed", grade="E", source=f"SBML file {path.name}", note="imported by nadsim.io.read_sbml")
    params: dict[str, Parameter] = {}
    comp_objs: list[Compartment] = []
    species: list[Species] = []
    states: list[State] = []
    assign: list[tuple[str, str, set[str]]] = []
    ia_rewrite: dict[str, str] = {}  # compartment / species id -> parameter holding its initial value

    def add_param(pid: str, value: float | None, expr: str | None = None, unit: str = "dimensionless", note: str = "",
                  element: str = "") -> None:
        if value is None and expr is None:
            raise InputError(f"parameter {pid}", "a value or an initial assignment", "neither")
        if value is not None and not math.isfinite(value):
            if expr is None:  # NaN and INF were silently read as 0
                raise InputError(element or note or f"parameter {pid}", "a finite number", value)
            value = None  # the initial assignment decides
        v = float(value) if value is not None else 0.0
        params[pid] = Parameter(name=pid, value=v, unit=unit, bounds=(v, v), provenance=Provenance(
            kind="derived" if expr else prov.kind, grade=prov.grade, source=prov.source, note=note or prov.note), expr=expr,
            original=expr or f"{v:g}")

    def ia_text(sid: str) -> str:
        return maths.text(ias[sid].getMath(), f"initial assignment {sid}", local=ia_rewrite)

    # ---- compartments: a volume parameter each (the compartment id stands for its size)
    for c in sm.getListOfCompartments():
        cid = rename[c.getId()]
        if not c.getConstant() or c.getId() in rules or c.getId() in event_targets:
            raise InputError(f"compartment {c.getId()}", "of constant size", "variable")
        vol = claim(f"V_{cid}")
        ia_rewrite[c.getId()] = vol
        size = c.getSize() if c.isSetSize() else (1.0 if c.getSpatialDimensions() == 0 else None)
        if c.getId() in ias:
            add_param(vol, size, ia_text(c.getId()), "L", note=f"size of compartment {c.getId()}")
        else:
            add_param(vol, size if size is not None else 1.0, None, "L", note=f"size of compartment {c.getId()}")
        comp_objs.append(Compartment(cid, vol, c.getName() or c.getId()))
    amounts_comp: str | None = None

    # ---- species
    for s in sm.getListOfSpecies():
        sid = rename[s.getId()]
        if s.isSetConversionFactor() or sm.isSetConversionFactor():
            raise InputError(f"species {s.getId()}", "no conversion factor", s.getConversionFactor() or sm.getConversionFactor())
        comp = sm.getCompartment(s.getCompartment())
        size = params[ia_rewrite[s.getCompartment()]].value
        amount_only = s.getHasOnlySubstanceUnits()
        if s.isSetInitialConcentration():
            init = s.getInitialConcentration() * (size if amount_only else 1.0)
        elif s.isSetInitialAmount():
            init = s.getInitialAmount() / (1.0 if amount_only else size)
        else:
            init = None
        label = _unit_label(libsbml, sm, s)
        init_par = claim(f"init_{sid}")
        if s.getId() in ias:
            add_param(init_par, init, ia_text(s.getId()), note=f"initial value of species {s.getId()}")
        else:
            add_param(init_par, init if init is not None else 0.0, None, note=f"initial value of species {s.getId()}")
        ia_rewrite[s.getId()] = init_par
        rule = rules.get(s.getId())
        if rule is not None and rule.isAssignment():
            assign.append((sid, maths.text(rule.getMath(), f"rule {s.getId()}"), set()))
        elif rule is not None and rule.isRate():
            rhs = maths.text(rule.getMath(), f"rate rule {s.getId()}")
            states.append(State(sid, "dimensionless", f"({rhs}) * {k_time!r}" if k_time != 1.0 else rhs, init_par,
                                s.getName() or s.getId()))
        elif s.getBoundaryCondition() or s.getConstant():
            # not changed by reactions: a parameter (events may still set it)
            params[sid] = Parameter(name=sid, value=params[init_par].value, unit="dimensionless",
                                    bounds=(params[init_par].value,) * 2, provenance=prov,
                                    original=f"boundary species {s.getId()}")
            if s.getId() in ias:
                params[sid] = Parameter(name=sid, value=0.0, unit="dimensionless", bounds=(0.0, 0.0), provenance=Provenance(
                    kind="derived", grade="E", source=prov.source), expr=init_par)
        else:
            if amount_only:
                if amounts_comp is None:
                    amounts_comp = claim("amounts")
                    add_param(claim("V_amounts"), 1.0, None, "L", note="unit volume: species measured as amounts")
                    comp_objs.append(Compartment(amounts_comp, "V_amounts", "species with hasOnlySubstanceUnits"))
                cname = amounts_comp
            else:
                cname = rename[comp.getId()]
            species.append(Species(sid, cname, moiety=0, initial=init_par, description=s.getName() or s.getId(), unit=label))

    # ---- parameters
    for p in sm.getListOfParameters():
        pid = rename[p.getId()]
        rule = rules.get(p.getId())
        value = p.getValue() if p.isSetValue() else None
        if rule is not None and rule.isAssignment():
            assign.append((pid, maths.text(rule.getMath(), f"rule {p.getId()}"), set()))
        elif rule is not None and rule.isRate():
            init_par = claim(f"init_{pid}")
            if p.getId() in ias:
                add_param(init_par, value, ia_text(p.getId()), element=f"parameter {p.getId()}")
            else:
                add_param(init_par, value if value is not None else 0.0, element=f"parameter {p.getId()}")
            rhs = maths.text(rule.getMath(), f"rate rule {p.getId()}")
            states.append(State(pid, "dimensionless", f"({rhs}) * {k_time!r}" if k_time != 1.0 else rhs, init_par, p.getName()))
        elif p.getId() in ias:
            add_param(pid, value, ia_text(p.getId()), element=f"parameter {p.getId()}")
        else:
            if value is None:
                raise InputError(f"parameter {p.getId()}", "a value, an initial assignment or a rule", "none")
            add_param(pid, value, None, element=f"parameter {p.getId()}")

    # ---- reactions (local parameters become global ones)
    species_ids = {sp.name for sp in species}
    reactions: list[Reaction] = []
    for r in sm.getListOfReactions():
        rid = rename[r.getId()]
        kl = r.getKineticLaw()
        if kl is None or kl.getMath() is None:
            raise InputError(f"reaction {r.getId()}", "a kinetic law", "none")
        local: dict[str, str] = {}
        for lp in list(kl.getListOfLocalParameters()) + list(kl.getListOfParameters()):
            if lp.getId() in local:
                continue
            gid = claim(f"{rid}_{lp.getId()}")
            local[lp.getId()] = gid
            add_param(gid, lp.getValue() if lp.isSetValue() else None, None, note=f"local parameter of reaction {r.getId()}")
        rate = maths.text(kl.getMath(), f"reaction {r.getId()}", local=local)
        if k_time != 1.0:
            rate = f"({rate}) * {k_time!r}"
        stoich: dict[str, float] = {}
        for sign, refs in ((-1.0, r.getListOfReactants()), (1.0, r.getListOfProducts())):
            for ref in refs:
                if ref.isSetId() and (ref.getId() in rules or ref.getId() in ias or ref.getId() in event_targets):
                    raise InputError(f"reaction {r.getId()}", "constant stoichiometry", ref.getId())
                sid = rename[ref.getSpecies()]
                if sid not in species_ids:
                    continue  # boundary / constant species: not changed by reactions
                st = ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
                if not math.isfinite(st):
                    raise InputError(f"reaction {r.getId()}", "numeric stoichiometry", ref.getSpecies())
                stoich[sid] = stoich.get(sid, 0.0) + sign * st
        stoich = {k: v for k, v in stoich.items() if v != 0.0}
        reactions.append(Reaction(rid, tuple(stoich.items()), rate, r.getName() or r.getId(), boundary=True, grade="E"))

    # ---- assignment rules in dependency order
    rule_names = {n for n, _, _ in assign}
    deps = {n: set(parse_expr(e, f"rule {n}").symbols) & rule_names for n, e, _ in assign}
    ordered: list[AssignmentRule] = []
    done: set[str] = set()
    pending = [n for n, _, _ in assign]
    exprs = {n: e for n, e, _ in assign}
    while pending:
        ready = [n for n in pending if deps[n] <= done]
        if not ready:
            raise InputError("assignment rules", "free of circular dependencies", pending)
        for n in ready:
            ordered.append(AssignmentRule(n, exprs[n], "dimensionless"))
            done.add(n)
        pending = [n for n in pending if n not in done]

    # ---- events
    events: list[SbmlEvent] = []
    for i in range(sm.getNumEvents()):
        ev = sm.getEvent(i)
        eid = ev.getId() or f"event_{i + 1}"
        if ev.isSetDelay():
            raise InputError(f"event {eid}", "no delay", libsbml.formulaToL3String(ev.getDelay().getMath()))
        trig = ev.getTrigger()
        g, strict = maths.trigger(trig.getMath(), f"event {eid}")
        initial_value = trig.getInitialValue() if trig.isSetInitialValue() else True
        assigns = []
        for j in range(ev.getNumEventAssignments()):
            ea = ev.getEventAssignment(j)
            var = ea.getVariable()
            if var not in rename or sm.getCompartment(var) is not None:
                raise InputError(f"event {eid}", "assignments to species or parameters", var)
            assigns.append((rename[var], maths.text(ea.getMath(), f"event {eid}")))
        events.append(SbmlEvent(rename.get(eid, eid), g, tuple(assigns), bool(initial_value), strict))

    return ImportedModel(
        name=name or (sm.getId() or path.stem), compartments=tuple(comp_objs), species=tuple(species),
        reactions=tuple(reactions), parameters=params, states=tuple(states), rules=tuple(ordered),
        outputs=tuple(a.name for a in ordered), description=f"imported from {path.name}",
        events=tuple(events), time_unit_h=time_unit_h, source_file=str(path), file_species=sm.getNumSpecies(),
    )


def _names_in(node: Any) -> set[str]:
    import libsbml

    out: set[str] = set()
    if node is None:
        return out
    if node.getType() == libsbml.AST_NAME:
        out.add(node.getName())
    for i in range(node.getNumChildren()):
        out |= _names_in(node.getChild(i))
    return out


# ------------------------------------------------------------------------------- simulation
def _rates(f: Any, t: float, y: np.ndarray) -> np.ndarray:
    """``f(t, y)``, with Python's overflow and division errors read as non-finite rates."""
    try:
        with np.errstate(all="ignore"):
            return np.asarray(f(t, y), dtype=float)
    except (OverflowError, ZeroDivisionError, ValueError):
        return np.full(y.shape, np.nan)


def _relaxation_rates(f: Any, t: float, y: np.ndarray) -> np.ndarray:
    """Per state, how fast it relaxes at ``(t, y)`` (per h, the compiled time axis): ``|df_i/dy_i|``
    by a forward difference (exact for a linear decay; a secant over a nonlinear law, never
    steeper than the law itself). It sees a fast decay of a state that starts at 0, where a
    flux relative to the value would not; NaN where ``f`` is not finite."""
    f0 = _rates(f, t, y)
    rates = np.full(y.shape, np.nan)
    if not np.all(np.isfinite(f0)):
        return np.where(np.isfinite(f0), 0.0, np.nan)
    for i in range(y.size):
        dy = 1e-6 * max(abs(float(y[i])), 1.0)
        yi = y.copy()
        yi[i] += dy
        rates[i] = abs(float(_rates(f, t, yi)[i] - f0[i])) / dy
    return np.where(np.isfinite(rates), rates, np.nan)


def _failed(t0: float, status: Status) -> SolverError:
    return SolverError("solver", f"a successful integration from t = {t0:g} h", status.message)


def _check_initial_rates(cm: Any, p: np.ndarray, y: np.ndarray, t0: float) -> None:
    """A quick one-line refusal of a file whose rates overflow or are absurdly fast at the start."""
    rates = _relaxation_rates(cm.rhs_scalar(p), t0, y)
    bad = np.flatnonzero(~(rates <= MAX_INITIAL_RATE_PER_H))  # NaN counts as bad
    if bad.size:
        i = int(bad[0])
        got = "not finite" if not np.isfinite(rates[i]) else f"{rates[i]:.3g} per h"
        name = cm.state_names[i]
        raise InputError(f"state {name}", f"changing at a finite rate, |d(d{name}/dt)/d{name}| at most "
                         f"{MAX_INITIAL_RATE_PER_H:g} per h at t = {t0:g} h", got,
                         hint="Check the file's parameter values and units")


@dataclass
class _Evaluator:
    """Evaluates event expressions over (t, y, p) with every symbol of the model in scope."""

    model: ImportedModel
    cm: Any
    code: dict[str, Any] = field(default_factory=dict)

    def env(self, t: float, y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
        e: dict[str, Any] = dict(zip(self.cm.parameter_names, p, strict=True))
        e.update(zip(self.cm.state_names, y, strict=True))
        if self.cm.rule_names:
            e.update(zip(self.cm.rule_names, np.atleast_1d(self.cm.rules(t, y, p)), strict=False))
        for c in self.model.compartments:
            e[c.name] = e[c.volume]
        e["t"] = t
        e["pi"] = math.pi
        return e

    def __call__(self, text: str, env: dict[str, Any]) -> float:
        if text not in self.code:
            src = parse_expr(text, "event").to_python({})
            self.code[text] = compile(src, "<nadsim event>", "eval")
        return float(eval(self.code[text], {"xp": np}, env))


def simulate_sbml(model: ImportedModel, times: Sequence[float] | np.ndarray, *,
                  parameters: Mapping[str, float] | None = None, rtol: float = 1e-8, atol: float = 1e-10,
                  solver: str | AbstractSolver | None = "scipy"):
    """Integrate an imported model from the file's initial values, executing its events.

    ``times`` are hours (nadsim's time axis); ``t_model = t_h / model.time_unit_h`` in the
    file's own time unit. Returns an :class:`xarray.Dataset` like :func:`nadsim.simulate`.

    The engine integrates every event-free piece (``nadsim.simulate.solve`` from the state the
    events left); this function only locates and executes the events. A trigger is watched on
    the outputs and a grid of :data:`EVENT_SCAN` points over what remains, and its crossing is
    bisected to :data:`EVENT_TIME_TOL` (relative); triggers over time and parameters alone are
    bisected without integrating. Two crossings of one trigger closer together than the scan
    spacing can be missed: give a finer ``times`` grid for such models. The default solver is
    the SciPy reference: an imported model is usually run a few times, and compiling it for the
    native solver costs tens of seconds; pass ``solver="native"`` to run one often.
    """
    import xarray as xr

    if parameters:
        model = model.with_parameters(parameters)  # type: ignore[assignment]
    t_out = np.asarray(times, dtype=float)
    if t_out.ndim != 1 or t_out.size < 1 or np.any(np.diff(t_out) <= 0) or not np.all(np.isfinite(t_out)) \
            or t_out[0] < 0:
        raise InputError("times", "a strictly increasing 1-D grid of finite times >= 0 h", f"shape {t_out.shape}")
    cm = compile_model(model)
    p = np.array(cm.base_parameters(), dtype=float)
    y = np.array(cm.initial_guess(p), dtype=float).reshape(-1)
    ev = _Evaluator(model, cm)
    sidx = {n: i for i, n in enumerate(cm.state_names)}
    pidx = {n: i for i, n in enumerate(cm.parameter_names)}
    _check_initial_rates(cm, p, y, float(t_out[0]))
    tol = Tolerances(rtol=rtol, atol=atol)
    # one wall-clock budget for the whole run, not one for each piece between events and each
    # bisection step (which let a file with events run for many budgets)
    deadline = time.monotonic() + tol.max_wall_s
    slv = get_solver(solver)
    stats = {"nfev": 0, "events": 0}
    timed = {e.name: parse_expr(e.trigger, "event").symbols <= (set(cm.parameter_names) | {"t"})
             for e in model.events}

    def active(e: SbmlEvent, tt: float, yy: np.ndarray, pp: np.ndarray) -> bool:
        g = ev(e.trigger, ev.env(tt, yy, pp))
        return g > 0 if e.strict else g >= 0

    def fire(fired: list[SbmlEvent], tt: float, yy: np.ndarray, pp: np.ndarray) -> None:
        env = ev.env(tt, yy, pp)
        values = [(var, ev(expr, env)) for e in fired for var, expr in e.assignments]
        for var, val in values:  # all values first, then assign (trigger-time semantics)
            if var in sidx:
                yy[sidx[var]] = val
            elif var in pidx:
                pp[pidx[var]] = val
            else:
                raise SolverError(f"event assignment {var}", "a species, state or parameter", var)

    def cascade(tt: float, yy: np.ndarray, pp: np.ndarray, was: dict[str, bool], candidates: list[SbmlEvent]) -> dict[str, bool]:
        """Fire ``candidates``, then any event whose trigger turned true as a result."""
        for _ in range(100):
            if not candidates:
                break
            fire(candidates, tt, yy, pp)
            for e in candidates:
                was[e.name] = True
            now = {e.name: active(e, tt, yy, pp) for e in model.events}
            candidates = [e for e in model.events if now[e.name] and not was[e.name]]
            was = now
        return was

    def integrate(t0: float, y0: np.ndarray, q: np.ndarray, grid: np.ndarray) -> np.ndarray:
        """States at ``grid`` (starting at ``t0``) through the engine; raises on failure."""
        if grid.size == 1:
            return y0[None, :].copy()
        left = deadline - time.monotonic()
        if left <= 0:
            raise _failed(t0, Status.TIME_LIMIT)
        piece = replace(tol, max_wall_s=max(left, 1e-3))
        res = solve(model, Regimen.none(), grid, q[None, :], solver=slv, tolerances=piece, Y0=y0[None, :])
        stats["nfev"] += int(np.sum(res.stats.get("nfev", 0)))
        if res.status[0] != Status.OK:
            raise _failed(t0, Status(int(res.status[0])))
        return res.states[0]

    def watched(tt: float, yy: np.ndarray, q: np.ndarray, state: dict[str, bool]) -> np.ndarray:
        """Per event, a value whose rise through zero matters: the trigger while it is false, its
        negative (re-arming) while it is true."""
        env = ev.env(tt, yy, q)
        return np.array([(-1.0 if state[e.name] else 1.0) * ev(e.trigger, env) for e in model.events])

    t = float(t_out[0])
    now = {e.name: active(e, t, y, p) for e in model.events}
    first = [e for e in model.events if now[e.name] and not e.initial_value]
    state = cascade(t, y, p, {**now, **{e.name: False for e in first}}, first) if first else now

    out = np.empty((t_out.size, cm.n_states))
    out_p = np.empty((t_out.size, p.size))  # parameters in force at each output (events may set them)
    out[0], out_p[0] = y, p
    filled = 1
    t_end = float(t_out[-1])
    while filled < t_out.size:
        q = p.copy()
        rest = t_out[filled:]
        scan = np.linspace(t, t_end, EVENT_SCAN + 1) if model.events else np.array([t, t_end])
        grid = np.union1d(scan, rest)
        Y = integrate(t, y, q, grid)
        hit = None
        if model.events:
            g_prev = watched(t, y, q, state)
            for k in range(1, grid.size):
                g_k = watched(float(grid[k]), Y[k], q, state)
                rose = (g_prev < 0) & (g_k >= 0)
                if rose.any():
                    hit = (k, rose)
                    break
                g_prev = g_k
        if hit is None:
            idx = np.searchsorted(grid, rest)
            out[filled:], out_p[filled:] = Y[idx], q
            break
        k, rose = hit
        lo, hi, y_lo = float(grid[k - 1]), float(grid[k]), Y[k - 1]
        state_dependent = not all(timed[e.name] for e, r in zip(model.events, rose, strict=True) if r)
        width = EVENT_TIME_TOL * max(1.0, abs(hi))
        while hi - lo > width:  # bisect the first crossing
            mid = 0.5 * (lo + hi)
            y_mid = integrate(lo, y_lo, q, np.array([lo, mid]))[-1] if state_dependent else y_lo
            g_mid = watched(mid, y_mid, q, state)
            if np.any(rose & (g_mid >= 0)):
                hi = mid
            else:
                lo, y_lo = mid, (y_mid if state_dependent else y_lo)
        te = hi
        before = rest[rest < te]
        path = integrate(t, y, q, np.concatenate([[t], before[before > t], [te]]))
        n_before = int(np.count_nonzero(before > t))
        out[filled:filled + n_before], out_p[filled:filled + n_before] = path[1:1 + n_before], q
        filled += n_before
        y = path[-1].copy()
        t = te
        g_e = watched(t, y, q, state)
        crossed = [e for e, r, g in zip(model.events, rose, g_e, strict=True) if r and g >= 0]
        fired = [e for e in crossed if not state[e.name]]
        for e in crossed:
            if state[e.name]:
                state[e.name] = False  # trigger went false: the event can fire again
        if fired:
            stats["events"] += len(fired)
            state = cascade(t, y, p, {**state, **{e.name: False for e in fired}}, fired)
        if filled < t_out.size and t_out[filled] == te:  # an output at the event time: pre-event value
            out[filled], out_p[filled] = path[-1], q
            filled += 1
        if t >= t_end:
            out[filled:], out_p[filled:] = y, p
            break
    R = cm.rules(t_out, out, out_p) if cm.rule_names else np.empty((t_out.size, 0))
    data: dict[str, Any] = {}
    for i, n in enumerate(cm.rule_names):
        data[n] = xr.DataArray(np.asarray(R)[:, i], dims="time", attrs={"units": model.unit_of(n), "kind": "output"})
    for i, n in enumerate(cm.state_names):
        data[n] = xr.DataArray(out[:, i], dims="time", attrs={"units": model.unit_of(n), "kind": "state"})
    ds = xr.Dataset(data, coords={"time": xr.DataArray(t_out, dims="time", attrs={"units": "h"})})
    ds.attrs.update({"model": model.name, "source_file": model.source_file, "time_unit_h": model.time_unit_h,
                     "solver": slv.describe(), "rtol": rtol, "atol": atol,
                     "nfev": stats["nfev"], "events_fired": stats["events"]})
    return ds
