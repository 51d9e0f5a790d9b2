"""Library of ready-built models; each folder holds ``model.py`` and ``parameters.toml``."""

from nadsim.model.library.nad_core.model import build as build_nad_core

__all__ = ["build_nad_core"]
