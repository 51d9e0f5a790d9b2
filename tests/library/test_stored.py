"""The disk store of built models (library/_stored.py): reuse, invalidation, bad entries."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from nadsim.library import _stored, get_model
from nadsim.library._stored import source_digest, stored
from nadsim.simulate import compile_model


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("NADSIM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def _counting_builder(model):
    calls = []

    def build():
        calls.append(1)
        return model

    return build, calls


def test_second_call_is_served_from_disk_and_equals_the_built_model(store):
    model = get_model("nad_core")
    build, calls = _counting_builder(model)
    first = stored("k", build)
    again = stored("k", build)
    assert calls == [1]  # built once
    assert again is not first  # a fresh unpickled object, checked again by Model's constructor
    assert again == model
    assert compile_model(again).source_hash == compile_model(model).source_hash
    assert again.parameters["inf_NMN"].unit == model.parameters["inf_NMN"].unit
    assert _stored._entry("k").is_file()


@pytest.mark.parametrize("content", [b"not a pickle", pickle.dumps({"a": 1}), b""])
def test_a_bad_entry_is_rebuilt_and_replaced(store, content):
    model = get_model("nad_core")
    build, calls = _counting_builder(model)
    stored("k", build)
    entry = _stored._entry("k")
    entry.write_bytes(content)
    assert stored("k", build) == model
    assert calls == [1, 1]
    assert isinstance(pickle.loads(entry.read_bytes()), type(model))  # rewritten whole


def test_entries_of_other_sources_are_removed(store):
    stale = store / "0123456789abcdef0123"
    stale.mkdir(parents=True)
    (stale / "old.pickle").write_bytes(b"x")
    stored("k", _counting_builder(get_model("nad_core"))[0])
    assert not stale.exists()
    assert [p.name for p in store.iterdir()] == [source_digest()]


def test_an_unwritable_store_only_costs_the_build(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("NADSIM_CACHE_DIR", str(blocker / "cache"))  # mkdir under a file fails
    model = get_model("nad_core")
    build, calls = _counting_builder(model)
    assert stored("k", build) == model
    assert stored("k", build) == model
    assert calls == [1, 1]


def test_the_digest_follows_the_library_versions(monkeypatch):
    before = source_digest()
    source_digest.cache_clear()
    monkeypatch.setattr(_stored, "version", lambda lib: "0.0-other")
    try:
        assert source_digest() != before
    finally:
        source_digest.cache_clear()


def test_a_fresh_process_gets_the_same_model_from_the_store(tmp_path):
    code = ("import os, sys; os.environ['NADSIM_CACHE_DIR'] = sys.argv[1]\n"
            "from nadsim.library import get_model\n"
            "from nadsim.simulate import compile_model\n"
            "m = get_model('full', arm=0.0)\n"
            "print(compile_model(m).source_hash, sorted((k, p.value) for k, p in m.parameters.items()))")
    runs = [subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                           check=True, timeout=300).stdout for _ in range(2)]
    assert runs[0] == runs[1]  # the first process built and stored the model, the second loaded it
    assert len(list(tmp_path.rglob("*.pickle"))) == 1  # full with its trial arm: one entry
