"""Reference CPU solver: exact dosing events on SciPy's stiff integrators.

The time axis is cut at every dose event (bolus time, infusion start and stop). Inside a
segment the inputs are constant, so the right-hand side is smooth and the stiff solver
never steps across a discontinuity; a bolus is added to the state at the start of its
segment. This is what "infusion starts and stops are exact" means.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import root

from nadsim._errors import SolverError
from nadsim.dosing import Regimen
from nadsim.simulate._compile import CompiledModel
from nadsim.simulate._orbit import averaged_start, periodic_orbit, scipy_period_map, state_sets

__all__ = ["Segment", "forced_states", "integrate", "periodic_baseline", "segments", "steady_state"]


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    bolus: tuple[tuple[int, float], ...]  # (state index, concentration increment)
    inputs: tuple[tuple[int, float], ...]  # (parameter index, rate umol/h)


def segments(cm: CompiledModel, regimen: Regimen, p: np.ndarray, t0: float, t1: float) -> list[Segment]:
    """Cut [t0, t1] at the regimen's events and describe the inputs in each piece."""
    model = cm.model
    cuts = sorted({t0, t1, *[b for b in regimen.breakpoints if t0 < b < t1]})
    segs = []
    for a, b in itertools.pairwise(cuts):
        bol: dict[int, float] = {}
        rates: dict[int, float] = {}
        for d in regimen.doses:
            if d.route == "iv":
                key = (d.compound, "iv")
                if key not in model.infusion_inputs:
                    raise SolverError("route", f"a route the model accepts for {d.compound}", "iv")
                if d.time_h <= a + 1e-12 and d.end_h >= b - 1e-12:
                    pi = cm.pidx(model.infusion_inputs[key])
                    rates[pi] = rates.get(pi, 0.0) + d.rate_umol_h
            elif abs(d.time_h - a) <= 1e-12 or (a == t0 and d.time_h < t0 + 1e-12 and d.time_h >= t0):
                key = (d.compound, d.route)
                if key not in model.dose_targets:
                    raise SolverError("route", f"a route the model accepts for {d.compound}", d.route)
                sp = model.dose_targets[key]
                si = cm.sidx(sp)
                vol = p[cm.pidx(model.compartment_of[sp].volume)]
                bol[si] = bol.get(si, 0.0) + d.amount_umol / vol
        segs.append(Segment(a, b, tuple(sorted(bol.items())), tuple(sorted(rates.items()))))
    return segs


def integrate(cm: CompiledModel, y0: np.ndarray, p: np.ndarray, regimen: Regimen, times: np.ndarray,
              *, rtol: float = 1e-8, atol: float = 1e-10, method: str = "LSODA") -> tuple[np.ndarray, dict]:
    """Integrate one subject; returns states at ``times`` (shape (T, n)) and solver stats."""
    times = np.asarray(times, dtype=float)
    t0, t1 = float(times[0]), float(times[-1])
    out = np.empty((times.size, cm.n_states))
    y = np.array(y0, dtype=float)
    stats = {"nfev": 0, "njev": 0, "nlu": 0, "segments": 0}
    for seg in segments(cm, regimen, p, t0, t1):
        for si, inc in seg.bolus:
            y[si] += inc
        q = p.copy()
        for pi, rate in seg.inputs:
            q[pi] = rate
        last = seg.end == t1
        at_start = times == seg.start
        out[at_start] = y  # exact: the state at a segment start is known, not interpolated
        mask = (times > seg.start) & ((times < seg.end) | (last & (times <= seg.end)))
        if seg.end <= seg.start:
            continue
        f = cm.rhs_scalar(q)
        sol = solve_ivp(f, (seg.start, seg.end), y, method=method,
                        t_eval=times[mask] if mask.any() else None, rtol=rtol, atol=atol,
                        jac=None, dense_output=False)
        if not sol.success:
            raise SolverError("solver", "a successful integration", sol.message,
                              hint=f"segment {seg.start:g}-{seg.end:g} h")
        if mask.any():
            out[mask] = sol.y.T
        y = sol.y[:, -1].copy()
        if mask.any() and sol.t[-1] != seg.end:  # t_eval stops short of the segment end
            sol2 = solve_ivp(f, (float(sol.t[-1]), seg.end), sol.y[:, -1],
                             method=method, rtol=rtol, atol=atol)
            y = sol2.y[:, -1].copy()
            stats["nfev"] += sol2.nfev
        stats["nfev"] += sol.nfev
        stats["njev"] += sol.njev
        stats["nlu"] += sol.nlu
        stats["segments"] += 1
    return out, stats


def steady_state(cm: CompiledModel, p: np.ndarray, *, tol: float = 1e-10) -> np.ndarray:
    """Baseline: the undosed steady state for parameters ``p``.

    Newton (MINPACK hybrid) from the parameter-derived guess on every non-accumulating
    state. If that fails or lands on a root with a negative concentration, pseudo-transient
    continuation (:func:`nadsim.simulate._orbit.averaged_start`, which follows the relaxation
    towards the attractor) brings it to the physical root, and Newton polishes.
    """
    if forced_states(cm.model):
        return periodic_baseline(cm, p)
    free, acc = state_sets(cm)
    y = np.asarray(cm.initial_guess(p), dtype=float).copy()
    y[acc] = 0.0
    scale = np.maximum(np.abs(y[free]), 1e-3)

    def f(x: np.ndarray) -> np.ndarray:
        yy = y.copy()
        yy[free] = x * scale
        return cm.rhs(0.0, yy, p)[free] / scale

    for attempt in range(2):
        sol = root(f, y[free] / scale, method="hybr", options={"xtol": 1e-13})
        x = sol.x * scale
        res = np.max(np.abs(f(sol.x)))
        # MINPACK may report "no progress" right at a root, so judge by the residual itself;
        # round-off can leave tiny negative concentrations, which are clipped.
        if res < tol and np.all(x > -1e-6 * np.maximum(scale, 1.0)):
            y[free] = np.maximum(x, 0.0)
            return y
        if attempt == 0:  # follow the relaxation towards the attractor, then polish
            with np.errstate(all="ignore"):
                y = averaged_start(cm, np.asarray(p, dtype=float)[None, :], n_phases=1)[0]
            scale = np.maximum(np.abs(y[free]), 1e-3)
    raise SolverError("baseline", "a steady state without dosing", f"residual {res:.2e}",
                      hint="check the parameter set; the baseline may not exist for these values")


# ---------------------------------------------------------------------------------------------
# Baseline of a periodically forced model (the full model: light cycle, daily cortisol and NAMPT).
#
# A forced model has no fixed point, so its undosed baseline is the periodic orbit: (1) Newton on
# every non-accumulating state for the derivative averaged over 12 phases of one period (slow
# states land on their period mean, fast ones near it; the averaging method); (2) from there, the
# fixed point of the one-period map, found by Anderson acceleration (`_orbit.anderson_orbit`), so
# that t = 0 sits on the orbit at its true forcing phase. Deterministic. The forcing period is
# the model's `T_day` parameter (24 h if absent).


def forced_states(model) -> tuple[str, ...]:
    """States whose derivative depends on time ``t``, directly or through assignment rules."""
    from nadsim.model import parse_expr

    rules = {a.name: parse_expr(a.expr, a.name).symbols for a in model.rules}
    timed: set[str] = set()
    for a in model.rules:  # rules may use earlier rules only, so one pass in order suffices
        if "t" in rules[a.name] or rules[a.name] & timed:
            timed.add(a.name)
    out = [st.name for st in model.states
           if (lambda sy: "t" in sy or bool(sy & timed))(parse_expr(st.rhs, st.name).symbols)]
    for r in model.reactions:
        sy = parse_expr(r.rate, r.name).symbols
        if "t" in sy or sy & timed:
            out += [sp for sp, _ in r.stoichiometry]
    return tuple(dict.fromkeys(out))


def periodic_baseline(cm: CompiledModel, p: np.ndarray) -> np.ndarray:
    """Undosed baseline of a periodically forced model: the state at t = 0 on its periodic orbit
    (accepted by the orbit's own criterion, ``_orbit.ORBIT_TOL``)."""
    P = np.asarray(p, dtype=float)[None, :]
    y, ok, iters = periodic_orbit(cm, P, scipy_period_map(cm, P))
    if not ok[0]:
        raise SolverError("baseline", "a periodic orbit without dosing",
                          f"no convergence after {iters[0]} periods",
                          hint="check the parameter set; the orbit may not exist for these values")
    return y[0]
