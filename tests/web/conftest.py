"""Fixtures for the web API tests: the app, called in-process through httpx.ASGITransport."""

from __future__ import annotations

import httpx
import pytest

from nadsim.web import create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def app():
    app = create_app()
    yield app
    app.state.jobs.shutdown()


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=120) as c:
        yield c


@pytest.fixture
def article() -> dict:
    """The article's regimen: 300 mg NMN in 100 mL at 5 mL/min (20 min), 24 h."""
    return {"regimen": {"compound": "NMN", "route": "iv", "dose_mg": 300,
                        "infusion_volume_mL": 100, "infusion_rate_mL_min": 5}, "until_h": 24}
