"""``nadsim claims`` (the article's claims, audited) and ``nadsim attribute`` (change by evidence grade)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nadsim._errors import InputError
from nadsim._units import parse_quantity
from nadsim.cli._app import atomic_path, console
from nadsim.cli._options import Age, Compound, Crp, Dose, Doses, Every, Hamd, Infusion, Route, Sleep
from nadsim.dosing import Regimen, parse_regimen

LANGS = ("ja", "en")
FORMATS = ("table", "md", "json")


def _profile(crp: str | None, hamd: float | None, age: float | None, sleep: float | None) -> dict:
    prof: dict[str, float] = {}
    if crp is not None:
        try:
            prof["crp_mg_L"] = float(crp)
        except ValueError:
            prof["crp_mg_L"] = parse_quantity(crp, "--crp", "[mass] / [length] ** 3", unit_hint="8 mg/L", to="mg/L")
    for k, v in (("hamd", hamd), ("age", age), ("sleep", sleep)):
        if v is not None:
            prof[k] = v
    return prof


def _regimen(compound: str, route: str, dose: str, infusion: str | None, every: str | None, doses: int) -> Regimen:
    """The regimen of the options; the default infusion applies to IV drips only and the
    interval to more than one dose, so that ``--route oral`` or ``--doses 1`` need no unsetting."""
    return parse_regimen(compound=compound, route=route, dose=dose,
                         infusion=infusion if route.strip().lower() == "iv" else None,
                         every=every if doses > 1 else None, doses=doses)


def register(app: typer.Typer) -> None:
    @app.command()
    def claims(
        lang: str = typer.Option("en", "--lang", help="ja or en."),
        format: str = typer.Option("table", "--format", help="table, md or json."),
        compound: Compound = "NMN", route: Route = "iv", dose: Dose = "300 mg",
        infusion: Infusion = "100 mL at 5 mL/min", every: Every = "7 d", doses: Doses = 4,
        until: str | None = typer.Option(None, help="Time at which claims are checked (default: 28 d or 1 d after the last dose)."),
        crp: Crp = None,
        hamd: Hamd = None,
        age: Age = None,
        sleep: Sleep = None,
        evidence: str | None = typer.Option(None, "--evidence", help="Keep only links graded A|B|C|D|E or better."),
        samples: int = typer.Option(4, "--samples", help="Parameter samples for the uncertainty range (0-64)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the parameter samples."),
        out: Path | None = typer.Option(None, help="Write the md/json output to this file."),
    ) -> None:
        """Audit the article's claims against the model: prediction, range, evidence grade, verdict."""
        from nadsim.evidence import audit_claims, render_claims

        if lang not in LANGS:
            raise InputError("--lang", f"one of {', '.join(LANGS)}", lang)
        if format not in FORMATS:
            raise InputError("--format", f"one of {', '.join(FORMATS)}", format)
        regimen = _regimen(compound, route, dose, infusion, every, doses)
        until_h = parse_quantity(until, "--until", "[time]", unit_hint="28 d") if until else None
        result = audit_claims(regimen=regimen, until_h=until_h, profile=_profile(crp, hamd, age, sleep),
                              evidence=evidence, n_samples=samples, seed=seed)
        if format == "table":
            import json

            data = json.loads(render_claims(result, lang, "json"))
            tab = Table(title=f"{result.regimen} — {result.profile or 'default profile'}", show_lines=True)
            for col in ("id", "claim", "grade", "verdict"):
                tab.add_column(col, overflow="fold")
            for r in data["claims"]:
                verdict = r["verdict"] + (f" [bold]{r['safety']}[/]" if "safety" in r else "")
                tab.add_row(r["id"], r["claim"], r["grade"], verdict)
            console.print(tab)
            console.print(f"[dim]{data['disclaimer']}[/]")
            return
        text = render_claims(result, lang, format)
        if out:
            with atomic_path(out) as tmp:
                tmp.write_text(text, encoding="utf-8")
        else:
            typer.echo(text, nl=False)

    @app.command()
    def attribute(
        output: list[str] = typer.Option(["HAMD"], "--output", help="Model output(s) to attribute (repeatable)."),
        compound: Compound = "NMN", route: Route = "iv", dose: Dose = "300 mg",
        infusion: Infusion = "100 mL at 5 mL/min", every: Every = "7 d", doses: Doses = 4,
        until: str = typer.Option("28 d", help="Time of the attributed change."),
        vs: str = typer.Option("baseline", "--vs", help="Comparator: baseline (undosed, untreated) or placebo (placebo drips)."),
        crp: Crp = None,
        hamd: Hamd = None,
        age: Age = None,
        sleep: Sleep = None,
    ) -> None:
        """How much of a predicted change rests on each evidence grade (gates switched on grade by grade)."""
        from nadsim.evidence import attribute_by_grade
        from nadsim.model.library import apply_profile, build_full
        from nadsim.model.library.full import with_trial_arm
        from nadsim.simulate import DISCLAIMER, time_grid

        if vs not in ("baseline", "placebo"):
            raise InputError("--vs", "baseline or placebo", vs)
        regimen = _regimen(compound, route, dose, infusion, every, doses)
        until_h = parse_quantity(until, "--until", "[time]", unit_hint="28 d")
        if until_h < regimen.last_time_h:
            raise InputError("--until", f"at or after the end of the last dose ({regimen.last_time_h:g} h)", until)
        model = apply_profile(build_full(), **_profile(crp, hamd, age, sleep))
        unknown = [o for o in output if o not in model.outputs and o not in {r.name for r in model.rules}]
        if unknown:
            raise InputError("--output", "model outputs such as HAMD, CRP, SIRT1_activity", unknown)
        comp = with_trial_arm(model, start_h=regimen.doses[0].time_h) if vs == "placebo" else None
        times = time_grid(until_h, step_h=min(6.0, until_h / 20), regimen=regimen)
        res = attribute_by_grade(model, regimen, times, output, comparator=comp)
        tab = Table(title=f"Change at {until_h:g} h vs {vs}, by evidence grade ({regimen.describe()})")
        for col in ("output", "unit", "total", "metabolome", "A", "B", "C", "D", "E"):
            tab.add_column(col, justify="left" if col == "output" else "right")
        for a in res:
            tab.add_row(a.output, a.unit, f"{a.total:+.4g}", *[f"{a.parts[k]:+.3g}" for k in
                                                               ("metabolome", "A", "B", "C", "D", "E")])
        console.print(tab)
        console.print(f"[dim]{DISCLAIMER}[/]")
