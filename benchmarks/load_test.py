"""Bounded load test of the web API on loopback: concurrent simulate requests.

Starts ``nadsim serve`` as a subprocess on a free 127.0.0.1 port, warms it up, then runs
``--rounds`` rounds of ``--requests`` simulate requests from ``--concurrency`` concurrent
clients (a mix of the article's single drip and a daily regimen). It reports latency
percentiles, throughput, status codes and the server's resident memory after each round, and
fails (exit 1) on any error response or when memory grows by more than ``--max-growth`` between
the first and the last round (after warm-up).

    .venv/bin/python benchmarks/load_test.py                 # prints a Markdown section
    .venv/bin/python benchmarks/load_test.py --write         # also updates benchmarks/RESULTS.md

    .venv/bin/python benchmarks/load_test.py --minutes 10 --write   # bounded soak (issue #15)

Only loopback is ever contacted. The section it writes in RESULTS.md is ``## Web API load test``
(``## Web API soak (issue #15)`` with ``--minutes``); other sections are left untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from nadsim.app import PATIENT_TOLERANCES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Web API load test"
SOAK_SECTION = "## Web API soak (issue #15)"

DRIP = {"regimen": {"compound": "NMN", "route": "iv", "dose_mg": 300, "infusion_volume_mL": 100,
                    "infusion_rate_mL_min": 5}, "until_h": 24}
DAILY = {"regimen": {"compound": "NR", "route": "oral", "dose_mg": 500, "every_h": 24, "doses": 3}, "until_h": 72}
MIX = (DRIP, DRIP, DAILY)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else float("nan")


def workers_rss_mib(pid: int) -> float:
    """Resident memory of every process the server started (simulation workers, forkserver)."""
    import psutil

    total = 0.0
    for c in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a process that just ended
            total += c.memory_info().rss / 2**20
    return total


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


async def one_round(url: str, n: int, concurrency: int) -> tuple[list[float], dict[int, int], float]:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []
    codes: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def call(i: int) -> None:
            async with sem:
                t0 = time.perf_counter()
                r = await client.post("/api/simulate", json=MIX[i % len(MIX)])
                lat.append(time.perf_counter() - t0)
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code == 200:
                    body = r.json()
                    assert body["series"]["whole_blood_NAD"]["values"][0] > 0

        t0 = time.perf_counter()
        await asyncio.gather(*(call(i) for i in range(n)))
        wall = time.perf_counter() - t0
    return lat, codes, wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=40, help="requests per round")
    ap.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--minutes", type=float, default=0.0,
                    help="soak: run rounds until this many minutes have passed (at least --rounds rounds; at most 60)")
    ap.add_argument("--max-growth", type=float, default=0.10, help="allowed RSS growth, first to last round")
    ap.add_argument("--write", action="store_true", help=f"update the '{SECTION}' section of {RESULTS.name}")
    a = ap.parse_args()
    if a.requests < 1 or a.requests > 2000 or a.concurrency < 1 or a.concurrency > 64 or a.rounds < 2 \
            or not 0 <= a.minutes <= 60:
        ap.error("bounded test: 1-2000 requests, 1-64 clients, at least 2 rounds, at most 60 minutes")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    nadsim = [sys.executable, "-c", "from nadsim.cli import main; main()"]
    server = subprocess.Popen([*nadsim, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        t0 = time.monotonic()
        while True:
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() - t0 > 60:
                print(server.stderr.read().decode() if server.stderr else "", file=sys.stderr)
                raise SystemExit("server did not start")
            time.sleep(0.2)
        startup_s = time.monotonic() - t0
        # warm-up: compile the model, fill caches
        asyncio.run(one_round(url, 2 * a.concurrency, a.concurrency))
        rss0 = rss_mib(server.pid)
        rounds = []
        soak_t0 = time.monotonic()
        while len(rounds) < a.rounds or time.monotonic() - soak_t0 < 60 * a.minutes:
            lat, codes, wall = asyncio.run(one_round(url, a.requests, a.concurrency))
            rounds.append({"lat": lat, "codes": codes, "wall": wall, "rss": rss_mib(server.pid),
                           "workers": workers_rss_mib(server.pid)})
        soak_s = time.monotonic() - soak_t0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    all_lat = [x for r in rounds for x in r["lat"]]
    codes: dict[int, int] = {}
    for r in rounds:
        for k, v in r["codes"].items():
            codes[k] = codes.get(k, 0) + v
    errors = sum(v for k, v in codes.items() if k != 200)
    growth = (rounds[-1]["rss"] - rounds[0]["rss"]) / rounds[0]["rss"]
    ok = errors == 0 and growth <= a.max_growth
    cpu = platform.processor() or platform.machine()
    section = SOAK_SECTION if a.minutes else SECTION
    lines = [
        section,
        "",
        f"`{' '.join(['.venv/bin/python', 'benchmarks/load_test.py', *sys.argv[1:]])}` — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs ({cpu}), Python "
        f"{platform.python_version()}, one uvicorn worker on 127.0.0.1 (server start {startup_s:.1f} s).",
        "",
        f"Workload: {len(rounds)} rounds x {a.requests} `POST /api/simulate` from {a.concurrency} concurrent clients "
        f"({soak_s / 60:.1f} min), "
        "after a warm-up round; mix of 2/3 the article's drip (300 mg NMN in 100 mL at 5 mL/min, 24 h) and 1/3 "
        f"oral NR 500 mg daily x 3 (72 h), full mechanism model, the web's tolerances (rtol {PATIENT_TOLERANCES.rtol:g}).",
        "",
        "| round | requests | errors | p50 (s) | p90 (s) | p99 (s) | max (s) | throughput (req/s) | server RSS (MiB) "
        "| workers RSS (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    shown = rounds if len(rounds) <= 12 else [*rounds[:3], *rounds[-3:]]
    for r in shown:
        i = rounds.index(r) + 1
        lat = r["lat"]
        errs = sum(v for k, v in r["codes"].items() if k != 200)
        lines.append(f"| {i} | {len(lat)} | {errs} | {percentile(lat, .5):.2f} | {percentile(lat, .9):.2f} | "
                     f"{percentile(lat, .99):.2f} | {max(lat):.2f} | {len(lat) / r['wall']:.2f} | {r['rss']:.0f} "
                     f"| {r['workers']:.0f} |")
    lines += [
        f"| all | {len(all_lat)} | {errors} | {percentile(all_lat, .5):.2f} | {percentile(all_lat, .9):.2f} | "
        f"{percentile(all_lat, .99):.2f} | {max(all_lat):.2f} | "
        f"{len(all_lat) / sum(r['wall'] for r in rounds):.2f} | {rounds[-1]['rss']:.0f} | {rounds[-1]['workers']:.0f} |",
        "",
        f"Status codes: {dict(sorted(codes.items()))}. Server RSS after warm-up {rss0:.0f} MiB; growth from round 1 to "
        f"round {len(rounds)}: {100 * growth:+.1f} % (limit {100 * a.max_growth:.0f} %). Mean latency "
        f"{statistics.mean(all_lat):.2f} s. Simulations run in worker processes (nadsim.web._workers), at most "
        "4 at once on this machine's cores; latency grows with queueing, not with errors. Worker RSS "
        f"{rounds[0]['workers']:.0f} MiB after round 1, {rounds[-1]['workers']:.0f} MiB at the end"
        + (f" (rounds 4 to {len(rounds) - 3} not shown)" if len(rounds) > 12 else "") + ".",
        "",
        f"Result: **{'pass' if ok else 'FAIL'}** (no errors, memory stable).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if a.write:
        write_section(text, section)
    return 0 if ok else 1


def write_section(section: str, title: str = SECTION) -> None:
    """Replace (or append) only this script's section of RESULTS.md."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pat = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    new = pat.sub(lambda _: section + "\n", old) if pat.search(old) else old.rstrip("\n") + "\n\n" + section + "\n"
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, RESULTS)


if __name__ == "__main__":
    raise SystemExit(main())
