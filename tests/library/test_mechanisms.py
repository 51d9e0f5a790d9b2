"""Mechanism modules (issue #3): SIRT1, inflammation/CRP, clock, baseline, profile, mass balance.

Tolerances are stated per test with the source of each reference value.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nadsim._errors import InputError
from nadsim.dosing import Regimen, parse_regimen
from nadsim.library import apply_profile, build_full, build_nad_core
from nadsim.library.full import with_trial_arm
from nadsim.simulate import compile_model, simulate
from nadsim.testing import baseline, trajectory


@pytest.fixture(scope="module")
def full():
    return build_full()


@pytest.fixture(scope="module")
def base(full):
    cm = compile_model(full)
    p = cm.base_parameters()
    return cm, p, baseline(cm, p)


def _rule(cm, p, y, name, t=0.0):
    return np.asarray(cm.rules(t, y, p))[..., cm.rule_names.index(name)]


# ----------------------------------------------------------------------------------- SIRT1
def test_sirt1_rises_and_saturates_with_nad(base):
    """Michaelis-Menten with competitive NAM inhibition (Km 29 uM, Ki 60 uM; kinetics.csv SIRT1 rows)."""
    cm, p, y0 = base
    nad = np.array([3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 1e4, 1e5])
    Y = np.tile(y0, (nad.size, 1))
    Y[:, cm.sidx("NAD_b")] = nad
    act = _rule(cm, p, Y, "SIRT1_activity")
    assert np.all(np.diff(act) > 0), "SIRT1 activity must rise with NAD+"
    assert np.all(np.diff(act) / np.diff(nad) > 0)
    slopes = np.diff(act) / np.diff(nad)
    assert np.all(np.diff(slopes) < 0), "and saturate (falling slope)"
    assert act[-1] == pytest.approx(1.0, abs=0.01)  # Vmax-normalised ceiling
    # half-maximal where free NAD+ = Km * (1 + NAM/Ki): analytic, to 1e-9
    km, ki, ff = (p[cm.pidx(n)] for n in ("Km_SIRT1_NAD", "Ki_SIRT1_NAM", "f_free_NAD"))
    nam = y0[cm.sidx("NAM_b")]
    y = y0.copy()
    y[cm.sidx("NAD_b")] = km * (1 + nam / ki) / ff
    assert float(_rule(cm, p, y, "SIRT1_activity")) == pytest.approx(0.5, abs=1e-9)
    # nicotinamide inhibits
    y2 = y0.copy()
    y2[cm.sidx("NAM_b")] = 60.0
    assert float(_rule(cm, p, y2, "SIRT1_activity")) < float(_rule(cm, p, y0, "SIRT1_activity")) - 0.05


# ----------------------------------------------------------------------------------- clock
def _peak_times(t, x):
    i = np.where((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]))[0] + 1
    # parabolic refinement of each sampled maximum
    out = []
    for k in i:
        a, b, c = x[k - 1], x[k], x[k + 1]
        d = (a - c) / (2 * (a - 2 * b + c)) if (a - 2 * b + c) != 0 else 0.0
        out.append(t[k] + d * (t[1] - t[0]))
    return np.array(out)


def test_clock_free_runs_near_24h_and_entrains(full):
    """Free-running period = tau_clock 24.2 h (Czeisler 1999); with light it locks to 24.00 h."""
    t = np.arange(0.0, 24 * 12 + 0.01, 0.1)
    kl = full.parameters["K_light"]  # constant darkness: no light coupling (outside the sampled bounds)
    dark = full.with_parameter_objects([replace(kl, value=0.0, bounds=(0.0, kl.bounds[1]))])
    cm = compile_model(dark)
    p = cm.base_parameters()
    y0 = np.asarray(cm.initial_guess(p), dtype=float)
    y0[cm.sidx("clk_phase")] = 0.0  # psi_ref (entrained phase) is undefined without light
    Y = trajectory(cm, y0, p, Regimen.none(), t, rtol=1e-8, atol=1e-10)
    per = np.diff(_peak_times(t, _rule(cm, p, Y, "clock_BMAL1", t)))
    assert per.mean() == pytest.approx(24.2, abs=0.05)
    assert per.min() > 23.5 and per.max() < 24.7

    cm = compile_model(full)
    p = cm.base_parameters()
    y0 = np.asarray(cm.initial_guess(p), dtype=float)
    y0[cm.sidx("clk_phase")] += 2.0  # start 2 rad (~8 h) off: jet lag
    Y = trajectory(cm, y0, p, Regimen.none(), t, rtol=1e-8, atol=1e-10)
    late = t > 24 * 8
    per = np.diff(_peak_times(t[late], _rule(cm, p, Y[late], "clock_BMAL1", t[late])))
    assert per.mean() == pytest.approx(24.0, abs=0.02)
    assert Y[-1, cm.sidx("clk_phase")] == pytest.approx(p[cm.pidx("psi_ref")], abs=0.02)


# ----------------------------------------------------------------------------------- CRP
def test_crp_falls_with_its_half_life_when_il6_drops(full):
    """Start at the CRP 8 mg/L baseline, drop the IL-6 drive to the CRP 0.8 level: excess CRP decays
    with t1/2 = 19 h (kinetics.csv CRP half-life) once IL-6 (t1/2 1 h) has settled; tolerance 0.3 h."""
    hi = apply_profile(full, crp_mg_L=8.0)
    lo = apply_profile(full, crp_mg_L=0.8)
    cm_hi = compile_model(hi)
    y0 = baseline(cm_hi, cm_hi.base_parameters())
    cm = compile_model(lo)
    p = cm.base_parameters()
    t = np.arange(0.0, 96.01, 0.5)
    Y = trajectory(cm, y0, p, Regimen.none(), t)
    crp = Y[:, cm.sidx("CRP_pl")]
    il6 = Y[:, cm.sidx("IL6_pl")]
    assert il6[t == 8.0][0] < 0.5 * il6[0]
    excess = crp - 0.8
    win = (t >= 24) & (t <= 72)
    slope = np.polyfit(t[win], np.log(excess[win]), 1)[0]
    assert np.log(2) / -slope == pytest.approx(19.0, abs=0.3)


def test_high_crp_profile_has_larger_inflammatory_contribution(full):
    """The pooled SMD applies at the CRP of the trials' own patients (m = 1 at CRP_src = 1.31 mg/L,
    Osimo 2019 prevalences); m = 1 + 0.5 ln(CRP0/CRP_src): 1.90 at 8 mg/L, 0.86 at 1 mg/L. The fall
    of the inflammatory tone does not depend on CRP0, so the route's points scale with m (rel 2e-3)."""
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min", every="1 d", doses=5)
    t = np.arange(0.0, 5 * 24 + 0.01, 4.0)
    out = {}
    for crp in (8.0, 1.0):
        ds = simulate(apply_profile(full, crp_mg_L=crp), reg, t, rtol=1e-6, atol=1e-9)
        out[crp] = float(ds["HAMD_inflammation"].values[-1])
    assert out[8.0] > 0
    m = {c: 1 + 0.5 * np.log(c / 1.31) for c in (8.0, 1.0)}
    assert out[8.0] / out[1.0] == pytest.approx(m[8.0] / m[1.0], rel=2e-3)


def test_inflammatory_tone_is_not_crp_alone(full):
    """With CRP's weight in the tone set to 0 the route still carries benefit (IL-6 and TNF-alpha
    fall), and the sampled bounds never put more than 0.6 of the weight on CRP."""
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min", every="1 d", doses=5)
    t = np.arange(0.0, 5 * 24 + 0.01, 4.0)
    m = apply_profile(full, crp_mg_L=8.0)
    no_crp = simulate(m.with_parameters(w_tone_CRP=0.0), reg, t, rtol=1e-6, atol=1e-9)
    assert float(no_crp["HAMD_inflammation"].values[-1]) > 0
    assert float(no_crp["TNF_index"].values[-1]) < 1.0
    assert m.parameters["w_tone_CRP"].bounds[1] <= 0.6


def test_harm_at_low_crp_is_possible(full):
    """Raison 2013 (effect_sizes.csv): infliximab did worse than placebo at hs-CRP <= 5 mg/L. Inside
    the documented bounds (b = 1.5, trials' median CRP 8 mg/L) lowering inflammation at CRP 1 mg/L
    costs HAM-D points (m = max(1 + 1.5 ln(1/8), -1) = -1), while at the defaults it helps."""
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="20 min", every="1 d", doses=5)
    t = np.arange(0.0, 5 * 24 + 0.01, 4.0)
    low = apply_profile(full, crp_mg_L=1.0)
    harm = simulate(low.with_parameters(b_CRP_mod=1.5, CRP_src=8.0), reg, t, rtol=1e-6, atol=1e-9)
    help_ = simulate(low, reg, t, rtol=1e-6, atol=1e-9)
    assert float(harm["HAMD_inflammation"].values[-1]) < 0
    assert float(help_["HAMD_inflammation"].values[-1]) > 0
    assert float(harm["HAMD_inflammation"].values[-1]) == pytest.approx(
        -float(help_["HAMD_inflammation"].values[-1]) / (1 + 0.5 * np.log(1 / 1.31)), rel=2e-3)


# ----------------------------------------------------------------------------------- baseline
def test_undosed_baseline_is_periodic_and_matches_the_profile(full):
    """Without dosing the model stays on its periodic baseline; the profile is reproduced."""
    m = apply_profile(full, crp_mg_L=5.0, hamd=24.0)
    t = np.arange(0.0, 72.01, 1.0)
    ds = simulate(m, None, t)
    for v, tol in (("CRP", 1e-3), ("IL6", 1e-3), ("brain_NAD", 1e-3), ("cortisol", 1e-3), ("SIRT1_activity", 1e-4)):
        x = ds[v].values
        assert np.max(np.abs(x[24:] - x[:-24])) <= tol * np.max(np.abs(x)), v  # x(t+24h) = x(t)
    assert np.max(np.abs(ds["HAMD"].values - 24.0)) < 0.05  # points; baseline severity reproduced
    assert np.mean(ds["CRP"].values) == pytest.approx(5.0, rel=5e-3)  # steady-state CRP = profile CRP
    assert ds["cortisol"].values.argmax() % 24 in range(22, 24) or ds["cortisol"].values.argmax() % 24 in (0, 1)
    # cortisol peaks ~08:30 (t = 0 is 09:00): within an hour either side (PMC2684472)


def test_references_are_the_nad_core_baseline(full):
    """Mechanism signals are normalised to nad_core's undosed steady state (0.5% while NAMPT cycles)."""
    core = compile_model(build_nad_core())
    y = baseline(core, core.base_parameters())
    assert full.parameters["NADref_b"].value == pytest.approx(y[core.sidx("NAD_b")], rel=1e-9)
    cm = compile_model(full)
    p = cm.base_parameters()
    t = np.arange(0.0, 24.0, 0.5)
    Y = trajectory(cm, baseline(cm, p), p, Regimen.none(), t)
    assert np.mean(_rule(cm, p, Y, "SIRT1_activity", t)) == pytest.approx(p[cm.pidx("SIRT1_ref_b")], rel=5e-3)


# ----------------------------------------------------------------------------------- mass balance
def test_moiety_balance_holds_with_modules_attached(full):
    """d/dt of total pyridine amount equals the boundary fluxes (diet, infusion, de novo): exact algebra."""
    cm = compile_model(full)
    p = cm.base_parameters()
    y0 = baseline(cm, p)
    vol = {s.name: p[cm.pidx(full.compartment_of[s.name].volume)] for s in full.species}
    rng = np.random.default_rng(3)
    bidx = [i for i, r in enumerate(full.reactions) if r.boundary]
    for trial in range(4):
        y = y0 * (1 + 0.3 * rng.standard_normal(y0.size))
        y[cm.sidx("clk_amp")] = abs(y[cm.sidx("clk_amp")])
        y[cm.sidx("IL6_pl")] *= 1.5  # moves the kynurenine pathway: de novo flux nonzero
        tt = 3.7 * trial
        dy = cm.rhs(tt, y, p)
        total = sum(vol[s.name] * s.moiety * dy[cm.sidx(s.name)] for s in full.species)
        flux = cm.fluxes(tt, y, p)
        boundary = float(np.sum(flux[bidx]))
        assert abs(flux[cm.reaction_names.index("KP_denovo")]) > 1e-3
        assert abs(flux[cm.reaction_names.index("NAMPT_clock_b")]) > 0 or trial == 0
        assert total == pytest.approx(boundary, rel=1e-9, abs=1e-9)


# ----------------------------------------------------------------------------------- profile
@pytest.mark.parametrize(("kw", "field"), [
    ({"crp_mg_L": -1.0}, "--crp"), ({"crp_mg_L": 80.0}, "--crp"), ({"hamd": 60.0}, "--hamd"),
    ({"age": 10.0}, "--age"), ({"sleep": 30.0}, "--sleep"), ({"hamd": "x"}, "--hamd"),
])
def test_profile_out_of_range_names_the_option(full, kw, field):
    with pytest.raises(InputError, match=field):
        apply_profile(full, **kw)


def test_placebo_arm_improves_with_expectancy(full):
    """Placebo arm: expectancy/visits lower HAM-D (Furukawa 2016, 35-40% response); untreated does not."""
    t = np.arange(0.0, 14 * 24 + 0.01, 12.0)
    pbo = simulate(with_trial_arm(full), None, t, rtol=1e-6, atol=1e-9)
    none = simulate(full, None, t, rtol=1e-6, atol=1e-9)
    assert pbo["HAMD"].values[-1] < none["HAMD"].values[-1] - 2.0
    assert abs(none["HAMD"].values[-1] - none["HAMD"].values[0]) < 0.05


def test_placebo_response_does_not_grow_with_severity(full):
    """Kirsch 2008 (kinetics.csv): placebo improvement falls with baseline severity; Stone 2022: ~8-9
    points by the end of an acute trial. Points at 8 weeks fall from HAM-D 16 to 30, and their share
    of baseline falls faster; at HAM-D 22 the 8-week placebo arm improves 7-10 points."""
    t = np.arange(0.0, 56 * 24 + 0.01, 24.0)
    pts = {}
    for h in (16.0, 22.0, 30.0):
        ds = simulate(with_trial_arm(apply_profile(full, hamd=h)), None, t, rtol=1e-6, atol=1e-9)
        pts[h] = h - float(ds["HAMD"].values[-1])
    assert pts[16.0] >= pts[22.0] >= pts[30.0]
    assert pts[16.0] / 16 > pts[22.0] / 22 > pts[30.0] / 30
    assert 7.0 <= pts[22.0] <= 10.0
