"""Background jobs: progress, results, cancel, time-out and the concurrency cap.

The job machinery is tested with a registered test target (``sleep_job``) so that these tests
take seconds; the trial target itself is exercised through the API in test_web_trials.py.
"""

from __future__ import annotations

import time

import pytest

from nadsim.web.jobs import JobManager, JobsFull

TARGETS = {"sleep": "nadsim.web._service:sleep_job", "trial": "nadsim.web._service:run_trial_job"}


def wait_for(job, states, timeout=30.0):
    t0 = time.monotonic()
    while job.status not in states:
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"job still {job.status} after {timeout} s")
        time.sleep(0.05)
    return job


@pytest.fixture
def manager():
    m = JobManager(max_concurrent=1, max_stored=4, timeout_s=20.0, targets=TARGETS)
    yield m
    m.shutdown()


def test_job_reports_progress_and_result(manager):
    job = manager.submit("sleep", {"seconds": 1.0})
    seen = set()
    t0 = time.monotonic()
    while job.status not in ("done", "failed") and time.monotonic() - t0 < 30:
        seen.add(round(job.progress, 1))
        time.sleep(0.02)
    assert job.status == "done", job.error
    assert job.result == {"slept_s": 1.0}
    assert job.progress == 1.0
    assert len(seen - {0.0, 1.0}) >= 2, f"intermediate progress was reported: {sorted(seen)}"


def test_cancel_stops_the_process(manager):
    job = manager.submit("sleep", {"seconds": 30.0})
    wait_for(job, ("running",))
    proc = job._proc
    manager.cancel(job.id)
    assert job.status == "cancelled"
    assert proc is not None and not proc.is_alive()
    assert job.result is None


def test_timeout_kills_the_job():
    m = JobManager(max_concurrent=1, max_stored=4, timeout_s=0.5, targets=TARGETS)
    try:
        job = m.submit("sleep", {"seconds": 30.0})
        wait_for(job, ("timeout", "done", "failed"), timeout=30)
        assert job.status == "timeout"
        assert "0.5 s" in job.error["message"]
    finally:
        m.shutdown()


def test_concurrency_cap_queues_jobs(manager):
    a = manager.submit("sleep", {"seconds": 1.0})
    b = manager.submit("sleep", {"seconds": 0.2})
    wait_for(a, ("running",))
    time.sleep(0.3)
    assert b.status == "queued", "only one job runs at a time (max_concurrent=1)"
    wait_for(b, ("done",))
    assert a.status == "done" and b.started >= a.finished - 0.2


def test_store_cap_refuses_when_full(manager):
    jobs = [manager.submit("sleep", {"seconds": 5.0}) for _ in range(4)]
    with pytest.raises(JobsFull):
        manager.submit("sleep", {"seconds": 0.1})
    for j in jobs:
        manager.cancel(j.id)
    # finished jobs are evicted to make room
    assert manager.submit("sleep", {"seconds": 0.1}).status in ("queued", "running")


def test_failure_is_reported_with_field(manager):
    job = manager.submit("trial", {"n_per_arm": -1})
    wait_for(job, ("failed", "done"))
    assert job.status == "failed"
    assert job.error["message"]


def test_unknown_kind_is_refused(manager):
    with pytest.raises(KeyError):
        manager.submit("os.system", {})
