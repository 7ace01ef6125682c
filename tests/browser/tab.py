"""A Playwright page of the browser tests and the errors seen in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Page


@dataclass
class Tab:
    """A page and what went wrong in it: uncaught exceptions and console errors (CSP violations and
    failed loads included)."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """The first truthy value of `expression` (JavaScript), polled until `timeout` seconds; an expression
        that throws (an element not there yet) counts as false."""
        # A function, not an expression: Playwright evaluates an expression with eval(), which the page's CSP
        # (script-src 'self') forbids.
        guarded = f"() => {{ try {{ return ({expression}); }} catch (e) {{ return false; }} }}"
        return self.page.wait_for_function(guarded, timeout=timeout * 1000).json_value()

    def screenshot(self, path: Path, selector: str | None = None) -> Path:
        """A PNG of the whole page, or of the element matching `selector`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        if selector is None:
            self.page.screenshot(path=path, full_page=True)
        else:
            self.page.locator(selector).screenshot(path=path)
        return path
