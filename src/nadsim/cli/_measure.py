"""``nadsim measure``: the HAM-D effect's interval over every link, and what to measure next."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from nadsim._errors import InputError
from nadsim._files import atomic_path, json_safe
from nadsim._progress import progress_bar
from nadsim.app import MeasureRequest
from nadsim.app import measure as measure_verb
from nadsim.cli._app import console
from nadsim.cli._claims import _profile, _regimen
from nadsim.cli._options import (
    Age,
    Compound,
    CompoundName,
    Crp,
    Dose,
    Doses,
    Every,
    Hamd,
    Infusion,
    Progress,
    Route,
    RouteName,
    Sleep,
)
from nadsim.simulate import DISCLAIMER

app = typer.Typer()


class MeasureFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def measure(
    compound: Compound = CompoundName("NMN"), route: Route = RouteName("iv"), dose: Dose = "300 mg",
    infusion: Infusion = "100 mL at 5 mL/min", every: Every = "7 d", doses: Doses = 8,
    weeks: float = typer.Option(8.0, "--weeks", min=1.0, max=26.0, help="When the HAM-D effect is read (weeks from the first dose)."),
    crp: Crp = None,
    hamd: Hamd = None,
    age: Age = None,
    sleep: Sleep = None,
    draws: int = typer.Option(300, "--draws", min=20, max=20000, help="Joint draws of every mechanism link (~0.1-0.2 s each)."),
    n_per_arm: int = typer.Option(30, "--n-per-arm", min=2, max=100000,
                                  help="Subjects per arm of each candidate measurement study."),
    level: float = typer.Option(0.9, "--level", min=0.5, max=0.99, help="Level of the reported interval."),
    seed: int = typer.Option(0, "--seed", help="Seed of the Latin hypercube and of the simulated outcomes."),
    format: MeasureFormat = typer.Option(MeasureFormat.table, "--format", case_sensitive=False,
                                         help="table (terminal) or json."),
    out: Path | None = typer.Option(None, help="Also write the result as JSON to this file."),
    plot: Path | None = typer.Option(None, help="Figure (PNG): the HAM-D effect over the draws and the ranked measurements."),
    progress: Progress = True,
) -> None:
    """Rank candidate human measurements by how much each would narrow the interval of the HAM-D effect."""
    if plot is not None and plot.suffix.lower() != ".png":
        raise InputError("--plot", "a file name ending in .png", str(plot))
    regimen = _regimen(compound.value, route.value, dose, infusion, every, doses)
    request = MeasureRequest(regimen, weeks=weeks, profile=_profile(crp, hamd, age, sleep), draws=draws,
                             n_per_arm=n_per_arm, level=level, seed=seed)
    with progress_bar("measure (joint draws)", enabled=progress) as upd:
        measured = measure_verb(request, progress=upd)
    d, result = measured.draws, dict(measured.payload)
    iv, iv_sig, rows = result["interval"], result["interval_significance_weighted"], result["measurements"]
    floor = result["noise_floor_pct"]
    rejected = {c["study"]: c["rejected"] for c in result["constraints"]}
    text = json.dumps(json_safe(result), indent=1, allow_nan=False)
    if plot:
        with atomic_path(plot, field="--plot") as tmp:
            _figure(d.effect[d.accepted], iv, rows, n_per_arm, d.regimen, tmp)
    if out:
        with atomic_path(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    if format is MeasureFormat.json:
        typer.echo(text)
        return
    pct = round(100 * level)
    per_study = ", ".join(f"{k} {v}" for k, v in rejected.items())
    console.print(f"HAM-D benefit vs placebo arm at {weeks:g} weeks (placebo minus active, points; positive = "
                  f"improvement) ({d.regimen}): median {iv['median']:+.2f}, "
                  f"{pct} % interval {iv['low']:+.2f} to {iv['high']:+.2f} points over {iv['n_accepted']} of "
                  f"{iv['n_draws']} joint draws ({iv['n_draws'] - int(d.solved.sum())} not solved, "
                  f"{result['n_outside_constraints']} outside at least one cytokine constraint; P(harm) "
                  f"{iv['p_harm']:.0%}, P(>= 3.9 points) {iv['p_meaningful']:.0%})", highlight=False)
    console.print(f"[dim]Rejected per constraint (a draw can fail several, so these overlap): {per_study}[/]",
                  highlight=False)
    console.print(f"[dim]Sensitivity, taking the small trials' significant cytokine falls at face value: median "
                  f"{iv_sig['median']:+.2f}, {pct} % interval {iv_sig['low']:+.2f} to {iv_sig['high']:+.2f} "
                  f"({iv_sig['effective_draws']:.0f} effective draws)[/]", highlight=False)
    tab = Table(title=f"What to measure next ({n_per_arm} per arm): expected {pct} % interval width after measuring")
    for col in ("measurement", "SE", "spread predicted", "width now", "width after", "narrower by", "if exact"):
        tab.add_column(col, justify="left" if col == "measurement" else "right")
    for r in rows:
        tab.add_row(str(r["label"]), f"{r['se']:.3g}", f"{r['spread_of_prediction']:.3g}", f"{r['prior_width']:.3g}",
                    f"{r['expected_width']:.3g}", f"{r['reduction_pct']:.1f} %", f"{r['reduction_if_exact_pct']:.1f} %")
    console.print(tab)
    console.print(f"[dim]Gains below {floor:.1f} % are Monte Carlo noise with {iv['n_accepted']} draws (an unrelated "
                  "measurement shows that much 1 time in 20); more --draws lower it.[/]", highlight=False)
    console.print(f"[dim]{DISCLAIMER}[/]")


def _figure(effect, iv, rows, n_per_arm, regimen, path) -> None:  # type: ignore[no-untyped-def]
    """Left: the HAM-D benefit over the accepted draws with its interval; right: each measurement's
    expected narrowing (at ``n_per_arm``) and what an exact measurement would give."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.25]})
    a.hist(effect, bins=40, color="#4c72b0", alpha=0.85)
    for x, style in ((iv["low"], "--"), (iv["median"], "-"), (iv["high"], "--")):
        a.axvline(x, color="k", ls=style, lw=1)
    a.axvline(0, color="#c44e52", lw=1)
    a.set_xlabel("HAM-D benefit vs placebo arm (points of improvement; < 0 = harm)")
    a.set_ylabel("joint draws")
    pct = round(100 * iv["level"])
    a.set_title(f"median {iv['median']:+.2f}, {pct} % interval {iv['low']:+.2f} to {iv['high']:+.2f}\n"
                f"({iv['n_accepted']} draws; 3.9 points are noticeable)", fontsize=10)
    labels = [str(r["label"]) for r in rows][::-1]
    y = range(len(labels))
    b.barh([i + 0.2 for i in y], [float(r["reduction_if_exact_pct"]) for r in rows][::-1], height=0.4,
           color="#bbbbbb", label="if measured exactly")
    b.barh([i - 0.2 for i in y], [float(r["reduction_pct"]) for r in rows][::-1], height=0.4,
           color="#55a868", label=f"{n_per_arm} per arm")
    b.set_yticks(list(y), labels, fontsize=8)
    b.set_xlabel(f"expected narrowing of the {pct} % interval (%)")
    b.set_xlim(0, 100)
    b.legend(loc="lower right", fontsize=8)
    b.set_title("what to measure next", fontsize=10)
    fig.suptitle(f"{regimen} — research model, not medical advice", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
