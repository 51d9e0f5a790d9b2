"""Parameters with units and provenance, loaded from a model's ``parameters.toml``.

``parameters.toml`` is the only place numbers live. Each entry::

    [Km_CD73_NMN]
    value = 880.0
    unit = "uM"
    bounds = [300.0, 3000.0]
    kind = "measured"            # measured | derived | fitted | assumed
    grade = "D"                  # A human RCT, B human observational, C animal, D in vitro, E hypothesis
    source = "PMID:22997138"     # DOI / PMID / PMCID, or shared data row
    locator = "UniProt P21589, biophysicochemical properties"
    note = "human ecto-5'-nucleotidase"
    # derived entries carry `expr`, evaluated from other parameters at build time
    # fitted entries carry `fitted_to`, the calibration rows that set them
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from nadsim._errors import ModelDefinitionError, UnitError
from nadsim._units import to_canonical, unit_of

__all__ = ["GRADES", "KINDS", "Parameter", "Provenance", "load_parameters"]

Kind = Literal["measured", "derived", "fitted", "assumed"]
KINDS: tuple[str, ...] = ("measured", "derived", "fitted", "assumed")
#: evidence grades, strongest first
GRADES: dict[str, str] = {
    "A": "human randomised trial",
    "B": "human observational or genetic",
    "C": "animal",
    "D": "in vitro or biochemical",
    "E": "hypothesis only",
}


@dataclass(frozen=True)
class Provenance:
    """Where a number comes from and how much to trust it."""

    kind: str
    grade: str
    source: str = ""
    locator: str = ""
    note: str = ""
    fitted_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelDefinitionError("kind", f"one of {KINDS}", self.kind)
        if self.grade not in GRADES:
            raise ModelDefinitionError("grade", f"one of {tuple(GRADES)}", self.grade)
        if self.kind in ("measured", "fitted") and not self.source:
            raise ModelDefinitionError("source", f"a citation for a {self.kind} value", "")


@dataclass(frozen=True)
class Parameter:
    """One model parameter; ``value`` and ``bounds`` are in the canonical ``unit``."""

    name: str
    value: float
    unit: str
    bounds: tuple[float, float]
    provenance: Provenance
    expr: str | None = None  # derived parameters: formula over other parameters
    original: str = ""  # value and unit as written in the table, for documentation
    tags: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ModelDefinitionError("parameter name", "a valid identifier", self.name)
        if not math.isfinite(self.value):
            raise ModelDefinitionError(self.name, "a finite value", self.value)
        lo, hi = self.bounds
        if not (lo <= self.value <= hi) and self.expr is None:
            raise ModelDefinitionError(
                self.name, f"inside its bounds [{lo:g}, {hi:g}] {self.unit}", self.value
            )

    def with_value(self, value: float) -> Parameter:
        return replace(self, value=float(value))


def _number(x: object, field: str) -> float:
    """A table number: an int or float (TOML has no other), or an error naming the entry."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise ModelDefinitionError(field, "a number", x)
    return float(x)


def _entry(name: str, raw: dict, where: str) -> Parameter:
    if not isinstance(raw, dict):
        raise ModelDefinitionError(f"{where}:{name}", "a table of value, unit, bounds, source, ...", raw)
    unit = str(raw.get("unit", "dimensionless"))
    try:
        unit_of(unit)
    except UnitError as exc:
        raise ModelDefinitionError(f"{where}:{name}.unit", "a unit pint understands", unit) from exc
    expr = raw.get("expr")
    if "value" not in raw and expr is None:
        raise ModelDefinitionError(f"{where}:{name}", "a `value` or an `expr`", raw)
    value_raw = _number(raw.get("value", float("nan") if expr is None else 0.0), f"{where}:{name}.value")
    value, canon = to_canonical(value_raw, unit)
    bounds_raw = raw.get("bounds", [value_raw, value_raw])
    if not isinstance(bounds_raw, list | tuple) or len(bounds_raw) != 2:
        raise ModelDefinitionError(f"{where}:{name}.bounds", "[low, high] with low <= high", bounds_raw)
    low, high = (_number(b, f"{where}:{name}.bounds") for b in bounds_raw)
    if low > high:
        raise ModelDefinitionError(f"{where}:{name}.bounds", "[low, high] with low <= high", bounds_raw)
    lo = to_canonical(low, unit)[0]
    hi = to_canonical(high, unit)[0]
    for key in ("fitted_to", "tags"):
        if not isinstance(raw.get(key, ()), list | tuple) or not all(isinstance(x, str) for x in raw.get(key, ())):
            raise ModelDefinitionError(f"{where}:{name}.{key}", "a list of strings", raw.get(key))
    prov = Provenance(
        kind=str(raw.get("kind", "assumed")),
        grade=str(raw.get("grade", "E")),
        source=str(raw.get("source", "")),
        locator=str(raw.get("locator", "")),
        note=str(raw.get("note", "")),
        fitted_to=tuple(raw.get("fitted_to", ())),
    )
    try:
        return Parameter(
            name=name, value=value, unit=canon, bounds=(lo, hi), provenance=prov,
            expr=expr, original=f"{value_raw:g} {unit}" if expr is None else str(expr),
            tags=tuple(raw.get("tags", ())),
        )
    except ModelDefinitionError as exc:
        raise ModelDefinitionError(f"{where}:{name}", exc.expected, exc.got) from None


def load_parameters(path: Path | str) -> dict[str, Parameter]:
    """Read a ``parameters.toml`` into canonical-unit :class:`Parameter` objects."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelDefinitionError(str(path), "a readable TOML parameter table", str(exc)) from None
    return {name: _entry(name, raw, path.name) for name, raw in data.items()}
