"""Playwright driving Debian's Chromium, and the web app served on a free loopback port.

``playwright install`` cannot download browsers here, so the fixture launches
``/usr/bin/chromium`` (the Debian package, installed by ``make test`` as root).
A missing Chromium skips locally and FAILS in CI (``tests.support.components.missing``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import ThreadedWSGIServer

from tests.support.components import missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path("var/test-artifacts/screenshots")
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


class _Server(ThreadedWSGIServer):
    """Werkzeug's threaded server that knows how many requests are in progress."""

    def __init__(self, app: Flask) -> None:
        super().__init__("127.0.0.1", 0, app)
        self.in_progress = 0
        self._count = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._count:
            self.in_progress += 1
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count:
                self.in_progress -= 1


class LiveServer:
    """The Flask app on a werkzeug server in a background thread (threaded: SSE streams block)."""

    def __init__(self, app: Flask) -> None:
        self.server = _Server(app)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # Live streams notice a closed browser at their next heartbeat (1 s): wait until every
        # request has ended and given its database connection back before the app's engine is
        # disposed (a condition, not a fixed pause: most tests have nothing in progress).
        deadline = time.monotonic() + 5
        while self.server.in_progress and time.monotonic() < deadline:
            time.sleep(0.02)
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Chromium shared by one module's UI tests.

    Module scope on purpose: Playwright's sync API keeps an asyncio loop running in
    the main thread while it lives, and later tests call ``asyncio.run``.
    """
    if not os.path.exists(CHROMIUM):
        missing("Chromium", "install the Debian package 'chromium' (make test does it as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright", "install the test extras: .venv/bin/pip install -e '.[test]'")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context at tablet size (1024×768), pointed at the live server."""
    context = chromium.new_context(viewport=TABLET, base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under ``var/test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
