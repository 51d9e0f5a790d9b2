"""Crash-safe file output: one way to write a file in nadsim.

Every file nadsim writes appears whole or not at all: the bytes go to a temporary file beside
the target (same directory, so the final :func:`os.replace` is atomic on POSIX), are flushed
and fsync-ed, and the temporary file is renamed into place; on any failure it is removed, so
no ``.tmp`` litter survives. ``mkstemp`` creates files with mode 0600 whatever the umask, so
the final mode is set from the process umask (0644 under the usual 022), as ``open()`` would.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import operator
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nadsim._errors import InputError

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "cache_dir", "fsync_dir", "json_safe", "umask_mode"]


def cache_dir() -> Path:
    """Where nadsim keeps what it can rebuild: generated solver modules, Numba's machine code and
    built models (``$NADSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/nadsim``, else ``~/.cache/nadsim``)."""
    env = os.environ.get("NADSIM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nadsim"


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, +-inf) replaced by ``None`` and NumPy scalars and
    tuples made plain, so that ``json.dumps(..., allow_nan=False)`` writes strict JSON: Python's
    default ``NaN``/``Infinity`` tokens are not JSON, and other readers (JavaScript's JSON.parse,
    jq) refuse the whole file."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, str | bool | int):
        return obj
    if hasattr(obj, "tolist"):  # NumPy arrays and scalars (without importing NumPy here)
        return json_safe(obj.tolist())
    try:
        return int(operator.index(obj))
    except TypeError:
        pass
    try:
        v = float(obj)
    except (TypeError, ValueError):
        return str(obj)
    return v if math.isfinite(v) else None


def umask_mode(base: int = 0o666) -> int:
    """The mode a new file gets from ``open()`` under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _parent(target: Path, field: str) -> Path:
    if target.exists() and target.is_dir():
        raise InputError(field, "a file path, not a directory", str(target))
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(field, "a path in an existing directory", str(target))
    return parent


@contextlib.contextmanager
def atomic_path(path: Path | str, *, field: str = "out") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it is moved into place only if the block succeeds.

    For writers that want a file name (matplotlib, pyarrow, libSBML). The temporary file is
    created empty; the writer may replace it. On an exception it is removed and the target is
    left as it was.
    """
    target = Path(path)
    parent = _parent(target, field)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + (target.suffix or ""), dir=parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, target)
        fsync_dir(parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: Path | str, data: bytes, *, field: str = "out") -> str:
    """Write ``data`` to ``path`` atomically; returns its SHA-256 (hex)."""
    with atomic_path(path, field=field) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
    return hashlib.sha256(data).hexdigest()


def atomic_write_text(path: Path | str, text: str, *, field: str = "out") -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    atomic_write_bytes(path, text.encode("utf-8"), field=field)
    return Path(path)
