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
