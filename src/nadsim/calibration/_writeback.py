"""Write fitted values back into a ``parameters.toml`` (the single source of truth)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from nadsim._errors import CalibrationError
from nadsim._units import Q_, to_canonical

__all__ = ["update_parameter_table"]


def update_parameter_table(path: Path | str, values: dict[str, float], fitted_to: dict[str, list[str]],
                           *, note: str) -> str:
    """Return the table text with ``value``, ``kind = "fitted"`` and ``fitted_to`` updated.

    Values are written in the unit the table already uses for that entry.
    """

    text = Path(path).read_text(encoding="utf-8")
    table = tomllib.loads(text)
    for name, canon_value in values.items():
        if name not in table:
            raise CalibrationError("parameter", "an entry of the parameter table", name)
        unit = table[name].get("unit", "dimensionless")
        _, canon_unit = to_canonical(1.0, unit)
        value = canon_value if canon_unit == "dimensionless" else float(Q_(canon_value, canon_unit).to(unit).magnitude)
        m = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, flags=re.S | re.M)
        if not m:
            raise CalibrationError("parameter", "a [section] in the table", name)
        body = m.group(1)
        body = re.sub(r"^value = .*$", f"value = {value:.6g}", body, flags=re.M)
        body = re.sub(r'^kind = ".*"$', 'kind = "fitted"', body, flags=re.M)
        if not re.search(r"^source = ", body, flags=re.M):  # a fitted value's source is the data it was fitted to
            body = body.rstrip("\n") + '\nsource = "calibration targets from shared/data/human_pk.csv (rows in fitted_to)"\n'
        if not re.search(r"^kind = ", body, flags=re.M):
            body = body.rstrip("\n") + '\nkind = "fitted"\n'

        body = re.sub(r"^fitted_to = .*\n", "", body, flags=re.M)
        body = re.sub(r"^calibration = .*\n", "", body, flags=re.M)
        rows = ", ".join(f'"{r}"' for r in fitted_to.get(name, []))
        body = body.rstrip("\n") + f"\nfitted_to = [{rows}]\ncalibration = \"{note}\"\n\n"
        text = text[: m.start(1)] + body + text[m.end(1):]
    tomllib.loads(text)  # still valid TOML
    return text
