"""The model library: each folder holds a model's structure (``model.py``) and numbers
(``parameters.toml``); :func:`get_model` is the one way the rest of nadsim gets a model."""

from nadsim.library._factory import MODELS as MODELS
from nadsim.library._factory import get_model as get_model
from nadsim.library.full import PROFILE_RANGES as PROFILE_RANGES
from nadsim.library.full import apply_profile as apply_profile
from nadsim.library.full import build_full as build_full
from nadsim.library.full import with_trial_arm as with_trial_arm
from nadsim.library.nad_core.model import build as build_nad_core

__all__ = ["MODELS", "PROFILE_RANGES", "apply_profile", "build_full", "build_nad_core", "get_model", "with_trial_arm"]
