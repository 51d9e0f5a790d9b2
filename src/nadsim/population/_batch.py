"""The one call from populations and trials into the batch solver.

Populations and trials never integrate on their own: they hand a parameter matrix to
:func:`nadsim.simulate.batch.simulate_batch`. Until that module is present in a checkout,
a plain loop over the reference solver stands in (same numbers, one subject at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nadsim.dosing import Regimen
from nadsim.model import Model

__all__ = ["BatchOutputs", "run_batch"]


@dataclass(frozen=True)
class BatchOutputs:
    times: np.ndarray  # (T,) h
    rules: np.ndarray  # (n, T, n_rules)
    status: np.ndarray  # (n,) 0 = success
    rule_names: tuple[str, ...]
    states: np.ndarray | None = None  # (n, T, n_states) when asked for
    state_names: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every output that :meth:`get` can return: rules, then states when kept."""
        return self.rule_names + (self.state_names if self.states is not None else ())

    def get(self, name: str) -> np.ndarray:
        """One output (rule, or state when kept) for every subject, shape (n, T)."""
        if name in self.rule_names:
            return self.rules[:, :, self.rule_names.index(name)]
        if self.states is not None and name in self.state_names:
            return self.states[:, :, self.state_names.index(name)]
        from nadsim._errors import InputError

        raise InputError("output", f"one of {', '.join(self.names)}", name)


def _loop(model: Model, regimen: Regimen, times: np.ndarray, params: np.ndarray, *, rtol: float, atol: float,
          keep_states: bool, progress: Callable[[int, int], None] | None = None) -> BatchOutputs:
    from nadsim.simulate import compile_model, integrate, steady_state

    cm = compile_model(model)
    n = params.shape[0]
    R = np.full((n, times.size, len(cm.rule_names)), np.nan)
    S = np.full((n, times.size, cm.n_states), np.nan)
    status = np.zeros(n, dtype=np.int64)
    for i in range(n):
        p = cm.derive(np.asarray(params[i], dtype=float))
        try:
            y0 = steady_state(cm, p)
            Y, _ = integrate(cm, y0, p, regimen, times, rtol=rtol, atol=atol)
            R[i] = cm.rules(times, Y, p)
            S[i] = Y
        except Exception:  # a failed subject is marked, the batch goes on
            status[i] = 1
        if progress is not None:
            progress(i + 1, n)
    return BatchOutputs(times, R, status, cm.rule_names, S if keep_states else None, cm.state_names)


def run_batch(model: Model, regimen: Regimen, times: np.ndarray, params: np.ndarray, *,
              backend: str = "numpy", device: str = "cpu", rtol: float = 1e-6, atol: float = 1e-8,
              cluster: Any = None, chunk_size: int | None = None, keep_states: bool = False,
              progress: Callable[[int, int], None] | None = None) -> BatchOutputs:
    """Simulate every row of ``params`` (free values, ``compile_model(model).parameter_names`` order).

    ``progress(done, total)`` is called as subjects finish (after each chunk of the batch solver).
    """
    times = np.asarray(times, dtype=float)
    params = np.atleast_2d(np.asarray(params, dtype=float))
    if progress is not None and chunk_size is None and backend == "numpy":
        # the reference solver goes subject by subject, so chunks of ~1 % cost nothing and let a
        # progress bar move (its default chunk of 1,000 reports once for a 200-subject run)
        chunk_size = max(1, min(1000, -(-params.shape[0] // 100)))
    try:
        from nadsim.simulate.batch import simulate_batch
    except ImportError:  # the batch module is being written in parallel; the loop gives the same numbers
        if backend != "numpy" or device != "cpu" or cluster is not None:
            from nadsim._errors import InputError

            raise InputError("backend", "numpy on cpu (nadsim.simulate.batch is not installed)", backend) from None
        return _loop(model, regimen, times, params, rtol=rtol, atol=atol, keep_states=keep_states, progress=progress)
    res = simulate_batch(model, regimen, times, params, backend=backend, device=device, rtol=rtol, atol=atol,
                         keep_states=keep_states, cluster=cluster, chunk_size=chunk_size, progress=progress)
    states = None if res.states is None else np.asarray(res.states, dtype=float)
    return BatchOutputs(np.asarray(res.times, dtype=float), np.asarray(res.rules, dtype=float),
                        np.asarray(res.status), tuple(res.rule_names), states, tuple(res.state_names))
