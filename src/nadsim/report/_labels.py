"""What users read for a model's names and units: display labels, kept out of the model.

The model's unit strings feed its hash, so they stay as they are ("dimensionless" for rating
scales, "" for relative activities); these functions turn them into the words a table, a CSV or
a figure shows, the same way everywhere. The regimen text of :meth:`nadsim.dosing.Regimen.describe`
is translated here too, so a Japanese report says its regimen in Japanese.
"""

from __future__ import annotations

import re

__all__ = ["RATING_UNITS", "arm_regimen", "auc_unit", "context_note", "display_unit", "placebo_label", "regimen_label"]

#: rating scales are dimensionless in the model; a user reads them in points of their scale
RATING_UNITS = {"HAMD": "HAM-D-17 points", "PHQ9": "PHQ-9 points"}
#: unitless model outputs whose description says what the number is (library: "fraction of Vmax")
_FRACTIONS = {"SIRT1_activity": "fraction of Vmax"}
_NO_UNIT = ("", "1", "dimensionless")


def display_unit(variable: str, unit: str) -> str:
    """The unit a user reads: a rating scale's points, else the model's unit ("" when it has none)."""
    if unit in _NO_UNIT:
        name = variable.split("@")[0]
        return RATING_UNITS.get(name, _FRACTIONS.get(name, ""))
    return unit


def auc_unit(variable: str, unit: str) -> str:
    """The unit of an area under ``variable`` over time: its display unit times hours
    (``uM*h``, ``(HAM-D-17 points)*h``); plain ``h`` only for a quantity without any unit."""
    u = display_unit(variable, unit)
    if not u:
        return "h"
    return f"({u})*h" if " " in u else f"{u}*h"


def placebo_label(drip: bool, lang: str = "en") -> str:
    """A placebo arm's regimen: a saline drip where the active arms are drips."""
    if lang == "ja":
        return "プラセボ(生理食塩水の点滴)" if drip else "プラセボ(有効成分なし)"
    return "placebo (saline drip)" if drip else "placebo (no active compound)"


def context_note(route: str) -> str:
    """The footnote on what comes with dosing itself, worded for the route (oral has no drip)."""
    if route == "iv":
        return ("the placebo response and the natural course come with any drip, saline included, "
                "and are not evidence that the compound works")
    return ("the placebo response and the natural course come with any dosing, a placebo "
            f"({'tablet' if route == 'oral' else route}) included, and are not evidence that the compound works")


_DESCRIBE = re.compile(r"^(?P<mg>\S+) mg (?P<compound>\S+) (?P<route>\S+)(?: over (?P<min>\S+) min)?"
                       r"(?:, (?P<n>\d+) doses(?: every (?P<every>\S+) h)?)?(?P<mixed> \(mixed\))?$")
_ROUTE_JA = {"iv": "点滴静注", "iv_bolus": "静注(ボーラス)", "oral": "経口"}


def regimen_label(text: str, lang: str = "en") -> str:
    """``Regimen.describe()`` in ``lang``: "300 mg NMN iv over 20 min, 4 doses every 168 h" ->
    "NMN 300 mg 点滴静注(20 分かけて)、168 時間ごとに 4 回". Text of another shape is returned as it is."""
    if lang != "ja":
        return text
    if text == "no dosing":
        return "投与なし"
    m = _DESCRIBE.match(text)
    if not m:
        return text
    out = f"{m['compound']} {m['mg']} mg {_ROUTE_JA.get(m['route'], m['route'])}"
    if m["min"]:
        out += f"({m['min']} 分かけて)"
    if m["n"]:
        out += f"、{m['every']} 時間ごとに {m['n']} 回" if m["every"] else f"、{m['n']} 回"
    return out + ("(混合)" if m["mixed"] else "")


def arm_regimen(regimen: str, all_regimens: list[str], lang: str = "en") -> str:
    """An arm's regimen as a report shows it: an undosed arm is the placebo, a saline drip when
    any other arm is a drip (``Regimen.describe()`` would say "no dosing")."""
    if regimen == "no dosing":
        return placebo_label(any(_is_drip(r) for r in all_regimens), lang)
    return regimen_label(regimen, lang)


def _is_drip(regimen: str) -> bool:
    m = _DESCRIBE.match(regimen)
    return bool(m and m["route"] == "iv")
