"""nadsim: quantitative systems pharmacology of NAD+ precursors.

Dosing (IV drip, bolus, oral; NMN, NR, NAD+, NAM) -> NAD+ metabolome (blood, liver,
muscle, brain, urine) -> mechanism modules -> depressive-symptom endpoint, with every
parameter and causal link carrying its source and evidence grade.

nadsim is a research model, not medical advice.
"""

from nadsim._errors import CalibrationError as CalibrationError
from nadsim._errors import InputError as InputError
from nadsim._errors import ModelDefinitionError as ModelDefinitionError
from nadsim._errors import NadsimError as NadsimError
from nadsim._errors import SolverError as SolverError
from nadsim._errors import UnitError as UnitError
from nadsim._version import __version__ as __version__
from nadsim.dosing import Dose as Dose
from nadsim.dosing import Regimen as Regimen
from nadsim.dosing import parse_regimen as parse_regimen
from nadsim.model import Model as Model
from nadsim.simulate import DISCLAIMER as DISCLAIMER
from nadsim.simulate import simulate as simulate

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
    "parse_regimen",
    "simulate",
]
