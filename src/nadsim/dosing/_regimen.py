"""Regimens: frozen lists of doses, validated when built.

A :class:`Dose` is one administration: compound, route, amount (mg), start time (h) and,
for infusions, a duration (h). A :class:`Regimen` is an ordered tuple of doses. Text with
units ("300 mg", "20 min", "100 mL at 5 mL/min") is parsed only by :func:`parse_regimen`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from nadsim._errors import InputError
from nadsim._units import parse_quantity
from nadsim.dosing._compounds import COMPOUNDS, ROUTES

__all__ = ["Dose", "Regimen", "parse_regimen"]

MAX_DOSE_MG = 100_000.0  # 100 g: far above any studied dose; guards against unit slips
MAX_DOSES = 10_000
MAX_TIME_H = 24.0 * 365 * 5
#: shortest infusion (1 s): a shorter one is a bolus in disguise, and an infusion of 1e-300 min
#: asks the solver for a rate of 1e300 umol/h
MIN_INFUSION_H = 1.0 / 3600.0
#: two dose events (bolus times, infusion starts and ends) are either one event (closer than
#: ``SAME_EVENT_H``, the schedule's ``EVENT_RESOLUTION_H``) or at least this far apart (1 s);
#: in between the schedule would cut a segment no solver step can resolve
MIN_EVENT_GAP_H = 1.0 / 3600.0
SAME_EVENT_H = 1e-12
#: event times are sums (start + i * every + infusion), each rounded to a few ulp of the time
#: itself, so a gap of exactly 1 s can come out a hair under MIN_EVENT_GAP_H: a gap short of
#: it by less than this relative tolerance of the later time (1e-12, thousands of ulp; at the
#: 5-year horizon 4.4e-8 h, 0.16 ms) counts as 1 s
EVENT_GAP_RTOL = 1e-12


@dataclass(frozen=True)
class Dose:
    compound: str
    route: str
    amount_mg: float
    time_h: float
    duration_h: float = 0.0

    def __post_init__(self) -> None:
        if self.compound not in COMPOUNDS:
            raise InputError("compound", f"one of {', '.join(COMPOUNDS)}", self.compound)
        if self.route not in ROUTES:
            raise InputError("route", f"one of {', '.join(ROUTES)}", self.route)
        if not (0.0 < self.amount_mg <= MAX_DOSE_MG):
            raise InputError("dose", f"a positive amount up to {MAX_DOSE_MG:g} mg", f"{self.amount_mg:g} mg")
        if not (0.0 <= self.time_h <= MAX_TIME_H):
            raise InputError("dose time", f"between 0 and {MAX_TIME_H:g} h", self.time_h)
        if self.route == "iv":
            if not (MIN_INFUSION_H <= self.duration_h <= 48.0):
                raise InputError("infusion", "a duration from 1 s to 48 h for an IV infusion", f"{self.duration_h:g} h")
        elif self.duration_h != 0.0:
            raise InputError("infusion", f"absent for route '{self.route}' (only 'iv' infuses)", f"{self.duration_h:g} h")

    @property
    def amount_umol(self) -> float:
        return self.amount_mg / COMPOUNDS[self.compound].molar_mass * 1000.0

    @property
    def end_h(self) -> float:
        return self.time_h + self.duration_h

    @property
    def rate_umol_h(self) -> float:
        return self.amount_umol / self.duration_h if self.duration_h else float("inf")


@dataclass(frozen=True)
class Regimen:
    """Doses in time order. Infusions of the same compound may not overlap."""

    doses: tuple[Dose, ...] = field(default=())

    def __post_init__(self) -> None:
        doses = tuple(sorted(self.doses, key=lambda d: (d.time_h, d.compound, d.route)))
        object.__setattr__(self, "doses", doses)
        if len(doses) > MAX_DOSES:
            raise InputError("doses", f"at most {MAX_DOSES} administrations", len(doses))
        last_end: dict[str, float] = {}
        for d in doses:
            if d.route == "iv":
                if d.time_h < last_end.get(d.compound, -1.0) - 1e-12:
                    raise InputError(
                        "infusion", "shorter than the dosing interval (infusions of one compound may not overlap)",
                        f"{d.compound} infusion at {d.time_h:g} h starts before the previous one ends at {last_end[d.compound]:g} h",
                    )
                last_end[d.compound] = d.end_h
        _check_event_gaps(self.breakpoints)

    @classmethod
    def none(cls) -> Regimen:
        return cls(())

    @classmethod
    def repeated(cls, compound: str, route: str, amount_mg: float, *, duration_h: float = 0.0,
                 every_h: float | None = None, n_doses: int = 1, start_h: float = 0.0) -> Regimen:
        if n_doses < 1 or n_doses > MAX_DOSES:
            raise InputError("doses", f"a whole number from 1 to {MAX_DOSES}", n_doses)
        if n_doses > 1:
            if every_h is None or every_h <= 0:
                raise InputError("every", "a positive interval when more than one dose is given", every_h)
            if route == "iv" and duration_h > every_h:
                raise InputError("infusion", f"no longer than the interval ({every_h:g} h)", f"{duration_h:g} h")
        step = every_h or 0.0
        return cls(tuple(Dose(compound, route, amount_mg, start_h + i * step, duration_h) for i in range(n_doses)))

    def __add__(self, other: Regimen) -> Regimen:
        return Regimen(self.doses + other.doses)

    @property
    def last_time_h(self) -> float:
        return max((d.end_h for d in self.doses), default=0.0)

    @property
    def breakpoints(self) -> tuple[float, ...]:
        pts = {d.time_h for d in self.doses} | {d.end_h for d in self.doses if d.route == "iv"}
        return tuple(sorted(pts))

    def describe(self) -> str:
        if not self.doses:
            return "no dosing"
        first = self.doses[0]
        kinds = {(d.compound, d.route, d.amount_mg, d.duration_h) for d in self.doses}
        desc = f"{first.amount_mg:g} mg {first.compound} {first.route}"
        if first.route == "iv":
            desc += f" over {first.duration_h * 60:g} min"
        if len(self.doses) > 1:
            gaps = {round(b.time_h - a.time_h, 9) for a, b in zip(self.doses, self.doses[1:], strict=False)}
            desc += f", {len(self.doses)} doses" + (f" every {gaps.pop():g} h" if len(gaps) == 1 else "")
        if len(kinds) > 1:
            desc += " (mixed)"
        return desc


def _too_close(a: float, b: float) -> bool:
    """Events at ``a < b`` (h) are neither one event nor 1 s apart (up to rounding)."""
    return SAME_EVENT_H < b - a < MIN_EVENT_GAP_H - EVENT_GAP_RTOL * max(abs(b), 1.0)


def _check_event_gaps(times: tuple[float, ...]) -> None:
    for a, b in itertools.pairwise(times):
        if _too_close(a, b):
            raise InputError("dose time", "dose events (doses, infusion starts and ends) at the same time or at least "
                             "1 s apart", f"events at {a!r} h and {b!r} h")


_VOL_RATE = re.compile(r"^\s*(?P<vol>.+?)\s+at\s+(?P<rate>.+)$", re.IGNORECASE)


def parse_duration(text: str, field: str = "infusion") -> float:
    """Parse an infusion given as a duration ("20 min") or volume at rate ("100 mL at 5 mL/min")."""
    m = _VOL_RATE.match(text or "")
    if m:
        vol = parse_quantity(m["vol"], field, "[length] ** 3", unit_hint="100 mL at 5 mL/min")
        rate = parse_quantity(m["rate"], field, "[length] ** 3 / [time]", unit_hint="100 mL at 5 mL/min")
        if vol <= 0 or rate <= 0:
            raise InputError(field, "a positive volume and rate", text)
        return vol / rate
    return parse_quantity(text, field, "[time]", unit_hint="20 min")


def parse_regimen(*, compound: str, route: str, dose: str, infusion: str | None = None,
                  every: str | None = None, doses: int = 1, start: str | None = None) -> Regimen:
    """Build a regimen from text with units, as the CLI and web API receive it."""
    compound_key = compound.strip().upper().replace("+", "") if isinstance(compound, str) else compound
    if compound_key not in COMPOUNDS:
        raise InputError("compound", f"one of {', '.join(COMPOUNDS)}", compound)
    route_key = route.strip().lower().replace("-", "_") if isinstance(route, str) else route
    if route_key not in ROUTES:
        raise InputError("route", f"one of {', '.join(ROUTES)}", route)
    amount = parse_quantity(dose, "dose", "[mass]", unit_hint="300 mg", to="mg")
    if amount <= 0:
        raise InputError("dose", "a positive amount, e.g. '300 mg'", dose)
    duration = 0.0
    if route_key == "iv":
        duration = parse_duration(infusion or "", "infusion") if infusion else 1.0 / 3.0
        if duration <= 0:
            raise InputError("infusion", "a positive duration, e.g. '20 min'", infusion)
    elif infusion:
        raise InputError("infusion", "given only with --route iv", infusion)
    every_h = parse_quantity(every, "every", "[time]", unit_hint="1 d") if every else None
    if every_h is not None and every_h <= 0:
        raise InputError("every", "a positive interval, e.g. '1 d'", every)
    if every_h is not None and doses > 1 and every_h < MIN_EVENT_GAP_H:
        raise InputError("every", "an interval of at least 1 s between doses", every)
    if not isinstance(doses, int) or doses < 1:
        raise InputError("doses", "a whole number of at least 1", doses)
    if doses > 1 and every_h is None:
        raise InputError("every", "given when --doses is more than 1", None)
    start_h = parse_quantity(start, "start", "[time]", unit_hint="0 h") if start else 0.0
    if start_h < 0:
        raise InputError("start", "zero or later", start)
    return Regimen.repeated(compound_key, route_key, amount, duration_h=duration, every_h=every_h,
                            n_doses=doses, start_h=start_h)
