"""In-silico trials: digital twins, replicate trials from one super-population, power and
assurance, resumable chunked runs, ANCOVA/MMRM analysis, prespecified subgroups, reports."""

from nadsim.trial._analysis import ancova as ancova
from nadsim.trial._analysis import holm as holm
from nadsim.trial._analysis import interaction_test as interaction_test
from nadsim.trial._analysis import mmrm as mmrm
from nadsim.trial._analysis import proportion_test as proportion_test
from nadsim.trial._analysis import t_test_power as t_test_power
from nadsim.trial._posthoc import list_runs as list_runs
from nadsim.trial._posthoc import power_from_run as power_from_run
from nadsim.trial._power import assurance_curve as assurance_curve
from nadsim.trial._power import n_for_assurance as n_for_assurance
from nadsim.trial._power import n_for_power as n_for_power
from nadsim.trial._power import power_at as power_at
from nadsim.trial._power import power_curve as power_curve
from nadsim.trial._power import replicate_trials as replicate_trials
from nadsim.trial._registry import RUN_ARG as RUN_ARG
from nadsim.trial._registry import Registry as Registry
from nadsim.trial._registry import registry_path as registry_path
from nadsim.trial._report import write_report as write_report
from nadsim.trial._run import check_runnable as check_runnable
from nadsim.trial._run import default_workers as default_workers
from nadsim.trial._run import resolve_run as resolve_run
from nadsim.trial._run import resume_trial as resume_trial
from nadsim.trial._run import run_trial as run_trial
from nadsim.trial._run import trial_status as trial_status
from nadsim.trial._spec import CHUNK_SIZE as CHUNK_SIZE
from nadsim.trial._spec import N_PER_ARM as N_PER_ARM
from nadsim.trial._spec import POWER_TARGET as POWER_TARGET
from nadsim.trial._spec import REPLICATES as REPLICATES
from nadsim.trial._spec import WORKERS as WORKERS
from nadsim.trial._spec import Endpoint as Endpoint
from nadsim.trial._spec import TrialSpec as TrialSpec
from nadsim.trial._spec import load_trial as load_trial
from nadsim.trial._spec import parse_trial as parse_trial
from nadsim.trial._twins import PotentialOutcomes as PotentialOutcomes
from nadsim.trial._twins import TwinPool as TwinPool
from nadsim.trial._twins import true_effect as true_effect

__all__ = [
    "CHUNK_SIZE",
    "N_PER_ARM",
    "POWER_TARGET",
    "REPLICATES",
    "RUN_ARG",
    "WORKERS",
    "Endpoint",
    "PotentialOutcomes",
    "Registry",
    "TrialSpec",
    "TwinPool",
    "ancova",
    "assurance_curve",
    "check_runnable",
    "default_workers",
    "holm",
    "interaction_test",
    "list_runs",
    "load_trial",
    "mmrm",
    "n_for_assurance",
    "n_for_power",
    "parse_trial",
    "power_at",
    "power_curve",
    "power_from_run",
    "proportion_test",
    "registry_path",
    "replicate_trials",
    "resolve_run",
    "resume_trial",
    "run_trial",
    "t_test_power",
    "trial_status",
    "true_effect",
    "write_report",
]
