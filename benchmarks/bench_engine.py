"""Engine benchmark (issue #12): populations and one simulation, against libRoadRunner in the same run.

Population workload: the default model, 12 weekly 300 mg NMN IV drips over 20 min, 84 days,
daily outputs (85 times), free parameters scaled by exp(N(0, 0.1)) within their bounds, every
subject from its own undosed baseline (the baseline cache is bypassed), rtol 1e-6 and
atol = rtol / 100 on both sides. nadsim runs ``simulate_batch`` with the native solver on
``--threads`` threads, the results streamed to memory-mapped files; libRoadRunner runs the
SBML export of the base subject (``nadsim.io.export_sbml``; its initial state *is* the
baseline, so libRoadRunner does no baseline work: a lower bound on its cost) after ``reset``,
on as many processes as nadsim has threads, all at once. The ratio is subjects per second.

One simulation: ``nadsim simulate`` of the article's 24 h drip in a fresh process against a
fresh Python process that loads the exported SBML into libRoadRunner and simulates it; and a
warm in-process ``simulate()`` with and without the baseline cache.

    python benchmarks/bench_engine.py --subjects 10000 --threads 2 --write
    python benchmarks/bench_engine.py --subjects 256 --rtol 1e-8          # a quick look

``--write`` replaces the engine section of ``benchmarks/RESULTS.md`` with this run's table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nadsim.dosing import Regimen, parse_regimen
from nadsim.io.sbml import export_sbml
from nadsim.library import get_model
from nadsim.simulate import BASELINES, Tolerances, simulate, simulate_batch
from nadsim.simulate.solvers import NativeSolver
from nadsim.testing import perturbed_population

REGIMEN = Regimen.repeated("NMN", "iv", 300.0, duration_h=1 / 3, every_h=168.0, n_doses=12)
TIMES = np.arange(0.0, 84 * 24.0 + 1.0, 24.0)
ARTICLE = dict(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min")
RESULTS = Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- engine:begin -->", "<!-- engine:end -->"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _roadrunner_worker(args: tuple[str, int, float, float]) -> tuple[float, float]:
    """Runs ``n`` simulations of one SBML text; returns (wall s, CPU s)."""
    import roadrunner

    text, n, rtol, atol = args
    rr = roadrunner.RoadRunner(text)
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.integrator.max_steps = 1_000_000
    rr.simulate(0.0, float(TIMES[-1]), TIMES.size)  # warm
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        rr.reset()
        rr.simulate(0.0, float(TIMES[-1]), TIMES.size)
    return time.perf_counter() - t0, time.process_time() - c0


def roadrunner_rate(text: str, processes: int, runs: int, rtol: float, atol: float) -> dict[str, float]:
    """Subjects per second of libRoadRunner on ``processes`` processes at once."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes) as pool:
        pool.map(_roadrunner_worker, [(text, 1, rtol, atol)] * processes)  # import once
        out = pool.map(_roadrunner_worker, [(text, runs, rtol, atol)] * processes, chunksize=1)
    # each worker times its own runs after loading the model; they run at once, so the wall time
    # of the whole is the slowest worker's
    wall = max(w for w, _ in out)
    cpu_ms = 1000.0 * sum(c for _, c in out) / (runs * processes)
    return {"processes": processes, "subjects": runs * processes, "wall_s": wall,
            "subjects_per_s": runs * processes / wall, "cpu_ms_per_subject": cpu_ms}


def nadsim_rate(model, n: int, threads: int, tol: Tolerances) -> dict[str, float]:
    P = perturbed_population(model, n, seed=1)
    solver = NativeSolver(threads=threads)
    simulate_batch(model, REGIMEN, TIMES, P[:8], solver=solver, tolerances=tol)  # load the compiled module
    BASELINES.clear()
    rss0 = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ds = simulate_batch(model, REGIMEN, TIMES, P, solver=solver, tolerances=tol, out=Path(tmp) / "run",
                            baseline_cache=None)
        wall = time.perf_counter() - t0
        failed = int(np.count_nonzero(ds["status"].values))
        rss1 = rss_mb()
        del ds
    return {"subjects": n, "threads": threads, "wall_s": wall, "subjects_per_s": n / wall, "failed": failed,
            "rss_growth_mb": rss1 - rss0}


def nadsim_breakdown(model, n: int, tol: Tolerances) -> dict[str, float]:
    """One thread: CPU ms per subject for the baseline and for the run alone."""
    from nadsim.simulate import baselines, compile_model, solve

    cm = compile_model(model)
    P = perturbed_population(model, n, seed=2)
    solver = NativeSolver(threads=1)
    # warm-up on other subjects: the first call of each compiled entry point in a process loads
    # its machine code from Numba's cache (~0.1 s), which is not a per-subject cost
    W = perturbed_population(model, 2, seed=3)
    Yw, _ = baselines(cm, cm.derive(W), solver, tol, cache=None)
    solve(model, REGIMEN, TIMES, W, solver=solver, tolerances=tol, Y0=Yw)
    c0 = time.process_time()
    Y0, _ok = baselines(cm, cm.derive(P), solver, tol, cache=None)
    c1 = time.process_time()
    res = solve(model, REGIMEN, TIMES, P, solver=solver, tolerances=tol, Y0=Y0)
    c2 = time.process_time()
    return {"baseline_cpu_ms": 1000 * (c1 - c0) / n, "run_cpu_ms": 1000 * (c2 - c1) / n,
            "steps": float(np.mean(res.stats["steps"])), "nfev": float(np.mean(res.stats["nfev"]))}


def fresh_processes(repeats: int) -> dict[str, float]:
    """Wall seconds (best of ``repeats``) of a fresh ``nadsim simulate`` and a fresh libRoadRunner."""
    with tempfile.TemporaryDirectory() as tmp:
        sbml = Path(tmp) / "drip.xml"
        sbml.write_text(export_sbml(get_model(), parse_regimen(**ARTICLE)), encoding="utf-8")
        cmd_nadsim = [sys.executable, "-m", "nadsim", "simulate", "--dose", ARTICLE["dose"], "--infusion",
                      ARTICLE["infusion"], "--until", "24 h", "--no-progress"]
        cmd_rr = [sys.executable, "-c", "import roadrunner, sys\nr = roadrunner.RoadRunner(sys.argv[1])\n"
                  "r.simulate(0, 24, 97)", str(sbml)]
        # the floor under any fresh nadsim process: importing the three libraries its engine,
        # units and result type rest on (Numba, pint, xarray), nothing of nadsim
        cmd_floor = [sys.executable, "-c", "import numba, pint, xarray"]
        out = {}
        for name, cmd in (("nadsim_simulate_s", cmd_nadsim), ("roadrunner_fresh_s", cmd_rr),
                          ("import_floor_s", cmd_floor)):
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True)
                best = min(best, time.perf_counter() - t0)
            out[name] = best
    return out


def warm_simulate(repeats: int = 20) -> dict[str, float]:
    model = get_model()
    reg = parse_regimen(**ARTICLE)
    simulate(model, reg)
    t0 = time.perf_counter()
    for _ in range(repeats):
        simulate(model, reg)
    cached = (time.perf_counter() - t0) / repeats
    t0 = time.perf_counter()
    for _ in range(repeats):
        BASELINES.clear()
        simulate(model, reg)
    fresh = (time.perf_counter() - t0) / repeats
    return {"warm_simulate_cached_baseline_ms": 1000 * cached, "warm_simulate_fresh_baseline_ms": 1000 * fresh}


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError, AttributeError):
        cpu = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text()).group(1)  # type: ignore[union-attr]
    import numba
    import roadrunner

    return (f"{os.cpu_count()} CPUs ({cpu}, {platform.machine()}), Python {platform.python_version()}, "
            f"Numba {numba.__version__}, libRoadRunner {roadrunner.__version__}; load average before the run "
            f"{os.getloadavg()[0]:.2f}")


def table(r: dict) -> str:
    p, rr1, rr2, b = r["nadsim"], r["rr_1"], r["rr_n"], r["breakdown"]
    lines = [
        "| what | subjects | wall (s) | subjects/s | ratio |",
        "|---|---|---|---|---|",
        f"| libRoadRunner, 1 process (no baseline) | {rr1['subjects']} | {rr1['wall_s']:.2f} | {rr1['subjects_per_s']:.1f} | - |",
        f"| libRoadRunner, {rr2['processes']} processes at once | {rr2['subjects']} | {rr2['wall_s']:.2f} | {rr2['subjects_per_s']:.1f} | 1 |",
        f"| **nadsim native, {p['threads']} threads, incl. every baseline** | **{p['subjects']}** | **{p['wall_s']:.1f}** | "
        f"**{p['subjects_per_s']:.1f}** | **{p['subjects_per_s'] / rr2['subjects_per_s']:.1f}x** |",
    ]
    lines += [
        "",
        f"Per subject on one core (CPU time): nadsim baseline {b['baseline_cpu_ms']:.2f} ms + run {b['run_cpu_ms']:.2f} ms "
        f"({b['steps']:.0f} steps, {b['nfev']:.0f} right-hand sides); libRoadRunner {rr1['cpu_ms_per_subject']:.1f} ms "
        f"(run only): {rr1['cpu_ms_per_subject'] / b['run_cpu_ms']:.1f}x on the run, "
        f"{rr1['cpu_ms_per_subject'] / (b['run_cpu_ms'] + b['baseline_cpu_ms']):.1f}x with the baseline. "
        f"Failed subjects: {p['failed']}. Caller RSS growth over the run: {p['rss_growth_mb']:.0f} MiB "
        "(file-backed pages of the memory-mapped output included).",
    ]
    if "fresh" in r:
        f, w = r["fresh"], r["warm"]
        lines += ["", f"One simulation (the article's 24 h drip): fresh `nadsim simulate` {f['nadsim_simulate_s']:.2f} s, "
                  f"fresh libRoadRunner process (import, load SBML, simulate) {f['roadrunner_fresh_s']:.2f} s (best of "
                  f"{r['repeats']}); warm `simulate()` {w['warm_simulate_cached_baseline_ms']:.1f} ms with the baseline "
                  f"cached, {w['warm_simulate_fresh_baseline_ms']:.1f} ms computing it. Importing Numba, pint and xarray "
                  f"alone in a fresh process (no nadsim) takes {f['import_floor_s']:.2f} s."]
    return "\n".join(lines)


def write(r: dict, cmd: str) -> None:
    section = (f"{BEGIN}\n## Engine (issue #12)\n\n`{cmd}` — {r['date']}, {r['machine']}.\n\n"
               f"Workload: 12 weekly 300 mg NMN drips, 84 days, 85 daily outputs, rtol {r['rtol']:g} / atol "
               f"{r['rtol'] / 100:g} on both sides, every nadsim subject from its own baseline.\n\n{table(r)}\n{END}")
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    if BEGIN in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        head, _, rest = text.partition("\n")
        text = f"{head}\n\n{section}\n{rest}"
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--rr-runs", type=int, default=40, help="libRoadRunner runs per process")
    ap.add_argument("--breakdown", type=int, default=64, help="subjects for the one-core breakdown")
    ap.add_argument("--fresh", type=int, default=3, help="repeats of the fresh-process timings (0: skip)")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    tol = Tolerances(rtol=a.rtol, atol=a.rtol / 100)
    model = get_model()
    text = export_sbml(model, REGIMEN)
    r: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "rtol": a.rtol,
               "repeats": a.fresh}
    r["rr_1"] = roadrunner_rate(text, 1, a.rr_runs, a.rtol, a.rtol / 100)
    r["breakdown"] = nadsim_breakdown(model, a.breakdown, tol)
    r["nadsim"] = nadsim_rate(model, a.subjects, a.threads, tol)
    r["rr_n"] = roadrunner_rate(text, a.threads, a.rr_runs, a.rtol, a.rtol / 100)
    if a.fresh:
        r["fresh"] = fresh_processes(a.fresh)
        r["warm"] = warm_simulate()
    print(table(r))
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1), encoding="utf-8")
    if a.write:
        write(r, "python benchmarks/bench_engine.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
