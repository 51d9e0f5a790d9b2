"""Mechanism modules downstream of tissue NAD+ (SIRT1/inflammation, energy, stress, clock, HAM-D)."""

from nadsim.library.mechanisms.model import LINKS as LINKS
from nadsim.library.mechanisms.model import OUTPUTS as OUTPUTS
from nadsim.library.mechanisms.model import PROFILE_PARAMETERS as PROFILE_PARAMETERS
from nadsim.library.mechanisms.model import parts as parts

__all__ = ["LINKS", "OUTPUTS", "PROFILE_PARAMETERS", "parts"]
