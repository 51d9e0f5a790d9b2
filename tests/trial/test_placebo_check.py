"""The placebo-response check words what is true: the point against Furukawa's 35-40 %
(kinetics.csv), whether its interval overlaps that range, and no comparison for a response read
before the 8-week trials the range is taken at."""

import pytest

from nadsim.trial._results import PLACEBO_RESPONSE_RANGE, PLACEBO_RESPONSE_WEEKS, placebo_comparison


def test_the_range_and_its_length_are_the_documented_ones():
    # kinetics.csv row "placebo response rate (>=50% reduction)": 35-40 %; 8 weeks: HAMD_pbo_ref note
    assert PLACEBO_RESPONSE_RANGE == (0.35, 0.40) and PLACEBO_RESPONSE_WEEKS == 8.0


def test_a_point_outside_with_an_overlapping_interval_is_not_called_outside():
    """The audit's case: 34.1 % [28.6, 39.7] was warned as "outside 35-40 %"."""
    text, inside, warn = placebo_comparison(0.341, 0.286, 0.397, 8.0, 0.95)
    assert inside is False and warn is False
    assert "point below" in text and "interval overlaps" in text
    assert "34.1 %" in text and "28.6-39.7 %" in text and "35-40 %" in text


@pytest.mark.parametrize(("rate", "lo", "hi", "side"), [(0.303, 0.286, 0.319, "below"), (0.45, 0.41, 0.49, "above")])
def test_a_whole_interval_outside_warns(rate, lo, hi, side):
    text, inside, warn = placebo_comparison(rate, lo, hi, 8.0, 0.95)
    assert inside is False and warn is True and f"{side} the 35-40 %" in text and "whole interval outside" in text


def test_inside_gives_no_warning():
    text, inside, warn = placebo_comparison(0.38, 0.36, 0.40, 8.0, 0.95)
    assert inside is True and warn is False and "inside" in text


def test_a_two_week_response_is_not_compared_with_the_8_week_range():
    text, inside, warn = placebo_comparison(0.12, 0.10, 0.14, 2.0, 0.95)
    assert inside is None and warn is False
    assert "week 2" in text and "not compared" in text and "8-week" in text and "outside" not in text
