"""Benchmark: batched population simulation vs SciPy and libRoadRunner, subject by subject.

Workload (issue #5): the default (full) model, 12 weekly 300 mg NMN IV drips over 20 min,
outputs on a daily grid (85 times), rtol 1e-8 / atol 1e-10 on every solver, each subject from
its own undosed baseline, free parameters scaled by exp(N(0, 0.1)) within their bounds.

    python benchmarks/bench_batch.py --sizes 256 1024 --chunk-size 256 --json results.json
    python benchmarks/bench_batch.py --sizes 10000 --cluster tcp://scheduler:8786
    python benchmarks/bench_batch.py --rtol 1e-6 ...   # every solver at the looser tolerance
    python benchmarks/bench_batch.py --cluster local --workers 2 --sizes 256 --chunk-size 16

With ``--cluster local`` a Dask cluster of ``--workers`` single-threaded processes is started
once and warmed up (every worker compiles its program before the timings), and libRoadRunner
is also run on that many processes at once, so both sides use the same cores.

With ``--chunk-size C`` every chunk is padded to C lanes (``_jax.MIN_BUCKET = C``), so the
warm-up compiles the one program all timed runs use and no timing includes compilation.

Per-subject SciPy and libRoadRunner times come from a few subjects (``--ref-subjects``), since
one SciPy subject takes seconds; libRoadRunner runs the SBML export of the base subject
(``nadsim.io.export_sbml``) after ``resetAll`` each time, i.e. without a per-subject baseline
(a lower bound on its cost). Peak memory is the growth of the process's peak RSS over the run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import tempfile
import time

import numpy as np

from nadsim.dosing import parse_regimen
from nadsim.simulate import compile_model
from nadsim.simulate._api import default_model
from nadsim.simulate.batch import free_parameter_mask, simulate_batch

REGIMEN = dict(compound="NMN", route="iv", dose="300 mg", infusion="20 min", every="7 d", doses=12)
TIMES = np.arange(0.0, 12 * 168.0 + 1.0, 24.0)
RTOL, ATOL = 1e-8, 1e-10  # --rtol sets both (atol = rtol / 100)


def population(model, n: int, seed: int = 0) -> np.ndarray:
    cm = compile_model(model)
    base = np.array([model.parameters[k].value for k in cm.parameter_names])
    lo = np.array([model.parameters[k].bounds[0] for k in cm.parameter_names])
    hi = np.array([model.parameters[k].bounds[1] for k in cm.parameter_names])
    rng = np.random.default_rng(seed)
    P = np.clip(base * rng.lognormal(0.0, 0.1, (n, base.size)), lo, hi)
    return np.where(free_parameter_mask(cm), P, base)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus_visible": os.cpu_count()}
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
        with open("/proc/cpuinfo") as fh:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
        with open("/proc/meminfo") as fh:
            info["mem_total_gb"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        import jax

        info["jax"] = jax.__version__
        info["jax_devices"] = [str(d) for d in jax.devices()]
    except ImportError:
        pass
    return info


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker_rss_mb(cluster) -> dict | None:
    """Peak and current RSS (MiB) of every worker of a Dask client (``None`` without one)."""
    if cluster is None or isinstance(cluster, str):
        return None
    return {"peak": cluster.run(peak_rss_mb), "now": cluster.run(_rss_now_mb)}


def bench_batched(model, reg, n: int, backend: str, device: str, cluster: str | None, chunk: int | None,
                  method: str | None) -> dict:
    P = population(model, n)
    rss0 = peak_rss_mb()
    workers0 = worker_rss_mb(cluster)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        res = simulate_batch(model, reg, TIMES, P, backend=backend, device=device, rtol=RTOL, atol=ATOL,
                             cluster=cluster, chunk_size=chunk, out=os.path.join(tmp, "run"), method=method)
        dt = time.perf_counter() - t
        failed = int(np.count_nonzero(np.asarray(res.status)))
    return {"n": n, "backend": backend, "method": method, "device": device, "cluster": cluster if cluster is None or isinstance(cluster, str) else "local, warmed up", "chunk_size": chunk,
            "seconds": dt, "subjects_per_s": n / dt, "failed": failed,
            "peak_rss_growth_mb": peak_rss_mb() - rss0,
            "workers_rss_mb_before": workers0, "workers_rss_mb_after": worker_rss_mb(cluster)}


def bench_scipy(model, reg, k: int) -> dict:
    P = population(model, k, seed=1)
    t = time.perf_counter()
    res = simulate_batch(model, reg, TIMES, P, backend="numpy", rtol=RTOL, atol=ATOL)
    dt = time.perf_counter() - t
    return {"n": k, "seconds": dt, "subjects_per_s": k / dt, "failed": int(np.count_nonzero(res.status))}


def _time_roadrunner(sbml: str, times: list[float], k: int, rtol: float, atol: float,
                     barrier=None) -> float:
    """Seconds for ``k`` runs of the base subject (``resetAll`` before each). Loading and JIT
    happen before the clock starts, and before ``barrier`` (processes that start together).
    Tolerances are arguments: a spawned process does not see ``--rtol``'s change of RTOL."""
    import roadrunner

    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.integrator.max_steps = 200_000
    rr.simulate(times=times)
    if barrier is not None:
        barrier.wait()
    t = time.perf_counter()
    for _ in range(k):
        rr.resetAll()
        rr.simulate(times=times)
    return time.perf_counter() - t


def bench_roadrunner(model, reg, k: int) -> dict:
    try:
        import roadrunner  # noqa: F401

        from nadsim.io import export_sbml
    except ImportError as exc:
        return {"skipped": str(exc)}
    dt = _time_roadrunner(export_sbml(model, reg), [float(x) for x in TIMES], k, RTOL, ATOL)
    return {"n": k, "seconds": dt, "subjects_per_s": k / dt, "note": "base subject, resetAll, no baseline"}


def bench_roadrunner_procs(model, reg, k: int, procs: int) -> dict:
    """libRoadRunner on ``procs`` processes at once, ``k`` runs each (all start together)."""
    try:
        import roadrunner  # noqa: F401

        from nadsim.io import export_sbml
    except ImportError as exc:
        return {"skipped": str(exc)}
    sbml = export_sbml(model, reg)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as mgr:
        barrier = mgr.Barrier(procs)
        with ctx.Pool(procs) as pool:
            walls = pool.starmap(_time_roadrunner,
                                 [(sbml, [float(x) for x in TIMES], k, RTOL, ATOL, barrier)] * procs)
    dt = max(walls)
    return {"n": k * procs, "processes": procs, "seconds": dt, "subjects_per_s": k * procs / dt,
            "note": "base subject, resetAll, no baseline; all processes at once"}


def warm_cluster(model, reg, client, chunk: int, method: str | None) -> float:
    """Run two chunks per worker so that every worker has compiled before the timings."""
    workers = len(client.nthreads())
    t = time.perf_counter()
    simulate_batch(model, reg, TIMES, population(model, 2 * workers * chunk, seed=2), backend="jax",
                   rtol=RTOL, atol=ATOL, cluster=client, chunk_size=chunk, method=method)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--backend", default="jax")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cluster", default=None, help="Dask scheduler address, or 'local'")
    ap.add_argument("--workers", type=int, default=None, help="processes of --cluster local (default: all cores)")
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--ref-subjects", type=int, default=3)
    ap.add_argument("--method", default=None, help="jax integrator: bdf (default), rodas5p, kvaerno5")
    ap.add_argument("--rtol", type=float, default=None, help="relative tolerance of every solver (atol = rtol/100)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    global RTOL, ATOL
    if a.rtol is not None:
        RTOL, ATOL = a.rtol, a.rtol / 100
    if a.backend == "jax" and a.chunk_size:
        from nadsim.simulate import _jax

        _jax.MIN_BUCKET = a.chunk_size  # one program for every chunk, compiled in the warm-up
    model = default_model()
    reg = parse_regimen(**REGIMEN)
    out: dict = {"machine": machine(), "model": model.name, "n_states": compile_model(model).n_states,
                 "regimen": reg.describe(), "n_times": int(TIMES.size), "rtol": RTOL, "atol": ATOL}
    # compile once outside the timings (8 subjects: the smallest bucket)
    t = time.perf_counter()
    simulate_batch(model, reg, TIMES, population(model, 8), backend=a.backend, device=a.device, rtol=RTOL, atol=ATOL,
                   method=a.method if a.backend == "jax" else None)
    out["warmup_s"] = time.perf_counter() - t
    out["method"] = a.method or ("bdf" if a.backend == "jax" else "LSODA")
    print(f"warm-up (compile + 8 subjects in a chunk of {a.chunk_size or 8}): {out['warmup_s']:.1f} s", flush=True)
    out["scipy"] = bench_scipy(model, reg, a.ref_subjects)
    print("scipy", out["scipy"], flush=True)
    out["roadrunner"] = bench_roadrunner(model, reg, max(a.ref_subjects, 50))  # ~0.1 s each: many, for a stable rate
    print("roadrunner", out["roadrunner"], flush=True)
    cluster, to_close = a.cluster, []
    if a.cluster == "local":
        from distributed import Client

        from nadsim.scale import local_cluster

        lc = local_cluster(a.workers)
        cluster = Client(lc)
        to_close = [cluster, lc]
        workers = len(cluster.nthreads())
        out["cluster"] = {"kind": "local", "workers": workers, "threads_per_worker": 1}
        out["roadrunner_procs"] = bench_roadrunner_procs(model, reg, 25, workers)
        print("roadrunner on", workers, "processes", out["roadrunner_procs"], flush=True)
        out["cluster"]["warmup_s"] = warm_cluster(model, reg, cluster, a.chunk_size or 16,
                                                  a.method if a.backend == "jax" else None)
        print(f"cluster warm-up: {out['cluster']['warmup_s']:.1f} s", flush=True)
    out["batched"] = []
    for n in a.sizes:
        r = bench_batched(model, reg, n, a.backend, a.device, cluster, a.chunk_size,
                          a.method if a.backend == "jax" else None)
        for ref in ("scipy", "roadrunner", "roadrunner_procs"):
            if "subjects_per_s" in out.get(ref, {}):
                r[f"x_{ref}"] = r["subjects_per_s"] / out[ref]["subjects_per_s"]
        out["batched"].append(r)
        print(r, flush=True)
        if a.json:
            with open(a.json, "w") as fh:
                json.dump(out, fh, indent=1)
    for obj in to_close:
        obj.close()
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
