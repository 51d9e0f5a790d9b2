"""Counting hostile inputs: how many of each kind were tried and how each ended.

A case ends as ``accepted`` (a valid input, a result), ``refused`` (a one-line nadsim error
naming the field: the wanted outcome for bad input) or one of the failures the figures table
counts: ``traceback`` (any other exception reached the caller), ``5xx``, ``hang`` (over
:data:`HANG_S`), ``crash`` (a process died), ``partial`` (a failed command left a file or a
temporary behind). :func:`write` merges the counts into the JSON file named by the
``NADSIM_FUZZ_OUT`` environment variable (``python -m tests.fuzz.report`` sets it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

HANG_S = 60.0
FAILURES = ("traceback", "5xx", "hang", "crash", "partial")


class Hang(Exception):
    pass


class Tally:
    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, str] = {}
        self.slowest_s = 0.0

    def record(self, outcome: str, example: object = None) -> None:
        self.counts["tried"] += 1
        self.counts[outcome] += 1
        if outcome in FAILURES and outcome not in self.examples:
            self.examples[outcome] = repr(example)[:400]

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        """Raise :class:`Hang` in the main thread past HANG_S (the body is Python most of the
        time; the engine's compiled loops return within their step budget)."""
        def alarm(*_: object) -> None:
            raise Hang()

        old = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            self.slowest_s = max(self.slowest_s, time.perf_counter() - t0)

    def failures(self) -> dict[str, int]:
        return {k: self.counts[k] for k in FAILURES if self.counts[k]}

    def assert_clean(self, minimum: int) -> None:
        assert self.counts["tried"] >= minimum, f"{self.surface}: only {self.counts['tried']} cases"
        assert not self.failures(), f"{self.surface}: {self.failures()}; first of each: {self.examples}"

    def write(self) -> None:
        out = os.environ.get("NADSIM_FUZZ_OUT")
        if not out:
            return
        path = Path(out)
        data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        row = data.setdefault(self.surface, {"tried": 0, "slowest_s": 0.0})
        for k, v in self.counts.items():
            row[k] = row.get(k, 0) + v
        row["slowest_s"] = round(max(row.get("slowest_s", 0.0), self.slowest_s), 2)
        if self.examples:
            row.setdefault("examples", {}).update(self.examples)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
