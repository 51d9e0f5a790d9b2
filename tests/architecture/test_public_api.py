"""Every package's public namespace is exactly its ``__all__`` (as httpx tests its own), sorted
as ruff sorts it; the entry points users need are exported."""

from __future__ import annotations
import __future__

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import pytest

import nadsim

PACKAGES = sorted(
    ["nadsim"] + [m.name for m in pkgutil.walk_packages(nadsim.__path__, "nadsim.") if m.ispkg]
)


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def _public_names(mod: types.ModuleType) -> set[str]:
    """Public names bound in the package itself: not submodules, not ``from __future__``."""
    lazy = set(getattr(mod, "_LAZY", ()))  # names a PEP 562 __getattr__ provides
    bound = {n for n, v in vars(mod).items() if not n.startswith("_")
             and not isinstance(v, types.ModuleType | __future__._Feature)}
    return bound | lazy


@pytest.mark.parametrize("name", PACKAGES)
def test_all_equals_the_namespace(name):
    mod = importlib.import_module(name)
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    assert list(mod.__all__) == sorted(mod.__all__, key=_isort_key)
    assert set(mod.__all__) == _public_names(mod)


def test_entry_points_are_exported():
    import nadsim.library
    import nadsim.population
    import nadsim.simulate
    import nadsim.trial

    assert {"get_model", "simulate", "parse_regimen", "Regimen", "Model"} <= set(nadsim.__all__)
    assert {"get_model", "MODELS"} <= set(nadsim.library.__all__)
    assert {"simulate", "simulate_batch", "solve"} <= set(nadsim.simulate.__all__)
    assert {"VirtualPopulation", "sample_population", "simulate_population"} <= set(nadsim.population.__all__)
    assert {"run_trial", "resume_trial"} <= set(nadsim.trial.__all__)


def _type_checking_imports(path: str) -> dict[str, str]:
    """name -> module of the ``from M import name as name`` lines under ``if TYPE_CHECKING:``."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom):
                    out.update({a.asname or a.name: imp.module for a in imp.names})
    return out


@pytest.mark.parametrize("name", PACKAGES)
def test_lazy_faces_declare_their_imports(name):
    """A package whose public names are imported on first use (``nadsim._exports.lazy_face``)
    lists the same names and modules as ``TYPE_CHECKING`` imports, so that the import-linter
    contract and the type checkers see the real graph; and every lazy name resolves."""
    mod = importlib.import_module(name)
    lazy = getattr(mod, "_LAZY", None)
    if lazy is None or getattr(getattr(mod, "__getattr__", None), "__module__", None) != "nadsim._exports":
        return  # eager, or a face of its own (the solver registry resolves classes by name)
    assert _type_checking_imports(mod.__file__) == dict(lazy)
    for public in lazy:
        assert getattr(mod, public) is not None
