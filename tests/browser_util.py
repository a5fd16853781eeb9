"""Headless Chromium for the browser tests, with the network cut off.

Uses the system Chromium (Debian package ``chromium``; CI installs it) through
Playwright: never ``playwright install``. Every request that is not a local
file or a page on this machine is aborted and recorded, so a test can assert
that a page loads nothing from outside.

    with offline_page() as view:
        view.page.goto(path.as_uri())
        ...
        assert view.blocked == [] and view.errors == []
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def have_chromium() -> bool:
    return CHROMIUM.exists()


@dataclass
class OfflinePage:
    """A Playwright page plus what happened on it."""

    page: object
    blocked: list[str] = field(default_factory=list)  # requests aborted: they would leave the machine
    errors: list[str] = field(default_factory=list)  # uncaught JavaScript exceptions
    console: list[str] = field(default_factory=list)  # console messages, "type: text"


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in LOCAL_HOSTS


@contextlib.contextmanager
def offline_page(width: int = 1000, height: int = 800) -> Iterator[OfflinePage]:
    """A fresh page in headless system Chromium where only local requests
    (``file://``, ``data:``, ``http://127.0.0.1``/``localhost``) go through."""
    from playwright.sync_api import sync_playwright

    if not have_chromium():
        raise RuntimeError(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            view = OfflinePage(page)

            def route(route_, request):
                if _is_local(request.url):
                    route_.continue_()
                else:
                    view.blocked.append(request.url)
                    route_.abort()

            context.route("**/*", route)
            page.on("pageerror", lambda err: view.errors.append(str(err)))
            page.on("console", lambda msg: view.console.append(f"{msg.type}: {msg.text}"))
            yield view
        finally:
            browser.close()
