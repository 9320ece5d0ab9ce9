"""The JupyterLab extension in a real browser, on a ``jupyter lab`` whose AlphaPulse server
extension runs the collector on the simulator: the sidebar's Monitor (frame counts growing,
a venue stopped and started), a live chart panel that draws and moves, the News panel and a
story's chart, a SQL file that runs on the lake and completes its tables, the launcher's
items, and a server of another version named plainly instead of a blank panel.

Screenshots go to tests/output/browser/lab-ext-*.png.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import orjson
from playwright.sync_api import Page, Route, expect

from tests.browser.chromium import Console, command, open_lab
from tests.browser.lab_server import LabServer
from tests.browser.pixels import changed_box, drawing

#: Seconds a panel may take to show what the collector is doing.
WAIT_MS = 30_000
MONITOR = "#alphapulse-monitor"
CHART_PANEL = ".alphapulse-ChartPanel"


def wait_for_candles(page: Page, candles: Any, path: Path, seconds: float = 30.0) -> bytes:
    """A screenshot of ``candles`` once it shows candles (the last one tried otherwise)."""
    deadline = time.monotonic() + seconds
    while True:
        shot: bytes = candles.screenshot(path=path)
        drawn = drawing(shot)
        if (drawn.drawn >= 0.02 and drawn.candle_pixels >= 200) or time.monotonic() > deadline:
            return shot
        page.wait_for_timeout(250)


def venue_card(page: Page, venue: str) -> Any:
    return page.locator(f"{MONITOR} .alphapulse-Monitor-venue[data-venue='{venue}']")


def frames_total(page: Page, venue: str) -> int:
    text = venue_card(page, venue).locator(".frames-total").inner_text()
    return int(re.sub(r"[^0-9]", "", text))


def test_lab_loads_the_extension_with_its_launcher_items_and_no_console_errors(
    lab: LabServer, page: Page, console: Console, output: Path
) -> None:
    open_lab(page, lab)
    command(page, "launcher:create")
    launcher = page.locator(".jp-Launcher-section", has_text="AlphaPulse")
    expect(launcher).to_be_visible(timeout=WAIT_MS)
    titles = [t["title"] for t in lab.api("alphapulse/api/templates")["templates"]]
    assert titles, "the server lists no notebook templates"
    for label in ["AlphaPulse SQL", "Open the AlphaPulse Monitor", "Open a live chart", *titles]:
        expect(launcher.locator(".jp-LauncherCard", has_text=label)).to_have_count(1)
    # The status bar: every collector up and the frames they take.
    status = page.locator(".alphapulse-StatusItem")
    expect(status).to_have_text(
        re.compile(r"AlphaPulse 4/4 up · [0-9,.]+ frames/s"), timeout=WAIT_MS
    )
    # The settings (Settings → AlphaPulse) are Lab's, from the extension's schema.
    properties = page.evaluate(
        "() => window.jupyterapp.serviceManager.settings.fetch('@alphapulse/lab:plugin')"
        ".then(s => Object.keys(s.schema.properties))"
    )
    assert set(properties) == {"defaultVenue", "chartTheme", "refreshMs", "defaultInterval"}
    page.screenshot(path=output / "lab-ext-launcher.png")
    assert console.errors == [], f"console errors in Lab (ignored: {console.ignored})"


def test_a_template_opens_as_a_new_notebook(lab: LabServer, page: Page) -> None:
    open_lab(page, lab)
    template = lab.api("alphapulse/api/templates")["templates"][0]
    command(page, "alphapulse:new-from-template", {"name": template["name"]})
    page.wait_for_function(
        "(name) => window.jupyterapp.shell.currentWidget?.context?.path?.startsWith(name)",
        arg=template["name"],
        timeout=WAIT_MS,
    )
    notebook = lab.root / f"{template['name']}.ipynb"
    assert notebook.is_file(), sorted(p.name for p in lab.root.iterdir())
    cells = orjson.loads(notebook.read_bytes())["cells"]
    assert all(c.get("outputs", []) == [] for c in cells), "the template kept its outputs"


def test_monitor_shows_the_collectors_with_frame_counts_growing(
    lab: LabServer, page: Page, output: Path
) -> None:
    open_lab(page, lab)
    command(page, "alphapulse:open-monitor")
    for venue in ["kraken", "coinbase", "binance", "alpaca"]:
        expect(venue_card(page, venue)).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    first = frames_total(page, "kraken")
    page.wait_for_timeout(3000)
    assert frames_total(page, "kraken") > first, "kraken's frame count did not grow in 3 s"
    rate = venue_card(page, "kraken").locator(".frames").inner_text()
    assert re.match(r"[0-9,.]+ f/s", rate) and not rate.startswith("0 "), rate
    expect(page.locator(f"{MONITOR} .alphapulse-Monitor-events li").first).to_be_visible()
    page.screenshot(path=output / "lab-ext-monitor.png")


def test_monitor_stops_and_starts_a_venue(lab: LabServer, page: Page, output: Path) -> None:
    open_lab(page, lab)
    command(page, "alphapulse:open-monitor")
    card = venue_card(page, "binance")
    expect(card).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    card.locator(".alphapulse-Monitor-action").click()
    expect(card).to_have_attribute("data-state", "stopped", timeout=WAIT_MS)
    assert lab.api("alphapulse/api/collectors")["collectors"][2]["state"] == "stopped"
    # The stop is an event, and the events list shows it.
    events = page.locator(f"{MONITOR} .alphapulse-Monitor-events li[data-kind='venue_stopped']")
    expect(events.first).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=output / "lab-ext-monitor-stopped.png")
    card.locator(".alphapulse-Monitor-action").click()
    expect(card).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    stopped_at = frames_total(page, "binance")
    page.wait_for_timeout(3000)
    assert frames_total(page, "binance") > stopped_at, "binance takes no frames after its start"


def test_a_chart_panel_draws_and_moves(lab: LabServer, page: Page, output: Path) -> None:
    open_lab(page, lab)
    command(page, "alphapulse:open-chart", {"instrument": "kraken:BTC/USD", "interval": "1s"})
    panel = page.locator(CHART_PANEL).first
    candles = panel.locator(".alphapulse-ChartPanel-candles")
    candles.locator("canvas").first.wait_for(timeout=WAIT_MS)
    page.wait_for_function("() => (window.__alphapulse_charts?.updates ?? 0) > 2", timeout=WAIT_MS)
    expect(panel.locator(".alphapulse-chart-status").first).to_have_attribute(
        "data-state", "server"
    )
    # The updates counted are any chart's (the depth chart's too): on a lake just begun, the
    # instrument's first trade (its first candle) can come a moment after its first book.
    first = wait_for_candles(page, candles, output / "lab-ext-chart-1.png")
    page.wait_for_timeout(2500)
    second = candles.screenshot(path=output / "lab-ext-chart-2.png")
    for shot in (first, second):
        drawn = drawing(shot)
        assert drawn.drawn >= 0.02 and drawn.candle_pixels >= 200, f"no candles drawn: {drawn}"
    assert changed_box(first, second) is not None, "the chart did not move in 2.5 s"
    # The depth chart and the trade list fill too.
    assert drawing(panel.locator(".alphapulse-ChartPanel-depth").screenshot()).drawn >= 0.02
    expect(panel.locator(".alphapulse-ChartPanel-trades tbody tr").first).to_be_visible()
    page.screenshot(path=output / "lab-ext-chart-panel.png")


def test_news_panel_shows_stories_and_charts_a_story(
    lab: LabServer, page: Page, output: Path
) -> None:
    open_lab(page, lab)
    command(page, "alphapulse:open-monitor")  # opens the sidebar
    stories = page.locator(".alphapulse-News-list li")
    expect(stories.first).to_be_visible(timeout=60_000)
    page.locator(".alphapulse-News input").fill("MSFT")
    expect(stories.first).to_contain_text("MSFT", timeout=WAIT_MS)
    assert all("MSFT" in t for t in stories.all_inner_texts())
    stories.first.click()
    title = page.locator(".lm-TabBar-tab.lm-mod-current", has_text="alpaca:MSFT")
    expect(title).to_be_visible(timeout=WAIT_MS)
    page.locator(
        f"{CHART_PANEL} .alphapulse-ChartPanel-candles canvas >> visible=true"
    ).first.wait_for()
    page.screenshot(path=output / "lab-ext-news.png")


def test_a_sql_file_runs_on_the_lake_and_completes_tables(
    lab: LabServer, page: Page, console: Console, output: Path
) -> None:
    open_lab(page, lab)
    command(page, "alphapulse:new-sql-file")
    editor = page.locator(".alphapulse-SqlEditor .cm-content >> visible=true")
    editor.click()
    page.keyboard.press("Control+End")
    page.keyboard.press("Shift+Enter")
    status = page.locator(".alphapulse-SqlResults-status >> visible=true")
    expect(status).to_have_text(re.compile(r"^[0-9,]+ rows? · \d+ ms"), timeout=WAIT_MS)
    expected = lab.api(
        "alphapulse/api/query",
        body={"sql": "select count(distinct instrument) from trades"},
    )["rows"][0][0]
    rows = int(re.sub(r"[^0-9]", "", status.inner_text().split(" rows")[0]))
    assert 1 <= rows <= expected + 2, (rows, expected)
    grid = page.locator(".alphapulse-SqlResults-grid canvas >> visible=true").first
    assert drawing(grid.screenshot()).drawn > 0.01, "the grid drew nothing"
    page.screenshot(path=output / "lab-ext-sql.png")

    # A bad statement says why, and the server goes on.
    page.keyboard.type("\nselect nope from trades;")
    page.keyboard.press("Shift+Enter")
    expect(status).to_contain_text("nope", timeout=WAIT_MS)
    expect(status).to_have_class(re.compile("alphapulse-error"))

    # Completion of the lake's tables after FROM.
    page.keyboard.type("\nselect * from tra")
    page.keyboard.press("Tab")
    expect(page.locator(".jp-Completer-item", has_text="trades").first).to_be_visible(
        timeout=WAIT_MS
    )
    page.screenshot(path=output / "lab-ext-sql-completion.png")
    page.keyboard.press("Enter")
    assert "select * from trades" in editor.inner_text()
    # The browser logs the bad statement's 400 itself; nothing else may be an error.
    refused = [e for e in console.errors if "status of 400" in e and "/alphapulse/api/query" in e]
    assert len(refused) == 1 and console.errors == refused, console.errors


def test_a_sql_statement_goes_to_a_notebook_as_a_duckdb_cell(lab: LabServer, page: Page) -> None:
    open_lab(page, lab)
    command(page, "alphapulse:new-sql-file")
    page.locator(".alphapulse-SqlEditor .cm-content >> visible=true").click()
    page.keyboard.press("Control+End")
    command(page, "alphapulse:sql-to-notebook")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.content?.model?.sharedModel?.cells"
        "?.length >= 2",
        timeout=WAIT_MS,
    )
    sources = page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.content.model.sharedModel.cells"
        ".map(c => c.getSource())"
    )
    assert sources[0] == "%load_ext alphapulse", sources
    assert sources[-1].startswith("%%duckdb\n"), sources
    assert "select venue, instrument" in sources[-1] and sources[-1].endswith("desc"), sources


def test_a_server_of_another_version_is_named_not_a_blank_panel(
    lab: LabServer, page: Page, output: Path
) -> None:
    def other_version(route: Route) -> None:
        response = route.fetch()
        body = orjson.loads(response.body())
        body["version"] = "9.9.9"
        route.fulfill(response=response, body=orjson.dumps(body))

    page.route(re.compile(r".*/alphapulse/api/status(\?.*)?$"), other_version)
    open_lab(page, lab)
    command(page, "alphapulse:open-monitor")
    banner = page.locator(f"{MONITOR} .alphapulse-banner")
    expect(banner).to_contain_text("AlphaPulse server 9.9.9 and Lab extension", timeout=WAIT_MS)
    expect(banner).to_contain_text("reinstall")
    expect(page.locator(".alphapulse-StatusItem")).to_have_text("AlphaPulse: version mismatch")
    expect(
        page.locator(".jp-toast-message, .Toastify__toast", has_text="9.9.9").first
    ).to_be_visible()
    page.screenshot(path=output / "lab-ext-version-mismatch.png")


def test_a_server_without_the_extension_is_named_not_a_blank_panel(
    lab: LabServer, page: Page
) -> None:
    # As a Jupyter server without alphapulse.server enabled answers: 404 for every route.
    page.route(
        re.compile(r".*/alphapulse/api/.*"),
        lambda route: route.fulfill(status=404, body="404: Not Found"),
    )
    open_lab(page, lab)
    command(page, "alphapulse:open-monitor")
    banner = page.locator(f"{MONITOR} .alphapulse-banner")
    expect(banner).to_contain_text("server extension is not running", timeout=WAIT_MS)
    expect(banner).to_contain_text("jupyter server extension enable alphapulse.server")
    expect(page.locator(".alphapulse-StatusItem")).to_have_text("AlphaPulse: no server extension")
    expect(page.locator(".alphapulse-Instruments .alphapulse-message")).to_contain_text(
        "server extension is not running"
    )
