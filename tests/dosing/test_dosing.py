"""Regimens from text with units; every bad input names its field."""

import pytest

from nadsim import InputError
from nadsim.dosing import Dose, Regimen, parse_regimen


def test_volume_at_rate_gives_duration():
    r = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="100 mL at 5 mL/min")
    (d,) = r.doses
    assert d.duration_h == pytest.approx(20 / 60)
    assert d.amount_umol == pytest.approx(300 / 334.22 * 1000)


def test_units_convert():
    r = parse_regimen(compound="nr", route="oral", dose="1 g", every="12 h", doses=3)
    assert [d.time_h for d in r.doses] == [0, 12, 24]
    assert r.doses[0].amount_mg == pytest.approx(1000)
    r = parse_regimen(compound="NMN", route="iv", dose="0.3 g", infusion="0.5 h", every="1 week", doses=2)
    assert r.doses[1].time_h == pytest.approx(168)


@pytest.mark.parametrize(("kw", "field"), [
    ({"dose": "-300 mg"}, "dose"),
    ({"dose": "0 mg"}, "dose"),
    ({"dose": "300 mL"}, "dose"),
    ({"dose": "300"}, "dose"),
    ({"dose": "abc mg"}, "dose"),
    ({"dose": "1e9 mg"}, "dose"),
    ({"compound": "caffeine"}, "compound"),
    ({"route": "intranasal"}, "route"),
    ({"infusion": "20 mg"}, "infusion"),
    ({"infusion": "-5 min"}, "infusion"),
    ({"infusion": "100 mL at 0 mL/min"}, "infusion"),
    ({"every": "1 d", "doses": 3, "infusion": "25 h"}, "infusion"),
    ({"doses": 3}, "every"),
    ({"every": "-1 d", "doses": 2}, "every"),
    ({"every": "1 d", "doses": 0}, "doses"),
])
def test_bad_inputs_name_the_field(kw, field):
    args = {"compound": "NMN", "route": "iv", "dose": "300 mg", "infusion": "20 min", **kw}
    with pytest.raises(InputError) as err:
        parse_regimen(**args)
    assert err.value.field == field
    assert field in str(err.value)


def test_infusion_only_for_iv_and_no_overlaps():
    with pytest.raises(InputError, match="infusion"):
        parse_regimen(compound="NMN", route="oral", dose="300 mg", infusion="20 min")
    with pytest.raises(InputError, match="overlap"):
        Regimen((Dose("NMN", "iv", 300, 0.0, 2.0), Dose("NMN", "iv", 300, 1.0, 2.0)))


def test_regimen_orders_doses_and_describes_itself():
    r = Regimen((Dose("NMN", "oral", 250, 24.0), Dose("NMN", "oral", 250, 0.0)))
    assert [d.time_h for d in r.doses] == [0.0, 24.0]
    assert "2 doses every 24 h" in r.describe()
    assert Regimen.none().describe() == "no dosing"


# Issue #15: inputs with no physical meaning are refused at the edge, naming the field.
# Each of these was accepted before (and "9**9**9 mg" hung the parser inside pint).
@pytest.mark.parametrize(("kw", "field"), [
    ({"dose": "300 % mg"}, "dose"),  # was read as 3 mg
    ({"dose": "300 mg + 5 g"}, "dose"),  # was read as 5300 mg
    ({"dose": "300 percent mg"}, "dose"),
    ({"dose": "300 mg 5 g"}, "dose"),
    ({"dose": "9**9**9 mg"}, "dose"),  # hung
    ({"dose": "300 mg**9**9"}, "dose"),
    ({"dose": "3 " + "(" * 4 + "mg" + ")" * 4}, "dose"),
    ({"dose": "3 " + "m" * 80}, "dose"),
    ({"infusion": "0.5 s"}, "infusion"),
    ({"infusion": "1e-300 min"}, "infusion"),
    ({"infusion": "1 mL at 1e9 mL/min"}, "infusion"),
    ({"route": "oral", "infusion": None, "every": "1e-300 h", "doses": 2}, "every"),
    ({"route": "oral", "infusion": None, "every": "0.2 s", "doses": 2}, "every"),
])
def test_meaningless_inputs_are_refused(kw, field):
    args = {"compound": "NMN", "route": "iv", "dose": "300 mg", "infusion": "20 min", **kw}
    with pytest.raises(InputError) as err:
        parse_regimen(**args)
    assert err.value.field == field
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text", ["300 mg", "300mg", "0.3 g", "300 µg", "1e2 mg", "300 (mg)", "300 mg*kg/kg"])
def test_plain_quantities_still_parse(text):
    from nadsim._units import parse_quantity

    assert parse_quantity(text, "dose", "[mass]", unit_hint="300 mg", to="mg") > 0


def test_one_second_infusion_is_the_shortest():
    assert parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="1 s").doses[0].duration_h == pytest.approx(1 / 3600)
    with pytest.raises(InputError, match="1 s"):
        Dose("NMN", "iv", 300, 0.0, 0.9 / 3600)


def test_dose_events_closer_than_a_second_are_refused_but_simultaneous_ones_are_one_event():
    from nadsim.dosing._regimen import SAME_EVENT_H
    from nadsim.simulate._schedule import EVENT_RESOLUTION_H

    assert SAME_EVENT_H == EVENT_RESOLUTION_H  # the dosing edge and the schedule agree on "one event"
    with pytest.raises(InputError) as err:
        Regimen((Dose("NMN", "oral", 300, 0.0), Dose("NMN", "oral", 300, 1e-6)))
    assert err.value.field == "dose time"
    with pytest.raises(InputError):  # an infusion ending 0.5 s before a bolus
        Regimen((Dose("NMN", "iv", 300, 0.0, 1.0), Dose("NR", "oral", 300, 1.0 + 0.5 / 3600)))
    both = Regimen((Dose("NMN", "oral", 300, 0.0), Dose("NR", "oral", 300, 0.0)))
    assert len(both.doses) == 2
    merged = Regimen((Dose("NMN", "oral", 300, 0.0), Dose("NMN", "oral", 300, 1e-300)))  # one event to the schedule
    assert len(merged.doses) == 2
    back_to_back = Regimen.repeated("NMN", "iv", 300, duration_h=1.0, every_h=1.0, n_doses=3)
    assert len(back_to_back.doses) == 3


def test_events_exactly_1_s_apart_pass_despite_rounding():
    """1 s drips every 1 min: dose 1 starts at 1/60 h and ends 1 s later, but the float gap
    (1/60 + 1/3600) - 1/60 is a few ulp under 1/3600 h; it must count as 1 s."""
    reg = parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="1 s", every="1 min", doses=1000)
    assert len(reg.doses) == 1000
    late = 40_000.0  # near the 5-year horizon, where an ulp of the time is ~7e-12 h
    assert len(Regimen((Dose("NMN", "oral", 300.0, late), Dose("NMN", "oral", 300.0, late + 1.0 / 3600.0))).doses) == 2


@pytest.mark.parametrize("gap_s", [0.5, 0.999])
def test_events_genuinely_under_1_s_apart_are_still_refused(gap_s):
    with pytest.raises(InputError, match="1 s apart"):
        Regimen((Dose("NMN", "oral", 300.0, 0.0), Dose("NMN", "oral", 300.0, gap_s / 3600.0)))
    with pytest.raises(InputError, match="1 s apart"):  # an infusion end and the next start
        parse_regimen(compound="NMN", route="iv", dose="300 mg", infusion="1 s", every=f"{1 + gap_s} s", doses=3)
