"""Package faces that import a public name's module when the name is first used (PEP 562).

A package ``__init__`` that re-exports every verb imports every verb's dependencies: measured on
``nadsim simulate`` in a fresh process, ``from nadsim.app import simulate_patient`` imported the
claims audit, the trial package and the calibration report (matplotlib, SciPy's optimisers),
~3 s of a 5.5 s start on this box, none of it used. A face built here imports only the module
that defines the name asked for. The package still lists its re-exports as ordinary imports
under ``typing.TYPE_CHECKING``, so that type checkers and the import-linter contract see the
same graph as before; a test checks that the two lists agree.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_face"]


def lazy_face(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``, whose public ``names`` live in the modules
    ``names[name]``; a name is imported on first use and then bound in the package."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *names})

    return __getattr__, __dir__
