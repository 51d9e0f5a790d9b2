"""The application layer: one verb per thing a user asks nadsim to do, over typed requests.

The faces (``nadsim.cli``, ``nadsim.web``) parse text into a request, call one verb and format
its result; the verbs hold no formatting and read no text.
"""

from __future__ import annotations

import typing as _typing

from nadsim._exports import lazy_face as _lazy_face

if _typing.TYPE_CHECKING:
    from nadsim.app._attribute import AttributeRequest as AttributeRequest
    from nadsim.app._attribute import attribute as attribute
    from nadsim.app._calibrate import CalibrateRequest as CalibrateRequest
    from nadsim.app._calibrate import CalibrationRun as CalibrationRun
    from nadsim.app._calibrate import calibrate as calibrate
    from nadsim.app._claims import AuditRequest as AuditRequest
    from nadsim.app._claims import audit_claims as audit_claims
    from nadsim.app._claims import claim_catalogue as claim_catalogue
    from nadsim.app._exchange import SbmlExport as SbmlExport
    from nadsim.app._exchange import SbmlRun as SbmlRun
    from nadsim.app._exchange import petab_problem as petab_problem
    from nadsim.app._exchange import sbml_export as sbml_export
    from nadsim.app._exchange import simulate_sbml_file as simulate_sbml_file
    from nadsim.app._measure import MeasureRequest as MeasureRequest
    from nadsim.app._measure import MeasureResult as MeasureResult
    from nadsim.app._measure import measure as measure
    from nadsim.app._patient import IMPROVES_DOWNWARD as IMPROVES_DOWNWARD
    from nadsim.app._patient import INTERVAL_OUTPUTS as INTERVAL_OUTPUTS
    from nadsim.app._patient import PATIENT_TOLERANCES as PATIENT_TOLERANCES
    from nadsim.app._patient import PatientRequest as PatientRequest
    from nadsim.app._patient import PatientRuns as PatientRuns
    from nadsim.app._patient import default_profile as default_profile
    from nadsim.app._patient import default_weight_kg as default_weight_kg
    from nadsim.app._patient import patient_profile as patient_profile
    from nadsim.app._patient import simulate_patient as simulate_patient
    from nadsim.app._population import PopulationRequest as PopulationRequest
    from nadsim.app._population import PopulationRun as PopulationRun
    from nadsim.app._population import run_population as run_population
    from nadsim.app._qualify import QualifyRequest as QualifyRequest
    from nadsim.app._qualify import qualify as qualify
    from nadsim.app._regimen import RegimenRequest as RegimenRequest
    from nadsim.app._regimen import RegimenRun as RegimenRun
    from nadsim.app._regimen import base_model as base_model
    from nadsim.app._regimen import patient_model as patient_model
    from nadsim.app._regimen import prepare_solver as prepare_solver
    from nadsim.app._regimen import simulate_regimen as simulate_regimen
    from nadsim.app._sensitivity import SensitivityRequest as SensitivityRequest
    from nadsim.app._sensitivity import SensitivityResult as SensitivityResult
    from nadsim.app._sensitivity import default_parameters as default_parameters
    from nadsim.app._sensitivity import sensitivity as sensitivity
    from nadsim.app._trial import PatientTrialRequest as PatientTrialRequest
    from nadsim.app._trial import TrialRun as TrialRun
    from nadsim.app._trial import list_trial_runs as list_trial_runs
    from nadsim.app._trial import patient_trial_spec as patient_trial_spec
    from nadsim.app._trial import resume_trial_run as resume_trial_run
    from nadsim.app._trial import run_patient_trial as run_patient_trial
    from nadsim.app._trial import run_trial as run_trial
    from nadsim.app._trial import run_trial_file as run_trial_file
    from nadsim.app._trial import trial_power as trial_power
    from nadsim.app._trial import trial_run_status as trial_run_status
    from nadsim.app._trial import trial_toml as trial_toml
    from nadsim.app._trial import write_trial_report as write_trial_report

#: each verb's module is imported when the verb is first used (nadsim._exports): nadsim simulate imports the patient verb, not the claims audit, trials or qualification
_LAZY = {
    "AttributeRequest": "nadsim.app._attribute",
    "AuditRequest": "nadsim.app._claims",
    "CalibrateRequest": "nadsim.app._calibrate",
    "CalibrationRun": "nadsim.app._calibrate",
    "IMPROVES_DOWNWARD": "nadsim.app._patient",
    "INTERVAL_OUTPUTS": "nadsim.app._patient",
    "PATIENT_TOLERANCES": "nadsim.app._patient",
    "MeasureRequest": "nadsim.app._measure",
    "MeasureResult": "nadsim.app._measure",
    "PatientRequest": "nadsim.app._patient",
    "PatientRuns": "nadsim.app._patient",
    "PatientTrialRequest": "nadsim.app._trial",
    "PopulationRequest": "nadsim.app._population",
    "PopulationRun": "nadsim.app._population",
    "QualifyRequest": "nadsim.app._qualify",
    "RegimenRequest": "nadsim.app._regimen",
    "RegimenRun": "nadsim.app._regimen",
    "SbmlExport": "nadsim.app._exchange",
    "SbmlRun": "nadsim.app._exchange",
    "SensitivityRequest": "nadsim.app._sensitivity",
    "SensitivityResult": "nadsim.app._sensitivity",
    "TrialRun": "nadsim.app._trial",
    "attribute": "nadsim.app._attribute",
    "audit_claims": "nadsim.app._claims",
    "base_model": "nadsim.app._regimen",
    "calibrate": "nadsim.app._calibrate",
    "claim_catalogue": "nadsim.app._claims",
    "default_parameters": "nadsim.app._sensitivity",
    "default_profile": "nadsim.app._patient",
    "default_weight_kg": "nadsim.app._patient",
    "measure": "nadsim.app._measure",
    "patient_model": "nadsim.app._regimen",
    "patient_profile": "nadsim.app._patient",
    "patient_trial_spec": "nadsim.app._trial",
    "petab_problem": "nadsim.app._exchange",
    "prepare_solver": "nadsim.app._regimen",
    "qualify": "nadsim.app._qualify",
    "run_patient_trial": "nadsim.app._trial",
    "run_population": "nadsim.app._population",
    "run_trial": "nadsim.app._trial",
    "sbml_export": "nadsim.app._exchange",
    "sensitivity": "nadsim.app._sensitivity",
    "simulate_patient": "nadsim.app._patient",
    "simulate_regimen": "nadsim.app._regimen",
    "simulate_sbml_file": "nadsim.app._exchange",
    "trial_toml": "nadsim.app._trial",
    "list_trial_runs": "nadsim.app._trial",
    "resume_trial_run": "nadsim.app._trial",
    "run_trial_file": "nadsim.app._trial",
    "trial_power": "nadsim.app._trial",
    "trial_run_status": "nadsim.app._trial",
    "write_trial_report": "nadsim.app._trial",
}
__getattr__, __dir__ = _lazy_face(__name__, _LAZY)

__all__ = [
    "IMPROVES_DOWNWARD",
    "INTERVAL_OUTPUTS",
    "PATIENT_TOLERANCES",
    "AttributeRequest",
    "AuditRequest",
    "CalibrateRequest",
    "CalibrationRun",
    "MeasureRequest",
    "MeasureResult",
    "PatientRequest",
    "PatientRuns",
    "PatientTrialRequest",
    "PopulationRequest",
    "PopulationRun",
    "QualifyRequest",
    "RegimenRequest",
    "RegimenRun",
    "SbmlExport",
    "SbmlRun",
    "SensitivityRequest",
    "SensitivityResult",
    "TrialRun",
    "attribute",
    "audit_claims",
    "base_model",
    "calibrate",
    "claim_catalogue",
    "default_parameters",
    "default_profile",
    "default_weight_kg",
    "list_trial_runs",
    "measure",
    "patient_model",
    "patient_profile",
    "patient_trial_spec",
    "petab_problem",
    "prepare_solver",
    "qualify",
    "resume_trial_run",
    "run_patient_trial",
    "run_population",
    "run_trial",
    "run_trial_file",
    "sbml_export",
    "sensitivity",
    "simulate_patient",
    "simulate_regimen",
    "simulate_sbml_file",
    "trial_power",
    "trial_run_status",
    "trial_toml",
    "write_trial_report",
]
