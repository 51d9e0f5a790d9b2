"""Library of ready-built models; each folder holds ``model.py`` and ``parameters.toml``."""

from nadsim.model.library.full import apply_profile as apply_profile
from nadsim.model.library.full import build_full as build_full
from nadsim.model.library.nad_core.model import build as build_nad_core

__all__ = ["apply_profile", "build_full", "build_nad_core"]
