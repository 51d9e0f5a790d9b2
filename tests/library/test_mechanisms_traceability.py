"""Traceability of the mechanism parameters (issue #13 item 6, for mechanisms/).

Every non-derived parameter has a source (``measured``, or ``assumed`` from a cited number), or is
``fitted`` to named rows, or is ``assumed`` with a stated reason and wide bounds. "Wide": the range
spans at least half the value or a factor of 2; clock times are judged on the day (at least 6 h);
a fixed value (low = high) is allowed only as a stated convention (e.g. an arbitrary amplitude scale).
"""

from __future__ import annotations

import pytest

from nadsim.library import build_full
from nadsim.library.mechanisms.model import PARAMETERS, load_parameters

MECH = tuple(load_parameters(PARAMETERS))


def _wide(name: str, value: float, lo: float, hi: float, unit: str) -> bool:
    if name.startswith(("light_", "t_clock")) and unit == "h":
        return hi - lo >= 6.0
    if lo > 0 and hi / lo >= 2:
        return True
    return hi - lo >= 0.5 * abs(value) if value != 0 else hi > lo


@pytest.fixture(scope="module")
def full():
    return build_full()


@pytest.mark.parametrize("name", MECH)
def test_every_mechanism_parameter_is_sourced_fitted_or_a_reasoned_wide_assumption(full, name):
    q = full.parameters[name]
    prov = q.provenance
    assert prov.kind in ("measured", "assumed", "fitted", "derived"), name
    assert prov.grade in ("A", "B", "C", "D", "E"), name
    if prov.kind == "derived":
        assert q.expr or name.endswith("ref_b") or name.startswith(("NADref", "NAMref")), f"{name}: derived without a formula"
        return
    if prov.kind == "measured":
        assert prov.source.strip(), f"{name}: measured without a source"
        return
    if prov.kind == "fitted":
        assert prov.fitted_to, f"{name}: fitted without the rows it was fitted to"
        return
    if prov.source.strip():  # assumed from a cited number
        return
    assert prov.note.strip(), f"{name}: assumed without a reason"
    lo, hi = q.bounds
    if lo == hi:
        assert any(w in prov.note for w in ("arbitrary", "convention")), f"{name}: fixed without saying why"
    else:
        assert _wide(name, q.value, lo, hi, q.unit), f"{name}: assumed with narrow bounds {q.bounds}"


def test_every_gate_states_its_link(full):
    gates = [n for n, q in full.parameters.items() if "gate" in q.tags]
    assert len(gates) == len(full.links)
    for g in gates:
        assert full.parameters[g].provenance.note.startswith("gate of link")
