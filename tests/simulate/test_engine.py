"""The engine around the solvers: tolerances, status, schedule, baselines and their cache,
batches (chunks, memory maps, Dask), fallbacks and bad input."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from nadsim._errors import InputError, SolverError
from nadsim.dosing import Dose, Regimen, parse_regimen
from nadsim.library import get_model
from nadsim.simulate import (
    PRESETS,
    BaselineCache,
    Status,
    Tolerances,
    baselines,
    compile_model,
    dose_events,
    get_solver,
    resolve_tolerances,
    schedule,
    simulate,
    simulate_batch,
    solve,
)
from nadsim.testing import perturbed_population

from .conftest import one_compartment

ARTICLE = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min")
TIMES = np.linspace(0.0, 24.0, 25)


@pytest.fixture(scope="module")
def model():
    return get_model()


@pytest.fixture(scope="module")
def population(model):
    return perturbed_population(model, 4)


# ------------------------------------------------------------------ tolerances and status
def test_presets_and_overrides():
    assert resolve_tolerances("fast").rtol == 1e-6
    assert resolve_tolerances(None).rtol == 1e-8
    tol = resolve_tolerances("fast", rtol=1e-7)
    assert tol.rtol == 1e-7 and tol.atol == pytest.approx(1e-9, rel=1e-12)  # atol = rtol / 100 when only rtol is given
    assert resolve_tolerances("default", rtol=1e-7, atol=1e-12).atol == 1e-12
    assert tol.baseline_rtol < tol.rtol and tol.orbit_tol < tol.rtol


@pytest.mark.parametrize(("kw", "field"), [({"rtol": 0.5}, "rtol"), ({"rtol": float("nan")}, "rtol"),
                                           ({"atol": -1.0}, "atol"), ({"max_steps": 1}, "max_steps"),
                                           ({"rtol": True}, "rtol"), ({"max_wall_s": 0.0}, "max_wall_s"),
                                           ({"max_wall_s": float("inf")}, "max_wall_s")])
def test_bad_tolerances_name_the_field(kw, field):
    with pytest.raises(InputError, match=field):
        Tolerances(**kw)


def test_unknown_preset_and_solver():
    with pytest.raises(InputError, match="tolerances"):
        resolve_tolerances("sloppy")
    with pytest.raises(InputError, match="solver"):
        get_solver("torch")


def test_status_members_carry_messages():
    assert Status.OK.message == "ok"
    assert all(s.message and s.message != "ok" for s in Status if s is not Status.OK)
    assert [int(s) for s in Status] == list(range(len(Status)))  # stable values, stored in files


# ------------------------------------------------------------------ schedule
def test_schedule_cuts_at_every_event_and_exports_the_same_segments():
    m = one_compartment()
    reg = Regimen((Dose("NMN", "iv", 100.0, 1.0, 0.5), Dose("NMN", "iv_bolus", 50.0, 3.0)))
    sch = schedule(m, reg, 0.0, 6.0)
    np.testing.assert_array_equal(sch.starts, [0.0, 1.0, 1.5, 3.0])
    np.testing.assert_array_equal(sch.ends, [1.0, 1.5, 3.0, 6.0])
    assert sch.rates[:, 0].tolist() == [0.0, reg.doses[0].rate_umol_h, 0.0, 0.0]
    assert sch.bolus[3, 0] == pytest.approx(reg.doses[1].amount_umol) and sch.bolus[:3].sum() == 0
    events = dose_events(m, reg)
    assert [e[0] for e in events] == [1.0, 1.5, 3.0]
    assert events[0][2] == {"inf_NMN": pytest.approx(reg.doses[0].rate_umol_h)}
    assert events[2][1] == {"X": pytest.approx(reg.doses[1].amount_umol)}


def test_route_the_model_lacks_is_an_input_error():
    m = one_compartment()
    with pytest.raises(InputError, match="route"):
        schedule(m, Regimen((Dose("NR", "oral", 100.0, 0.0),)), 0.0, 1.0)


# ------------------------------------------------------------------ baselines
def test_baseline_cache_serves_repeats_and_both_arms(model, population):
    """A patient's baseline is computed once: a repeat and the other arm (placebo: no doses,
    arm switch on) hit the cache and start from the identical state."""
    cache = BaselineCache()
    active = solve(model, ARTICLE, TIMES, population, tolerances=PRESETS["fast"], baseline_cache=cache)
    assert (cache.misses, cache.hits) == (4, 0)
    P = population.copy()
    cm = compile_model(model)
    P[:, cm.pidx("trial_on")] = 1.0
    placebo = solve(model, Regimen.none(), TIMES, P, tolerances=PRESETS["fast"], baseline_cache=cache)
    assert (cache.misses, cache.hits) == (4, 4)
    np.testing.assert_array_equal(active.baseline, placebo.baseline)
    again = solve(model, ARTICLE, TIMES, population, tolerances=PRESETS["fast"], baseline_cache=cache)
    np.testing.assert_array_equal(again.rules, active.rules)


def test_baseline_does_not_depend_on_chunk_companions(model, population):
    """Every subject iterates its own orbit: alone or in a chunk, the same state (to round-off
    of the averaged start's arithmetic, 1e-12 relative)."""
    cm = compile_model(model)
    P = cm.derive(population)
    together, ok = baselines(cm, P, get_solver(), PRESETS["fast"], cache=None)
    alone, ok1 = baselines(cm, P[2:3], get_solver(), PRESETS["fast"], cache=None)
    assert ok.all() and ok1.all()
    np.testing.assert_allclose(together[2], alone[0], rtol=1e-12, atol=1e-15)


def test_compiled_orbit_stragglers_fall_back_to_the_reference(model, population, monkeypatch):
    """A subject whose compiled orbit search does not converge is retried by the NumPy procedure
    over period maps 10x tighter. Forced here by allowing the compiled search one period: every
    subject then takes the fallback, and lands on the orbit the normal search finds (within
    0.05 of a percent relative to max(|y|, 0.1): both stop within ~rtol/3 of the orbit per period,
    from different sides)."""
    import nadsim.simulate.solvers._native as native

    cm = compile_model(model)
    P = cm.derive(population)
    normal, ok = baselines(cm, P, get_solver("native"), PRESETS["fast"], cache=None)
    monkeypatch.setattr(native, "ANDERSON_MAX_ITER", 1)
    fallback, ok_fb = baselines(cm, P, get_solver("native"), PRESETS["fast"], cache=None)
    assert ok.all() and ok_fb.all()
    scale = np.maximum(np.abs(normal), 0.1)
    assert np.max(np.abs(fallback - normal) / scale) < 5e-4


def test_noise_limited_straggler_gets_its_baseline():
    """Subject 7430 of the engine benchmark's population (``perturbed_population(full, 10000,
    seed=1)``, 2026-12-03 fit): its orbit residual stalled at 3-8e-7 in cortisol_pl, the noise of
    its day map, above the acceptance of rtol/3, so both the compiled search and a fallback over
    the same maps ran out of periods (NO_BASELINE). The fallback's tighter maps settle it."""
    model = get_model()
    cm = compile_model(model)
    P = cm.derive(perturbed_population(model, 10000, seed=1)[7430:7431])
    Y0, ok = baselines(cm, P, get_solver("native"), PRESETS["fast"], cache=None)
    assert ok.all() and np.all(np.isfinite(Y0))


def test_subject_without_baseline_is_a_status(model, population):
    cm = compile_model(model)
    P = population[:2].copy()
    P[1, cm.pidx("T_day")] = 1e-3  # a forcing period of 3.6 s: no orbit within the step budget
    res = solve(model, ARTICLE, TIMES, P, tolerances=Tolerances(rtol=1e-6, atol=1e-8, max_steps=20_000))
    assert res.status[0] == Status.OK
    assert res.status[1] != Status.OK and np.all(np.isnan(res.rules[1]))


# ------------------------------------------------------------------ faces
def test_simulate_raises_for_a_failed_subject_and_records_metadata(model):
    ds = simulate(model, ARTICLE, TIMES, tolerances="fast")
    assert ds.attrs["solver"] == get_solver().describe()
    assert ds.attrs["rtol"] == 1e-6 and "orbit_tol" in ds.attrs["tolerances"]
    assert ds["whole_blood_NAD"].attrs["units"] == "uM" and "subject" not in ds.dims
    day = model.parameters["T_day"]
    broken = model.with_parameter_objects([replace(day, value=1e-3, bounds=(1e-3, day.bounds[1]))])
    with pytest.raises(SolverError):
        simulate(broken, ARTICLE, TIMES, tolerances=Tolerances(rtol=1e-6, atol=1e-8, max_steps=20_000))


def test_batch_result_streams_to_disk_identically(model, population, tmp_path):
    mem = simulate_batch(model, ARTICLE, TIMES, population, keep_states=True)
    disk = simulate_batch(model, ARTICLE, TIMES, population, chunk_size=3, out=tmp_path / "run", keep_states=True)
    assert disk.sizes == {"subject": 4, "time": TIMES.size}
    for v in ("whole_blood_NAD", "HAMD", "NAD_b", "status"):
        np.testing.assert_array_equal(disk[v].values, mem[v].values)
    assert (tmp_path / "run" / "meta.json").exists() and (tmp_path / "run" / "rules.npy").exists()


def test_batch_progress_reaches_the_total(model, population):
    seen: list[tuple[int, int]] = []
    simulate_batch(model, ARTICLE, TIMES, population, progress=lambda d, n: seen.append((d, n)))
    assert seen and seen[-1] == (4, 4) and all(b == 4 for _, b in seen)


def test_dask_local_cluster_identical(model, population):
    """Two worker processes on loopback give the single-process numbers exactly."""
    distributed = pytest.importorskip("distributed")
    mem = simulate_batch(model, ARTICLE, TIMES, population)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as lc, distributed.Client(lc) as client:
        res = simulate_batch(model, ARTICLE, TIMES, population, cluster=client, chunk_size=2)
    np.testing.assert_array_equal(res["HAMD"].values, mem["HAMD"].values)
    np.testing.assert_array_equal(res["status"].values, mem["status"].values)


@pytest.mark.parametrize(("kw", "field"), [
    ({"params": "P5"}, "params"), ({"times": "reversed"}, "times"), ({"chunk_size": 0}, "chunk_size"),
    ({"solver": "torch"}, "solver"), ({"tolerances": "sloppy"}, "tolerances")])
def test_batch_bad_inputs(model, population, kw, field):
    args = {"params": population, "times": TIMES}
    if kw.get("params") == "P5":
        kw = {"params": population[:, :5]}
    if kw.get("times") == "reversed":
        kw = {"times": TIMES[::-1]}
    call = {**args, **kw}
    with pytest.raises(InputError, match=field):
        simulate_batch(model, ARTICLE, call.pop("times"), call.pop("params"), **call)


def test_runs_without_numba_or_jax():
    """Where Numba cannot be imported, the default solver falls back to the SciPy reference with
    a one-line warning, and asking for JAX without it is an input error naming the solver."""
    code = (
        "import sys, warnings; sys.modules['numba'] = None; sys.modules['jax'] = None\n"
        "import numpy as np\n"
        "from nadsim.library import build_nad_core\n"
        "from nadsim.simulate import compile_model, simulate_batch\n"
        "from nadsim._errors import InputError\n"
        "m = build_nad_core(); cm = compile_model(m)\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    r = simulate_batch(m, None, [0.0, 1.0], cm.base_parameters())\n"
        "assert r['status'].values.tolist() == [0], r['status'].values\n"
        "assert r.attrs['solver'].startswith('scipy'), r.attrs['solver']\n"
        "assert any('native solver unavailable' in str(x.message) for x in w)\n"
        "try:\n"
        "    simulate_batch(m, None, [0.0, 1.0], cm.base_parameters(), solver='jax')\n"
        "except InputError as e:\n"
        "    assert 'jax' in str(e)\n"
        "else:\n"
        "    raise SystemExit('expected InputError')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_cli_backend_choices_are_the_solver_registry():
    """The CLI keeps its own copy of the solver names (importing the registry would load SciPy
    for ``--help``); this keeps the two equal."""
    from nadsim.cli._options import Backend
    from nadsim.simulate import SOLVERS

    assert [b.value for b in Backend] == list(SOLVERS)


_HASH_RUN = """
import hashlib, sys
import numpy as np
sys.path.insert(0, {conftest_dir!r})
from conftest import one_compartment
from nadsim.dosing import Regimen
from nadsim.simulate import compile_model, solve, resolve_tolerances
from nadsim.simulate.solvers import _native
m = one_compartment()
reg = Regimen.repeated("NMN", "iv", 300.0, duration_h=1 / 3, every_h=24, n_doses=2)
r = solve(m, reg, np.linspace(0.0, 48.0, 25), compile_model(m).base_parameters()[None, :],
          solver="native", tolerances=resolve_tolerances(None), baseline_cache=None)
mod = _native.load(m)
print(sum(sum(getattr(mod, e).stats.cache_misses.values()) for e in mod.ENTRIES))
print(hashlib.sha256(r.states.tobytes()).hexdigest())
"""


def test_native_code_is_the_cached_code_in_every_process(tmp_path):
    """Every process runs the machine code from Numba's cache, the first one included (it is
    compiled in a child process), so a run and its resume in another process agree bit for bit.
    Two fresh interpreters on an empty cache: neither compiles an entry point itself, and their
    results are equal (tolerance: none, equal hashes)."""
    import os
    from pathlib import Path

    code = _HASH_RUN.format(conftest_dir=str(Path(__file__).parent))
    env = {**os.environ, "NADSIM_CACHE_DIR": str(tmp_path / "cache")}
    first, second = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                                    check=True, env=env).stdout.split() for _ in range(2))
    assert first[-2] == second[-2] == "0", "an entry point was compiled in the process itself"
    assert first[-1] == second[-1]
