"""Simulations of the web API in worker processes that can really be stopped.

A thread cannot be stopped: before this module, a request that timed out (504) left its thread
integrating, holding a simulation slot and growing the server's memory (issue #15: 0.29 to
4.6 GB after a few runaway requests, and four of them blocked every slot until a restart). Here
each simulation runs in a long-lived worker *process*; a request that runs past its time has its
worker killed (SIGKILL), which frees the slot and the memory at once, and a fresh worker is
started in the background.

Workers are started from the ``forkserver`` that :mod:`nadsim.web.jobs` also uses (so the web
server's threads are never forked), call :func:`nadsim._procs.die_with` on the server's pid
first (so a worker ends within 0.5 s of the server; watching its parent, the forkserver, would
never end it: the forkserver lives as long as any of its children), and keep their
temporary files in a directory of their own, which the server removes when the worker ends for
any reason. Only registered functions (``"module:function"`` in :data:`TARGETS`) are called;
nothing a client sends is imported or evaluated.

The first simulation in a new worker costs seconds (the model is built and the solver's machine
code loaded: 8 s measured on the shared 2-core machine); later ones cost what the solver costs.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import multiprocessing as mp
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nadsim._procs import die_with

__all__ = ["TARGETS", "Busy", "SimulationWorkers", "WorkerDied", "server_tmp_root", "stop_idle_workers"]

#: name -> "module:function" a worker may call
TARGETS: dict[str, str] = {
    "simulate": "nadsim.web._service:run_simulation",
    "report": "nadsim.web._service:run_report",
    "claims_catalogue": "nadsim.web._service:claims_catalogue",
    "warm_up": "nadsim.web._service:warm_up",
    # for the tests of this machinery (a worker that sleeps, or allocates and sleeps)
    "sleep": "nadsim.web._service:sleep_simulation",
    "sleep_request": "nadsim.web._service:sleep_request",
}


class Busy(Exception):
    """Too many simulations are running or queued."""


class WorkerDied(RuntimeError):
    """A worker process ended while it computed a request (a native crash or a kill)."""


_ROOT_PREFIX = "nadsim-web-"


def server_tmp_root() -> Path:
    """This server's directory for job and worker temporary files (``nadsim-web-<pid>-*``), made
    on first use; directories left by servers that died (kill -9) are removed then too."""
    global _ROOT
    with _ROOT_LOCK:
        if _ROOT is None or not _ROOT.is_dir():
            base = Path(tempfile.gettempdir())
            for stale in base.glob(f"{_ROOT_PREFIX}*"):
                pid = stale.name[len(_ROOT_PREFIX):].split("-", 1)[0]
                if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                    shutil.rmtree(stale, ignore_errors=True)
            _ROOT = Path(tempfile.mkdtemp(prefix=f"{_ROOT_PREFIX}{os.getpid()}-"))
        return _ROOT


_ROOT: Path | None = None
_ROOT_LOCK = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def use_tmpdir(workdir: str) -> None:
    """Send every temporary file of this process (and of the processes it starts) to ``workdir``."""
    os.environ["TMPDIR"] = workdir
    tempfile.tempdir = workdir


def _resolve(ref: str) -> Callable[..., Any]:
    mod, fn = ref.split(":")
    return getattr(importlib.import_module(mod), fn)  # type: ignore[no-any-return]


def _worker_main(conn: Any, workdir: str, server_pid: int) -> None:
    """A worker: answer ``(target, args)`` messages until told to stop (``None``) or orphaned."""
    die_with(server_pid)
    use_tmpdir(workdir)
    from nadsim._errors import NadsimError

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        ref, args = msg
        try:
            reply: tuple = ("ok", _resolve(ref)(*args))
        except NadsimError as exc:
            got = exc.got
            try:
                pickle.dumps(got)
            except Exception:
                got = str(got)
            reply = ("nadsim", type(exc), exc.field, exc.expected, got, exc.hint)
        except Exception as exc:  # reported as one line; the server answers 500 without a trace
            reply = ("error", f"{type(exc).__name__}: {exc}")
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx: Any, root: Path) -> None:
        self.workdir = tempfile.mkdtemp(prefix="worker-", dir=root)
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, self.workdir, os.getpid()), name="nadsim-web-worker", daemon=True)
        self.proc.start()
        child.close()

    def call(self, ref: str, args: tuple, timeout_s: float) -> Any:
        """Send one request and wait; raises TimeoutError (after killing the worker) on overrun."""
        self.conn.send((ref, args))
        if not self.conn.poll(timeout_s):
            self.kill()
            raise TimeoutError(timeout_s)
        try:
            reply = self.conn.recv()
        except (EOFError, OSError):
            self.kill()
            raise WorkerDied(f"the simulation worker ended (exit status {self.proc.exitcode})") from None
        kind = reply[0]
        if kind == "ok":
            return reply[1]
        if kind == "nadsim":
            _, cls, field, expected, got, hint = reply
            raise cls(field, expected, got, hint)
        raise RuntimeError(reply[1])

    def alive(self) -> bool:
        return bool(self.proc.is_alive())

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        with contextlib.suppress(OSError):
            self.conn.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.proc.join(2)
        self.kill()


#: idle workers, shared by every app in this process (tests build many apps)
_IDLE: list[_Worker] = []
_IDLE_LOCK = threading.Lock()
_SPAWN_LOCK = threading.Lock()


def stop_idle_workers() -> None:
    """Stop the idle workers and remove this server's temporary directory (at exit)."""
    with _IDLE_LOCK:
        workers = list(_IDLE)
        _IDLE.clear()
    for w in workers:
        w.stop()
    if _ROOT is not None:
        shutil.rmtree(_ROOT, ignore_errors=True)


atexit.register(stop_idle_workers)


class SimulationWorkers:
    """At most ``cap`` simulations at once (one worker process each), ``queue`` more waiting.

    ``run(target, *args)`` awaits the worker's answer; past ``timeout_s`` the worker is killed
    and :class:`TimeoutError` raised (the API answers 504), with the slot free again. Idle
    workers are kept for the next request; ``warm`` of them are started ahead of need.
    """

    def __init__(self, cap: int, queue: int, timeout_s: float, *, warm: int = 1,
                 targets: dict[str, str] | None = None) -> None:
        self.cap = cap
        self.limit = cap + queue
        self.timeout_s = timeout_s
        self.warm = min(warm, cap)
        self.targets = dict(TARGETS if targets is None else targets)
        self._ctx = mp.get_context("forkserver")
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()
        self._pending = 0
        self._slots: tuple[Any, asyncio.Semaphore] | None = None
        self._executor = ThreadPoolExecutor(max_workers=cap, thread_name_prefix="nadsim-sim")
        self.started = 0  # workers started (tests read it)
        self.killed = 0  # workers killed for running past their time

    # ------------------------------------------------------------------ pool
    def _take(self) -> _Worker:
        with _IDLE_LOCK:
            while _IDLE:
                w = _IDLE.pop()
                if w.alive():
                    break
                w.kill()
            else:
                w = None  # type: ignore[assignment]
        if w is None:
            with _SPAWN_LOCK:  # one start at a time through the forkserver
                w = _Worker(self._ctx, server_tmp_root())
            self.started += 1
        with self._lock:
            self._busy.add(w)
        return w

    def _give_back(self, w: _Worker, healthy: bool) -> None:
        with self._lock:
            self._busy.discard(w)
        if healthy and w.alive():
            with _IDLE_LOCK:
                _IDLE.append(w)
            return
        w.kill()

    def prestart(self) -> None:
        """Start ``warm`` workers in the background and let each simulate once (the first
        simulation of a process costs seconds)."""
        def start() -> None:
            with contextlib.suppress(Exception):  # warming is an optimisation only
                w = self._take()
                try:
                    w.call(self.targets["warm_up"], (), 600.0)
                    self._give_back(w, True)
                except Exception:
                    self._give_back(w, False)

        with _IDLE_LOCK:
            missing = self.warm - len(_IDLE)
        for _ in range(max(0, missing)):
            threading.Thread(target=start, name="nadsim-web-warm", daemon=True).start()

    def pids(self) -> list[int]:
        """Process ids of the workers this server holds (idle ones included)."""
        with self._lock, _IDLE_LOCK:
            return [w.proc.pid for w in (*_IDLE, *self._busy) if w.proc.pid is not None]

    def shutdown(self) -> None:
        """Stop this app's busy workers; idle ones stay for the next app in this process and
        stop when it exits (:func:`stop_idle_workers`, registered with :mod:`atexit`)."""
        with self._lock:
            workers, self._busy = list(self._busy), set()
        for w in workers:
            w.kill()

    # ------------------------------------------------------------------ requests
    async def run(self, target: str, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.cap))
        slots = self._slots[1]
        with self._lock:
            if self._pending >= self.limit:
                raise Busy()
            self._pending += 1
        try:
            async with slots:
                return await loop.run_in_executor(self._executor, self._call, target, args)
        finally:
            with self._lock:
                self._pending -= 1

    def _call(self, target: str, args: tuple) -> Any:
        w = self._take()
        healthy = False
        try:
            result = w.call(self.targets[target], args, self.timeout_s)
            healthy = True
            return result
        except TimeoutError:
            self.killed += 1
            raise
        except (WorkerDied, OSError):
            raise
        except Exception:  # the function raised: the worker itself is fine
            healthy = w.alive()
            raise
        finally:
            self._give_back(w, healthy)
            if not healthy:
                self.prestart()
