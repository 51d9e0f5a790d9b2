"""Command-line options shared by several commands (the regimen and the patient profile), and
the closed sets of values as Enums, so that ``--help`` lists the choices and completion offers
them.

Each alias carries the option's help text and value name; the default stays with the command,
e.g. ``compound: Compound = CompoundName("NMN")``.
"""

from __future__ import annotations

import os
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated

import typer

from nadsim._errors import InputError
from nadsim.dosing import COMPOUNDS, ROUTES
from nadsim.model import GRADES

# the closed sets, from the library's own tables (one source of truth)
CompoundName = Enum("CompoundName", {k: k for k in COMPOUNDS}, type=str)  # type: ignore[misc]
RouteName = Enum("RouteName", {k: k for k in ROUTES}, type=str)  # type: ignore[misc]
Grade = Enum("Grade", {g: g for g in GRADES}, type=str)  # type: ignore[misc]


class Backend(StrEnum):
    """The engine's solvers (``nadsim.simulate.SOLVERS``; a test keeps the two equal, since
    importing the registry here would load SciPy for ``--help``)."""

    native = "native"
    scipy = "scipy"
    jax = "jax"


class Device(StrEnum):
    cpu = "cpu"
    gpu = "gpu"


class ModelName(StrEnum):
    default = "default"
    full = "full"
    nad_core = "nad_core"


# the regimen, as parse_regimen takes it
Compound = Annotated[CompoundName, typer.Option(  # type: ignore[valid-type]
    case_sensitive=False, help="Dosed compound: NMN, NR (chloride), NAD (NAD+) or NAM (nicotinamide).")]
Route = Annotated[RouteName, typer.Option(  # type: ignore[valid-type]
    case_sensitive=False, help="iv (infusion), iv_bolus or oral.")]
Dose = Annotated[str, typer.Option(metavar="AMOUNT", help="Amount per dose with unit, e.g. '300 mg' or '1 g'.")]
Infusion = Annotated[str | None, typer.Option(
    metavar="DURATION|VOLUME at RATE",
    help="IV infusion duration ('20 min') or volume at rate ('100 mL at 5 mL/min'); --route iv only.")]
Every = Annotated[str | None, typer.Option(metavar="INTERVAL", help="Dosing interval, e.g. '1 d' or '7 d'.")]
Doses = Annotated[int, typer.Option(min=1, max=1000, help="Number of doses.")]
Until = Annotated[str, typer.Option(metavar="DURATION", help="Simulated time from the first dose, e.g. '24 h' or '21 d'.")]
Step = Annotated[str | None, typer.Option(metavar="DURATION", help="Output grid step, e.g. '15 min' (default: adaptive).")]

# the patient profile (mechanism model covariates)
Crp = Annotated[str | None, typer.Option("--crp", metavar="CONCENTRATION",
                                         help="Patient baseline hs-CRP, e.g. '8 mg/L' (0.05-50; a bare number is mg/L).")]
Hamd = Annotated[float | None, typer.Option("--hamd", help="Patient baseline HAM-D-17 (0-52).")]
Age = Annotated[float | None, typer.Option("--age", help="Patient age in years (18-100).")]
Sleep = Annotated[float | None, typer.Option(
    "--sleep", help="Patient baseline PSQI global score (0-21; >5 poor sleep).")]
Evidence = Annotated[Grade | None, typer.Option(  # type: ignore[valid-type]
    "--evidence", case_sensitive=False,
    help="Keep only mechanism links graded this or better (A: human RCT ... E: hypothesis).")]

# batch runs
BackendOpt = Annotated[Backend, typer.Option("--backend", help="Solver: native (compiled BDF, the default), scipy (the reference, per subject) or jax (lockstep BDF, GPU).")]
DeviceOpt = Annotated[Device, typer.Option("--device", help="cpu or gpu (jax backend).")]
Progress = Annotated[bool, typer.Option("--progress/--no-progress",
                                        help="Progress bar with ETA on a terminal, periodic lines otherwise.")]


# output paths, checked before any work so that a bad one costs nothing and leaves nothing
def _writable_dir(d: Path) -> bool:
    return os.access(d, os.W_OK | os.X_OK)


def check_output_file(path: Path, field: str, suffixes: tuple[str, ...]) -> None:
    """``path`` ends in one of ``suffixes`` (lower case, with the dot) and can be created: its
    directory exists and is writable, and the path is not itself a directory."""
    if path.suffix.lower() not in suffixes:
        raise InputError(field, f"a file name ending in {' or '.join(suffixes)}", str(path))
    if path.is_dir():
        raise InputError(field, "a file path, not a directory", str(path))
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(field, "a path in an existing directory", str(path))
    if not _writable_dir(parent) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(field, "a path you can write to", str(path))


def prepare_output_dir(path: Path, field: str) -> None:
    """Create the output directory ``path`` (and its parents) now, or refuse it in one line:
    it is an existing file, lies under a file, or cannot be created or written."""
    if path.exists() and not path.is_dir():
        raise InputError(field, "a directory (this path is an existing file)", str(path))
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(field, f"a directory path (its parent {ancestor} is a file)", str(path))
    if not _writable_dir(ancestor):
        raise InputError(field, "a directory you can create or write to", str(path))
    try:  # access() says yes to root everywhere; /proc and read-only mounts still refuse mkdir
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(field, f"a directory that can be created ({exc.strerror})", str(path)) from None
