"""``nadsim serve``: the web app and JSON API (FastAPI + uvicorn), on loopback by default."""

from __future__ import annotations

import ipaddress

import typer

from nadsim._errors import InputError
from nadsim.cli._app import console


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind. Loopback unless --allow-remote."),
        port: int = typer.Option(8000, help="TCP port (1024-65535)."),
        allow_remote: bool = typer.Option(False, "--allow-remote",
                                          help="Allow a non-loopback --host (the app has no authentication)."),
        log_level: str = typer.Option("info", help="uvicorn log level: critical, error, warning, info, debug."),
    ) -> None:
        """Serve the web page and the JSON API (research model, not medical advice)."""
        if not 1024 <= port <= 65535:
            raise InputError("--port", "a port from 1024 to 65535", port)
        if not is_loopback(host) and not allow_remote:
            raise InputError("--host", "a loopback address (127.0.0.1, ::1, localhost) unless --allow-remote is given",
                             host, "The app has no authentication; expose it only behind your own proxy")
        if log_level not in ("critical", "error", "warning", "info", "debug"):
            raise InputError("--log-level", "one of critical, error, warning, info, debug", log_level)
        import uvicorn

        from nadsim.web import create_app

        shown = f"[{host}]" if ":" in host else host
        console.print(f"nadsim web app on http://{shown}:{port}/  (Ctrl+C to stop)")
        uvicorn.run(create_app(), host=host, port=port, log_level=log_level, limit_concurrency=64,
                    timeout_keep_alive=5, server_header=False)
