"""One progress reporter for every long loop (populations, sensitivity, qualification, calibration,
trials).

Library code never prints: it accepts a ``progress(done, total)`` callback. The faces make one
with :func:`progress_bar`: a Rich bar on a terminal, and on anything else (a pipe, a CI log) one
plain line every ``every_s`` seconds and at the end, so that a job without a TTY is not silent.
The rate and ETA count only work done in this process (``initial`` covers what a resumed run
already had), so a resume does not report the old chunks as instant.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["ProgressCallback", "format_eta", "progress_bar"]

ProgressCallback = Callable[[int, int], None]


def format_eta(seconds: float) -> str:
    """``'1 h 02 min'``, ``'3 min 05 s'``, ``'12 s'``; ``'?'`` when unknown."""
    if not (seconds >= 0) or seconds == float("inf"):
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


class _PlainLines:
    """Periodic plain lines: ``label: 40/200 (20 %), 3.1/s, ETA 52 s``."""

    def __init__(self, label: str, stream: TextIO, every_s: float, initial: int):
        self.label, self.stream, self.every_s = label, stream, every_s
        self.initial = initial
        self.t0 = time.monotonic()
        self.last = -float("inf")

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.every_s:
            return
        self.last = now
        fresh = max(done - self.initial, 0)
        rate = fresh / max(now - self.t0, 1e-9)
        eta = (total - done) / rate if rate > 0 else float("inf")
        pct = 100.0 * done / total if total else 100.0
        print(f"{self.label}: {done}/{total} ({pct:.0f} %), {rate:.3g}/s, ETA {format_eta(eta)}",
              file=self.stream, flush=True)


@contextlib.contextmanager
def progress_bar(label: str, *, enabled: bool = True, initial: int = 0, stream: TextIO | None = None,
                 every_s: float = 10.0) -> Iterator[ProgressCallback]:
    """A ``progress(done, total)`` callback for the duration of a ``with`` block.

    ``enabled=False`` gives a callback that does nothing (``--no-progress``). ``initial`` is the
    work already done before this process started (a resume): it is shown but not counted in
    the rate. Output goes to ``stream`` (default stderr, so that stdout stays data).
    """
    out = stream or sys.stderr
    if not enabled:
        yield lambda done, total: None
        return
    if not out.isatty():
        yield _PlainLines(label, out, every_s, initial)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  console=Console(file=out), transient=False) as bar:
        task = bar.add_task(label, total=None)
        started = False

        def update(done: int, total: int) -> None:
            nonlocal started
            if not started:  # rich's ETA uses the speed of updates since start: begin at `initial`
                bar.reset(task, total=total, completed=min(initial, total))
                started = True
            bar.update(task, total=total, completed=done)

        yield update
