"""GPU check for issue #12: one short, prepared run of the JAX solver on a CUDA device.

1. Correctness: 8 perturbed subjects, 12 weekly drips, from baselines made on the CPU machine
   with the native solver (``--make-ref`` writes baselines, parameters and the native results
   to an .npz that travels with the run); the JAX solver on the GPU integrates from the same
   baselines, and every declared output is compared (``nadsim.testing.rel_err``, floor 1e-3 of
   each output's scale; the CI agreement target is 1e-4).
2. Throughput: populations of 10^5 and 10^6 subjects x 12 weeks (weekly outputs), chunks of
   ``--chunk`` lanes, each subject's own baseline (averaged start on the host CPU with the
   native code, orbit with the JAX period map), streamed to disk; a wall-clock guard stops
   before the lease runs out. The native solver on the same host's cores is timed on
   ``--cpu-subjects`` subjects for a same-machine ratio.

Writes ``$OUT/gpu_check.json`` after every step.

    python benchmarks/gpu_check.py --make-ref .gpuenv/gpu_ref.npz      # here, on the CPU machine
    python benchmarks/gpu_check.py --ref .gpuenv/gpu_ref.npz           # on the GPU machine
    python benchmarks/gpu_check.py --ref .gpuenv/gpu_ref.npz --device cpu --chunk 8 --sizes 16
                                                                       # rehearsal on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from nadsim.dosing import Regimen
from nadsim.library import get_model
from nadsim.simulate import (
    BASELINES,
    PRESETS,
    baselines,
    compile_model,
    simulate_batch,
    solve,
)
from nadsim.simulate.solvers import JaxSolver, NativeSolver
from nadsim.testing import perturbed_population, rel_err

REGIMEN = Regimen.repeated("NMN", "iv", 300.0, duration_h=1 / 3, every_h=168.0, n_doses=12)
#: weekly outputs (13 times): 10^6 subjects x 13 x 56 outputs is 5.8 GB on disk already
TIMES = np.arange(0.0, 12 * 168.0 + 1.0, 168.0)
TOL = PRESETS["fast"]


def declared(model, rules: np.ndarray) -> np.ndarray:
    names = [r.name for r in model.rules]
    return rules[..., [names.index(o) for o in model.outputs if o in names]]


def make_ref(path: str) -> None:
    model = get_model()
    cm = compile_model(model)
    P = perturbed_population(model, 8, seed=3)
    Y0, ok = baselines(cm, cm.derive(P), NativeSolver(), TOL, cache=None)
    assert ok.all()
    res = solve(model, REGIMEN, TIMES, P, tolerances=TOL, Y0=Y0)
    np.savez(path, P=P, Y0=Y0, rules=res.rules, model_hash=model.hash())
    print(f"wrote {path}: 8 subjects, model {model.hash()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--make-ref", default=None)
    ap.add_argument("--ref", default=None)
    ap.add_argument("--device", default="gpu")
    ap.add_argument("--chunk", type=int, default=65_536)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--cpu-subjects", type=int, default=64)
    ap.add_argument("--budget-s", type=float, default=420.0)
    a = ap.parse_args()
    if a.make_ref:
        make_ref(a.make_ref)
        return
    t_start = time.perf_counter()
    out_dir = Path(os.environ.get("OUT", "."))
    report: dict = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs", "device": a.device}

    def dump() -> None:
        (out_dir / "gpu_check.json").write_text(json.dumps(report, indent=1), encoding="utf-8")

    import jax

    report["jax"] = {"version": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    model = get_model()
    solver = JaxSolver(device=a.device)
    if a.ref:
        ref = np.load(a.ref)
        report["ref_model_matches"] = str(ref["model_hash"]) == model.hash()
        t0 = time.perf_counter()
        res = solve(model, REGIMEN, TIMES, ref["P"], solver=solver, tolerances=TOL, Y0=ref["Y0"])
        report["correctness"] = {"status": res.status.tolist(), "wall_s_incl_compile": time.perf_counter() - t0,
                                 "max_rel_err_declared_outputs": float(
                                     rel_err(declared(model, res.rules), declared(model, ref["rules"])).max())}
        dump()
    P_all = perturbed_population(model, max(a.sizes), seed=4)
    t0 = time.perf_counter()
    simulate_batch(model, REGIMEN, TIMES, P_all[: a.cpu_subjects], solver=NativeSolver(), baseline_cache=None)
    report["native_same_host"] = {"subjects": a.cpu_subjects, "subjects_per_s": a.cpu_subjects / (time.perf_counter() - t0)}
    dump()
    for n in a.sizes:
        left = a.budget_s - (time.perf_counter() - t_start)
        if left < 30:
            report.setdefault("skipped", []).append(n)
            break
        tmp = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        BASELINES.clear()
        t0 = time.perf_counter()
        try:
            ds = simulate_batch(model, REGIMEN, TIMES, P_all[:n], solver=solver, chunk_size=a.chunk, out=tmp / "run",
                                baseline_cache=None)
            wall = time.perf_counter() - t0
            report[f"n_{n}"] = {"wall_s": wall, "subjects_per_s": n / wall,
                                "failed": int(np.count_nonzero(ds["status"].values))}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        dump()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
