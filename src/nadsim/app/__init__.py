"""The application layer: one verb per thing a user asks nadsim to do, over typed requests.

The faces (``nadsim.cli``, ``nadsim.web``) parse text into a request, call one verb and format
its result; the verbs hold no formatting and read no text.
"""

from nadsim.app._patient import PatientRequest as PatientRequest
from nadsim.app._patient import PatientRuns as PatientRuns
from nadsim.app._patient import simulate_patient as simulate_patient

__all__ = ["PatientRequest", "PatientRuns", "simulate_patient"]
