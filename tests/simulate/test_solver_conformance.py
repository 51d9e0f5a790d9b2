"""The conformance suite: every registered solver (``nadsim.simulate.SOLVERS``) must pass it.

Accuracy is scored against the requested tolerance, as SciPy's own ivp tests do:
e = (y - y_true) / (atol + rtol * |y_true|). A method that controls the local error lets the
global error grow over many steps (BDF: ~30-70 tolerances at rtol 1e-8 on these problems,
measured), so the bound is 100, stated per test.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from nadsim.dosing import Dose, Regimen
from nadsim.simulate import Status, Tolerances, compile_model, simulate, solve

from .conftest import explosive, lotka_volterra, one_compartment, robertson

TOL = Tolerances(rtol=1e-8, atol=1e-10)
BOUND = 100.0  # tolerances of global error allowed (see module docstring)


def normalised_error(y: np.ndarray, y_true: np.ndarray, tol: Tolerances = TOL) -> float:
    return float(np.max(np.abs((y - y_true) / (tol.atol + tol.rtol * np.abs(y_true)))))


def test_infusion_matches_closed_form(solver):
    """1000 umol over 2 h from t = 1 h into a one-compartment model: the exact solution is
    piecewise exponential; the edges are the dose schedule's segment ends."""
    k, V = 0.7, 3.0
    m = one_compartment(k, V)
    dose = Dose("NMN", "iv", 334.22, 1.0, 2.0)
    t = np.linspace(0, 10, 201)
    res = solve(m, Regimen((dose,)), t, compile_model(m).base_parameters(), solver=solver, tolerances=TOL)
    assert res.status.tolist() == [Status.OK]
    css = dose.rate_umol_h / (k * V)
    true = np.where(t < 1, 0.0, np.where(t <= 3, css * (1 - np.exp(-k * (t - 1))),
                                          css * (1 - np.exp(-k * 2)) * np.exp(-k * (t - 3))))
    assert normalised_error(res.states[0, :, 0], true) < BOUND


def test_bolus_decay_and_mass_balance(solver):
    """A bolus at 0.5 h decays exponentially; what leaves the central compartment is in the sink
    (amounts, to 1e-7 of the dose: well above rtol 1e-8 accumulated over 12 h)."""
    k, V = 0.3, 2.0
    m = one_compartment(k, V)
    dose = Dose("NMN", "iv_bolus", 334.22, 0.5)
    t = np.linspace(0, 12, 121)
    res = solve(m, Regimen((dose,)), t, compile_model(m).base_parameters(), solver=solver, tolerances=TOL)
    X = res.states[0, :, 0]
    true = np.where(t < 0.5, 0.0, dose.amount_umol / V * np.exp(-k * (t - 0.5)))
    assert normalised_error(X, true) < BOUND
    total = X * V + res.states[0, :, 1] * 1.0
    np.testing.assert_allclose(total[t >= 0.5], dose.amount_umol, rtol=1e-7)


def test_dose_edges_are_exact(solver):
    """Outputs straddle an infusion start: the state is exactly 0 before and at it, rises during
    it, and falls the instant it stops (no smearing of the discontinuity)."""
    m = one_compartment()
    dose = Dose("NMN", "iv", 100.0, 2.0, 0.25)
    t = np.array([0.0, 1.999999, 2.0, 2.125, 2.25, 2.250001, 3.0])
    res = solve(m, Regimen((dose,)), t, compile_model(m).base_parameters(), solver=solver, tolerances=TOL)
    x = res.states[0, :, 0]
    assert x[0] == 0.0 and x[1] == 0.0 and x[2] == 0.0
    assert x[3] > 0 and x[4] > x[3]
    assert x[5] < x[4]


def test_result_independent_of_output_grid(solver):
    """Adding output points does not change the values at the others beyond the tolerance (the
    outputs come from the interpolant or the steps, never cut them): within 1e-6 relative."""
    m = one_compartment()
    reg = Regimen.repeated("NMN", "iv", 300.0, duration_h=1 / 3, every_h=24, n_doses=2)
    P = compile_model(m).base_parameters()
    t = np.linspace(0, 48, 7)
    dense = np.union1d(np.linspace(0, 48, 481), t)
    coarse = solve(m, reg, t, P, solver=solver, tolerances=TOL).states[0, :, 0]
    fine = solve(m, reg, dense, P, solver=solver, tolerances=TOL).states[0, np.searchsorted(dense, t), 0]
    np.testing.assert_allclose(coarse, fine, rtol=1e-6, atol=1e-8)


def test_robertson_against_scipy_radau(solver):
    """The stiff reference problem over 0-40 h against SciPy's Radau at rtol 1e-12 (the
    reference's own error is negligible at that setting), scored in tolerances of rtol 1e-6
    (atol 1e-10: B peaks at ~3.6e-5 uM)."""
    m = robertson()
    tol = Tolerances(rtol=1e-6, atol=1e-10)
    t = np.array([0.0, 0.4, 4.0, 40.0])
    res = solve(m, Regimen.none(), t, compile_model(m).base_parameters(), solver=solver, tolerances=tol,
                Y0=np.array([1.0, 0.0, 0.0]))
    assert res.status.tolist() == [Status.OK]

    def f(_t, y):
        a, b, c = y
        return [-0.04 * a + 1e4 * b * c, 0.04 * a - 1e4 * b * c - 3e7 * b * b, 3e7 * b * b]

    ref = solve_ivp(f, (0, 40), [1.0, 0.0, 0.0], method="Radau", t_eval=t, rtol=1e-12, atol=1e-16).y.T
    assert normalised_error(res.states[0], ref, tol) < BOUND
    np.testing.assert_allclose(res.states[0].sum(axis=1), 1.0, rtol=1e-6)  # A + B + C conserved


def test_failing_subject_gets_a_status_and_spares_its_chunk(solver):
    """Three subjects in one call; the middle one blows up (X' = g X^2 reaches infinity at
    t = 1 / (g X0) = 0.5 h). It gets a failure status and NaN rows, nothing is raised, and
    the others equal the same subjects run alone (exactly for per-subject solvers; within the
    tolerance for lockstep ones, whose steps the failed lane no longer steers)."""
    m = explosive()
    cm = compile_model(m)
    P = np.repeat(cm.base_parameters()[None, :], 3, axis=0)
    P[1, cm.pidx("g")] = 2.0
    t = np.linspace(0.0, 2.0, 9)
    Y0 = np.array([[1.0], [1.0], [1.0]])
    res = solve(m, Regimen.none(), t, P, solver=solver, tolerances=TOL, Y0=Y0)
    assert res.status[0] == Status.OK and res.status[2] == Status.OK
    assert res.status[1] != Status.OK
    assert np.all(np.isnan(res.states[1]))
    alone = solve(m, Regimen.none(), t, P[:1], solver=solver, tolerances=TOL, Y0=Y0[:1])
    np.testing.assert_allclose(res.states[0], alone.states[0], rtol=1e-6 if "lockstep" in solver.capabilities else 0)
    assert normalised_error(res.states[0, :, 0], np.exp(-0.5 * t)) < BOUND


def test_step_budget_is_a_status(solver):
    """A subject that needs more steps than ``max_steps`` stops with a status, not a hang."""
    m = robertson()
    res = solve(m, Regimen.none(), np.array([0.0, 4e4]), compile_model(m).base_parameters(), solver=solver,
                tolerances=Tolerances(rtol=1e-10, atol=1e-16, max_steps=100), Y0=np.array([1.0, 0.0, 0.0]))
    assert res.status.tolist() in ([Status.STEP_LIMIT], [Status.STEP_TOO_SMALL])
    assert np.all(np.isnan(res.states))


def test_time_budget_is_a_status(solver):
    """A subject past its wall-clock budget stops with ``TIME_LIMIT`` (NaN outputs), not a hang:
    10^5 h of Lotka-Volterra orbits at rtol 1e-10 (~10^6 steps, ~1 s native, minutes in SciPy)
    against a budget of 20 ms. The stop must come within 2 s of wall time (the budget plus the
    clock's stride of 64 steps or 256 evaluations, with a wide margin for a loaded machine)."""
    if "time_budget" not in solver.capabilities:
        pytest.skip(f"{solver.name} bounds a subject's work by max_steps only")
    m = lotka_volterra()
    solve(m, Regimen.none(), np.array([0.0, 1.0]), compile_model(m).base_parameters(), solver=solver,
          tolerances=TOL, Y0=np.array([2.0, 1.0]))  # compile or load first: not the budget's time
    t0 = time.monotonic()
    res = solve(m, Regimen.none(), np.array([0.0, 1e5]), compile_model(m).base_parameters(), solver=solver,
                tolerances=Tolerances(rtol=1e-10, atol=1e-12, max_steps=100_000_000, max_wall_s=0.02),
                Y0=np.array([2.0, 1.0]))
    assert time.monotonic() - t0 < 2.0
    assert res.status.tolist() == [Status.TIME_LIMIT]
    assert np.all(np.isnan(res.states))


def test_steady_state_baseline(solver):
    """An unforced model's baseline is its steady state: the one-compartment model with a
    constant infusion settles at rate / (k V); accumulating outputs start at 0."""
    m = one_compartment(0.7, 3.0).with_parameters(inf_NMN=21.0)
    res = solve(m, Regimen.none(), np.array([0.0, 1.0]), compile_model(m).base_parameters(), solver=solver,
                tolerances=TOL)
    assert res.status.tolist() == [Status.OK]
    np.testing.assert_allclose(res.baseline[0], [21.0 / (0.7 * 3.0), 0.0], rtol=1e-9, atol=1e-12)


def test_simulate_face_uses_the_solver(solver):
    """``simulate`` reports which solver ran, and its numbers equal the engine's."""
    m = one_compartment()
    reg = Regimen((Dose("NMN", "iv_bolus", 100.0, 0.0),))
    ds = simulate(m, reg, np.linspace(0, 5, 11), solver=solver, tolerances=TOL)
    assert ds.attrs["solver"] == solver.describe()
    res = solve(m, reg, np.linspace(0, 5, 11), compile_model(m).base_parameters(), solver=solver, tolerances=TOL)
    np.testing.assert_array_equal(ds["X"].values, res.states[0, :, 0])
