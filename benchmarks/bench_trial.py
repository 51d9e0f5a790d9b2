"""Trial benchmark (issue #14): the example trial end to end, as a user runs it.

``nadsim trial run examples/trials/nmn-drip-depression.toml`` in a fresh process on 2 worker
processes: 100 per arm, weekly visits, 8 weeks; 1000 digital twins under both arms, 20
parameter draws x 25 twins for assurance (1,500 patients x 2 arms = 3,000 simulations), then
the analysis (ANCOVA, MMRM, subgroups, 1000 replicate trials per n on a 9-point grid, and
the assurance curve). The wall time is the whole command, Python start-up and worker
start-up included; the machine and its load at the start are recorded because this box is
shared and swings by tens of percent between runs. The CPU time of the command and all its
workers (``getrusage`` of the reaped children) is load-independent: CPU / 2 is what the run
would take on 2 idle cores if it kept both busy. The run's registry gives the phases: start-up
(Python, imports, model, validation, up to the run's registration), the simulation of the chunks
(worker processes) and the analysis (``finalize``: the ANCOVA/MMRM, subgroups, the replicate
trials of the power curve and assurance, the check at the extrapolated n), in wall seconds.
Whether bytecode caches were written (``PYTHONDONTWRITEBYTECODE``) is recorded: without them
every process compiles nadsim and its dependencies at import.

    python benchmarks/bench_trial.py --write     # replaces the latest trial table in benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "trials" / "nmn-drip-depression.toml"
RESULTS = Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- trial-latest:begin -->", "<!-- trial-latest:end -->"
TARGET_S = 30.0


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def run(workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="nadsim-bench-trial-") as d:
        env = {**os.environ, "NADSIM_HOME": str(Path(d) / "home")}
        load0 = os.getloadavg()[0]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0, epoch0 = time.perf_counter(), time.time()
        res = subprocess.run([sys.executable, "-m", "nadsim", "trial", "run", str(EXAMPLE), "--out", str(Path(d) / "out"),
                              "--workers", str(workers), "--no-progress"], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        if res.returncode != 0:
            raise SystemExit(res.stderr)
        s = json.loads((Path(d) / "out" / "summary.json").read_text(encoding="utf-8"))
        with sqlite3.connect(Path(d) / "home" / "registry.sqlite") as db:
            created, started, finished, compute = db.execute(
                "SELECT created, started, finished, compute_s FROM runs").fetchone()
    phases = {"startup_s": created - epoch0, "chunks_s": compute, "analysis_s": finished - started - compute}
    return {"wall_s": wall, "cpu_s": cpu, "load_at_start": load0, "load_at_end": os.getloadavg()[0], "summary": s,
            "stdout": res.stdout, "phases": phases, "bytecode": not os.environ.get("PYTHONDONTWRITEBYTECODE")}


def section(r: dict, workers: int) -> str:
    s = r["summary"]
    te, rep, nfp, nfa = s["true_effect"], s["replicates"], s["n_for_power"], s["n_for_assurance"]
    pr = s.get("placebo_response") or {}
    ph = r["phases"]
    bands = "; ".join(f"{k}: {100 * v['rate']:.1f} % (n {v['n_patients']})" for k, v in (pr.get("by_baseline") or {}).items()
                      if v.get("rate") is not None)
    a = next(iter(s["power"].values()))["assurance"]
    ok = "met" if r["wall_s"] < TARGET_S else "missed"
    n80 = (f"{nfp['n_first_grid_point']} (grid)" if nfp["reached_in_grid"] else
           f"not reached within the grid (<= {nfp['grid_max']}); normal approximation {nfp.get('n_normal_approx')} "
           f"(over the effect's CI: {nfp.get('n_normal_approx_range')})")
    return "\n".join([
        f"Latest: `python benchmarks/bench_trial.py --write` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"machine: {machine()}; load average {r['load_at_start']:.1f} at the start, {r['load_at_end']:.1f} at the end "
        f"(the CPU time is the load-independent figure); bytecode caches {'on' if r['bytecode'] else 'off'}.", "",
        "| what | value |", "|---|---|",
        f"| example trial, whole `nadsim trial run` ({workers} workers), wall | {r['wall_s']:.1f} s (target < {TARGET_S:.0f} s: {ok}) |",
        f"| CPU time of the command and its workers (/ 2 cores) | {r['cpu_s']:.1f} s ({r['cpu_s'] / 2:.1f} s) |",
        f"| wall by phase: start-up, simulation of the chunks, analysis | {ph['startup_s']:.1f} s, {ph['chunks_s']:.1f} s, "
        f"{ph['analysis_s']:.1f} s |",
        f"| patients simulated under both arms | {s['pool_size']} twins + {a['draws']} draws x {a['patients_per_draw']} |",
        f"| true effect ({te['contrast']}, {te['endpoint']}) | {te['estimate']:.3f} {te['unit']} "
        f"[{te['ci'][0]:.3f}, {te['ci'][1]:.3f}] |",
        f"| replicate mean +/- MC SE ({rep['n']} trials at {rep['n_per_arm']}/arm) | {rep['mean_effect']:.3f} +/- "
        f"{rep['se_mean_effect']:.3f} |",
        f"| power at {s['n_per_arm']}/arm | {s['power_at_n']:.3f} |",
        f"| n/arm for 80 % power | {n80} |",
        f"| assurance at {s['n_per_arm']}/arm | {s['assurance']:.3f} +/- {s['assurance_mc_se']:.3f} |",
        f"| n/arm for 80 % assurance | {nfa['n'] if nfa['reached_in_grid'] else nfa['note']} |",
        f"| placebo response rate (model, expectation over rater error) | {100 * pr.get('rate', float('nan')):.1f} % "
        f"(trials 35-40 %; one error draw {100 * pr.get('rate_one_error_draw', float('nan')):.1f} %; {bands}) |"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="replace the latest trial table in benchmarks/RESULTS.md")
    a = ap.parse_args()
    r = run(a.workers)
    text = section(r, a.workers)
    print(r["stdout"])
    print(text)
    if a.write:
        old = RESULTS.read_text(encoding="utf-8")
        head, rest = old.split(BEGIN, 1)
        RESULTS.write_text(f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")


if __name__ == "__main__":
    main()
