"""No process outlives its parent (issue #15, process hygiene): ``kill -9`` of the nadsim process
while its workers compute, then every process it had started must be gone within 15 s.

Covered: the claims audit's process pool (``nadsim claims``), a population on a local Dask
cluster (``nadsim simulate --population --cluster local``), and the web server with a simulation
worker and a running job (``nadsim serve``: forkserver, worker, job process). The trial runner's
pool is tested by its own suite (tests/trial). Processes are found with psutil before the kill
(all descendants, recursively); a zombie counts as gone (it computes nothing and holds no memory;
reaping it is its new parent's business).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

GONE_WITHIN_S = 15.0


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill_and_count_survivors(cmd: list[str], ready: Callable[[psutil.Process], bool], *, cwd: Path,
                              start_timeout_s: float = 240.0) -> tuple[int, list[str]]:
    """Start ``cmd``; once ``ready(parent)``, SIGKILL the parent; return (descendants seen,
    descriptions of those still alive after GONE_WITHIN_S)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    parent = psutil.Process(proc.pid)
    try:
        t0 = time.monotonic()
        while not ready(parent):
            if proc.poll() is not None:
                raise AssertionError(f"{cmd[3:]} ended (status {proc.returncode}) before it was killed: "
                                     f"{proc.stderr.read().decode()[-800:] if proc.stderr else ''}")
            if time.monotonic() - t0 > start_timeout_s:
                raise AssertionError(f"{cmd[3:]} not ready after {start_timeout_s} s")
            time.sleep(0.2)
        children = parent.children(recursive=True)
        assert proc.poll() is None, "the parent must still be running when it is killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + GONE_WITHIN_S
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [f"{c.pid} {' '.join(c.cmdline())[:120]}" for c in children if _alive(c)]
        return len(children), survivors
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # never leave anything behind, whatever the result
        for c in psutil.Process().children(recursive=True):
            if c.pid != os.getpid():
                with contextlib.suppress(psutil.Error):
                    if c.pid == proc.pid or proc.pid in [a.pid for a in c.parents()]:
                        c.kill()


def _nadsim(*args: str) -> list[str]:
    return [sys.executable, "-m", "nadsim", *args]


def _n_python_children(n: int) -> Callable[[psutil.Process], bool]:
    def ready(p: psutil.Process) -> bool:
        try:
            kids = p.children(recursive=True)
            return sum("python" in (k.name() or "") for k in kids) >= n
        except psutil.Error:
            return False
    return ready


def test_claims_audit_workers_die_with_the_cli(tmp_path):
    seen, survivors = _kill_and_count_survivors(
        _nadsim("claims", "--samples", "8", "--format", "json", "--out", str(tmp_path / "claims.json")),
        _n_python_children(2), cwd=tmp_path)
    assert seen >= 2
    assert not survivors, survivors
    assert not list(tmp_path.glob("*.tmp*")) and not (tmp_path / "claims.json").exists()  # nothing half-written


def test_local_dask_workers_die_with_the_cli(tmp_path):
    seen, survivors = _kill_and_count_survivors(
        _nadsim("simulate", "--population", "4000", "--cluster", "local", "--until", "14 d", "--no-progress",
                "--out", str(tmp_path / "pop.parquet")),
        _n_python_children(2), cwd=tmp_path)
    assert seen >= 2
    assert not survivors, survivors
    assert not (tmp_path / "pop.parquet").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_web_server_workers_and_jobs_die_with_the_server(tmp_path):
    """A simulation worker (a running simulation) and a claims-audit job are both in flight when
    the server is killed; the forkserver, the worker and the job process all end."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    state: dict[str, object] = {}

    def post(path: str, body: dict) -> tuple[int, dict]:
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, json.loads(r.read())
        except TimeoutError:
            return 0, {}

    def ready(parent: psutil.Process) -> bool:
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=2) as r:
                if r.status != 200:
                    return False
        except OSError:
            return False
        if "job" not in state:
            state["job"] = post("/api/claims/audit", {"until_h": 672, "samples": 8})[1].get("id")
            post("/api/simulate", {"until_h": 1344})  # runs on in its worker after this client gives up
        with urllib.request.urlopen(f"{base}/api/jobs/{state['job']}", timeout=5) as r:
            running = json.loads(r.read())["status"] == "running"
        return running and _n_python_children(3)(parent)

    seen, survivors = _kill_and_count_survivors(_nadsim("serve", "--port", str(port), "--log-level", "warning"),
                                                ready, cwd=tmp_path)
    assert seen >= 3
    assert not survivors, survivors


def test_isolated_child_dies_with_its_parent(tmp_path):
    """nadsim._procs.run_isolated (SBML reads): its child ends when the caller is killed."""
    script = tmp_path / "caller.py"
    script.write_text("import time\nfrom nadsim._procs import run_isolated\n"
                      "if __name__ == '__main__':\n    run_isolated(time.sleep, 600, timeout_s=900)\n", encoding="utf-8")
    seen, survivors = _kill_and_count_survivors([sys.executable, str(script)], _n_python_children(1), cwd=tmp_path)
    assert seen >= 1
    assert not survivors, survivors
