"""The CLI's output grid (``--until``/``--step``): limits checked where they are parsed."""

from __future__ import annotations

import pytest

from nadsim._errors import InputError
from nadsim.cli._simulate import MAX_POINTS, grid_for
from nadsim.dosing import Regimen


def test_the_step_the_default_message_suggests_is_accepted():
    """100000 d = 2.4e6 h: the message names 12 h, and 12 h gives exactly MAX_POINTS steps."""
    with pytest.raises(InputError, match="12 h or coarser") as exc:
        grid_for(Regimen.none(), "100000 d", None)
    assert exc.value.field == "--step"
    grid = grid_for(Regimen.none(), "100000 d", "12 h")
    assert grid.size == MAX_POINTS + 1


def test_a_step_longer_than_until_is_refused_but_equal_is_fine():
    with pytest.raises(InputError) as exc:
        grid_for(Regimen.none(), "1 h", "2 h")
    assert exc.value.field == "--step" and "at most --until" in str(exc.value)
    assert grid_for(Regimen.none(), "1 h", "1 h").tolist() == [0.0, 1.0]


def test_the_default_step_still_serves_ordinary_runs():
    assert grid_for(Regimen.none(), "24 h", None).size == 201  # 0.12 h steps: until / 200
