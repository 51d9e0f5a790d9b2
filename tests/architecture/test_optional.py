"""Optional extras fail with the install command, never an ImportError."""

import pytest

from nadsim._errors import InputError
from nadsim._optional import EXTRAS, missing, require


def test_installed_extra_imports():
    assert missing("petab.v1") is None  # the test environment installs every extra
    assert require("petab.v1", field="petab").__name__ == "petab.v1"


def test_missing_extra_names_field_and_install_command(monkeypatch):
    monkeypatch.setitem(EXTRAS, "no_such_extra_module", "jax")
    with pytest.raises(InputError, match="solver") as info:
        require("no_such_extra_module", field="solver")
    assert "pip install 'nadsim[jax]'" in str(info.value)


def test_core_dependency_is_not_optional():
    with pytest.raises(KeyError):
        missing("numpy")
