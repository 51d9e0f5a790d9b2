"""Simulation: compile a model once, integrate it on a backend, return labelled results."""

from nadsim.simulate._api import DISCLAIMER as DISCLAIMER
from nadsim.simulate._api import simulate as simulate
from nadsim.simulate._api import time_grid as time_grid
from nadsim.simulate._compile import CompiledModel as CompiledModel
from nadsim.simulate._compile import compile_model as compile_model
from nadsim.simulate._solve import integrate as integrate
from nadsim.simulate._solve import steady_state as steady_state

__all__ = ["DISCLAIMER", "CompiledModel", "compile_model", "integrate", "simulate", "steady_state", "time_grid"]
