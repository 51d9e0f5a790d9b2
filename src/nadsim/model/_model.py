"""The model definition layer: pure data, no solver.

A :class:`Model` is a frozen value built from compartments, species, reactions, extra ODE
states, assignment rules (outputs) and a parameter table. It checks itself when built:

* every identifier is a valid, unique SBML id;
* every symbol an expression uses is defined;
* units are consistent (pint): reaction rates are amount/time, state derivatives are
  unit/time, rules have their declared unit, derived parameters their table unit;
* stoichiometry conserves the tracked moiety (nicotinamide ring) except in reactions
  marked as boundary fluxes (diet, dosing), which are the model's only sources.

Changing a model returns a new one (:meth:`Model.with_parameters`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from nadsim._errors import ModelDefinitionError
from nadsim._units import ureg
from nadsim.model._expr import Expr, parse_expr, same_dimension
from nadsim.model._parameter import GRADES, Parameter

__all__ = [
    "AssignmentRule",
    "Compartment",
    "Link",
    "Model",
    "Reaction",
    "Species",
    "State",
]

_SID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"t", "time", "pi", "xp", "y", "p"}


def _check_id(name: str, what: str) -> None:
    if not _SID.match(name) or name in _RESERVED:
        raise ModelDefinitionError(f"{what} id", "an SBML id (letter or _, then letters, digits, _), not reserved", name)


@dataclass(frozen=True)
class Compartment:
    """A well-mixed volume; ``volume`` names a parameter in litres."""

    name: str
    volume: str
    description: str = ""


@dataclass(frozen=True)
class Species:
    """A chemical species in a compartment, tracked as concentration (uM).

    ``moiety`` counts nicotinamide/nicotinate rings per molecule (mass balance).
    ``initial`` names a parameter or is None (then set by the baseline steady state).
    ``accumulates`` marks excreta (urine, faeces): amounts that only grow.
    """

    name: str
    compartment: str
    moiety: int = 1
    initial: str | None = None
    description: str = ""
    accumulates: bool = False
    unit: str = "uM"


@dataclass(frozen=True)
class State:
    """A non-chemical ODE state (cytokine, hormone, score): ``d name/dt = rhs``."""

    name: str
    unit: str
    rhs: str
    initial: str
    description: str = ""


@dataclass(frozen=True)
class Reaction:
    """A flux in umol/h. ``stoichiometry`` maps species to coefficients (negative: consumed)."""

    name: str
    stoichiometry: tuple[tuple[str, float], ...]
    rate: str
    description: str = ""
    boundary: bool = False  # a source or sink across the model boundary (diet, dose)
    grade: str = "D"

    @property
    def reactants(self) -> tuple[tuple[str, float], ...]:
        return tuple((s, -c) for s, c in self.stoichiometry if c < 0)

    @property
    def products(self) -> tuple[tuple[str, float], ...]:
        return tuple((s, c) for s, c in self.stoichiometry if c > 0)


@dataclass(frozen=True)
class AssignmentRule:
    """An output computed from states and parameters: ``name = expr`` in ``unit``."""

    name: str
    expr: str
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Link:
    """An evidence-graded causal link of the mechanism chain.

    ``gate`` names a dimensionless parameter (1 = active) that multiplies the link's effect;
    the evidence filter sets it to 0 when the link's grade is weaker than asked for.
    """

    name: str
    source: str
    target: str
    grade: str
    gate: str
    citations: tuple[str, ...] = ()
    description: str = ""
    description_ja: str = ""

    def __post_init__(self) -> None:
        if self.grade not in GRADES:
            raise ModelDefinitionError(f"link {self.name}.grade", f"one of {tuple(GRADES)}", self.grade)


def rxn(name: str, stoich: Mapping[str, float], rate: str, description: str = "", *,
        boundary: bool = False, grade: str = "D") -> Reaction:
    """Shorthand constructor used by model files."""
    return Reaction(name, tuple(stoich.items()), rate, description, boundary, grade)


@dataclass(frozen=True, eq=False)
class Model:
    """A complete, self-checked model. Build it once; derive variants with ``with_*``."""

    name: str
    compartments: tuple[Compartment, ...]
    species: tuple[Species, ...]
    reactions: tuple[Reaction, ...]
    parameters: Mapping[str, Parameter]
    states: tuple[State, ...] = ()
    rules: tuple[AssignmentRule, ...] = ()
    links: tuple[Link, ...] = ()
    #: (compound, route) -> species that receives a bolus, for dosing
    dose_targets: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: (compound, route) -> input parameter (umol/h) that an infusion sets
    infusion_inputs: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: variables of the stable CSV contract, in order
    outputs: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "dose_targets", MappingProxyType(dict(self.dose_targets)))
        object.__setattr__(self, "infusion_inputs", MappingProxyType(dict(self.infusion_inputs)))
        self._validate()
        object.__setattr__(self, "_digest", self._compute_hash())

    def __hash__(self) -> int:
        return hash(self._digest)  # type: ignore[attr-defined]

    def __reduce__(self):  # mappingproxy fields do not pickle; rebuild (and re-check) from dicts
        kw = {f: getattr(self, f) for f in self.__dataclass_fields__}
        for f in ("parameters", "dose_targets", "infusion_inputs"):
            kw[f] = dict(kw[f])
        return (_rebuild_model, (kw,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and self._digest == other._digest  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ views
    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.species) + tuple(s.name for s in self.states)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.parameters)

    @property
    def compartment_of(self) -> dict[str, Compartment]:
        cmap = {c.name: c for c in self.compartments}
        return {s.name: cmap[s.compartment] for s in self.species}

    def unit_of(self, name: str) -> str:
        """Canonical unit of any state, rule or parameter, as text."""
        for s in self.species:
            if s.name == name:
                return s.unit
        for st in self.states:
            if st.name == name:
                return st.unit
        for r in self.rules:
            if r.name == name:
                return r.unit
        if name in self.parameters:
            return self.parameters[name].unit
        raise KeyError(name)

    def derived_order(self) -> tuple[str, ...]:
        """Derived parameters in an order where each depends only on earlier ones."""
        derived = {n: p for n, p in self.parameters.items() if p.expr is not None}
        order: list[str] = []
        seen: set[str] = set()

        def visit(n: str, stack: tuple[str, ...]) -> None:
            if n in seen:
                return
            if n in stack:
                raise ModelDefinitionError(f"parameter {n}", "free of circular definitions", " -> ".join((*stack, n)))
            for dep in parse_expr(derived[n].expr or "", f"parameter {n}").symbols:
                if dep in derived:
                    visit(dep, (*stack, n))
            seen.add(n)
            order.append(n)

        for n in derived:
            visit(n, ())
        return tuple(order)

    # ------------------------------------------------------------------ variants
    def with_parameters(self, values: Mapping[str, float] | None = None, **kw: float) -> Model:
        """A new model with some parameter values replaced (canonical units)."""
        updates = {**(values or {}), **kw}
        params = dict(self.parameters)
        for k, v in updates.items():
            if k not in params:
                raise ModelDefinitionError("parameter", f"one of the model's {len(params)} parameters", k)
            if params[k].expr is not None:
                raise ModelDefinitionError(k, "a free parameter (it is derived from others)", v)
            params[k] = params[k].with_value(float(v))
        return self._with_values(params)

    def _with_values(self, params: dict[str, Parameter]) -> Model:
        """A copy with new parameter *values* only: the structure (ids, expressions, units, moiety
        balance) was checked when this model was built and cannot change, so it is not re-checked;
        each new value was range-checked by :class:`Parameter`."""
        new = object.__new__(type(self))
        for f in self.__dataclass_fields__:
            object.__setattr__(new, f, getattr(self, f))
        object.__setattr__(new, "parameters", MappingProxyType(params))
        object.__setattr__(new, "_digest", new._compute_hash())
        return new

    def with_parameter_objects(self, updates: Iterable[Parameter]) -> Model:
        params = dict(self.parameters)
        for p in updates:
            params[p.name] = p
        return replace(self, parameters=params)

    def hash(self) -> str:
        """A short content hash of structure and parameter values."""
        return self._digest  # type: ignore[attr-defined]

    def structure_hash(self) -> str:
        """A short content hash of the structure alone: :meth:`hash` without the parameter
        values, which the generated code takes as arguments. Models that differ only in values
        (a patient profile, a trial arm, a calibrated table) share their generated code."""
        return self._compute_hash(values=False)

    def _compute_hash(self, values: bool = True) -> str:
        blob = json.dumps(
            {
                "c": [c.__dict__ for c in self.compartments],
                "s": [s.__dict__ for s in self.species],
                "x": [st.__dict__ for st in self.states],
                "r": [r.__dict__ for r in self.reactions],
                "a": [a.__dict__ for a in self.rules],
                "p": {n: [p.value, p.unit, p.expr] if values else [p.unit, p.expr] for n, p in self.parameters.items()},
            },
            sort_keys=True, default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ checks
    def _validate(self) -> None:
        names: dict[str, str] = {}

        def claim(n: str, what: str) -> None:
            _check_id(n, what)
            if n in names:
                raise ModelDefinitionError(f"{what} {n}", "a unique id", f"already used by a {names[n]}")
            names[n] = what

        for n in self.parameters:
            claim(n, "parameter")
        for c in self.compartments:
            claim(c.name, "compartment")
            if c.volume not in self.parameters:
                raise ModelDefinitionError(f"compartment {c.name}.volume", "a parameter name", c.volume)
            if not same_dimension(ureg.Unit(self.parameters[c.volume].unit), ureg.Unit("L")):
                raise ModelDefinitionError(f"compartment {c.name}.volume", "a parameter in L", self.parameters[c.volume].unit)
        cnames = {c.name for c in self.compartments}
        for s in self.species:
            claim(s.name, "species")
            if s.compartment not in cnames:
                raise ModelDefinitionError(f"species {s.name}.compartment", f"one of {sorted(cnames)}", s.compartment)
            if s.initial is not None and s.initial not in self.parameters:
                raise ModelDefinitionError(f"species {s.name}.initial", "a parameter name", s.initial)
        for st in self.states:
            claim(st.name, "state")
        for r in self.reactions:
            claim(r.name, "reaction")
        for a in self.rules:
            claim(a.name, "rule")

        units: dict[str, object] = {n: ureg.Unit(p.unit) if p.unit != "dimensionless" else ureg.dimensionless
                                    for n, p in self.parameters.items()}
        units.update({c.name: ureg.Unit("L") for c in self.compartments})
        units.update({s.name: ureg.Unit(s.unit) for s in self.species})
        units.update({st.name: _u(st.unit) for st in self.states})
        units["t"] = ureg.Unit("h")

        for n in self.derived_order():
            p = self.parameters[n]
            e = parse_expr(p.expr or "", f"parameter {n}")
            for sym in e.symbols:
                if sym not in self.parameters:
                    raise ModelDefinitionError(f"parameter {n}", "an expression over parameters only", sym)
            self._expect_unit(e, units, _u(p.unit), f"parameter {n}")

        for a in self.rules:  # rules may use earlier rules
            e = parse_expr(a.expr, f"rule {a.name}")
            self._expect_unit(e, units, _u(a.unit), f"rule {a.name}")
            units[a.name] = _u(a.unit)

        species = {s.name: s for s in self.species}
        flux = ureg.Unit("umol/h")
        for r in self.reactions:
            e = parse_expr(r.rate, f"reaction {r.name}")
            self._expect_unit(e, units, flux, f"reaction {r.name}")
            if r.grade not in GRADES:
                raise ModelDefinitionError(f"reaction {r.name}.grade", f"one of {tuple(GRADES)}", r.grade)
            balance = 0.0
            for sp, coef in r.stoichiometry:
                if sp not in species:
                    raise ModelDefinitionError(f"reaction {r.name}", "stoichiometry over declared species", sp)
                balance += coef * species[sp].moiety
            if not r.boundary and abs(balance) > 1e-12:
                raise ModelDefinitionError(
                    f"reaction {r.name}", "balanced in nicotinamide moiety (or marked boundary)",
                    f"net {balance:+g}",
                )
        for st in self.states:
            e = parse_expr(st.rhs, f"state {st.name}")
            self._expect_unit(e, units, _u(st.unit) / ureg.Unit("h"), f"state {st.name}")
            ie = parse_expr(st.initial, f"state {st.name}.initial")
            for sym in ie.symbols:
                if sym not in self.parameters:
                    raise ModelDefinitionError(f"state {st.name}.initial", "an expression over parameters", sym)
            self._expect_unit(ie, units, _u(st.unit), f"state {st.name}.initial")
        for key, sp in self.dose_targets.items():
            if sp not in species:
                raise ModelDefinitionError(f"dose target {key}", "a species", sp)
        for key, par in self.infusion_inputs.items():
            if par not in self.parameters or not same_dimension(_u(self.parameters[par].unit), flux):
                raise ModelDefinitionError(f"infusion input {key}", "a parameter in umol/h", par)
        for ln in self.links:
            if ln.gate not in self.parameters:
                raise ModelDefinitionError(f"link {ln.name}.gate", "a parameter name", ln.gate)
        known = set(names)
        for o in self.outputs:
            if o not in known:
                raise ModelDefinitionError("outputs", "names of states, rules or parameters", o)

    @staticmethod
    def _expect_unit(e: Expr, units: dict, expected, where: str) -> None:
        got = e.unit(units, where)
        if not same_dimension(got, expected):
            raise ModelDefinitionError(where, f"in {expected:~}", f"{got:~} from {e.text!r}")


def _rebuild_model(kw: dict) -> Model:
    return Model(**kw)


def _u(text: str):
    return ureg.dimensionless if text in ("", "1", "dimensionless") else ureg.Unit(text)
