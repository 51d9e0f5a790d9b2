"""Parameter uncertainty as draws: the one interface that propagates it (intervals, assurance).

:func:`parameter_draws` returns ``n`` sets of free-parameter values, each a mapping from name to
value in canonical units, to be applied with ``model.with_parameters(draw)`` or stacked into a
population's parameter matrix. Consumers (prediction intervals, trial assurance) depend only on
this signature, not on how the draws were made.

Sources:

``"prior"``  each calibrated parameter (:data:`nadsim.calibration.FIT_PARAMETERS`) drawn
             independently, log-uniform over its documented bounds in ``parameters.toml``. This
             is the honest spread *before* the data: wide, and it ignores that the data tie
             parameters together, so intervals from it are conservative (too wide).

The calibration's posterior (profile likelihood or sampler draws) is added as a further source
by the calibration work; until then ``"prior"`` is the only one and the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nadsim._errors import InputError
from nadsim.calibration._fit import FIT_PARAMETERS
from nadsim.model import Model

__all__ = ["DRAW_SOURCES", "parameter_draws"]

DRAW_SOURCES: tuple[str, ...] = ("prior",)


def parameter_draws(model: Model, n: int, *, seed: int = 0, source: str = "prior",
                    parameters: Sequence[str] | None = None) -> list[dict[str, float]]:
    """``n`` draws of the uncertain free parameters of ``model`` (canonical units).

    ``parameters`` defaults to the calibrated set; a name the model lacks is skipped, so the
    same call works for the metabolome alone and the full model. Deterministic in ``seed``.
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise InputError("n", "a whole number of draws >= 1", n)
    if source not in DRAW_SOURCES:
        raise InputError("source", f"one of {', '.join(DRAW_SOURCES)}", source)
    names = [p for p in (parameters or FIT_PARAMETERS)
             if p in model.parameters and model.parameters[p].expr is None]
    rng = np.random.default_rng(seed)
    lo = np.log([model.parameters[p].bounds[0] for p in names])
    hi = np.log([model.parameters[p].bounds[1] for p in names])
    x = np.exp(rng.uniform(lo, hi, size=(int(n), len(names))))
    return [dict(zip(names, row.tolist(), strict=True)) for row in x]
