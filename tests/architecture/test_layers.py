"""The layering is enforced (import-linter, also run by .ci/run) and ARCHITECTURE.md shows the
same layers as the contract, so the map cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]


def _contract_layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return [[m.strip() for m in re.split(r"[:|]", layer)] for layer in contract["layers"]]


def _documented_layers() -> list[list[str]]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- layers -->\n```text\n(.*?)```", text, re.S)
    assert block, "ARCHITECTURE.md lacks its layers block (<!-- layers --> then a text fence)"
    rows = [ln.split("#")[0].strip() for ln in block.group(1).splitlines()]
    return [[f"nadsim.{m.strip()}" for m in row.split(",")] for row in rows if row]


def test_architecture_shows_the_contract_layers():
    assert _documented_layers() == _contract_layers()


def test_every_package_has_a_layer():
    graph = grimp.build_graph("nadsim")
    top = {".".join(m.split(".")[:2]) for m in graph.modules if m.count(".") >= 1}
    placed = {m for layer in _contract_layers() for m in layer}
    assert top - placed == set(), "packages outside the layer contract"


def test_no_upward_imports():
    """The contract itself, through import-linter's own checker (reference: its verdict)."""
    res = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                         capture_output=True, encoding="utf-8", errors="replace", timeout=300, check=False,
                         env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert res.returncode == 0, res.stdout[-3000:]
    assert "0 broken" in res.stdout
