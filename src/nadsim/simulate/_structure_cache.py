"""Cache what is generated from a model's structure by :meth:`Model.structure_hash`.

The generated right-hand side, its sparsity and the native module's source take parameter values
as arguments, so models that differ only in values share them (tested in
``tests/simulate/test_structure_cache.py``). Caching by the full model value regenerated them for
every patient profile and trial arm: measured, ~0.13 s a model, three times in one
``nadsim simulate`` (dosed, undosed reference, placebo arm) and once per web request.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from nadsim.model import Model

__all__ = ["per_structure"]

T = TypeVar("T")
#: structures kept per cached function (the library has a handful)
MAX_STRUCTURES = 32


def per_structure(fn: Callable[[Model], T]) -> Callable[[Model], T]:
    """``fn(model)``, computed once per model structure (least recently used dropped first)."""
    cache: OrderedDict[str, T] = OrderedDict()
    lock = threading.Lock()

    @functools.wraps(fn)
    def cached(model: Model) -> T:
        key = model.structure_hash()
        with lock:
            if key in cache:
                cache.move_to_end(key)
                return cache[key]
        value = fn(model)  # outside the lock: a slow generation does not block other structures
        with lock:
            cache[key] = value
            while len(cache) > MAX_STRUCTURES:
                cache.popitem(last=False)
        return value

    return cached
