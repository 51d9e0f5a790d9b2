"""map_chunks: the same results in this process and in worker processes, errors re-raised.

The task is ``max`` (a builtin), because spawned workers must import the task by name and a
test module is not importable there."""

import pytest

from nadsim._errors import InputError
from nadsim._parallel import map_chunks

CHUNKS = [1, 7, 3, 12, 5]
EXPECTED = {i: max(4, 6, c) for i, c in enumerate(CHUNKS)}


@pytest.mark.parametrize("workers", [1, 2])
def test_same_results_here_and_in_processes(workers):
    assert dict(map_chunks(max, CHUNKS, shared=(4, 6), workers=workers, window=1)) == EXPECTED


def test_errors_reach_the_caller_and_workers_are_checked():
    with pytest.raises(TypeError):  # max(0, 1, "x") compares a str with an int in the worker
        dict(map_chunks(max, [1, "x"], shared=(0, 1), workers=2))
    with pytest.raises(InputError, match="workers"):
        dict(map_chunks(max, CHUNKS, workers=0))
