"""Built models kept on disk, so that a fresh process does not rebuild and re-check them.

Building ``full`` parses ~350 parameter units with pint, checks every rate's units and the
moieties, and solves nad_core's undosed steady state: 0.5-0.6 s of every fresh ``nadsim``
command (cProfile, 2026-12-04), against ~35 ms to unpickle the same model. A model is a pure
function of nadsim's own files and of the numerical libraries, so the store is keyed by a digest
of every ``.py``/``.toml``/``.json`` file of the installed package together with the versions of
Python, NumPy, SciPy and pint: any edit, upgrade or write-back of calibrated values gives a new
key, and the model is built (and checked) again. Entries of other keys are removed when a new
one is written.

The store sits beside Numba's machine code in :func:`nadsim._files.cache_dir` and is trusted
like it: it is the user's own cache, written only by nadsim. A file that does not unpickle to a
:class:`~nadsim.model.Model` (truncated, stale, foreign) is ignored and rebuilt; a store that
cannot be written (read-only home) is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import sys
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from nadsim._files import atomic_write_bytes, cache_dir
from nadsim.model import Model

__all__ = ["source_digest", "stored"]

_SUFFIXES = (".py", ".toml", ".json")
_LIBRARIES = ("numpy", "scipy", "pint")


@lru_cache(maxsize=1)
def source_digest() -> str:
    """A digest of nadsim's files and the library versions a built model depends on (~10 ms)."""
    root = Path(__file__).resolve().parent.parent  # the nadsim package
    h = hashlib.sha256(sys.version.encode())
    for lib in _LIBRARIES:
        try:
            h.update(f"{lib}={version(lib)}".encode())
        except PackageNotFoundError:  # pragma: no cover - a broken environment
            h.update(f"{lib}=?".encode())
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if d != "__pycache__"]
        files += [Path(folder, n) for n in names if n.endswith(_SUFFIXES)]
    for path in sorted(files):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def _entry(key: str) -> Path:
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "models" / source_digest() / f"{name}.pickle"


def _load(path: Path) -> Model | None:
    try:
        model = pickle.loads(path.read_bytes())
    except Exception:  # any unreadable entry is rebuilt, whatever broke it
        return None
    return model if isinstance(model, Model) else None


def _save(path: Path, model: Model) -> None:
    try:
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data, field="model cache")
    except Exception:  # a cache that cannot be written is only slower
        return
    with contextlib.suppress(OSError):  # another process may be pruning too
        for other in path.parent.parent.iterdir():  # entries of older sources
            if other.is_dir() and other.name != path.parent.name:
                shutil.rmtree(other, ignore_errors=True)


def stored(key: str, build: Callable[[], Model]) -> Model:
    """The model ``build()`` returns, from the store when this key was built before by the same
    nadsim files and libraries; built, checked and stored otherwise."""
    path = _entry(key)
    model = _load(path)
    if model is None:
        model = build()
        _save(path, model)
    return model
