"""The dose schedule: the one place that cuts time into segments.

A regimen's events (bolus times, infusion starts and stops) cut the time axis into segments.
Inside a segment the inputs are constant, so the right-hand side is smooth and no solver ever
steps across a discontinuity; a bolus is added to its target species at the start of its
segment, and each infusion input holds the total rate that runs through the segment. This is
what "dose events are exact" means, for every solver and for the SBML export
(:func:`dose_events`), which writes the same segments as events.

A :class:`Schedule` holds amounts (umol), not concentrations: the increment of a bolus is the
amount divided by the subject's own compartment volume, so one schedule serves a whole
population.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from nadsim._errors import InputError
from nadsim.dosing import Regimen
from nadsim.model import Model

__all__ = ["Schedule", "dose_events", "schedule", "volume_index"]

#: two event times closer than this (h) are one event
EVENT_RESOLUTION_H = 1e-12


@dataclass(frozen=True)
class Schedule:
    """Segments ``[starts[k], ends[k]]`` (h) with ``bolus[k]`` (K, n_states) umol added at the
    start of segment ``k`` and infusion ``rates[k]`` (K, m) umol/h on parameters ``input_idx``."""

    starts: np.ndarray
    ends: np.ndarray
    bolus: np.ndarray
    input_idx: np.ndarray
    rates: np.ndarray

    @property
    def n_segments(self) -> int:
        return int(self.starts.shape[0])

    def increments(self, P: np.ndarray, vol_idx: np.ndarray) -> np.ndarray:
        """Concentration increments (n, K, n_states) for subjects with parameters ``P``;
        ``vol_idx[i]`` is the parameter index of state ``i``'s compartment volume."""
        vol = np.asarray(P)[:, vol_idx]  # (n, n_states)
        return self.bolus[None, :, :] / vol[:, None, :]


def volume_index(model: Model) -> np.ndarray:
    """For each state, the parameter index of its compartment's volume (0 for states that are
    not species: they never receive a bolus)."""
    comp = model.compartment_of
    names = model.parameter_names
    return np.array([names.index(comp[s].volume) if s in comp else 0 for s in model.state_names], dtype=np.int64)


def _bolus_target(model: Model, compound: str, route: str) -> str:
    key = (compound, route)
    if key not in model.dose_targets:
        raise InputError("route", f"a route the model accepts for {compound}", route)
    return model.dose_targets[key]


def _infusion_input(model: Model, compound: str) -> str:
    key = (compound, "iv")
    if key not in model.infusion_inputs:
        raise InputError("route", f"a route the model accepts for {compound}", "iv")
    return model.infusion_inputs[key]


def schedule(model: Model, regimen: Regimen, t0: float, t1: float) -> Schedule:
    """Cut ``[t0, t1]`` at the regimen's events and describe the inputs of each piece."""
    pnames = model.parameter_names
    snames = model.state_names
    cuts = sorted({t0, t1, *[b for b in regimen.breakpoints if t0 < b < t1]})
    inputs = sorted({pnames.index(_infusion_input(model, d.compound)) for d in regimen.doses if d.route == "iv"})
    pairs = list(itertools.pairwise(cuts)) or [(t0, t1)]
    K = len(pairs)
    bolus = np.zeros((K, len(snames)))
    rates = np.zeros((K, len(inputs)))
    for k, (a, b) in enumerate(pairs):
        for d in regimen.doses:
            if d.route == "iv":
                if d.time_h <= a + EVENT_RESOLUTION_H and d.end_h >= b - EVENT_RESOLUTION_H:
                    rates[k, inputs.index(pnames.index(_infusion_input(model, d.compound)))] += d.rate_umol_h
            elif abs(d.time_h - a) <= EVENT_RESOLUTION_H or (k == 0 and t0 <= d.time_h < t0 + EVENT_RESOLUTION_H):
                bolus[k, snames.index(_bolus_target(model, d.compound, d.route))] += d.amount_umol
    return Schedule(starts=np.array([a for a, _ in pairs]), ends=np.array([b for _, b in pairs]),
                    bolus=bolus, input_idx=np.array(inputs, dtype=np.int64), rates=rates)


def dose_events(model: Model, regimen: Regimen) -> list[tuple[float, dict[str, float], dict[str, float]]]:
    """The regimen as events for an exporter: ``[(t_h, {species: umol added}, {input: umol/h})]``,
    one per distinct dose time. At each, every infusion input the regimen uses is set to the
    total rate that runs until the next event (0 when none), and boluses are added; the same
    segments as :func:`schedule` cuts."""
    points = sorted(set(regimen.breakpoints))
    if not points:
        return []
    sch = schedule(model, regimen, points[0], points[-1] + 1.0)
    pnames, snames = model.parameter_names, model.state_names
    events = []
    for k in range(sch.n_segments):
        boluses = {snames[i]: float(sch.bolus[k, i]) for i in np.nonzero(sch.bolus[k])[0]}
        rates = {pnames[int(p)]: float(sch.rates[k, m]) for m, p in enumerate(sch.input_idx)}
        events.append((float(sch.starts[k]), boluses, rates))
    return events
