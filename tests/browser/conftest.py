"""Browser tests: a real uvicorn server on a free port, driven by Playwright through Debian's
chromium (no browser download). The server runs in dev mode, so the dev mailbox is there."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from okpay import settings as settings_module
from tests.conftest import Mailbox, _free_port, install_settings, unavailable

CHROMIUM = os.environ.get("OKPAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_port() -> int:
    return _free_port()


@pytest.fixture
def settings(
    database_url: str, tmp_path: Path, smtp_listener: Mailbox, live_port: int
) -> Iterator[settings_module.Settings]:
    # Dev mode for the mailbox; lock after three failures and without waits, so the lockout
    # flow runs in seconds.
    yield from install_settings(
        database_url,
        tmp_path,
        smtp_listener,
        env="dev",
        secret_key="browser-test-secret",
        base_url=f"http://127.0.0.1:{live_port}",
        login_lock_threshold=3,
        login_delay_after=20,
    )


@pytest.fixture
def live_server(app, live_port: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=live_port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    base = f"http://127.0.0.1:{live_port}"
    # The app's first page pays for FastAPI's analysis of its routes, templates compiled and
    # so on: seconds when the suite keeps both cores busy, past a test's 10 s navigation
    # timeout. Pay it here, with room, as a load balancer's first check would.
    with contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(f"{base}/login", timeout=120).read()
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        unavailable(f"Chromium not found at {CHROMIUM} (make install installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


def _page(browser, live_server: str, locale: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(locale=locale, base_url=live_server)
    context.set_default_timeout(10_000)
    return context, context.new_page()


@pytest.fixture
def page(browser, live_server: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser profile that prefers English."""
    context, pg = _page(browser, live_server, "en-US")
    yield pg
    context.close()


@pytest.fixture
def zh_page(browser, live_server: str) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser profile that prefers Simplified Chinese."""
    context, pg = _page(browser, live_server, "zh-CN")
    yield pg
    context.close()
