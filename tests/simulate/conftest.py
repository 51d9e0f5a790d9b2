"""Small models for the solver conformance suite, built from nadsim's own model classes."""

from __future__ import annotations

import pytest

from nadsim.model import Compartment, Model, Parameter, Provenance, Species, rxn
from nadsim.simulate import SOLVERS, get_solver
from nadsim.simulate.solvers import solver_class


def _p(name: str, value: float, unit: str, lo: float = 0.0, hi: float = 1e12) -> Parameter:
    return Parameter(name, value, unit, (lo, hi), Provenance("assumed", "E"))


def one_compartment(k_el: float = 0.7, volume: float = 3.0) -> Model:
    """Plasma NMN with first-order elimination into an accumulating sink; NMN is the dose target."""
    params = {p.name: p for p in [_p("V_c", volume, "L"), _p("V_u", 1.0, "L"), _p("k_el", k_el, "1/h"),
                                  _p("inf_NMN", 0.0, "umol/h")]}
    return Model(
        name="one_compartment",
        compartments=(Compartment("central", "V_c"), Compartment("sink", "V_u")),
        species=(Species("X", "central"), Species("X_out", "sink", accumulates=True)),
        reactions=(rxn("elimination", {"X": -1, "X_out": 1}, "V_c * k_el * X"),
                   rxn("infusion", {"X": 1}, "inf_NMN", boundary=True)),
        parameters=params,
        dose_targets={("NMN", "iv_bolus"): "X"},
        infusion_inputs={("NMN", "iv"): "inf_NMN"},
    )


def robertson() -> Model:
    """Robertson's chemical kinetics (Hairer & Wanner, Solving ODEs II, sec. IV.1), the classic
    stiff test: k1 = 0.04, k2 = 3e7, k3 = 1e4 (per h and per uM h, in one 1 L compartment);
    eigenvalues span ~1e4 at t = 0 to ~1e-2, the fast one near -1e4 throughout."""
    params = {p.name: p for p in [_p("V", 1.0, "L"), _p("k1", 0.04, "1/h"), _p("k2", 3e7, "1/uM/h"),
                                  _p("k3", 1e4, "1/uM/h")]}
    return Model(
        name="robertson",
        compartments=(Compartment("pot", "V"),),
        species=(Species("A", "pot"), Species("B", "pot"), Species("C", "pot")),
        reactions=(rxn("r1", {"A": -1, "B": 1}, "V * k1 * A"),
                   rxn("r2", {"B": -1, "C": 1}, "V * k2 * B * B"),
                   rxn("r3", {"B": -1, "A": 1}, "V * k3 * B * C")),
        parameters=params,
    )


def lotka_volterra() -> Model:
    """Prey X and predator Y (Lotka-Volterra, 1 /h and 1 /uM/h): a closed orbit of period ~6 h
    around (1, 1), so a long horizon at a tight tolerance takes ~10^2 steps an orbit, without end
    in sight; the test problem of the wall-clock budget."""
    params = {p.name: p for p in [_p("V", 1.0, "L"), _p("a", 1.0, "1/h"), _p("b", 1.0, "1/uM/h"), _p("c", 1.0, "1/h")]}
    return Model(
        name="lotka_volterra",
        compartments=(Compartment("pot", "V"),),
        species=(Species("X", "pot"), Species("Y", "pot")),
        reactions=(rxn("birth", {"X": 1}, "V * a * X", boundary=True),
                   rxn("predation", {"X": -1, "Y": 1}, "V * b * X * Y"),
                   rxn("death", {"Y": -1}, "V * c * Y", boundary=True)),
        parameters=params,
    )


def explosive() -> Model:
    """dX/dt = g X^2: finite-time blow-up at t = 1 / (g X0) for g > 0 (a subject that must fail)."""
    params = {p.name: p for p in [_p("V", 1.0, "L"), _p("g", 0.0, "1/uM/h"), _p("k", 0.5, "1/h")]}
    return Model(
        name="explosive",
        compartments=(Compartment("pot", "V"),),
        species=(Species("X", "pot"),),
        reactions=(rxn("growth", {"X": 1}, "V * g * X * X", boundary=True),
                   rxn("decay", {"X": -1}, "V * k * X", boundary=True)),
        parameters=params,
    )


def _available(name: str) -> bool:
    return solver_class(name).unavailable_reason() is None


#: every registered solver; those that cannot run here (JAX not installed) are skipped
ALL_SOLVERS = [pytest.param(n, marks=pytest.mark.skipif(not _available(n), reason=f"{n} unavailable"))
               for n in SOLVERS]


@pytest.fixture(params=ALL_SOLVERS)
def solver(request):
    return get_solver(request.param)
