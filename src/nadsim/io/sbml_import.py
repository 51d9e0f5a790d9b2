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
events with SciPy's root finding.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nadsim._errors import InputError, ModelDefinitionError, SolverError
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

__all__ = ["ImportedModel", "SbmlEvent", "read_sbml", "simulate_sbml"]

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

    def _compute_hash(self) -> str:
        import hashlib

        base = super()._compute_hash()
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


# ------------------------------------------------------------------------------- reader
def read_sbml(path: Path | str, *, to_hours: bool = True, name: str | None = None) -> ImportedModel:
    """Read an SBML file (Level 2 or 3) into a nadsim model.

    Parameters
    ----------
    path : SBML file.
    to_hours : convert the file's declared time unit to hours (rates scaled accordingly).
    name : model name (default: the SBML model id).

    Raises
    ------
    InputError : the file cannot be read, has errors, or uses an unsupported construct.
    """
    import libsbml

    path = Path(path)
    if not path.is_file():
        raise InputError("path", "an existing SBML file", str(path))
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

    def add_param(pid: str, value: float | None, expr: str | None = None, unit: str = "dimensionless", note: str = "") -> None:
        if value is None and expr is None:
            raise InputError(f"parameter {pid}", "a value or an initial assignment", "neither")
        v = float(value) if value is not None and math.isfinite(value) else 0.0
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
                add_param(init_par, value, ia_text(p.getId()))
            else:
                add_param(init_par, value if value is not None else 0.0)
            rhs = maths.text(rule.getMath(), f"rate rule {p.getId()}")
            states.append(State(pid, "dimensionless", f"({rhs}) * {k_time!r}" if k_time != 1.0 else rhs, init_par, p.getName()))
        elif p.getId() in ias:
            add_param(pid, value, ia_text(p.getId()))
        else:
            if value is None:
                raise InputError(f"parameter {p.getId()}", "a value, an initial assignment or a rule", "none")
            add_param(pid, value, None)

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
        events=tuple(events), time_unit_h=time_unit_h, source_file=str(path),
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
                  method: str = "BDF"):
    """Integrate an imported model from the file's initial values, executing its events.

    ``times`` are hours (nadsim's time axis); ``t_model = t_h / model.time_unit_h`` in the
    file's own time unit. Returns an :class:`xarray.Dataset` like :func:`nadsim.simulate`.
    """
    import xarray as xr
    from scipy.integrate import solve_ivp

    from nadsim.simulate import compile_model

    if parameters:
        model = model.with_parameters(parameters)  # type: ignore[assignment]
    t_out = np.asarray(times, dtype=float)
    if t_out.ndim != 1 or t_out.size < 1 or np.any(np.diff(t_out) <= 0):
        raise InputError("times", "a strictly increasing 1-D grid", f"shape {t_out.shape}")
    cm = compile_model(model)
    p = np.array(cm.base_parameters(), dtype=float)
    y = np.array(cm.initial_guess(p), dtype=float).reshape(-1)
    ev = _Evaluator(model, cm)
    sidx = {n: i for i, n in enumerate(cm.state_names)}
    pidx = {n: i for i, n in enumerate(cm.parameter_names)}
    t = float(t_out[0])

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

    now = {e.name: active(e, t, y, p) for e in model.events}
    first = [e for e in model.events if now[e.name] and not e.initial_value]
    state = cascade(t, y, p, {**now, **{e.name: False for e in first}}, first) if first else now

    out = np.empty((t_out.size, cm.n_states))
    out_p = np.empty((t_out.size, p.size))  # parameters in force at each output (events may set them)
    filled = 0
    t_end = float(t_out[-1])
    stats = {"nfev": 0, "events": 0}
    if t_out.size == 1:
        out[0] = y
        out_p[0] = p
        filled = 1
    while filled < t_out.size:
        q = p.copy()
        # per event, a function whose upward zero crossing matters: the trigger itself while
        # the trigger is false, or its negative (re-arming) while the trigger is true
        funcs = []
        for e in model.events:
            sign = -1.0 if state[e.name] else 1.0

            def g(tt, yy, e=e, q=q, sign=sign):
                return sign * ev(e.trigger, ev.env(tt, yy, q))

            g.terminal, g.direction = True, 1  # type: ignore[attr-defined]
            funcs.append((e, not state[e.name], g))
        f = cm.rhs_scalar(q) if hasattr(cm, "rhs_scalar") else (lambda tt, yy, q=q: cm.rhs(tt, yy, q))
        if t >= t_end:  # only the last point is left, at the current time
            out[filled:] = y
            out_p[filled:] = p
            filled = t_out.size
            break
        sol = solve_ivp(f, (t, t_end), y, method=method, t_eval=t_out[filled:], rtol=rtol, atol=atol,
                        events=[fn for _, _, fn in funcs] or None)
        stats["nfev"] += sol.nfev
        if sol.status == -1:
            raise SolverError("solver", "a successful integration", sol.message, hint=f"from t = {t:g} h")
        n = sol.t.size
        out[filled:filled + n] = sol.y.T  # points at an event time carry the pre-event value
        out_p[filled:filled + n] = q
        filled += n
        if sol.status != 1:
            break
        te = min(float(x[0]) for x in sol.t_events if x.size)
        k_hit = [k for k, x in enumerate(sol.t_events) if x.size and float(x[0]) == te]
        t, y = te, np.array(sol.y_events[k_hit[0]][0], dtype=float)
        fired = []
        for k in k_hit:
            e, is_trigger, _ = funcs[k]
            if is_trigger:
                fired.append(e)
            else:
                state[e.name] = False  # trigger went false: the event can fire again
        if fired:
            stats["events"] += len(fired)
            state = cascade(t, y, p, {**state, **{e.name: False for e in fired}}, fired)
    if filled != t_out.size:
        raise SolverError("solver", "output at every requested time", f"{filled} of {t_out.size}")
    R = cm.rules(t_out, out, out_p) if cm.rule_names else np.empty((t_out.size, 0))
    data: dict[str, Any] = {}
    for i, n in enumerate(cm.rule_names):
        data[n] = xr.DataArray(np.asarray(R)[:, i], dims="time", attrs={"units": model.unit_of(n), "kind": "output"})
    for i, n in enumerate(cm.state_names):
        data[n] = xr.DataArray(out[:, i], dims="time", attrs={"units": model.unit_of(n), "kind": "state"})
    ds = xr.Dataset(data, coords={"time": xr.DataArray(t_out, dims="time", attrs={"units": "h"})})
    ds.attrs.update({"model": model.name, "source_file": model.source_file, "time_unit_h": model.time_unit_h,
                     "solver": f"scipy.integrate.solve_ivp[{method}]", "rtol": rtol, "atol": atol,
                     "nfev": stats["nfev"], "events_fired": stats["events"]})
    return ds
