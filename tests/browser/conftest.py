"""A live nadsim server on a free loopback port and Debian's Chromium driven by Playwright.

No browser is downloaded: the tests use ``/usr/bin/chromium`` (CI installs it with apt) with a
fresh user-data directory and the networking features switched off.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
#: screenshots referenced by the README (written when NADSIM_SCREENS=1)
SCREENS = Path(__file__).resolve().parents[2] / "docs" / "screens"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_url():
    import uvicorn

    from nadsim.web import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="nadsim-test-server", daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        if time.monotonic() - t0 > 30 or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _page(tmp_path: Path, viewport: dict[str, int], **kw):
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "chromium-profile"
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=ARGS, headless=True,
            viewport=viewport, accept_downloads=True, **kw)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        yield page
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser_page(tmp_path):
    yield from _page(tmp_path, {"width": 1440, "height": 1000})


@pytest.fixture
def phone_page(tmp_path):
    """A 390 px wide phone (iPhone 12-15 CSS width), touch, device scale 2."""
    yield from _page(tmp_path, {"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def screens(artifacts) -> Path:
    """docs/screens when NADSIM_SCREENS=1 (to refresh the README's pictures), else artifacts."""
    import os

    if os.environ.get("NADSIM_SCREENS") == "1":
        SCREENS.mkdir(parents=True, exist_ok=True)
        return SCREENS
    return artifacts
