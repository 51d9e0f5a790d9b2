"""What stands between the network and the app: Host allow-list, slow clients, connection caps.

* :class:`HostAllowList` (ASGI): a request whose ``Host`` header is not an allowed name gets
  400. A DNS-rebinding page (``evil.example`` resolving to 127.0.0.1) sends its own name as the
  Host, so it cannot drive the API from a browser. Loopback names by default; ``nadsim serve
  --allowed-host`` adds others.
* :func:`guarded_h11` (uvicorn protocol): uvicorn has no timeout for a request's *headers*; a
  connection that sends half a request line waits for ever and counts against
  ``limit_concurrency`` (issue #15: 70 such connections made the server answer 503 to everyone,
  indefinitely). The protocol closes a connection whose headers are not complete within
  ``header_timeout_s`` (408), and refuses more than ``max_per_client`` open connections from one
  address (503). The request *body* has its own deadline in the app's body-size middleware.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DEFAULT_ALLOWED_HOSTS", "HostAllowList", "guarded_h11", "host_name", "server_options"]

DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")


def host_name(header: str) -> str:
    """The name part of a Host header, lower case, without port or IPv6 brackets."""
    h = header.strip().lower()
    if h.startswith("["):  # [::1]:8000
        return h[1:h.index("]")] if "]" in h else h
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


class HostAllowList:
    """ASGI middleware: 400 for a request whose Host is not in ``allowed`` (``"*"`` allows all)."""

    def __init__(self, app: Any, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = {host_name(a) for a in allowed}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = host_name(headers.get(b"host", b"").decode("latin-1"))
        if host in self.allowed:
            await self.app(scope, receive, send)
            return
        from fastapi.responses import JSONResponse

        shown = host[:64]
        await JSONResponse(status_code=400, content={
            "detail": f"`Host` must be one of {', '.join(sorted(self.allowed))}; got {shown!r}",
            "errors": [{"field": "Host", "message": "host not allowed (nadsim serve --allowed-host adds one)",
                        "expected": ", ".join(sorted(self.allowed)), "got": shown}]})(scope, receive, send)


_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_BUSY_503 = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nretry-after: 5\r\n"
             b"content-length: 35\r\nconnection: close\r\n\r\ntoo many connections from one client")


class _GuardedH11(H11Protocol):
    header_timeout_s: float = 10.0
    max_per_client: int = 16
    per_client: ClassVar[Counter[str]] = Counter()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._peer = self.client[0] if self.client else ""
        self._counted = False
        if self.per_client[self._peer] >= self.max_per_client:
            transport.write(_BUSY_503)
            transport.close()
            return
        self.per_client[self._peer] += 1
        self._counted = True
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_408)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request line and headers are in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # keep-alive: the next request's headers get the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._counted:
            self._counted = False
            self.per_client[self._peer] -= 1
            if self.per_client[self._peer] <= 0:
                del self.per_client[self._peer]
        super().connection_lost(exc)


def guarded_h11(header_timeout_s: float = 10.0, max_per_client: int = 16) -> type[H11Protocol]:
    """A uvicorn HTTP protocol class (``uvicorn.Config(http=...)``) with a header deadline and a
    per-client connection cap; each call gets its own connection counter."""
    return type("GuardedH11", (_GuardedH11,), {"header_timeout_s": float(header_timeout_s),
                                                "max_per_client": int(max_per_client), "per_client": Counter()})


def server_options(limits: dict[str, float]) -> dict[str, Any]:
    """uvicorn settings that bound what clients can hold (``uvicorn.run(app, **server_options(LIMITS))``):
    h11 with the header deadline and per-client cap above, 16 KiB of headers at most, idle
    keep-alive connections closed after 5 s, at most 64 connections and tasks in all."""
    return {"http": guarded_h11(limits["header_timeout_s"], int(limits["max_connections_per_client"])),
            "h11_max_incomplete_event_size": 16 * 1024, "limit_concurrency": 64, "timeout_keep_alive": 5,
            "server_header": False}
