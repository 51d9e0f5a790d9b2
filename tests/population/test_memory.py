"""Population specs are checked against a memory estimate before anything is sampled or solved."""

import subprocess
import sys

import pytest

from nadsim._errors import InputError
from nadsim.population import check_population_memory, population_memory_bytes, sample_population

GIB = 2**30


def test_estimate_is_the_documented_formula():
    """Reference: the module's formula, 8 bytes x (3 copies x times x (outputs + states) +
    2 x parameters) per subject (3 copies: measured, 268 KB a subject at 202 times x 58 outputs);
    linear in the number of subjects."""
    one = population_memory_bytes(1, 337, 58, n_states=2, n_parameters=241)
    assert one == 8 * (3 * 337 * 60 + 2 * 241)
    assert population_memory_bytes(1000, 337, 58, n_states=2, n_parameters=241) == 1000 * one


def test_the_largest_number_that_fits_passes_and_one_more_is_refused_with_the_range():
    available = 16 * GIB
    one = population_memory_bytes(1, 337, 58, n_parameters=241)
    fits = (available // 2) // one
    check_population_memory(fits, 337, 58, n_parameters=241, available=available, field="--population")
    with pytest.raises(InputError) as info:
        check_population_memory(fits + 1, 337, 58, n_parameters=241, available=available, field="--population")
    msg = str(info.value)
    assert info.value.field == "--population" and f"[1, {fits}]" in msg and "GiB" in msg and "\n" not in msg


def test_a_time_grid_too_fine_for_one_subject_names_the_grid():
    with pytest.raises(InputError) as info:
        check_population_memory(1, 10**9, 58, available=16 * GIB, field="--population", times_field="--step")
    assert info.value.field == "--step"


def test_sampling_is_checked_too():
    """10 million subjects x 241 parameters x 2 copies x 8 bytes = 38.6 GB: refused on a 16 GiB
    machine before any subject is drawn."""
    with pytest.raises(InputError, match="population"):
        check_population_memory(10_000_000, 0, 0, n_parameters=241, available=16 * GIB)
    assert len(sample_population(3, seed=1)) == 3  # a small population still samples


def test_cli_refuses_the_largest_legal_population_before_it_starts(tmp_path):
    """``--population 10000000`` over 84 days at 1 h steps (2017 times x 58 outputs) needs ~28 TB by the estimate: one
    line naming --population and the range, exit 2, nothing written."""
    out = tmp_path / "pop.parquet"
    res = subprocess.run([sys.executable, "-m", "nadsim", "simulate", "--population", "10000000", "--until", "84 d",
                          "--step", "1 h", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert "--population" in err and "[1, " in err and "GiB" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in res.stderr
    assert not out.exists() and not list(tmp_path.iterdir())
