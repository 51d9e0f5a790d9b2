"""One process works on a run at a time: an advisory lock on ``OUT/.lock``.

``flock`` locks belong to the open file description, so the kernel drops the lock the moment
the holder dies (``kill -9`` included) and no stale lock survives a crash; nadsim's worker
processes are started with ``spawn`` (exec), which does not inherit the descriptor. The file
says who holds the lock (pid, host, command, since), which is what a second ``resume`` prints.
A run whose registry row says ``running`` but whose lock nobody holds is ``interrupted``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from nadsim._errors import InputError

__all__ = ["RunLock", "lock_holder"]

LOCK_NAME = ".lock"


def _describe(info: dict[str, Any]) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info.get("since", 0))))
    return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}, since {since})"


def lock_holder(out: Path) -> str | None:
    """Who holds the run's lock (a sentence), or ``None`` when no live process does."""
    path = Path(out) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.read(fd, 4096).decode() or "{}")
            except ValueError:
                info = {}
            return _describe(info)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class RunLock:
    """``with RunLock(out, "resume"):`` holds the run's lock or raises an :class:`InputError`
    naming the process that holds it."""

    def __init__(self, out: Path, command: str):
        self.path = Path(out) / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            except ValueError:
                info = {}
            os.close(fd)
            raise InputError("run", "a run no other process is working on", f"held by {_describe(info)}",
                             hint="wait for it to finish, or stop that process") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the lock
            self._fd = None
