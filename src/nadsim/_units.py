"""The one unit registry of nadsim, and helpers that convert at the boundary.

Kernels see plain floats in canonical units (the pint ``wraps`` idea):

=============  =========
quantity       canonical
=============  =========
time           h
volume         L
amount         umol
concentration  uM (umol/L)
mass           kg (body weight); doses are parsed to mg
=============  =========
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import pint

from nadsim._errors import InputError, UnitError

__all__ = ["CANONICAL", "Q_", "parse_quantity", "to_canonical", "unit_of", "ureg"]



def _registry() -> pint.UnitRegistry:
    # pint parses its definitions file at every start (measured: 2.5 s on a loaded 2-core box,
    # 0.85 s from its on-disk cache); where no cache can be written, parse it
    try:
        return pint.UnitRegistry(autoconvert_offset_to_baseunit=True, cache_folder=":auto:")
    except OSError:
        return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


ureg: pint.UnitRegistry = _registry()
ureg.define("micromolar = micromole / liter = uM")
ureg.define("nanomolar = nanomole / liter = nM")
ureg.define("millimolar = millimole / liter = mM")
# Rating-scale points, relative activities and similar are dimensionless counts.
ureg.define("point = [] = pt")
Q_ = ureg.Quantity

#: canonical unit per dimensionality
CANONICAL: dict[str, str] = {
    "[time]": "h",
    "[length] ** 3": "L",
    "[substance]": "umol",
    "[substance] / [length] ** 3": "uM",
    "[mass]": "kg",
    "[length] ** 3 / [mass]": "L/kg",
    "[mass] / [length] ** 3": "mg/L",
    "[substance] / [time]": "umol/h",
    "[length] ** 3 / [time]": "L/h",
    "1 / [time]": "1/h",
    "[substance] / [length] ** 3 / [time]": "uM/h",
    "[mass] / [substance]": "g/mol",
}

#: units kept as written instead of converted to the canonical unit of their dimension:
#: cytokines are reported in pg/mL everywhere, and mg/L would make them 1e-6-sized numbers
PRESERVED: frozenset[str] = frozenset({"pg/mL"})

_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*")


@lru_cache(maxsize=512)
def unit_of(text: str) -> pint.Unit:
    """Parse a unit string ("uM", "1/h", "L/h", "dimensionless")."""
    if text.strip() in ("", "1", "dimensionless"):
        return ureg.dimensionless
    try:
        return ureg.Unit(text)
    except Exception as exc:  # pint raises several unrelated types here
        raise UnitError("unit", "a unit pint understands", text) from exc


def to_canonical(value: float, unit: str) -> tuple[float, str]:
    """Convert ``value`` in ``unit`` to nadsim's canonical unit of that dimension."""
    if unit.strip() in PRESERVED:
        return float(value), unit.strip()
    u = unit_of(unit)
    dim = str(u.dimensionality)
    if u == ureg.dimensionless or dim == "dimensionless":
        return float(value), "dimensionless"
    target = CANONICAL.get(dim)
    if target is None:
        return float(value), unit
    return float(Q_(value, u).to(target).magnitude), target


def parse_quantity(
    text: object, field: str, dimension: str, *, unit_hint: str, to: str | None = None
) -> float:
    """Parse user text such as ``"300 mg"`` into a float in the canonical unit of ``dimension``.

    ``dimension`` is a pint dimensionality string such as ``"[mass]"`` or ``"[time]"``;
    ``to`` overrides the canonical target unit (doses are wanted in mg).
    Raises :class:`InputError` naming ``field`` when the text is not a number with a
    unit of that dimension.
    """
    if isinstance(text, int | float) and not isinstance(text, bool):
        raise InputError(field, f"a quantity with a unit, e.g. '{unit_hint}'", text)
    if not isinstance(text, str) or not text.strip():
        raise InputError(field, f"a quantity with a unit, e.g. '{unit_hint}'", text)
    if not _NUMBER.match(text):
        raise InputError(field, f"a number followed by a unit, e.g. '{unit_hint}'", text)
    try:
        q: Any = Q_(text.strip())
    except Exception:
        raise InputError(field, f"a number followed by a unit, e.g. '{unit_hint}'", text) from None
    if not isinstance(q, pint.Quantity) or q.unitless:
        raise InputError(field, f"a quantity with a unit, e.g. '{unit_hint}'", text)
    if q.dimensionality != ureg.parse_expression(CANONICAL[dimension]).dimensionality:
        raise InputError(
            field, f"a quantity of dimension {dimension} (e.g. '{unit_hint}')", text
        )
    value = float(q.to(to or CANONICAL[dimension]).magnitude)
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(field, "a finite number", text)
    return value
