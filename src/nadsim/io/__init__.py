"""Interoperability: SBML export and import, PEtab calibration problems.

* :func:`export_sbml` / :func:`write_sbml`: any :class:`~nadsim.model.Model` as SBML L3V2, at
  its undosed baseline, with a regimen as events (libRoadRunner and COPASI reproduce nadsim).
* :func:`read_sbml` / :func:`simulate_sbml`: SBML models others wrote, simulated by nadsim.
* :func:`export_petab` / :func:`lint_petab`: a PEtab v1 problem from the calibration targets.
"""

from nadsim.io.petab import export_petab as export_petab
from nadsim.io.petab import lint_petab as lint_petab
from nadsim.io.sbml import baseline_state as baseline_state
from nadsim.io.sbml import export_sbml as export_sbml
from nadsim.io.sbml import sbml_errors as sbml_errors
from nadsim.io.sbml import write_sbml as write_sbml
from nadsim.io.sbml_import import ImportedModel as ImportedModel
from nadsim.io.sbml_import import read_sbml as read_sbml
from nadsim.io.sbml_import import simulate_sbml as simulate_sbml

__all__ = [
    "ImportedModel",
    "baseline_state",
    "export_petab",
    "export_sbml",
    "lint_petab",
    "read_sbml",
    "sbml_errors",
    "simulate_sbml",
    "write_sbml",
]
