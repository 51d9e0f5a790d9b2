"""The preconditioned orbit search: the operator, its use in the NumPy procedure, and the
compiled search on the full model, with and without it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

import nadsim.simulate.solvers._native as native
from nadsim.library import get_model
from nadsim.simulate import PRESETS, compile_model, get_solver
from nadsim.simulate._baseline import N_PHASES, anderson_orbit, initial_guess, orbit_preconditioner
from nadsim.simulate._engine import _untreated
from nadsim.testing import perturbed_population


@pytest.mark.parametrize("z", [-60.0, -5.0, -0.3, -1e-3])
def test_operator_approaches_the_exact_linear_step(z):
    """On one mode with T*J = z the exact step is 1 / (1 - e^z). The stand-in is exact in both
    limits; its largest relative error on the negative axis (a = 3) is 3.8 % near z = -2
    (computed from the formula; the tolerance below allows 6 %)."""
    op = orbit_preconditioner(np.array([[[z / 24.0]]]), np.array([24.0]))[0, 0, 0]
    exact = 1.0 / (1.0 - np.exp(z))
    assert op == pytest.approx(exact, rel=0.06)
    if z in (-60.0, -1e-3):  # the two limits: within 3 % and 1e-3
        assert op == pytest.approx(exact, rel=0.03 if z < -10 else 1e-3)


def test_singular_jacobian_gets_the_identity():
    J = np.zeros((2, 3, 3))
    J[1] = np.diag([-0.1, -0.2, -0.3])
    ops = orbit_preconditioner(J, np.array([24.0, 24.0]))
    np.testing.assert_array_equal(ops[0], np.eye(3))
    assert not np.allclose(ops[1], np.eye(3))


def test_exact_operator_reaches_a_linear_orbit_in_one_step():
    """For an affine period map Phi(y) = E y + c the preconditioned step with the exact operator
    (I - E)^-1 lands on the fixed point at once, so the search stops after the second map; plain
    Anderson on a slow mode (contraction 0.95 a period) needs more. States are scaled (values
    ~50) so the operator must be applied in the states' own units to work."""
    rng = np.random.default_rng(3)
    d = 4
    J = -np.diag([0.002, 0.01, 0.05, 2.0]) + np.triu(0.002 * rng.standard_normal((d, d)), 1)  # eigenvalues: the diagonal
    E = expm(24.0 * J)
    c = rng.uniform(1.0, 3.0, d)
    y_star = np.linalg.solve(np.eye(d) - E, c)

    def period_map(Y, active):
        return Y @ E.T + c, np.ones(Y.shape[0], dtype=bool)

    Y0 = np.tile(y_star * 1.2, (2, 1))
    free = np.arange(d)
    exact = np.tile(np.linalg.inv(np.eye(d) - E), (2, 1, 1))
    Yp, okp, itp = anderson_orbit(period_map, Y0, free, free, tol=1e-10, precondition=exact)
    _ya, oka, ita = anderson_orbit(period_map, Y0, free, free, tol=1e-10)
    assert okp.all() and oka.all()
    assert itp.max() == 2 and ita.min() > 2
    np.testing.assert_allclose(Yp, np.tile(y_star, (2, 1)), rtol=1e-9)


@pytest.fixture(scope="module")
def starts():
    model = get_model()
    cm = compile_model(model)
    B = _untreated(cm, cm.derive(perturbed_population(model, 8, seed=2)))
    Y, _ = get_solver("native").averaged_start(cm, B, initial_guess(cm, B), N_PHASES)
    return cm, B, Y


def test_compiled_search_needs_fewer_periods_for_the_same_orbit(starts, monkeypatch):
    """Measured 2026-12-04 on 256 subjects of this population (rtol 1e-6): 16.0 periods a
    subject plain, 5.1 preconditioned. Asserted: at most half as many periods here, and the same
    orbit within 1e-4 relative to max(|y|, 0.1) (each search stops within ~rtol/3 a period of
    it; the agreement tests check the orbit itself against the reference)."""
    cm, B, Y = starts
    solver = get_solver("native")
    Yp, okp, itp = solver.orbit(cm, B, Y, PRESETS["fast"])
    monkeypatch.setattr(native, "PRECONDITION_A", 0.0)
    Ya, oka, ita = solver.orbit(cm, B, Y, PRESETS["fast"])
    assert okp.all() and oka.all()
    assert itp.sum() <= 0.5 * ita.sum()
    assert np.max(np.abs(Yp - Ya) / np.maximum(np.abs(Ya), 0.1)) < 1e-4


def test_numpy_search_is_the_same_procedure(starts):
    """The base solver's NumPy search (over the native period map) and the compiled search use
    the same preconditioned procedure: the same orbits within 1e-4, periods within one or two of
    each other (their Jacobians differ in differencing, dense against coloured)."""
    from nadsim.simulate.solvers._base import AbstractSolver

    cm, B, Y = starts
    solver = get_solver("native")
    Yc, okc, itc = solver.orbit(cm, B, Y, PRESETS["fast"])
    Yn, okn, itn = AbstractSolver.orbit(solver, cm, B, Y, PRESETS["fast"])
    assert okc.all() and okn.all()
    assert np.max(np.abs(itc - itn)) <= 2
    assert np.max(np.abs(Yc - Yn) / np.maximum(np.abs(Yc), 0.1)) < 1e-4


def test_compiled_and_numpy_averaged_jacobians_agree(starts):
    """The compiled averaged Jacobian (coloured differences) against the NumPy reference (one
    column at a time): both forward differences, with steps 1e-7 and 1.5e-8 relative to
    max(|y|, 1e-3). Measured 2026-12-04: at most 1.9e-4 of the column's largest entry (brain NMN
    against brain NR, whose NR sits at 1.2e-3 uM where the step is relatively large); most
    entries agree within 1e-5. Asserted: 1e-3, a preconditioner needs far less."""
    from nadsim.simulate._baseline import averaged_jacobian

    cm, B, Y = starts
    Jc = get_solver("native").averaged_jacobian(cm, B, Y, N_PHASES)
    Jn = averaged_jacobian(cm, B, Y, N_PHASES)
    col = np.maximum(np.max(np.abs(Jn), axis=1, keepdims=True), 1e-12)
    assert np.max(np.abs(Jc - Jn) / col) < 1e-3
