"""Doses, schedules and regimens, with units at the edge and exact event times inside."""

from nadsim.dosing._compounds import COMPOUNDS as COMPOUNDS
from nadsim.dosing._compounds import ROUTES as ROUTES
from nadsim.dosing._compounds import Compound as Compound
from nadsim.dosing._regimen import Dose as Dose
from nadsim.dosing._regimen import Regimen as Regimen
from nadsim.dosing._regimen import parse_regimen as parse_regimen

__all__ = ["COMPOUNDS", "ROUTES", "Compound", "Dose", "Regimen", "parse_regimen"]
