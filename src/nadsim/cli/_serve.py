"""``nadsim serve``: the web app and JSON API (FastAPI + uvicorn), on loopback by default."""

from __future__ import annotations

import ipaddress
from enum import StrEnum

import typer
import uvicorn

from nadsim._errors import InputError
from nadsim.cli._app import console
from nadsim.web import create_app
from nadsim.web._guard import DEFAULT_ALLOWED_HOSTS, server_options
from nadsim.web.schemas import LIMITS

app = typer.Typer()


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", metavar="ADDRESS", help="Interface to bind. Loopback unless --allow-remote."),
    port: int = typer.Option(8000, min=1024, max=65535, help="TCP port."),
    allow_remote: bool = typer.Option(False, "--allow-remote",
                                      help="Allow a non-loopback --host (the app has no authentication)."),
    log_level: LogLevel = typer.Option(LogLevel.info, case_sensitive=False, help="uvicorn log level."),
    allowed_host: list[str] = typer.Option([], "--allowed-host", metavar="NAME",
                                           help="Another name the Host header may carry (repeatable; loopback names "
                                                "and --host are always allowed)."),
) -> None:
    """Serve the web page and the JSON API (research model, not medical advice)."""
    if not is_loopback(host) and not allow_remote:
        raise InputError("--host", "a loopback address (127.0.0.1, ::1, localhost) unless --allow-remote is given",
                         host, "The app has no authentication; expose it only behind your own proxy")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"nadsim web app on http://{shown}:{port}/  (Ctrl+C to stop)")
    hosts = (*DEFAULT_ALLOWED_HOSTS, *([] if host in ("0.0.0.0", "::") else [host]), *allowed_host)
    uvicorn.run(create_app(allowed_hosts=hosts), host=host, port=port, log_level=log_level.value,
                **server_options(LIMITS))

