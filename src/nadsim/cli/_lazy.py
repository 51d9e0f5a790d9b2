"""The command table and a command group that imports a command's module only when it runs.

``nadsim --help`` lists every command from :data:`COMMANDS` alone (name and one-line help), so
it imports Typer and nothing of the science stack (pint, xarray, pandas, SciPy): measured
0.25-0.3 s against 2.9 s when every command module was imported up front. ``nadsim simulate``
imports ``nadsim.cli._simulate`` (and through it the library) when click resolves the
command, so each command module keeps plain module-level imports. A test checks that each
line below matches the first line of the real command's docstring.

Help tables also get readable value names: a flag shows none (Typer would print ``<bool>``)
and any other option shows ``TEXT``, ``INTEGER``, ``NUMBER``, ``PATH`` or its choices, never
a Python type such as ``<str>`` or ``<list[str]>``.
"""

from __future__ import annotations

import difflib
import importlib
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import typer
from typer._click import Command, Context  # Typer's own click (it vendors one since 0.2x)
from typer._click.exceptions import UsageError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["COMMANDS", "LazyCommand", "LazyGroup", "load_command", "plain_metavars"]


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives: ``module`` and the Typer app ``attr`` in it; ``command`` names one
    command of a multi-command app (``None``: the app is a command group, e.g. ``trial``)."""

    module: str
    attr: str
    command: str | None
    help: str


COMMANDS: dict[str, LazyCommand] = {
    "simulate": LazyCommand("nadsim.cli._simulate", "app", "simulate",
                            "Simulate a dosing regimen (one patient or a virtual population) and report the NAD+ metabolome."),
    "demo": LazyCommand("nadsim.cli._simulate", "app", "demo",
                        "The article's regimen: 300 mg NMN by IV drip (100 mL at 5 mL/min); table and plot."),
    "claims": LazyCommand("nadsim.cli._claims", "app", "claims",
                          "Audit the article's claims against the model: prediction, range, evidence grade, verdict."),
    "attribute": LazyCommand("nadsim.cli._claims", "app", "attribute",
                             "Split a predicted change into placebo and natural course, and the compound's effect by evidence grade."),
    "measure": LazyCommand("nadsim.cli._measure", "app", "measure", "Rank candidate human measurements by how much each would narrow the interval of the HAM-D effect."),
    "sensitivity": LazyCommand("nadsim.cli._sensitivity", "app", "sensitivity",
                               "Local (tornado) or global (Sobol) sensitivity of a model output to its parameters."),
    "qualify": LazyCommand("nadsim.cli._calibrate", "app", "qualify",
                           "Qualification report of the current parameters against every calibration and validation row."),
    "calibrate": LazyCommand("nadsim.cli._calibrate", "app", "calibrate",
                             "Fit the uncertain parameters to the published human summary statistics and report."),
    "trial": LazyCommand("nadsim.cli._trial", "trial_app", None,
                         "In-silico trials: run, resume after a crash, power, HTML report."),
    "export": LazyCommand("nadsim.cli._export", "export_app", None,
                          "Write the model for other tools: SBML (libRoadRunner, COPASI, AMICI) or a PEtab problem."),
    "import": LazyCommand("nadsim.cli._export", "import_app", None,
                          "Read a model written by other tools (SBML) and simulate it."),
    "serve": LazyCommand("nadsim.cli._serve", "app", "serve",
                         "Serve the web page and the JSON API (research model, not medical advice)."),
}


def _metavar(param: TyperOption | TyperArgument) -> str:
    ann = param.type_descriptor.annotation
    if typing.get_origin(ann) is list:
        (ann,) = typing.get_args(ann)
    if isinstance(ann, type) and issubclass(ann, Enum):
        return "[" + "|".join(str(m.value) for m in ann) + "]"
    if isinstance(ann, type) and issubclass(ann, Path):
        return "PATH"
    return {int: "INTEGER", float: "NUMBER"}.get(ann, "TEXT") if isinstance(ann, type) else "TEXT"


def _plain(params: list[typing.Any]) -> list[typing.Any]:
    for p in params:
        if p.metavar is not None:
            continue
        if isinstance(p, TyperOption) and p.is_flag:
            p.metavar = ""
        elif isinstance(p, TyperArgument):  # the name column shows the metavar; no type column
            p.metavar = (p.name or "value").upper()
            p.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
        elif isinstance(p, TyperOption):
            p.metavar = _metavar(p)
    return params


def plain_metavars(cmd: Command) -> Command:
    """Give every parameter of ``cmd`` (and of its subcommands) a plain value name, in place."""
    _plain(cmd.params)
    if not isinstance(cmd, LazyGroup):  # --help (and completion options) are added per call
        get_params = cmd.get_params
        cmd.get_params = lambda ctx: _plain(get_params(ctx))  # type: ignore[method-assign]
    for sub in getattr(cmd, "commands", {}).values():
        plain_metavars(sub)
    return cmd


def load_command(name: str) -> Command:
    """Import the module of command ``name`` and return its click command (or group)."""
    entry = COMMANDS[name]
    group = typer.main.get_group(getattr(importlib.import_module(entry.module), entry.attr))
    cmd = group if entry.command is None else group.commands[entry.command]
    cmd.name = name
    return plain_metavars(cmd)


class LazyGroup(TyperGroup):
    """The root group: help and completion list :data:`COMMANDS`; running one imports it."""

    def get_params(self, ctx: Context) -> list[typing.Any]:
        return _plain(super().get_params(ctx))  # the completion options are added late

    def list_commands(self, ctx: Context) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        # a listing (help, completion of the command name) needs only the name and the line
        return TyperCommand(name=cmd_name, help=COMMANDS[cmd_name].help, callback=None)

    def resolve_command(self, ctx: Context, args: list[str]):  # type: ignore[no-untyped-def]
        name = args[0] if args else None
        if name in COMMANDS and name not in self.commands:
            self.commands[name] = load_command(name)
        elif name is not None and name not in self.commands and not name.startswith("-"):
            close = difflib.get_close_matches(name, list(COMMANDS))
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)
