"""Worker processes that die with their parent.

A ``kill -9`` of a nadsim command cannot run any clean-up code in that process, so its workers
must notice on their own. :func:`die_with_parent` (a pool ``initializer``, or the first call in
a ``Process`` target) starts a daemon watchdog thread that polls :func:`os.getppid` and ends the
worker (``os._exit``) when the parent it was started by is gone (reparented to init or a
subreaper); it reacts within ``poll_s``. Linux's ``prctl(PR_SET_PDEATHSIG)`` would react at
once, but it fires when the *thread* that forked the worker ends, and pools start workers from
whichever thread submits first, so a short-lived submitting thread would kill healthy workers;
``pdeathsig=True`` turns it on for callers that fork from a thread that lives as long as the
process (a command's main thread).

:func:`process_pool` is the one way nadsim makes a process pool: ``spawn`` start method (no
inherited locks or threads from a multi-threaded parent), the initializer above.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["ChildCrashed", "die_with_parent", "process_pool", "run_isolated"]

_PR_SET_PDEATHSIG = 1


def _set_pdeathsig() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, poll_s: float) -> None:
    while True:
        time.sleep(poll_s)
        if os.getppid() != parent:
            os._exit(70)  # EX_SOFTWARE: the parent died; nothing of ours may outlive it


def die_with_parent(parent_pid: int | None = None, poll_s: float = 0.5, *, pdeathsig: bool = False) -> None:
    """Make this (worker) process end when its parent ends (see the module docstring).

    ``parent_pid`` is the pid of the process that started this one; if it is already gone,
    exit at once.
    """
    parent = os.getppid() if parent_pid is None else parent_pid
    if pdeathsig:
        _set_pdeathsig()
    if os.getppid() != parent:  # the parent died before we got here
        os._exit(70)
    threading.Thread(target=_watch, args=(parent, poll_s), name="nadsim-parent-watch", daemon=True).start()


def _init(parent: int, user_init: Callable[..., Any] | None, args: tuple) -> None:
    die_with_parent(parent)
    if user_init is not None:
        user_init(*args)


def process_pool(max_workers: int, *, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = ()) -> ProcessPoolExecutor:
    """A :class:`ProcessPoolExecutor` whose workers die with this process."""
    return ProcessPoolExecutor(max_workers=max_workers, mp_context=mp.get_context("spawn"),
                               initializer=_init, initargs=(os.getpid(), initializer, initargs))


def _isolated_target(conn: Any, parent: int, fn: Callable[..., Any], args: tuple) -> None:
    die_with_parent(parent)
    try:
        result: tuple[str, Any] = ("ok", fn(*args))
    except BaseException as exc:  # sent to the parent, which re-raises it
        result = ("error", exc)
    try:
        conn.send(result)
    except Exception as exc:  # an unpicklable result or error: say so in one line
        conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    conn.close()


class ChildCrashed(RuntimeError):
    """:func:`run_isolated`'s child died (a native crash, a kill) or ran past its time."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def run_isolated(fn: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
    """Run ``fn(*args)`` in a fresh (spawned) child process that dies with this one.

    For code that can crash natively (a segfault in a C library) or run away: the crash or the
    overrun ends only the child, and becomes a :class:`ChildCrashed` here ("killed by SIGSEGV",
    "ran past 120 s"); an exception raised by ``fn`` is re-raised as it was. ``fn``, its arguments
    and its result must pickle.
    """
    ctx = mp.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_isolated_target, args=(child_conn, os.getpid(), fn, args), daemon=True)
    proc.start()
    child_conn.close()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildCrashed(f"ran past {timeout_s:g} s")
            if parent_conn.poll(min(left, 0.2)):
                try:
                    kind, value = parent_conn.recv()
                except EOFError:  # the child died while (or before) sending
                    proc.join(5)
                    raise ChildCrashed(_death(proc.exitcode)) from None
                if kind == "error":
                    raise value
                return value
            if not proc.is_alive():
                if parent_conn.poll(0):
                    continue
                raise ChildCrashed(_death(proc.exitcode))
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent_conn.close()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"ended with exit status {code}"
