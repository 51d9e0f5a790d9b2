"""The stored fit and the study effects of the statistical model: what predictions with
uncertainty need from a calibration, without the optimiser.

Kept apart from :mod:`nadsim.calibration._calibrator` (which imports SciPy's optimisers, ~0.4 s)
so that ``nadsim simulate --interval`` and the web page's intervals read the posterior without
loading the fitting machinery.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nadsim.calibration._targets import Target, rise_kind

__all__ = ["POSTERIOR_FILE", "STUDY_EFFECT_SD", "load_posterior", "study_of"]

#: prior SD of a study's log scale factor on its reported rises
STUDY_EFFECT_SD = 0.2
#: the stored fit: estimate, Laplace covariance, optimiser status, profiles
POSTERIOR_FILE = Path(__file__).with_name("posterior.json")
#: outputs whose reported rises share a study's assay (NAD+ in blood and its metabolites)
STUDY_EFFECT_OUTPUTS = ("whole_blood_NAD", "pbmc_NAD", "plasma_NAD", "pbmc_NAAD", "urine_NAD_rate",
                        "urine_MeNAM_rate")


def study_of(target: Target) -> str | None:
    """The study whose effect scales ``target``'s reported rise, or None (levels, other outputs)."""
    return target.experiment if rise_kind(target) == "change" and target.output in STUDY_EFFECT_OUTPUTS else None


def load_posterior(path: Path | str | None = None) -> dict[str, Any] | None:
    """The stored fit (default :data:`POSTERIOR_FILE`), or None if none has been stored."""
    p = Path(path) if path is not None else POSTERIOR_FILE
    if not p.is_file():
        return None
    return json.loads(p.read_text(encoding="utf-8"))
