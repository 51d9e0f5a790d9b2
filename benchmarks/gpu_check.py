"""GPU check for issue #5, one short run on a CUDA device (JAX backend, ``device="gpu"``).

1. Correctness: 8 perturbed subjects, 12 weekly drips, against CPU reference results made
   with the SciPy backend on a CPU (``--make-ref`` writes them to an .npz; carried along).
2. CPU reference on the same machine: the SciPy backend, subject by subject (``--cpu-ref``
   subjects). libRoadRunner is not installed on the GPU image (no registry there), so its
   ratio can only be taken against the CPU machine's run of ``bench_batch.py``.
3. Throughput: populations of 1e4, 1e5, 1e6 subjects x 12 weeks, full model, weekly outputs,
   streamed to disk in chunks (``out=``), with a wall-clock guard so the run fits its lease.

Every run uses one compiled program: chunks are padded to ``--chunk`` lanes.
Writes ``$OUT/gpu_check.json`` after each step.

    python benchmarks/gpu_check.py --make-ref .gpuenv/gpu_ref.npz          # on the CPU machine
    PYTHONPATH=src:.gpuenv python benchmarks/gpu_check.py --ref .gpuenv/gpu_ref.npz
    python benchmarks/gpu_check.py --ref .gpuenv/gpu_ref.npz --device cpu --chunk 8 --sizes 16 --cpu-ref 1
                                                           # rehearsal of the script on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from benchmarks.bench_batch import ATOL, REGIMEN, RTOL, machine, population

#: weekly outputs (13 times): 10^6 subjects x 13 x 56 outputs is 5.8 GB on disk already
TIMES = np.arange(0.0, 12 * 168.0 + 1.0, 168.0)


def rel_err(a: np.ndarray, b: np.ndarray, floor: float = 1e-6) -> float:
    fl = np.maximum(1e-6 * np.nanmax(np.abs(b), axis=-2, keepdims=True), floor)
    return float(np.nanmax(np.abs(a - b) / np.maximum(np.abs(b), fl)))


def err_of_range(a: np.ndarray, b: np.ndarray, floor: float = 1e-6) -> float:
    """Largest error relative to each output's own range over time (as the CI test judges the
    HAM-D contributions, which cross zero and make an element-wise relative error meaningless)."""
    scale = np.nanmax(np.abs(b), axis=-2, keepdims=True)
    return float(np.nanmax(np.abs(a - b) / np.maximum(scale, floor)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-ref", default=None)
    ap.add_argument("--ref", default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--chunk", type=int, default=65_536)
    ap.add_argument("--budget-s", type=float, default=420.0)
    ap.add_argument("--method", default="bdf", help="jax integrator: bdf, rodas5p, kvaerno5")
    ap.add_argument("--cpu-ref", type=int, default=2, help="subjects for the SciPy timing (0: skip)")
    ap.add_argument("--device", default="gpu", help="gpu; cpu only to rehearse the script on a small run")
    a = ap.parse_args()
    from nadsim.dosing import parse_regimen
    from nadsim.simulate._api import default_model
    from nadsim.simulate.batch import simulate_batch

    model = default_model()
    reg = parse_regimen(**REGIMEN)
    P8 = population(model, 8, seed=7)
    if a.make_ref:
        res = simulate_batch(model, reg, TIMES, P8, backend="numpy", rtol=RTOL, atol=ATOL)
        idx = [res.rule_names.index(n) for n in model.outputs if n in res.rule_names]
        np.savez(a.make_ref, P=P8, rules=res.rules, status=res.status, idx=np.array(idx))
        print("reference written", a.make_ref, res.status)
        return
    import jax

    from nadsim.simulate import _jax

    t_start = time.perf_counter()
    out_dir = os.environ.get("OUT", "/tmp/out")
    os.makedirs(out_dir, exist_ok=True)
    report: dict = {"machine": machine(), "chunk": a.chunk, "method": a.method, "model": model.name,
                    "n_times": int(TIMES.size), "rtol": RTOL, "atol": ATOL}

    def dump() -> None:
        with open(os.path.join(out_dir, "gpu_check.json"), "w") as fh:
            json.dump(report, fh, indent=1)

    _jax.MIN_BUCKET = a.chunk
    ref = np.load(a.ref)
    t = time.perf_counter()
    res = simulate_batch(model, reg, TIMES, ref["P"], backend="jax", device=a.device, rtol=RTOL, atol=ATOL,
                         method=a.method)
    report["first_call_s"] = time.perf_counter() - t  # compile + one padded chunk
    idx = ref["idx"]
    report["correctness"] = {
        "status": res.status.tolist(),
        "max_rel_err_outputs": rel_err(res.rules[..., idx], ref["rules"][..., idx]),
        "max_rel_err_all_rules": rel_err(res.rules, ref["rules"]),
        "max_err_of_range_all_rules": err_of_range(res.rules, ref["rules"]),
    }
    print("correctness", report["correctness"], "first call", report["first_call_s"], flush=True)
    dump()
    if a.cpu_ref:
        t = time.perf_counter()
        cpu = simulate_batch(model, reg, TIMES, ref["P"][: a.cpu_ref], backend="numpy", rtol=RTOL, atol=ATOL)
        dt = time.perf_counter() - t
        report["scipy_cpu_same_machine"] = {"n": a.cpu_ref, "seconds": dt, "subjects_per_s": a.cpu_ref / dt,
                                            "failed": int(np.count_nonzero(cpu.status))}
        print("scipy on this machine's CPU", report["scipy_cpu_same_machine"], flush=True)
        dump()
    report["runs"] = []
    scratch = "/tmp/nadsim_gpu_run"
    for n in a.sizes:
        elapsed = time.perf_counter() - t_start
        per = report["runs"][-1]["seconds"] / report["runs"][-1]["n"] if report["runs"] else None
        if per is not None and elapsed + per * n * 1.1 > a.budget_s:
            report["runs"].append({"n": n, "skipped": f"predicted {per * n:.0f} s exceeds the budget"})
            dump()
            continue
        P = population(model, n, seed=3)
        shutil.rmtree(scratch, ignore_errors=True)
        t = time.perf_counter()
        r = simulate_batch(model, reg, TIMES, P, backend="jax", device=a.device, rtol=RTOL, atol=ATOL,
                           chunk_size=a.chunk, out=scratch, method=a.method)
        dt = time.perf_counter() - t
        stats = (jax.devices()[0].memory_stats() if a.device == "gpu" else None) or {}
        row = {"n": n, "seconds": dt, "subjects_per_s": n / dt, "failed": int(np.count_nonzero(r.status)),
               "x_scipy_same_machine": (n / dt) / report["scipy_cpu_same_machine"]["subjects_per_s"]
               if "scipy_cpu_same_machine" in report else None,
               "gpu_peak_bytes": stats.get("peak_bytes_in_use"),
               "disk_bytes": sum(os.path.getsize(os.path.join(scratch, f)) for f in os.listdir(scratch))}
        report["runs"].append(row)
        print(row, flush=True)
        dump()
        del P, r
    shutil.rmtree(scratch, ignore_errors=True)
    report["total_s"] = time.perf_counter() - t_start
    dump()


if __name__ == "__main__":
    main()
