"""Headless Debian Chromium driven by Playwright, for the browser tests.

The browser is Debian's (`scripts/ensure-browser` installs it); Playwright
only drives it, so no browser is ever downloaded. Playwright's sync API keeps
an asyncio loop running in the calling thread while a browser is open, and
Django refuses ORM calls there: do ORM work before and after, not inside.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page(executable: str = CHROMIUM) -> Iterator[Page]:
    """A fresh page in a new headless browser, closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
