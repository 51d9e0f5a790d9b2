"""Hostile SBML documents, and a batch reader that runs in a child process (so a native crash
is counted as a crash, not lost with the test process)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

MATHML = 'xmlns="http://www.w3.org/1998/Math/MathML"'
KS = "<apply><times/><ci>k</ci><ci>S</ci></apply>"


def document(law: str = KS, *, functions: str = "", k: str = "0.5", size: str = "1", s0: str = "1",
             events: str = "", head: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    return f"""{head}
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="fuzz">
    <listOfFunctionDefinitions>{functions}</listOfFunctionDefinitions>
    <listOfCompartments><compartment id="c" size="{size}" constant="true" spatialDimensions="3"/></listOfCompartments>
    <listOfSpecies><species id="S" compartment="c" initialConcentration="{s0}" hasOnlySubstanceUnits="false"
      boundaryCondition="false" constant="false"/></listOfSpecies>
    <listOfParameters><parameter id="k" value="{k}" constant="true"/></listOfParameters>
    <listOfReactions><reaction id="deg" reversible="false">
      <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/></listOfReactants>
      <kineticLaw><math {MATHML}>{law}</math></kineticLaw></reaction></listOfReactions>{events}
  </model>
</sbml>
"""


def fdef(fid: str, body: str, args: tuple[str, ...] = ("x",)) -> str:
    bvars = "".join(f"<bvar><ci>{a}</ci></bvar>" for a in args)
    return f'<functionDefinition id="{fid}"><math {MATHML}><lambda>{bvars}{body}</lambda></math></functionDefinition>'


def chain(levels: int, fanout: int) -> str:
    """f0(x) = x; f_i(x) = f_{i-1}(x) + ... (fanout calls): fanout**levels leaves once inlined."""
    out = fdef("f0", "<ci>x</ci>")
    for i in range(1, levels + 1):
        call = f"<apply><ci>f{i - 1}</ci><ci>x</ci></apply>"
        out += fdef(f"f{i}", "<apply><plus/>" + call * fanout + "</apply>")
    return out


def read_batch(texts: list[str]) -> list[tuple[str, str, float]]:
    """Read each document with nadsim.io.read_sbml (in this process: the caller runs this in a
    child); return (outcome, detail, seconds) per document."""
    from nadsim._errors import NadsimError
    from nadsim.io.sbml_import import read_sbml

    out = []
    with tempfile.TemporaryDirectory() as d:
        for i, text in enumerate(texts):
            path = Path(d) / f"case{i}.xml"
            path.write_bytes(text.encode("utf-8", "surrogatepass"))
            t0 = time.perf_counter()
            try:
                m = read_sbml(path, isolate=False)
                import math

                bad = [n for n, p in m.parameters.items() if not math.isfinite(p.value)]
                out.append(("traceback" if bad else "accepted", f"non-finite {bad}" if bad else "",
                            time.perf_counter() - t0))
            except NadsimError as exc:
                one_line = "\n" not in str(exc)
                out.append(("refused" if one_line else "traceback", str(exc)[:200], time.perf_counter() - t0))
            except Exception as exc:
                out.append(("traceback", f"{type(exc).__name__}: {exc}"[:300], time.perf_counter() - t0))
    return out
