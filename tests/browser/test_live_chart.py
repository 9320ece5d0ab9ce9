"""A live CandlestickChart in a real browser: JupyterLab, Voila, then Notebook 7, on one
``jupyter lab`` whose AlphaPulse extension runs the collector on the simulator; then the
server's stop.

Each chart is photographed twice, 2.5 s apart (tests/output/browser/*-1.png, *-2.png): both
must show candles (pixels of the candles' colours, not just a canvas) and differ, and the
page's chart counters must have grown in between. The tests run in file order: the last
one stops the server the module shares.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from playwright.sync_api import Locator, Page

from tests.browser.chromium import (
    Console,
    counters,
    live_state,
    open_in_lab,
    wait_for_chart,
)
from tests.browser.lab_server import (
    LIVE_INSTRUMENT,
    LIVE_NOTEBOOK,
    LIVE_TITLE,
    LabServer,
    descendants,
    proc,
    wait_gone,
)
from tests.browser.pixels import changed_box, drawing

#: Seconds between a chart's two screenshots: a 1 s bar closes, the next one opens.
APART = 2.5
#: Candle-coloured pixels a chart of a few dozen bars has at least (it has thousands).
MIN_CANDLE_PIXELS = 200
#: The share of a chart's pixels that are not its background, at least (axes, grid, candles).
MIN_DRAWN = 0.02
#: How tall the chart's header (title, live status) is: a change below it is in the chart.
HEADER_PX = 24


def photograph_twice(page: Page, chart: Locator, name: str, output: Path) -> tuple[int, str]:
    """Two screenshots of ``chart`` ``APART`` seconds apart, checked as a drawn chart that
    moved; the chart updates applied in between and a description of what changed."""
    before = counters(page)["updates"]
    first = chart.screenshot(path=output / f"{name}-1.png")
    page.wait_for_timeout(APART * 1000)
    second = chart.screenshot(path=output / f"{name}-2.png")
    updates = counters(page)["updates"] - before
    for shot in (first, second):
        drawn = drawing(shot)
        assert drawn.drawn >= MIN_DRAWN, f"{name}: a blank chart: {drawn}"
        assert drawn.candle_pixels >= MIN_CANDLE_PIXELS, f"{name}: no candles drawn: {drawn}"
    box = changed_box(first, second)
    assert box is not None, f"{name}: the chart did not change in {APART} s ({updates} updates)"
    assert box[3] > HEADER_PX, f"{name}: only the header changed ({box})"
    return updates, f"changed in {box}, {drawing(second)}"


def test_lab_runs_the_notebook_and_its_live_chart_draws_and_moves(
    lab: LabServer, page: Page, console: Console, output: Path
) -> None:
    open_in_lab(page, lab, LIVE_NOTEBOOK)
    chart = wait_for_chart(page)
    # The page subscribed to the server's stream itself, not through the kernel relay.
    assert live_state(page) == "server", page.locator(".alphapulse-chart-status").inner_text()
    updates, what = photograph_twice(page, chart, "lab-live-chart", output)
    page.screenshot(path=output / "lab-page.png")
    assert updates > 0, f"window.__alphapulse_charts.updates did not grow ({what})"
    assert lab.status()["stream"]["clients"] >= 1
    assert console.errors == [], f"console errors in Lab (ignored: {console.ignored})"


def test_voila_renders_the_notebook_without_code_and_its_chart_moves(
    lab: LabServer, page: Page, console: Console, output: Path
) -> None:
    page.goto(lab.page(f"voila/render/{LIVE_NOTEBOOK}"))
    chart = wait_for_chart(page)
    assert live_state(page) == "server", page.locator(".alphapulse-chart-status").inner_text()
    updates, what = photograph_twice(page, chart, "voila-live-chart", output)
    page.screenshot(path=output / "voila-page.png", full_page=True)
    assert updates > 0, f"window.__alphapulse_charts.updates did not grow ({what})"
    # The dashboard shows the notebook's markdown and outputs, never its code.
    assert page.get_by_role("heading", name=LIVE_TITLE).is_visible()
    assert page.locator(".jp-CodeCell").count() == 1
    assert page.locator(".jp-CodeCell .jp-InputArea, .jp-InputPrompt, .cm-editor").count() == 0
    html = page.content()
    assert "CandlestickChart(" not in html
    assert f'chart.live("{LIVE_INSTRUMENT}"' not in html
    assert console.errors == [], f"console errors in Voila (ignored: {console.ignored})"


def test_notebook_7_runs_the_notebook_and_its_live_chart_draws_and_moves(
    lab: LabServer, page: Page, console: Console, output: Path
) -> None:
    open_in_lab(page, lab, LIVE_NOTEBOOK, app="notebooks")
    chart = wait_for_chart(page)
    assert live_state(page) == "server", page.locator(".alphapulse-chart-status").inner_text()
    updates, what = photograph_twice(page, chart, "notebook7-live-chart", output)
    page.screenshot(path=output / "notebook7-page.png")
    assert updates > 0, f"window.__alphapulse_charts.updates did not grow ({what})"
    assert console.errors == [], f"console errors in Notebook 7 (ignored: {console.ignored})"


def test_sigterm_stops_lab_and_its_collector_within_5_s(lab: LabServer) -> None:
    collector_pid = lab.collector_pid()
    assert collector_pid is not None, lab.status()["supervisor"]
    family = descendants(lab.process.pid)  # the collector, and the kernels Lab and Voila ran
    collector = proc(collector_pid)
    assert collector in family, f"the collector {collector_pid} is not the server's child"

    signalled = time.monotonic()
    lab.process.send_signal(signal.SIGTERM)
    left = wait_gone([collector], 5.0)
    took = time.monotonic() - signalled
    assert left == [], f"the collector still runs 5 s after SIGTERM:\n{lab.log_tail()}"
    assert lab.process.wait(timeout=20) == 0, lab.log_tail()
    orphans = wait_gone(family, 5.0)
    assert orphans == [], f"still running after the server stopped: {orphans}"
    # The collector stopped on its SIGTERM in time, not killed at the supervisor's timeout.
    assert "did not stop" not in lab.log.read_text(), f"{took:.1f} s\n{lab.log_tail()}"
