"""Regenerate the hostile-input figures table in docs/reliability.md.

    python -m tests.fuzz.report            # the seeded CI sample (about a minute)
    python -m tests.fuzz.report --slow     # the full run (>= 10,000 cases; tens of minutes)
    python -m tests.fuzz.report --from results.json   # render counts a run already wrote

Runs ``pytest tests/fuzz/test_fuzz.py`` with ``NADSIM_FUZZ_OUT`` pointing at a JSON file, in
which every surface's test adds its counts (:mod:`tests.fuzz._tally`), and replaces the text
between the table markers of docs/reliability.md with the table (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- fuzz-table:begin -->", "<!-- fuzz-table:end -->"
COLUMNS = [("tried", "inputs tried"), ("accepted", "accepted"), ("refused", "refused (one-line error)"),
           ("traceback", "tracebacks"), ("5xx", "5xx"), ("hang", "hangs > 60 s"), ("crash", "crashes"),
           ("partial", "partial files")]


def table(data: dict, *, mode: str, seconds: float | None) -> str:
    lines = [f"| surface | {' | '.join(h for _, h in COLUMNS)} | slowest case (s) |",
             "|---|" + "---|" * (len(COLUMNS) + 1)]
    total = dict.fromkeys((k for k, _ in COLUMNS), 0)
    for surface in sorted(data):
        row = data[surface]
        lines.append(f"| {surface} | " + " | ".join(f"{row.get(k, 0):,}" for k, _ in COLUMNS)
                     + f" | {row.get('slowest_s', 0):g} |")
        for k, _ in COLUMNS:
            total[k] += row.get(k, 0)
    lines.append("| **all** | " + " | ".join(f"**{total[k]:,}**" for k, _ in COLUMNS) + " | |")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    took = f", {seconds / 60:.1f} min" if seconds else ""
    lines += ["", f"{mode} run, {when}{took}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
              f"regenerate with `python -m tests.fuzz.report{' --slow' if mode == 'full' else ''}`."]
    examples = {s: r["examples"] for s, r in data.items() if r.get("examples")}
    if examples:
        lines += ["", "First failing input of each kind:", ""]
        for s, ex in sorted(examples.items()):
            for kind, text in sorted(ex.items()):
                lines.append(f"- {s}, {kind}: `{text[:300].replace('`', chr(39))}`")
    return "\n".join(lines)


def write(text: str) -> None:
    from nadsim._files import atomic_write_text

    old = DOC.read_text(encoding="utf-8")
    a, b = old.index(BEGIN) + len(BEGIN), old.index(END)
    atomic_write_text(DOC, old[:a] + "\n" + text + "\n" + old[b:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slow", action="store_true", help="the full run (>= 10,000 cases)")
    ap.add_argument("--from", dest="source", type=Path, help="render an existing results JSON instead of running")
    a = ap.parse_args()
    seconds = None
    if a.source:
        data = json.loads(a.source.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "fuzz.json"
            t0 = time.monotonic()
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz/test_fuzz.py",
                   "-m", "slow" if a.slow else "not slow"]
            rc = subprocess.call(cmd, cwd=ROOT, env={**os.environ, "NADSIM_FUZZ_OUT": str(out)})
            seconds = time.monotonic() - t0
            data = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
            print(f"pytest exit status {rc}", file=sys.stderr)
    text = table(data, mode="full" if a.slow or (a.source and sum(r["tried"] for r in data.values()) >= 10_000)
                 else "sample", seconds=seconds)
    print(text)
    write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
