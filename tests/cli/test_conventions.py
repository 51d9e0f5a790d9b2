"""CLI conventions (issue #16): lazy command loading, readable help, choices, completion."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.core import TyperArgument, TyperOption

from nadsim.cli._lazy import COMMANDS, load_command

HEAVY = ("pint", "xarray", "pandas", "scipy", "numpy", "matplotlib", "fastapi")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nadsim", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "160", **(env or {})})


def test_help_lists_every_command_without_importing_the_science_stack():
    """`nadsim --help` must not import pint, xarray, pandas, SciPy (2.9 s before; timing is in
    benchmarks/bench_cli.py, not here)."""
    code = ("import sys\nfrom nadsim.cli import main\nsys.argv = ['nadsim', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": "160"})
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stdout, r.stdout[-300:]
    for name in COMMANDS:
        assert name in r.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_help_matches_the_command(name):
    cmd = load_command(name)
    first = inspect.cleandoc(cmd.help or "").split("\n\n")[0].replace("\n", " ")
    assert first == COMMANDS[name].help


def _commands():
    for name in COMMANDS:
        cmd = load_command(name)
        subs = getattr(cmd, "commands", None)
        if subs:
            for sub_name, sub in subs.items():
                yield f"{name} {sub_name}", sub
        else:
            yield name, cmd


@pytest.mark.parametrize(("name", "cmd"), list(_commands()), ids=[n for n, _ in _commands()])
def test_every_parameter_has_help_and_a_plain_value_name(name, cmd):
    for p in cmd.params:
        assert isinstance(p, TyperOption | TyperArgument)
        assert (p.help or "").strip(), f"{name}: {p.name} has no help"
        assert p.metavar is not None and "<" not in p.metavar, f"{name}: {p.name} metavar {p.metavar!r}"
        if isinstance(p, TyperOption) and p.is_flag:
            assert p.metavar == "", f"{name}: flag {p.name} shows a value name"


def test_choices_are_listed_and_flags_carry_no_type():
    r = run("simulate", "--help")
    assert r.returncode == 0, r.stderr
    for choices in ("[NMN|NR|NAD|NAM]", "[iv|iv_bolus|oral]", "[table|csv|json]", "[native|scipy|jax]", "[A|B|C|D|E]"):
        assert choices in r.stdout
    assert "<bool>" not in r.stdout and "<str>" not in r.stdout and "<path>" not in r.stdout


def test_choices_are_case_insensitive_and_bad_ones_name_the_option():
    r = run("simulate", "--compound", "caffeine")
    assert r.returncode == 2 and "--compound" in r.stderr and "Traceback" not in r.stderr
    assert "Value error" not in r.stderr


def complete(words: str, cword: int) -> list[str]:
    """What bash completion offers, through the installed ``nadsim`` script (as a shell calls it)."""
    script = Path(sys.executable).parent / "nadsim"
    r = subprocess.run([str(script)], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "_NADSIM_COMPLETE": "complete_bash", "COMP_WORDS": words,
                            "COMP_CWORD": str(cword)})
    return r.stdout.split()


def test_shell_completion_offers_commands_and_choices():
    assert complete("nadsim sim", 1) == ["simulate"]
    assert complete("nadsim simulate --route ", 3) == ["iv", "iv_bolus", "oral"]
    assert "--compound" in complete("nadsim simulate --comp", 2)
    r = run("--help")
    assert "--install-completion" in r.stdout


def test_unknown_command_suggests_the_closest():
    r = run("simulat")
    assert r.returncode == 2 and "Did you mean 'simulate'" in r.stderr
