"""Background jobs (virtual trials) in separate processes: progress, cancel, time-out, cap.

Each job runs one *registered* function (a fixed table below; nothing user-supplied is ever
imported or evaluated) in its own process, started from a ``forkserver`` so that the web
server's threads are never forked. The process reports progress through a pipe; cancel and
time-out terminate it. At most ``max_concurrent`` jobs run at once; further jobs wait in a
queue, and at most ``max_stored`` jobs are remembered (the oldest finished ones are dropped).
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from nadsim.web._workers import server_tmp_root

__all__ = ["JOB_TARGETS", "Job", "JobManager", "JobsFull"]

#: job kind -> "module:function". The function takes ``(payload: dict, progress)`` where
#: ``progress(fraction, message)`` reports progress, and returns a JSON-able dict.
JOB_TARGETS: dict[str, str] = {
    "trial": "nadsim.web._service:run_trial_job",
    "claims": "nadsim.web._service:run_claims_job",
}

FINAL = ("done", "failed", "cancelled", "timeout")


class JobsFull(RuntimeError):
    """Too many jobs are queued or stored; the client should retry later."""


@dataclass
class Job:
    id: str
    kind: str
    payload: dict[str, Any]
    status: str = "queued"
    progress: float = 0.0
    message: str = ""
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: dict[str, str] | None = None
    result: dict[str, Any] | None = None
    _starting: bool = field(default=False, repr=False)
    _proc: Any = field(default=None, repr=False)
    _conn: Any = field(default=None, repr=False)
    _workdir: str = field(default="", repr=False)

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "progress": self.progress,
                "message": self.message, "created": self.created, "started": self.started,
                "finished": self.finished, "error": self.error}


def _noop() -> None:
    """Target of the warm-up process."""


def _child(target: str, payload: dict[str, Any], conn: Any, workdir: str = "", server_pid: int = 0) -> None:
    """Entry point of the job process: run the target, send progress and the result.

    The process ends within 0.5 s of the server (:func:`nadsim._procs.die_with`; not of its
    parent, the forkserver, which lives as long as any of its children), and every temporary file it or its own workers make lands in ``workdir``, which the server
    removes however the job ends (done, failed, cancelled, timed out, server shut down)."""
    from nadsim._procs import die_with
    from nadsim.web._workers import use_tmpdir

    if server_pid:
        die_with(server_pid)
    if workdir:
        use_tmpdir(workdir)

    def progress(fraction: float, message: str = "") -> None:
        conn.send(("progress", max(0.0, min(1.0, float(fraction))), str(message)))

    try:
        mod, fn = target.split(":")
        result = getattr(importlib.import_module(mod), fn)(payload, progress)
        conn.send(("done", result))
    except Exception as exc:  # report every failure to the parent, which maps it to an error body
        from nadsim._errors import NadsimError

        if isinstance(exc, NadsimError):
            conn.send(("failed", exc.to_dict()))
        else:
            conn.send(("failed", {"field": "job", "expected": "", "got": "",
                                  "message": f"{type(exc).__name__}: {exc}",
                                  "trace": traceback.format_exc(limit=5)}))
    finally:
        conn.close()


class JobManager:
    """Owns the job table and a monitor thread that starts, polls and reaps processes."""

    def __init__(self, *, max_concurrent: int = 2, max_stored: int = 50, timeout_s: float = 300.0,
                 preload: tuple[str, ...] = ("nadsim.web._service",),
                 targets: dict[str, str] | None = None) -> None:
        self.targets = dict(JOB_TARGETS if targets is None else targets)
        self.max_concurrent = max_concurrent
        self.max_stored = max_stored
        self.timeout_s = timeout_s
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(list(preload))
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._monitor, name="nadsim-jobs", daemon=True)
            self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for job in self._jobs.values():
                if job.status in ("queued", "running"):
                    self._finish(job, "cancelled", message="server shut down")

    # ------------------------------------------------------------------ API
    def submit(self, kind: str, payload: dict[str, Any]) -> Job:
        if kind not in self.targets:
            raise KeyError(kind)
        with self._lock:
            self._evict()
            if len(self._jobs) >= self.max_stored:
                raise JobsFull(f"{len(self._jobs)} jobs are queued or running; at most {self.max_stored}")
            job = Job(id=uuid.uuid4().hex, kind=kind, payload=payload)
            self._jobs[job.id] = job
        self.start()
        self._wake.set()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.status in ("queued", "running"):
                self._finish(job, "cancelled", message="cancelled by the user")
        self._wake.set()
        return job

    # ------------------------------------------------------------------ internals
    def _evict(self) -> None:
        """Drop the oldest finished jobs beyond the storage cap."""
        finished = [j for j in self._jobs.values() if j.status in FINAL]
        while len(self._jobs) >= self.max_stored and finished:
            self._jobs.pop(finished.pop(0).id, None)

    def _finish(self, job: Job, status: str, *, message: str = "", error: dict | None = None,
                result: dict | None = None) -> None:
        if job._proc is not None and job._proc.is_alive():
            job._proc.terminate()
            job._proc.join(timeout=2)
            if job._proc.is_alive():
                job._proc.kill()
                job._proc.join(timeout=2)
        if job._conn is not None:
            job._conn.close()
        job._proc = job._conn = None
        if job._workdir:
            shutil.rmtree(job._workdir, ignore_errors=True)
            job._workdir = ""
        job.status = status
        job.finished = time.time()
        job.message = message or job.message
        job.error = error
        job.result = result
        if status == "done":
            job.progress = 1.0

    def _launch(self, job: Job) -> None:
        """Start the job's process. Called *without* the lock: the first start of the forkserver
        imports the library (seconds), and status requests must not wait for that."""
        parent, child = self._ctx.Pipe(duplex=False)
        workdir = tempfile.mkdtemp(prefix=f"job-{job.id[:8]}-", dir=server_tmp_root())
        with self._lock:
            job._workdir = workdir
        proc = self._ctx.Process(target=_child, args=(self.targets[job.kind], job.payload, child, workdir, os.getpid()),
                                 name=f"nadsim-job-{job.id[:8]}", daemon=True)
        proc.start()
        child.close()
        with self._lock:
            job._proc, job._conn, job._starting = proc, parent, False
            if job.status == "queued":
                job.status, job.started, job.message = "running", time.time(), "started"
            else:  # cancelled while its process was starting: stop it now
                self._finish(job, job.status, message=job.message, error=job.error)

    def warm_up(self) -> None:
        """Start the forkserver (and its library imports) in the background, before any job."""
        def run() -> None:
            try:
                p = self._ctx.Process(target=_noop, daemon=True)
                p.start()
                p.join(120)
            except Exception:  # warming is an optimisation only
                pass

        threading.Thread(target=run, name="nadsim-jobs-warm", daemon=True).start()

    def _poll(self, job: Job) -> None:
        conn = job._conn
        try:
            while conn is not None and conn.poll():
                msg = conn.recv()
                if msg[0] == "progress":
                    job.progress, job.message = msg[1], msg[2]
                elif msg[0] == "done":
                    self._finish(job, "done", message="finished", result=msg[1])
                    return
                elif msg[0] == "failed":
                    err = {k: str(v) for k, v in msg[1].items() if k != "trace"}
                    self._finish(job, "failed", message=err.get("message", "failed"), error=err)
                    return
        except (EOFError, OSError):
            pass
        if job.status == "running" and job._proc is not None and not job._proc.is_alive():
            self._finish(job, "failed", message=f"worker exited with code {job._proc.exitcode}",
                         error={"field": "job", "expected": "", "got": "",
                                "message": f"worker exited with code {job._proc.exitcode}"})
        elif job.status == "running" and job.started and time.time() - job.started > self.timeout_s:
            self._finish(job, "timeout", message=f"stopped after the {self.timeout_s:g} s time limit",
                         error={"field": "job", "expected": f"at most {self.timeout_s:g} s", "got": "",
                                "message": f"the job ran past its {self.timeout_s:g} s time limit"})

    def _monitor(self) -> None:
        while not self._stop.is_set():
            to_start: list[Job] = []
            with self._lock:
                for job in list(self._jobs.values()):
                    if job.status == "running" and job._proc is not None:
                        self._poll(job)
                running = sum(j.status == "running" or j._starting for j in self._jobs.values())
                for job in self._jobs.values():
                    if running >= self.max_concurrent:
                        break
                    if job.status == "queued" and not job._starting:
                        job._starting, job.message = True, "starting"
                        to_start.append(job)
                        running += 1
            for job in to_start:
                try:
                    self._launch(job)
                except Exception as exc:  # cannot start a process: fail the job, keep serving
                    with self._lock:
                        job._starting = False
                        self._finish(job, "failed", message=str(exc),
                                     error={"field": "job", "expected": "", "got": "", "message": str(exc)})
            self._wake.wait(0.1)
            self._wake.clear()
