"""What the dashboard tests and the dashboard benchmark do in a Voila page: wait for a
dashboard to be live, count how often its live figures change as the page shows them, find
the story's marker on a chart, and check that no code is on the page.

The counter runs in the page: at every animation frame it compares the venue table's text
with the one before (``innerText``: what is on screen), so an update the page received but
did not show, or one that changed nothing, is not counted.
"""

from __future__ import annotations

from typing import cast

from playwright.sync_api import Page

from alphapulse.dashboards.news_model import STORY_COLOR
from tests.browser.pixels import RGB, TOLERANCE, rgb

#: The live part of the monitor: its venue table (the HTML widget's element).
VENUES = ".alphapulse-monitor .ap-venues-box"
FPS_CELLS = f"{VENUES} td.ap-fps"
#: What would show a notebook's code: Lab's input areas and prompts, an editor.
CODE = ".jp-InputArea, .jp-InputPrompt, .cm-editor, .jp-InputArea-editor"

WATCH = """(selector) => {
  const el = document.querySelector(selector);
  const state = (window.__ap_live = { changes: 0, since: performance.now() });
  let last = el.innerText;
  const frame = () => {
    const text = el.innerText;
    if (text !== last) { last = text; state.changes += 1; }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}"""


def wait_for_monitor(page: Page, timeout: float = 90.0) -> None:
    """Until the venue table has rows with a frame rate and a chart has drawn and updated."""
    page.wait_for_function(
        "(s) => [...document.querySelectorAll(s)].some((td) => /\\d/.test(td.textContent))",
        arg=FPS_CELLS,
        timeout=timeout * 1000,
    )
    page.wait_for_selector(".alphapulse-chart-canvas canvas", timeout=timeout * 1000)
    page.wait_for_function(
        "() => (window.__alphapulse_charts?.updates ?? 0) > 0", timeout=timeout * 1000
    )


def watch_live(page: Page) -> None:
    page.evaluate(WATCH, VENUES)


def live_changes(page: Page) -> tuple[int, float]:
    """(changes seen, seconds watched) since ``watch_live``."""
    state = page.evaluate("() => ({...window.__ap_live, now: performance.now()})")
    return int(state["changes"]), (state["now"] - state["since"]) / 1000


def venue_rows(page: Page) -> dict[str, list[str]]:
    """The venue table as the page shows it: venue -> its cells."""
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{VENUES} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    )
    return {cells[0]: cells[1:] for cells in rows}


def story_pixels(png: bytes) -> int:
    """Pixels of the story's colour (its marker, its price line and label) in a screenshot."""
    target = [int(STORY_COLOR[i : i + 2], 16) for i in (1, 3, 5)]
    image = rgb(png)
    # (count, (r, g, b)) of every colour: an RGB image's colours are tuples
    colors = [(n, cast(RGB, c)) for n, c in image.getcolors(image.width * image.height) or []]
    return sum(
        n
        for n, color in colors
        if all(abs(a - b) <= TOLERANCE for a, b in zip(color, target, strict=True))
    )


def code_on_page(page: Page) -> int:
    return page.locator(CODE).count()
