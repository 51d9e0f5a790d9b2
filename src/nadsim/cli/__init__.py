"""Command-line interface: thin wrappers from argv to the public API to a formatter.

Each command group lives in its own module with a ``register(app)`` function; the list
below is the only place that wires them together.
"""

from __future__ import annotations

import importlib

from nadsim.cli._app import app, main

_COMMAND_MODULES = (
    "nadsim.cli._simulate",
    "nadsim.cli._claims",
    "nadsim.cli._calibrate",
    "nadsim.cli._export",
    "nadsim.cli._trial",
    "nadsim.cli._serve",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(app)

__all__ = ["app", "main"]
