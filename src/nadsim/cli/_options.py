"""Command-line options shared by several commands (the regimen and the patient profile).

Each alias carries the option's help text; the default stays with the command, e.g.
``compound: Compound = "NMN"``.
"""

from __future__ import annotations

from typing import Annotated

import typer

# the regimen, as parse_regimen takes it
Compound = Annotated[str, typer.Option(help="NMN, NR, NAD or NAM.")]
Route = Annotated[str, typer.Option(help="iv (infusion), iv_bolus or oral.")]
Dose = Annotated[str, typer.Option(help="Amount per dose with unit, e.g. '300 mg'.")]
Infusion = Annotated[str | None, typer.Option(
    help="IV infusion duration ('20 min') or volume at rate ('100 mL at 5 mL/min').")]
Every = Annotated[str | None, typer.Option(help="Dosing interval, e.g. '1 d' or '7 d'.")]
Doses = Annotated[int, typer.Option(help="Number of doses.")]

# the patient profile (mechanism model covariates)
Crp = Annotated[str | None, typer.Option("--crp", help="Patient baseline hs-CRP, e.g. '8 mg/L' (0.05-50).")]
Hamd = Annotated[float | None, typer.Option("--hamd", help="Patient baseline HAM-D-17 (0-52).")]
Age = Annotated[float | None, typer.Option("--age", help="Patient age in years (18-100).")]
Sleep = Annotated[float | None, typer.Option(
    "--sleep", help="Patient baseline PSQI global score (0-21; >5 poor sleep).")]
