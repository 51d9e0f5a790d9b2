"""The NAD+ metabolome: dosing, blood pools, liver, muscle, brain and urine."""

from nadsim.library.nad_core.model import build as build
from nadsim.library.nad_core.model import parts as parts

__all__ = ["build", "parts"]
