"""Headless Chromium for the browser tests, with the network cut off.

Uses the system Chromium (Debian package ``chromium``; CI installs it) through
Playwright: never ``playwright install``. Every request that is not a local
file or a page on this machine is aborted and recorded, so a test can assert
that a page loads nothing from outside.

    with offline_page() as view:
        view.page.goto(path.as_uri())
        ...
        assert view.blocked == [] and view.errors == []

It also starts the Jupyter servers the browser tests open pages of
(:func:`jupyter_server`: JupyterLab or the classic Notebook 7, on a free
localhost port), and says whether this machine can run the browser tests at
all (:func:`browser_missing`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def have_chromium() -> bool:
    return CHROMIUM.exists()


def browser_missing() -> str:
    """Why the browser tests cannot run here ("" when they can): no system
    Chromium, or no Playwright in this Python."""
    if not have_chromium():
        return f"needs {CHROMIUM} (apt-get install chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "needs the playwright package (pip install -r requirements-lock.txt)"
    return ""


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


# --------------------------------------------------------------------------- Jupyter servers

#: The Jupyter front ends a test can start: (module run with ``python -m``, the
#: traitlets class of its settings, the URL path that opens a notebook).
JUPYTER_APPS = {
    "lab": ("jupyterlab", "LabApp", "lab/tree"),
    "notebook": ("notebook", "JupyterNotebookApp", "notebooks"),  # the classic Notebook 7
}


@dataclass
class JupyterServer:
    """A running Jupyter server on 127.0.0.1 (see :func:`jupyter_server`)."""

    app: str  # "lab" or "notebook"
    url: str  # http://127.0.0.1:PORT
    token: str
    root: Path  # the folder it serves
    log: Path  # its output

    def notebook_url(self, name: str) -> str:
        """The address that opens ``root / name`` in this front end (in
        JupyterLab with a reset workspace: no tab of an earlier page reopens)."""
        reset = "&reset" if self.app == "lab" else ""
        return f"{self.url}/{JUPYTER_APPS[self.app][2]}/{name}?token={self.token}{reset}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyter_server(root: Path, app: str = "lab", env: Mapping[str, str] | None = None,
                   timeout_s: float = 180.0) -> Iterator[JupyterServer]:
    """Serve ``root`` with JupyterLab (``app="lab"``) or the classic Notebook 7
    (``app="notebook"``) on a free localhost port, with a token, settings and
    workspaces inside ``root`` (the user's own are never read or written), no
    news or update notifications, and the front end's application object
    exposed to the page as ``window.jupyterapp`` (so a test can read the
    notebook model, e.g. which cell holds an error). ``env`` is added to the
    server's environment, which its kernels inherit. Raises ``RuntimeError``
    (with the server's log) if it does not answer within ``timeout_s``; stops
    it on exit."""
    if app not in JUPYTER_APPS:
        raise ValueError(f"app must be one of {sorted(JUPYTER_APPS)}, got {app!r}")
    module, cls, _ = JUPYTER_APPS[app]
    root = Path(root)
    port, token = free_port(), secrets.token_hex(16)
    full_env = {**os.environ, **(env or {}), "JUPYTER_CONFIG_DIR": str(root / ".config"),
                "JUPYTER_RUNTIME_DIR": str(root / ".runtime")}
    log_path = root / f"{app}-server.log"
    args = [sys.executable, "-m", module, "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            f"--{cls}.user_settings_dir={root / '.settings'}", f"--{cls}.workspaces_dir={root / '.workspaces'}",
            f"--{cls}.expose_app_in_browser=True", "--ServerApp.allow_root=True"]
    if app == "lab":
        args.append("--LabApp.news_url=")
        # No "Would you like to get notified about official Jupyter news?" toast over the page. (Notebook 7
        # has no such plugin, and a settings file for a plugin it lacks is a JavaScript error there.)
        notification = root / ".settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True, exist_ok=True)
        notification.write_text('{"fetchNews": "false", "checkForUpdates": false}\n')
    with open(log_path, "w") as log:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen(args, cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5)
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{module} did not start:\n" + log_path.read_text()) from None
                    time.sleep(1)
            yield JupyterServer(app, url, token, root, log_path)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def accept_kernel_dialog(page, wait_ms: int = 5_000) -> None:
    """Click "Select" if the Select Kernel dialog is (or soon becomes) open."""
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    try:
        accept.wait_for(timeout=wait_ms)
    except Exception:  # no dialog: nothing to do
        return
    accept.click()
    page.locator(".jp-Dialog").wait_for(state="detached")
