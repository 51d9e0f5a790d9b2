"""The Typer application, error handling and safe file output shared by every command."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from nadsim._errors import NadsimError
from nadsim.cli._lazy import LazyGroup

app = typer.Typer(
    name="nadsim",
    help="NAD+ precursor QSP simulator (research model, not medical advice).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    cls=LazyGroup,  # each command's module is imported only when that command runs
)
console = Console(width=132)
err_console = Console(stderr=True)
STATE = {"debug": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    STATE["debug"] = debug


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def main() -> None:
    """Entry point: one-line errors, no traceback unless ``--debug``."""
    debug = "--debug" in sys.argv[1:]
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("aborted")
        sys.exit(130)
    except NadsimError as exc:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # click usage errors and anything unexpected
        import click

        usage_errors: tuple[type[BaseException], ...] = (click.exceptions.UsageError,)
        try:  # newer Typer vendors its own click
            from typer._click import exceptions as _tce  # type: ignore[import-not-found]

            usage_errors += (_tce.UsageError,)
        except ImportError:
            pass
        if isinstance(exc, usage_errors):
            if debug:
                raise
            message = exc.format_message().replace("Value error, ", "")  # type: ignore[attr-defined]
            err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            sys.exit(2)
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(type(exc).__name__ + ': ' + str(exc))} (run with --debug for details)",
                          highlight=False, soft_wrap=True)
        sys.exit(1)
