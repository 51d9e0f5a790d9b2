"""Calibration against published human summary statistics, the qualification report, and
parameter uncertainty (draws and prediction intervals)."""

from __future__ import annotations

import typing as _typing

from nadsim._exports import lazy_face as _lazy_face

if _typing.TYPE_CHECKING:
    from nadsim.calibration._calibrator import Calibrator as Calibrator
    from nadsim.calibration._calibrator import Objective as Objective
    from nadsim.calibration._calibrator import row_weight as row_weight
    from nadsim.calibration._fit import FIT_PARAMETERS as FIT_PARAMETERS
    from nadsim.calibration._fit import gmfe as gmfe
    from nadsim.calibration._fit import predict as predict
    from nadsim.calibration._fit import predict_with_reference as predict_with_reference
    from nadsim.calibration._fit import qualification_table as qualification_table
    from nadsim.calibration._fit import rise_fold_error as rise_fold_error
    from nadsim.calibration._intervals import RowInterval as RowInterval
    from nadsim.calibration._intervals import min_draws as min_draws
    from nadsim.calibration._intervals import prediction_intervals as prediction_intervals
    from nadsim.calibration._intervals import target_intervals as target_intervals
    from nadsim.calibration._posterior import load_posterior as load_posterior
    from nadsim.calibration._report import coverage as coverage
    from nadsim.calibration._report import kinetic_checks as kinetic_checks
    from nadsim.calibration._report import write_report as write_report
    from nadsim.calibration._targets import Experiment as Experiment
    from nadsim.calibration._targets import Target as Target
    from nadsim.calibration._targets import evaluate as evaluate
    from nadsim.calibration._targets import load_targets as load_targets
    from nadsim.calibration._targets import rise_kind as rise_kind
    from nadsim.calibration._uncertainty import DRAW_SOURCES as DRAW_SOURCES
    from nadsim.calibration._uncertainty import parameter_draws as parameter_draws

#: imported when first used (nadsim._exports): prediction intervals need neither the optimiser (SciPy) nor the report's figures (matplotlib)
_LAZY = {
    "Calibrator": "nadsim.calibration._calibrator",
    "DRAW_SOURCES": "nadsim.calibration._uncertainty",
    "Experiment": "nadsim.calibration._targets",
    "FIT_PARAMETERS": "nadsim.calibration._fit",
    "Objective": "nadsim.calibration._calibrator",
    "RowInterval": "nadsim.calibration._intervals",
    "Target": "nadsim.calibration._targets",
    "coverage": "nadsim.calibration._report",
    "evaluate": "nadsim.calibration._targets",
    "gmfe": "nadsim.calibration._fit",
    "kinetic_checks": "nadsim.calibration._report",
    "load_posterior": "nadsim.calibration._posterior",
    "load_targets": "nadsim.calibration._targets",
    "min_draws": "nadsim.calibration._intervals",
    "parameter_draws": "nadsim.calibration._uncertainty",
    "predict": "nadsim.calibration._fit",
    "predict_with_reference": "nadsim.calibration._fit",
    "prediction_intervals": "nadsim.calibration._intervals",
    "qualification_table": "nadsim.calibration._fit",
    "rise_fold_error": "nadsim.calibration._fit",
    "rise_kind": "nadsim.calibration._targets",
    "row_weight": "nadsim.calibration._calibrator",
    "target_intervals": "nadsim.calibration._intervals",
    "write_report": "nadsim.calibration._report",
}
__getattr__, __dir__ = _lazy_face(__name__, _LAZY)

__all__ = [
    "DRAW_SOURCES",
    "FIT_PARAMETERS",
    "Calibrator",
    "Experiment",
    "Objective",
    "RowInterval",
    "Target",
    "coverage",
    "evaluate",
    "gmfe",
    "kinetic_checks",
    "load_posterior",
    "load_targets",
    "min_draws",
    "parameter_draws",
    "predict",
    "predict_with_reference",
    "prediction_intervals",
    "qualification_table",
    "rise_fold_error",
    "rise_kind",
    "row_weight",
    "target_intervals",
    "write_report",
]
