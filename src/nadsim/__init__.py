"""nadsim: quantitative systems pharmacology of NAD+ precursors.

Dosing (IV drip, bolus, oral; NMN, NR, NAD+, NAM) -> NAD+ metabolome (blood, liver,
muscle, brain, urine) -> mechanism modules -> depressive-symptom endpoint, with every
parameter and causal link carrying its source and evidence grade.

nadsim is a research model, not medical advice.
"""

from __future__ import annotations

import typing as _typing

from nadsim._errors import CalibrationError as CalibrationError
from nadsim._errors import InputError as InputError
from nadsim._errors import ModelDefinitionError as ModelDefinitionError
from nadsim._errors import NadsimError as NadsimError
from nadsim._errors import SolverError as SolverError
from nadsim._errors import UnitError as UnitError
from nadsim._exports import lazy_face as _lazy_face
from nadsim._version import __version__ as __version__

if _typing.TYPE_CHECKING:
    from nadsim.dosing import Dose as Dose
    from nadsim.dosing import Regimen as Regimen
    from nadsim.dosing import parse_regimen as parse_regimen
    from nadsim.library import get_model as get_model
    from nadsim.model import Model as Model
    from nadsim.simulate import DISCLAIMER as DISCLAIMER
    from nadsim.simulate import simulate as simulate

#: public names that live in heavier modules (pint, xarray, SciPy): imported on first use
#: (PEP 562), so that ``import nadsim.cli`` for ``nadsim --help`` stays at ~0.3 s instead of ~3 s
_LAZY = {
    "DISCLAIMER": "nadsim.simulate",
    "Dose": "nadsim.dosing",
    "Model": "nadsim.model",
    "Regimen": "nadsim.dosing",
    "get_model": "nadsim.library",
    "parse_regimen": "nadsim.dosing",
    "simulate": "nadsim.simulate",
}
__getattr__, __dir__ = _lazy_face(__name__, _LAZY)

__all__ = [
    "DISCLAIMER",
    "CalibrationError",
    "Dose",
    "InputError",
    "Model",
    "ModelDefinitionError",
    "NadsimError",
    "Regimen",
    "SolverError",
    "UnitError",
    "get_model",
    "parse_regimen",
    "simulate",
]
