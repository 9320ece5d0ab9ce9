"""Debian's chromium under Playwright, and what the tests do in a page: open Lab in a fresh
workspace and run its commands, open a notebook in JupyterLab and run it, wait for a chart,
read the charts' counters, collect console errors.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` (CI installs it
with apt), headless, without a sandbox (containers run as root) and without the network
chatter of a first run.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Error,
    Locator,
    Page,
    Playwright,
    ViewportSize,
)

from tests.browser.lab_server import LabServer

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}

#: A chart's element: its title and live status above the canvases lightweight-charts draws.
CHART = ".alphapulse-chart"
CHART_CANVAS = ".alphapulse-chart-canvas canvas"
CHART_STATUS = ".alphapulse-chart-status"

#: True once Lab's notebook has a connected, idle kernel and its file is loaded.
_NOTEBOOK_READY = """() => {
  const panel = window.jupyterapp?.shell.currentWidget;
  const kernel = panel?.sessionContext?.session?.kernel;
  return !!panel?.context?.isReady && kernel?.connectionStatus === "connected"
    && kernel?.status === "idle";
}"""


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class Console:
    """The page's console errors and uncaught exceptions, less known noise (``ignored``)."""

    origin: str  # the Jupyter server's http://host:port/
    errors: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._message)
        page.on("pageerror", self._page_error)

    def _page_error(self, error: Error) -> None:
        stack = error.stack or ""
        text = f"pageerror: {error} {stack[:300]}"
        # Notebook 7's own settings loader throws on a Lab plugin's settings it does not
        # have (the tests' Lab settings quiet Lab's news): a stack only in Notebook's core,
        # none of it ours, which Lab itself does not raise.
        notebook_only = "/static/notebook/" in stack and "alphapulse" not in stack
        (self.ignored if notebook_only else self.errors).append(text)

    def _message(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        text = f"{message.text} ({url})"
        (self.ignored if self._noise(message.text, url) else self.errors).append(text)

    def _noise(self, text: str, url: str) -> bool:
        # Resources from other hosts: the test machines have no network, and Voila's page
        # template links Font Awesome and MathJax from CDNs. Our bundle loads nothing
        # remote (the issue asks for no network at run time), so this hides nothing of ours.
        if text.startswith("Failed to load resource") and not url.startswith(self.origin):
            return True
        # Voila loads every federated Lab extension installed, and Notebook 7's
        # @jupyter-notebook/lab-extension needs shared modules (@jupyterlab/docregistry)
        # that Voila's page does not provide: "The getter for the shared module is not a
        # function" (voila-dashboards/voila#1514, open). It is Notebook's extension failing
        # in Voila's page, not the chart or its widget manager.
        return "@jupyter-notebook/lab-extension" in text


def open_lab(page: Page, lab: LabServer) -> None:
    """Lab in a workspace of its own (the panels an earlier test opened are not restored),
    once the AlphaPulse extension is loaded and Lab has restored its layout."""
    page.goto(lab.page(f"lab/workspaces/{uuid.uuid4().hex[:12]}"))
    page.wait_for_selector("#alphapulse-sidebar", state="attached", timeout=90_000)
    page.wait_for_function(
        "() => !!window.jupyterapp?.commands.hasCommand('alphapulse:open-chart')"
    )
    # After Lab restored its layout: a panel opened before then can be covered by it.
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")


def command(page: Page, name: str, args: dict[str, Any] | None = None) -> None:
    """Runs a Lab command in the page and waits for it (its result stays in the page: a
    widget is no JSON)."""
    page.evaluate(
        "([name, args]) => window.jupyterapp.commands.execute(name, args).then(() => null)",
        [name, args or {}],
    )


def open_in_lab(
    page: Page, lab: LabServer, notebook: str, timeout: float = 90.0, *, app: str = "lab/tree"
) -> None:
    """Opens ``notebook`` in JupyterLab (or Notebook 7: ``app="notebooks"``) and runs all its
    cells with the app's own command, once its kernel is connected and idle (a run before
    then can be lost)."""
    page.goto(lab.page(f"{app}/{notebook}"))
    page.wait_for_function(_NOTEBOOK_READY, timeout=timeout * 1000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


def wait_for_chart(page: Page, timeout: float = 60.0) -> Locator:
    """The first chart on the page once it has drawn and applied a live update."""
    page.wait_for_selector(CHART_CANVAS, timeout=timeout * 1000)
    page.wait_for_function(
        "() => (window.__alphapulse_charts?.updates ?? 0) > 0", timeout=timeout * 1000
    )
    return page.locator(CHART).first


def counters(page: Page) -> dict[str, Any]:
    """``window.__alphapulse_charts``: {charts, updates, lastUpdate, ignored}."""
    value: dict[str, Any] = page.evaluate("() => ({...window.__alphapulse_charts})")
    return value


def live_state(page: Page) -> str:
    """Where the first chart's live data comes from: "server" (the page's own socket to
    /alphapulse/api/stream), "relay" (the kernel), or connecting, error, ..."""
    state = page.locator(CHART_STATUS).first.get_attribute("data-state")
    return state or ""


def save_failure(page: Page, path: Path) -> None:
    """A screenshot of the whole page for a test that failed in it (best effort)."""
    with contextlib.suppress(Error):
        page.screenshot(path=path, full_page=True)
