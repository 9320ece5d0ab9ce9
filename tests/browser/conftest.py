"""Fixtures of the browser tests: one ``jupyter lab`` (with the AlphaPulse extension and its
collector child) and one chromium for the whole module, a fresh page per test.

The server's root holds ``live_chart.ipynb`` (``write_live_notebook``): a title and a live
``CandlestickChart`` of ``kraken:BTC/USD`` 1 s bars. Not notebooks/04_live_charts.ipynb:
that one first charts bars from the lake and needs a minute of collection in it, where this
one starts on the empty lake the server's collector has just begun to fill (the live chart's
history is what the lake has, its updates what the collector streams).

A module that needs more of the server's environment overrides ``lab_env`` (the Reports
tests point ``$ALPHAPULSE_REPORTS`` at tiny report notebooks).

Screenshots and the server's log (one per test module) go to tests/output/browser/
(gitignored), so that a person can look at what the tests saw; a test that fails in a page
leaves FAILED-<test>.png there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, sync_playwright

from alphapulse.widgets.live_chart import BUNDLE
from tests.browser.chromium import CHROMIUM, VIEWPORT, Console, launch, save_failure
from tests.browser.lab_server import LIVE_NOTEBOOK, LabServer, start_lab, write_live_notebook

OUTPUT = Path(__file__).resolve().parents[1] / "output" / "browser"


def require_chromium_and_bundle() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; no browser download)")
    if not BUNDLE.is_file():
        pytest.skip(f"the charts' bundle {BUNDLE} is not built (make widgets)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    # Keeps each phase's report on the test, so that the page fixture knows it failed.
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")
def output() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="module")
def lab_env() -> dict[str, str]:
    """More environment for the module's ``jupyter lab`` (a module overrides this fixture,
    e.g. with ``$ALPHAPULSE_REPORTS``); none by default."""
    return {}


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
    output: Path,
    lab_env: dict[str, str],
    request: pytest.FixtureRequest,
) -> Iterator[LabServer]:
    require_chromium_and_bundle()
    workdir = tmp_path_factory.mktemp("lab")
    write_live_notebook(workdir / "root" / LIVE_NOTEBOOK)
    # A log per test module: a later module's server does not overwrite an earlier one's.
    log = output / f"jupyter-lab-{request.module.__name__.rsplit('.', 1)[-1]}.log"
    server = start_lab(workdir, log=log, env=lab_env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_chromium_and_bundle()
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def console(lab: LabServer) -> Console:
    return Console(lab.url)


@pytest.fixture
def page(
    browser: Browser, console: Console, output: Path, request: pytest.FixtureRequest
) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    console.watch(page)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        save_failure(page, output / f"FAILED-{request.node.name}.png")
    # A route handler still running when its context closes (a test that rewrites the
    # server's answers) would raise into the teardown: routes end first.
    with contextlib.suppress(Error):
        page.unroute_all(behavior="ignoreErrors")
    context.close()
