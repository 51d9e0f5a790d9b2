"""The README's Python works as written, and its account of where the numbers come from is
counted from the model (audit: it documented ``nadsim.simulate.solve``, which raises after
``import nadsim`` since ``nadsim.simulate`` is then the function, and said every number has a
source when 152 of 245 have none)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from nadsim.library import get_model

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = README.read_text(encoding="utf-8")
FLAT = " ".join(TEXT.split())  # the prose as words, however it is wrapped


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)


def test_every_python_block_runs(tmp_path):
    blocks = _blocks()
    assert len(blocks) == 2
    if any("pop.parquet" in b for b in blocks):  # the data-files block reads a population file
        r = subprocess.run([sys.executable, "-m", "nadsim", "simulate", "--population", "2", "--until", "1 d",
                            "--step", "6 h", "--out", "pop.parquet", "--no-progress"],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    for code in blocks:
        r = _python(code, tmp_path)
        assert r.returncode == 0, f"{code}\n{r.stderr[-2000:]}"


def test_every_name_the_readme_gives_resolves_as_written(tmp_path):
    """Inline ``from nadsim.x import y`` runs; a dotted ``nadsim.x.y`` resolves after ``import
    nadsim`` alone (as in the Python block), attribute by attribute."""
    imports = re.findall(r"`(from nadsim[\w.]* import \w+)`", FLAT)
    dotted = sorted(set(re.findall(r"`(nadsim(?:\.\w+)+)`", FLAT)))
    assert imports or dotted
    code = "import nadsim\n" + "\n".join(imports) + "\n"
    code += "".join(f"nadsim{''.join(f'.{p}' for p in d.split('.')[1:])}\n" for d in dotted)
    r = _python(code, tmp_path)
    assert r.returncode == 0, f"{code}\n{r.stderr[-2000:]}"


def _provenance_counts() -> dict[str, int]:
    ps = list(get_model("full").parameters.values())
    kind = Counter(p.provenance.kind for p in ps)
    derived = [p for p in ps if p.provenance.kind == "derived"]
    assumed = [p for p in ps if p.provenance.kind == "assumed"]
    bare = [p for p in assumed if not p.provenance.source]
    inputs = [p for p in bare if p.name.startswith("inf_")]
    fixed = [p for p in bare if p.bounds[0] == p.bounds[1]]
    assert all(p.provenance.note.strip() for p in bare)  # "state the assumption in a note"
    assert all(p.provenance.source for p in ps if p.provenance.kind in ("measured", "fitted"))
    assert all(p.provenance.fitted_to for p in ps if p.provenance.kind == "fitted")
    assert all(p.provenance.grade == "A" for p in inputs)
    return {"total": len(ps), "measured": kind["measured"], "fitted": kind["fitted"], "derived": kind["derived"],
            "expr": sum(1 for p in derived if p.expr), "solved": sum(1 for p in derived if not p.expr),
            "assumed": kind["assumed"], "assumed_source": len(assumed) - len(bare), "bare": len(bare),
            "ranged": len(bare) - len(fixed) - len(inputs), "fixed": len(fixed), "inputs": len(inputs)}


@pytest.mark.parametrize("phrase", [
    "every number of the model ({total} parameters in `full`)",
    "the {measured} measured and {fitted} fitted ones cite a source",
    "the {derived} derived ones are computed, {expr} by a formula",
    "and {solved} as the undosed steady state",
    "of the {assumed} assumed ones, {assumed_source} cite a source and {bare} state the assumption in a note",
    "({ranged} of them with a range in `bounds`, {fixed} fixed, and the {inputs} dosing inputs `inf_*`",
])
def test_readme_counts_the_sources_from_the_model(phrase):
    assert phrase.format(**_provenance_counts()) in FLAT
