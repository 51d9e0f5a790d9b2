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

#: the longest unit or quantity text read (pint's parser is fed nothing longer)
MAX_UNIT_TEXT = 64
#: deepest parenthesis nesting in a unit ("1/(uM*h)" is depth 1)
MAX_UNIT_DEPTH = 3
_UNIT_TOKEN = re.compile(
    r"\s*(?:(?P<name>[A-Za-z_\u00b5\u03bc\u00b0\u03a9][A-Za-z0-9_\u00b5\u03bc\u00b0\u03a9]*)"
    r"|(?P<pow>\*\*|\^)\s*(?P<exp>-?\d{1,2})(?![\d.])"
    r"|(?P<op>[*/])|(?P<open>\()|(?P<close>\))|(?P<one>1)(?=\s*/))"
)


def unit_tokens(text: str) -> tuple[str, ...] | None:
    """The unit names of ``text`` if it is a plain unit expression, else ``None``.

    A plain unit is names joined by ``*``, ``/`` or a space, with small integer powers
    (``**2``, ``^-1``), parentheses at most :data:`MAX_UNIT_DEPTH` deep and ``1`` only as a
    numerator (``1/h``). Everything else (``+``, ``-``, ``%``, numbers, chained powers such as
    ``9**9**9``, which pint would evaluate) is refused here, before pint sees the text.
    """
    if len(text) > MAX_UNIT_TEXT:
        return None
    names: list[str] = []
    depth, pos, last = 0, 0, ""
    while pos < len(text.rstrip()):
        m = _UNIT_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return None
        kind = m.lastgroup or ""
        if kind == "exp":
            if last not in ("name", "close"):  # no power of a power: pint would evaluate 9**9**9
                return None
        elif kind == "name":
            names.append(m["name"])
        elif kind == "open":
            depth += 1
            if depth > MAX_UNIT_DEPTH:
                return None
        elif kind == "close":
            depth -= 1
            if depth < 0 or last in ("op", "open", ""):
                return None
        elif kind == "op" and last in ("op", "open", ""):
            return None
        last = {"one": "name"}.get(kind, kind)
        pos = m.end()
    if depth != 0 or last in ("op", "open") or not names:
        return None
    return tuple(names)


@lru_cache(maxsize=512)
def unit_of(text: str) -> pint.Unit:
    """Parse a unit string ("uM", "1/h", "L/h", "dimensionless")."""
    if text.strip() in ("", "1", "dimensionless"):
        return ureg.dimensionless
    if unit_tokens(text) is None:
        raise UnitError("unit", f"a unit of names, '*', '/' and small integer powers (at most {MAX_UNIT_TEXT} characters)",
                        text)
    try:
        return ureg.Unit(text)
    except Exception as exc:  # pint raises several unrelated types here
        raise UnitError("unit", "a unit pint understands", text) from exc


@lru_cache(maxsize=512)
def _dimensionless_factor(name: str) -> bool:
    """Whether unit ``name`` is a bare number in disguise (percent, ppm, dozen): "300 percent mg"
    would silently be 3 mg."""
    try:
        u = ureg.Unit(name)
    except Exception:  # an unknown name: pint's own error follows
        return False
    return bool(u.dimensionless)


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
    number = _NUMBER.match(text)
    if not number or len(text) > MAX_UNIT_TEXT:
        raise InputError(field, f"a number followed by a unit, e.g. '{unit_hint}'", text)
    names = unit_tokens(text[number.end():])
    if not names:
        raise InputError(field, f"one number followed by one unit, e.g. '{unit_hint}' (no sums, '%', numbers in the unit "
                         f"or powers of powers; at most {MAX_UNIT_TEXT} characters)", text)
    if any(_dimensionless_factor(n) for n in names):
        raise InputError(field, f"one number followed by one unit, e.g. '{unit_hint}' (no '%' or other scale words)", text)
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
