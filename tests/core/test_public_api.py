"""The public namespace is explicit and sorted (as httpx tests its own)."""

import nadsim
import nadsim.model


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_complete():
    for mod in (nadsim, nadsim.model):
        assert list(mod.__all__) == sorted(mod.__all__, key=_isort_key)
        for name in mod.__all__:
            assert hasattr(mod, name), name
