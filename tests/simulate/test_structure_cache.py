"""Generated code is cached per model structure (``Model.structure_hash``): models that differ
only in parameter values share it, and any change of structure regenerates it."""

from __future__ import annotations

import dataclasses

import numpy as np

from nadsim.library import get_model
from nadsim.simulate import compile_model
from nadsim.simulate._compile import _source
from nadsim.simulate._sparsity import sparsity
from nadsim.simulate.solvers._native_codegen import model_source


def _every_value_moved(model):
    """Every free parameter moved to 37 % of its bounds (a different value for nearly all)."""
    upd = {n: p.bounds[0] + 0.37 * (p.bounds[1] - p.bounds[0])
           for n, p in model.parameters.items() if p.expr is None and p.bounds[1] > p.bounds[0]}
    return model.with_parameters(**upd)


def test_values_do_not_enter_the_generated_code():
    """The premise of the cache, checked on the full model, not assumed: with every free value
    moved, the array source, the scalar source and the native module source are identical."""
    m = get_model()
    moved = _every_value_moved(m)
    assert moved.hash() != m.hash()
    assert moved.structure_hash() == m.structure_hash()
    assert _source(moved) == _source(m) and _source(moved, scalar=True) == _source(m, scalar=True)
    assert model_source.__wrapped__(moved) == model_source.__wrapped__(m)


def test_models_of_one_structure_share_compiled_functions_not_values():
    m = get_model()
    moved = _every_value_moved(m)
    a, b = compile_model(m), compile_model(moved)
    assert a._fns is b._fns and a.source is b.source
    assert sparsity(m) is sparsity(moved)
    assert not np.allclose(a.base_parameters(), b.base_parameters())
    assert b.model is moved


def test_a_change_of_structure_changes_the_key():
    """An edited rate expression (the same reaction, another law) is a new structure."""
    m = get_model()
    r = m.reactions[0]
    edited = dataclasses.replace(m, reactions=(dataclasses.replace(r, rate=f"2 * ({r.rate})"), *m.reactions[1:]))
    assert edited.structure_hash() != m.structure_hash()
    assert _source(edited) != _source(m)
