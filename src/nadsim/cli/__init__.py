"""Command-line interface: thin wrappers from argv to the public API to a formatter.

The commands are listed in :data:`nadsim.cli._lazy.COMMANDS`; each lives in its own module
with a module-level Typer app, imported only when that command runs (so ``nadsim --help``
does not import the science stack).
"""

from __future__ import annotations

from nadsim.cli._app import app, main

__all__ = ["app", "main"]
