"""``nadsim export sbml`` and ``nadsim export petab``: files other simulators and fitters read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nadsim.cli._app import atomic_path, console
from nadsim.dosing import Regimen, parse_regimen

export_app = typer.Typer(
    name="export",
    help="Write the model for other tools: SBML (libRoadRunner, COPASI, AMICI) or a PEtab problem.",
    no_args_is_help=True,
)


def _regimen(compound: str | None, route: str, dose: str, infusion: str | None, every: str | None,
             doses: int) -> Regimen:
    if compound is None or compound.strip().lower() in ("", "none"):
        return Regimen.none()
    return parse_regimen(compound=compound, route=route, dose=dose, infusion=infusion, every=every, doses=doses)


@export_app.command("sbml")
def sbml(
    out: Annotated[Path, typer.Option("--out", help="SBML file to write, e.g. model.xml.")],
    compound: str | None = typer.Option(
        None, help="Dosed compound (NMN, NR, NAD or NAM); leave out (or 'none') for the undosed baseline."),
    route: str = typer.Option("iv", help="iv (infusion), iv_bolus or oral."),
    dose: str = typer.Option("300 mg", help="Amount per dose with unit, e.g. '300 mg'."),
    infusion: str | None = typer.Option(None, help="IV infusion duration ('20 min') or volume at rate ('100 mL at 5 mL/min')."),
    every: str | None = typer.Option(None, help="Dosing interval, e.g. '1 d'."),
    doses: int = typer.Option(1, help="Number of doses."),
) -> None:
    """SBML L3V2 of the default model at baseline, the regimen as events."""
    from nadsim.io.sbml import export_sbml
    from nadsim.simulate._api import default_model

    regimen = _regimen(compound, route, dose, infusion, every, doses)
    model = default_model()
    text = export_sbml(model, regimen)
    with atomic_path(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    console.print(f"SBML L3V2 of {model.name} ({regimen.describe()}) written to {out}")


@export_app.command("petab")
def petab(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the PEtab problem into (created if missing).")],
) -> None:
    """A PEtab problem: SBML model, conditions, measurements (human_pk.csv), observables, parameters."""
    from nadsim.io.petab import export_petab

    yaml_path = export_petab(out)
    console.print(f"PEtab problem written to {out} (entry point {yaml_path.name})")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
