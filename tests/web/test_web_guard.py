"""The server against hostile clients (issue #15): Host allow-list, slowloris, slow bodies,
per-client connection caps, and the 422 body against the published schema.

The slow-client tests run a real uvicorn server (the options ``nadsim serve`` uses, with short
deadlines) on a free loopback port in a thread, and talk raw sockets to it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from nadsim.web import create_app
from nadsim.web._guard import host_name, server_options
from nadsim.web.schemas import LIMITS

HEADER_S, BODY_S, PER_CLIENT = 1.0, 1.0, 8


@pytest.mark.parametrize(("header", "name"), [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("LocalHost", "localhost"),
                                               ("localhost.", "localhost"), ("evil.example:80", "evil.example"), ("", "")])
def test_host_name(header, name):
    assert host_name(header) == name


@pytest.mark.anyio
@pytest.mark.parametrize(("host", "status"), [("127.0.0.1:8000", 200), ("localhost", 200), ("[::1]:8000", 200),
                                              ("evil.example", 400), ("127.0.0.1.nip.io", 400), ("", 400)])
async def test_host_allow_list(host, status):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away."""
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        r = await c.get("/api/health", headers={"Host": host})
    assert r.status_code == status
    if status == 400:
        assert r.json()["errors"][0]["field"] == "Host"
    app.state.jobs.shutdown()


@pytest.mark.anyio
async def test_allowed_hosts_are_configurable():
    app = create_app(allowed_hosts=("nadsim.lab.internal",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        assert (await c.get("/api/health", headers={"Host": "nadsim.lab.internal:8443"})).status_code == 200
        assert (await c.get("/api/health", headers={"Host": "127.0.0.1"})).status_code == 400
    app.state.jobs.shutdown()


@pytest.mark.anyio
async def test_422_bodies_match_the_published_schema(client):
    """Validated against /openapi.json's own 422 schema (it used to describe FastAPI's default
    body, which this API never sends)."""
    import jsonschema

    schema = (await client.get("/openapi.json")).json()
    body_schema = schema["paths"]["/api/simulate"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    resolver_doc = {"components": schema["components"], **body_schema}
    for payload in ({"until_h": -1}, {"regimen": {"dose_mg": "300 % mg"}}, {"regimen": {"compound": "NMN", "route": "iv",
                    "dose_mg": 300, "infusion_min": 0.001}}, {"nonsense": 1}):
        r = await client.post("/api/simulate", json=payload)
        assert r.status_code == 422, (payload, r.text)
        jsonschema.validate(r.json(), resolver_doc)


# --------------------------------------------------------------------- a real server, raw sockets
@pytest.fixture(scope="module")
def server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    limits = {**LIMITS, "header_timeout_s": HEADER_S, "body_timeout_s": BODY_S, "max_connections_per_client": PER_CLIENT}
    app = create_app(limits=limits)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **server_options(limits)))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not srv.started:
        assert time.monotonic() - t0 < 60, "server did not start"
        time.sleep(0.05)
    yield port
    srv.should_exit = True
    thread.join(10)
    app.state.jobs.shutdown()


def _get(port: int, source: str = "127.0.0.1") -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return int(s.recv(64).split()[1])


def _closed_by_server(s: socket.socket, within_s: float) -> bytes:
    """Wait until the server closes ``s``; return what it sent (raises on timeout)."""
    s.settimeout(within_s)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(1024):
            data += chunk
    return data


def test_slowloris_connections_are_capped_per_client_and_closed_at_the_header_deadline(server):
    """70 connections that send half a request line: before, the server answered 503 to everyone
    for as long as they stayed open. Now one client holds at most PER_CLIENT of them (the rest get
    503 at once), another client is served meanwhile, and all are closed (408) at the deadline."""
    conns = []
    for _ in range(70):
        s = socket.create_connection(("127.0.0.1", server), timeout=10)
        s.sendall(b"GET /api/heal")
        conns.append(s)
    t0 = time.monotonic()
    assert _get(server, source="127.0.0.2") == 200  # another client is not starved
    replies = [_closed_by_server(s, within_s=HEADER_S + 10) for s in conns]
    waited = time.monotonic() - t0
    for s in conns:
        s.close()
    refused = sum(r.startswith(b"HTTP/1.1 503") for r in replies)
    timed_out = sum(r.startswith(b"HTTP/1.1 408") for r in replies)
    assert refused == 70 - PER_CLIENT and timed_out == PER_CLIENT, (refused, timed_out)
    assert waited < HEADER_S + 5
    assert _get(server) == 200  # and the attacking address is served again


def test_a_slow_body_gets_408(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as s:
        s.sendall(b"POST /api/simulate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{\"until_h\":")
        t0 = time.monotonic()
        reply = _closed_by_server(s, within_s=BODY_S + 10)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:80]
    assert time.monotonic() - t0 < BODY_S + 5
    assert "not received" in json.loads(reply.split(b"\r\n\r\n", 1)[1])["detail"]


def test_unending_headers_are_refused_past_16_kib(server):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as s:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 32_000)
        reply = _closed_by_server(s, within_s=HEADER_S / 2)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
