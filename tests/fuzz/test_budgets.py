"""Every solve is bounded (issue #15): one subject with extreme parameters, or a regimen at the
edge of the limits, ends with a status in bounded time and never holds up its batch.

The engine's budgets are the native solver's: ``Tolerances.max_steps`` over all segments of a
subject, and a failure status when the step size falls below the resolution of time. The issue's
hangs (an infusion of 1e-300 min, boluses 1e-300 h apart, one extreme subject in a population)
are checked here against a wall-clock bound of 60 s per batch (the fuzz suite's "hang").
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from nadsim.dosing import Dose, Regimen, parse_regimen
from nadsim.library import get_model
from nadsim.simulate import Status, compile_model, free_parameter_mask, simulate_batch

HANG_S = 60.0


@pytest.fixture(scope="module")
def model():
    return get_model()


def _extreme_population(model, factor: float, n_extreme: int, seed: int = 3) -> np.ndarray:
    """The reference adult, then subjects whose free parameters are scaled by ``factor`` (one
    parameter each, cycling), far outside their documented bounds."""
    cm = compile_model(model)
    base = np.array([model.parameters[p].value for p in cm.parameter_names])
    free = np.flatnonzero(free_parameter_mask(cm) & (base != 0))
    rng = np.random.default_rng(seed)
    P = np.repeat(base[None, :], 1 + n_extreme, axis=0)
    for i, j in enumerate(rng.choice(free, n_extreme, replace=False), start=1):
        P[i, j] = base[j] * factor
    return P


@pytest.mark.parametrize("factor", [1e6, 1e-6])
def test_extreme_subjects_end_with_a_status_and_do_not_hold_up_the_batch(model, factor):
    P = _extreme_population(model, factor, n_extreme=12)
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min")
    t0 = time.perf_counter()
    ds = simulate_batch(model, reg, np.linspace(0.0, 48.0, 25), P, keep_states=False)
    took = time.perf_counter() - t0
    assert took < HANG_S, f"{took:.0f} s for {len(P)} subjects"
    status = np.asarray(ds["status"].values)
    assert status[0] == Status.OK  # the reference adult is unaffected by its neighbours
    for name in model.outputs:  # failed subjects carry NaN, never a number that looks valid
        vals = np.asarray(ds[name].values)
        assert np.all(np.isfinite(vals[status == Status.OK])), name


@pytest.mark.parametrize("regimen", [
    Regimen((Dose("NMN", "iv", 300.0, 0.0, 1.0 / 3600.0),)),  # the shortest infusion allowed
    Regimen((Dose("NMN", "oral", 300.0, 0.0), Dose("NMN", "oral", 300.0, 1.0 / 3600.0))),  # closest doses
    Regimen((Dose("NMN", "oral", 300.0, 0.0), Dose("NMN", "oral", 300.0, 1e-300))),  # one event to the schedule
    Regimen.repeated("NR", "oral", 100_000.0, every_h=1.0 / 3600.0 * 2, n_doses=200),  # 200 maximal doses, 2 s apart
], ids=["infusion-1s", "doses-1s-apart", "doses-1e-300h-apart", "200-doses-2s-apart"])
def test_edge_regimens_end_in_bounded_time(model, regimen):
    cm = compile_model(model)
    P = np.array([[model.parameters[p].value for p in cm.parameter_names]])
    t0 = time.perf_counter()
    ds = simulate_batch(model, regimen, np.linspace(0.0, 24.0, 13), P)
    assert time.perf_counter() - t0 < HANG_S
    assert int(ds["status"].values[0]) in {int(s) for s in Status}
