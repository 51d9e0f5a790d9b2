"""Optional heavy dependencies: the one place that knows what each extra installs and how.

nadsim's core (the engine, trials, calibration, the CLI and the web page) imports its
dependencies at module level. Only what an *extra* brings (``nadsim[jax]``, ``nadsim[interop]``)
may be missing; code that needs one calls :func:`require` (a one-line :class:`InputError` with
the install command when it is absent) or :func:`missing` (the reason, for a capability check).
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from nadsim._errors import InputError

__all__ = ["EXTRAS", "missing", "require"]

#: importable module -> the extra that installs it
EXTRAS: dict[str, str] = {
    "jax": "jax",
    "roadrunner": "interop",
    "basico": "interop",
    "petab": "interop",
}


def missing(module: str) -> str | None:
    """Why ``module`` (or a submodule, ``"petab.v1"``) cannot be imported here, with the
    install command; ``None`` when it can."""
    top = module.split(".")[0]
    if top not in EXTRAS:
        raise KeyError(f"{top!r} is not an optional dependency of nadsim")
    if importlib.util.find_spec(top) is None:
        return f"{top} is not installed (pip install 'nadsim[{EXTRAS[top]}]')"
    return None


def require(module: str, *, field: str) -> ModuleType:
    """``module`` imported, or an :class:`InputError` naming ``field`` and the install command."""
    reason = missing(module)
    if reason is not None:
        raise InputError(field, f"an installed {module}", "missing", hint=reason)
    return importlib.import_module(module)
