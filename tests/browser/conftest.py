"""Headless Chromium for the browser tests: Playwright driving Debian's Chromium (`executable_path`), so
no browser is downloaded and `playwright install` is never needed (.ci/run installs the chromium package).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, sync_playwright

from tests.browser.tab import Tab

CHROMIUM = "/usr/bin/chromium"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium (Debian package chromium)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def tab(chromium: Browser) -> Iterator[Tab]:
    """A fresh browser context (no cookies, storage or cache of another test) and its page."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    opened = Tab(page)

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            opened.errors.append(message.text[:300])

    page.on("console", console)
    page.on("pageerror", lambda error: opened.errors.append(str(error)[:300]))
    try:
        yield opened
    finally:
        context.close()
