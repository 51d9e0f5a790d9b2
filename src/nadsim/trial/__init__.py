"""In-silico trials: trial files, resumable chunked runs, ANCOVA analysis, power, reports."""

from nadsim.trial._analysis import ancova as ancova
from nadsim.trial._analysis import proportion_test as proportion_test
from nadsim.trial._analysis import t_test_power as t_test_power
from nadsim.trial._power import ArmPool as ArmPool
from nadsim.trial._power import n_for_power as n_for_power
from nadsim.trial._power import power_at as power_at
from nadsim.trial._power import power_curve as power_curve
from nadsim.trial._power import power_search as power_search
from nadsim.trial._registry import Registry as Registry
from nadsim.trial._registry import registry_path as registry_path
from nadsim.trial._run import resume_trial as resume_trial
from nadsim.trial._run import run_trial as run_trial
from nadsim.trial._run import trial_status as trial_status
from nadsim.trial._spec import Endpoint as Endpoint
from nadsim.trial._spec import TrialSpec as TrialSpec
from nadsim.trial._spec import load_trial as load_trial
from nadsim.trial._spec import parse_trial as parse_trial

__all__ = ["ArmPool", "Endpoint", "Registry", "TrialSpec", "ancova", "load_trial", "n_for_power",
           "parse_trial", "power_at", "power_curve", "power_search", "proportion_test", "registry_path",
           "resume_trial", "run_trial", "t_test_power", "trial_status"]
