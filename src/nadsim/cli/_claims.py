"""``nadsim claims`` (the article's claims, audited) and ``nadsim attribute`` (what rests on what)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from nadsim._errors import InputError
from nadsim._files import atomic_path
from nadsim._units import parse_quantity
from nadsim.app import (
    IMPROVES_DOWNWARD,
    AttributeRequest,
    AuditRequest,
    audit_claims,
    patient_profile,
)
from nadsim.app import attribute as attribute_verb
from nadsim.cli._app import console
from nadsim.cli._options import (
    Age,
    Compound,
    CompoundName,
    Crp,
    Dose,
    Doses,
    Every,
    Evidence,
    Hamd,
    Infusion,
    Route,
    RouteName,
    Sleep,
)
from nadsim.cli._simulate import crp_mg_L
from nadsim.dosing import Regimen, parse_regimen
from nadsim.evidence import GRADE_ORDER, audit_title, claims_head, render_claims
from nadsim.report._labels import context_note, display_unit
from nadsim.simulate import DISCLAIMER, time_grid

app = typer.Typer()


class Lang(StrEnum):
    en = "en"
    ja = "ja"


class ClaimsFormat(StrEnum):
    table = "table"
    md = "md"
    json = "json"


def _profile(crp: str | None, hamd: float | None, age: float | None, sleep: float | None) -> dict[str, float]:
    """The options' profile: ``--crp`` read with its unit, then :func:`nadsim.app.patient_profile`."""
    return patient_profile(crp_mg_L=crp_mg_L(crp), hamd=hamd, age=age, sleep=sleep)


def _regimen(compound: str, route: str, dose: str, infusion: str | None, every: str | None, doses: int) -> Regimen:
    """The regimen of the options; the default infusion applies to IV drips only and the
    interval to more than one dose, so that ``--route oral`` or ``--doses 1`` need no unsetting."""
    return parse_regimen(compound=compound, route=route, dose=dose,
                         infusion=infusion if route == "iv" else None,
                         every=every if doses > 1 else None, doses=doses)


@app.command()
def claims(
    lang: Lang = typer.Option(Lang.en, "--lang", case_sensitive=False, help="Language of the claims and verdicts."),
    format: ClaimsFormat = typer.Option(ClaimsFormat.table, "--format", case_sensitive=False,
                                        help="table (terminal), md (Markdown) or json."),
    compound: Compound = CompoundName("NMN"), route: Route = RouteName("iv"), dose: Dose = "300 mg",
    infusion: Infusion = "100 mL at 5 mL/min", every: Every = "7 d", doses: Doses = 4,
    until: str | None = typer.Option(None, metavar="DURATION",
                                     help="Time at which claims are checked (default: 28 d or 1 d after the last dose)."),
    crp: Crp = None,
    hamd: Hamd = None,
    age: Age = None,
    sleep: Sleep = None,
    evidence: Evidence = None,
    samples: int = typer.Option(4, "--samples", min=0, max=64, help="Parameter samples for the uncertainty range."),
    seed: int = typer.Option(0, "--seed", help="Seed of the parameter samples."),
    out: Path | None = typer.Option(None, help="Write the md/json output to this file."),
) -> None:
    """Audit the article's claims against the model: prediction, range, evidence grade, verdict."""
    regimen = _regimen(compound.value, route.value, dose, infusion, every, doses)
    until_h = parse_quantity(until, "--until", "[time]", unit_hint="28 d") if until else None
    result = audit_claims(AuditRequest(regimen=regimen, until_h=until_h, profile=_profile(crp, hamd, age, sleep),
                                       evidence=evidence.value if evidence else None, samples=samples, seed=seed))
    if format is ClaimsFormat.table:
        data = json.loads(render_claims(result, lang.value, "json"))
        head = claims_head(lang.value)
        tab = Table(title=audit_title(result, lang.value), show_lines=True)
        for col in ("id", "claim", "grade", "verdict"):
            tab.add_column(head[col], overflow="fold")
        for r in data["claims"]:
            verdict = r["verdict"] + (f" [bold]{r['safety']}[/]" if "safety" in r else "")
            tab.add_row(r["id"], r["claim"], r["grade"], verdict)
        console.print(tab)
        console.print(f"[dim]{data['disclaimer']}[/]")
        return
    text = render_claims(result, lang.value, format.value)
    if out:
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@app.command()
def attribute(
    output: list[str] = typer.Option(["HAMD"], "--output", metavar="OUTPUT",
                                     help="Model output(s) to attribute, e.g. HAMD, CRP, SIRT1_activity (repeatable)."),
    compound: Compound = CompoundName("NMN"), route: Route = RouteName("iv"), dose: Dose = "300 mg",
    infusion: Infusion = "100 mL at 5 mL/min", every: Every = "7 d", doses: Doses = 4,
    until: str = typer.Option("28 d", metavar="DURATION", help="Time of the attributed change."),
    crp: Crp = None,
    hamd: Hamd = None,
    age: Age = None,
    sleep: Sleep = None,
) -> None:
    """Split a predicted change into placebo and natural course, and the compound's effect by evidence grade."""
    regimen = _regimen(compound.value, route.value, dose, infusion, every, doses)
    until_h = parse_quantity(until, "--until", "[time]", unit_hint="28 d")
    if until_h < regimen.last_time_h:
        raise InputError("--until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", until)
    times = time_grid(until_h, step_h=min(6.0, until_h / 20), regimen=regimen)
    res = attribute_verb(AttributeRequest(regimen, times, outputs=tuple(output), profile=_profile(crp, hamd, age, sleep)))
    # the reference is the same patient outside a treatment arm (no drip, no visits): in the
    # model the placebo response and the natural course start at trial entry (the first dose)
    drip = route.value == "iv"
    context = "any drip" if drip else "any dosing"
    scores = [a.output for a in res if a.output in IMPROVES_DOWNWARD]
    sign = f"; {', '.join(scores)} in points, < 0 = improvement" if scores else ""
    tab = Table(title=f"Change at {until_h:g} h against the same patient not in a treatment arm "
                      f"(no {'drip' if drip else 'dosing'}, no visits; {regimen.describe()}){sign}",
                caption=f"total change: dosed - untreated; {context} (placebo response and natural course): "
                        "placebo arm - untreated; compound: dosed - placebo arm")
    cols = ("output", "unit", "total change", context, "compound", "compound: metabolome only",
            *(f"compound: grade {g}" for g in GRADE_ORDER))
    for col in cols:
        tab.add_column(col, justify="left" if col == "output" else "right", overflow="fold")
    for a in res:
        unit = "points" if a.output in IMPROVES_DOWNWARD else display_unit(a.output, a.unit)
        tab.add_row(a.output, unit, f"{a.total:+.4g}", f"{a.context:+.4g}",
                    f"{a.compound:+.4g}", *[f"{a.parts[k]:+.3g}" for k in ("metabolome", *GRADE_ORDER)])
    console.print(tab)
    console.print(f"[dim]Grades apply to the compound's effect only: {context_note(route.value)}. The untreated "
                  "patient has neither: in the model both start when the patient enters a treatment arm.[/]")
    console.print(f"[dim]{DISCLAIMER}[/]")
