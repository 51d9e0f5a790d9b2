"""Dosable compounds and their molar masses."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["COMPOUNDS", "ROUTES", "Compound"]


@dataclass(frozen=True)
class Compound:
    name: str
    molar_mass: float  #: g/mol of the form that is weighed out
    form: str
    formula: str


#: Molar masses from the molecular formulas (IUPAC 2021 standard atomic weights).
COMPOUNDS: dict[str, Compound] = {
    "NMN": Compound("NMN", 334.22, "beta-nicotinamide mononucleotide", "C11H15N2O8P"),
    # Trials dose the chloride salt (Trammell 2016, Airhart 2017); 1 g NR-Cl = 3.44 mmol.
    "NR": Compound("NR", 290.70, "nicotinamide riboside chloride", "C11H15N2O5+ Cl-"),
    "NAD": Compound("NAD", 663.43, "NAD+ (free acid)", "C21H27N7O14P2"),
    "NAM": Compound("NAM", 122.12, "nicotinamide", "C6H6N2O"),
}

#: route -> what it means
ROUTES: dict[str, str] = {
    "iv": "intravenous infusion over a duration (zero-order input to plasma)",
    "iv_bolus": "intravenous bolus (instant input to plasma)",
    "oral": "oral dose into the gut lumen (absorption, first pass, microbial deamidation)",
}
