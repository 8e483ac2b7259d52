"""Headless Chromium for the web console tests, through Playwright's Python API.

The browser is Debian's ``chromium`` package (``/usr/bin/chromium``, installed by
``.ci/run``), never one downloaded by ``playwright install``. Set ``SENTIMENT_CHROMIUM`` to
use another binary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path(os.environ.get("SENTIMENT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}


def require_chromium() -> Path:
    """The browser binary; a clear failure (not a skip) when it is missing."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"no Chromium at {CHROMIUM}: the web console tests need Debian's chromium package "
            "(`apt-get install chromium`, as .ci/run does) or SENTIMENT_CHROMIUM=/path/to/chromium",
            pytrace=False,
        )
    return CHROMIUM


@contextmanager
def chromium() -> Iterator:
    """A headless browser for the duration of the block."""
    from playwright.sync_api import sync_playwright

    binary = require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(binary), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Tab:
    """A page in its own browser context, recording the page's script errors and failed
    console messages (a CSP violation shows up there too)."""

    context: object
    page: object
    errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.context.close()

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def assert_no_errors(self, allowed: tuple[str, ...] = ()) -> None:
        unexpected = [e for e in self.errors if not any(a in e for a in allowed)]
        assert not unexpected, f"browser errors: {unexpected}"


def open_tab(browser, url: str, locale: str = "en-US", setup=None) -> Tab:
    """A new page at `url`; `setup(page)` runs before it loads (to route its websockets)."""
    context = browser.new_context(viewport=VIEWPORT, locale=locale, accept_downloads=True)
    page = context.new_page()
    tab = Tab(context, page)
    page.on("pageerror", lambda error: tab.errors.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: tab.errors.append(
            f"console: {message.text} ({message.location.get('url', '')})"
        ) if message.type == "error" else None,
    )
    if setup is not None:
        setup(page)
    page.goto(url)
    return tab
