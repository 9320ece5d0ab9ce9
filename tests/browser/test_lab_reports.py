"""The Reports section of the Lab sidebar in a real browser, on a ``jupyter lab`` whose
AlphaPulse extension runs the report scheduler over its own app database (SQLite beside the
temporary lake) with ``$ALPHAPULSE_REPORTS`` holding tiny real notebooks
(tests/report_notebooks.py: ``tiny`` prints x squared and fails for a negative x,
``sleepy``, ``hangs``), executed by papermill in real kernels.

Run now → a run row that reaches succeeded → its HTML opened in a Lab tab (a sandboxed
iframe showing the notebook's output); parameters edited as JSON (a bad JSON is a message,
not a request; a failure shows its error); a running run cancelled; a schedule with a bad
cron refused with the server's message, a good one listed with its next run, disabled and
deleted; the app database's 503 and a server without the extension named in the panel.

Screenshots go to tests/output/browser/lab-reports-*.png.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from playwright.sync_api import Locator, Page, Request, expect

from tests.browser.chromium import Console, command, open_lab
from tests.browser.lab_server import LabServer
from tests.report_notebooks import write_reports

REPORTS = "#alphapulse-reports"
#: A papermill run starts a kernel: seconds on an idle machine, more on a loaded one.
RUN_MS = 120_000
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def lab_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # Overrides conftest's: the module's server lists these reports (and the package's).
    return {"ALPHAPULSE_REPORTS": str(write_reports(tmp_path_factory.mktemp("reports")))}


def api_call(lab: LabServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """(status, JSON or None) of an API call with the token, errors included."""
    request = urllib.request.Request(
        f"{lab.url}alphapulse/api/{path}",
        data=orjson.dumps(body) if body is not None else None,
        headers={"Authorization": f"token {lab.token}"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            data = response.read()
            return response.status, orjson.loads(data) if data else None
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read() or b"null")


def open_reports(page: Page, lab: LabServer) -> Locator:
    open_lab(page, lab)
    command(page, "alphapulse:open-reports")
    panel = page.locator(REPORTS)
    expect(panel).to_be_visible(timeout=WAIT_MS)
    return panel


def report_row(panel: Locator, name: str) -> Locator:
    return panel.locator(f".alphapulse-Reports-report[data-report='{name}']")


def run_row(panel: Locator, run_id: str) -> Locator:
    return panel.locator(f".alphapulse-Reports-run[data-run='{run_id}']")


def run_now(page: Page, row: Locator) -> str:
    """Clicks a report's Run now; the id of the run the server queued."""
    with page.expect_response(
        # Lab's requests carry a cache-busting query: the path is what names the route.
        lambda r: (
            urlsplit(r.url).path.endswith("/alphapulse/api/reports/runs")
            and r.request.method == "POST"
        )
    ) as answer:
        row.get_by_role("button", name="Run now").click()
    assert answer.value.status == 202, answer.value.text()
    run_id: str = answer.value.json()["id"]
    return run_id


def test_reports_run_now_and_open_the_html_in_a_tab(
    lab: LabServer, page: Page, console: Console, output: Path
) -> None:
    panel = open_reports(page, lab)
    for name in ("tiny", "sleepy", "hangs"):
        expect(report_row(panel, name)).to_be_visible(timeout=WAIT_MS)
    expect(report_row(panel, "tiny")).to_contain_text("The tiny report")
    expect(panel.locator(".alphapulse-Reports-scheduler")).to_contain_text("scheduler running")
    page.screenshot(path=output / "lab-reports-list.png")

    run_id = run_now(page, report_row(panel, "tiny"))
    row = run_row(panel, run_id)
    expect(row).to_be_visible(timeout=WAIT_MS)  # at once, queued or running
    expect(row).to_have_attribute("data-status", "succeeded", timeout=RUN_MS)
    chip = row.locator(".alphapulse-Reports-chip")
    expect(chip).to_have_text("succeeded")
    expect(chip).to_have_class(re.compile("alphapulse-run-succeeded"))
    seconds = api_call(lab, "GET", f"reports/runs/{run_id}")[1]["seconds"]
    assert seconds > 0
    duration = row.locator(".alphapulse-Reports-duration").inner_text()
    assert re.fullmatch(r"\d+(\.\d)? s|\d+ min \d\d s", duration), duration
    expect(row.locator(".alphapulse-Reports-meta")).to_contain_text("by hand")
    expect(row.get_by_role("button", name="Cancel")).to_be_hidden()
    toast = page.locator(".jp-toast-message, .Toastify__toast", has_text="tiny: succeeded")
    expect(toast.first).to_be_visible()
    row.scroll_into_view_if_needed()
    page.screenshot(path=output / "lab-reports-run.png")

    row.get_by_role("button", name="Open").click()
    tab = page.locator(".lm-TabBar-tab.lm-mod-current", has_text="tiny")
    expect(tab).to_be_visible(timeout=WAIT_MS)
    iframe = page.locator(".alphapulse-ReportFrame iframe").first
    # Every sandbox restriction: the report's page runs no script in Lab's origin.
    assert iframe.get_attribute("sandbox") == ""
    src = iframe.get_attribute("src") or ""
    assert src.startswith(f"{lab.url}alphapulse/api/reports/runs/{run_id}/html"), src
    report = page.frame_locator(".alphapulse-ReportFrame iframe").first
    expect(report.locator("body")).to_contain_text("x squared is 1", timeout=WAIT_MS)
    assert "print(" not in report.locator("body").inner_text(), "the HTML shows the code"
    page.screenshot(path=output / "lab-reports-html.png")
    # nbconvert's page has script tags; the sandbox blocks them, and the browser says so.
    blocked = f"Blocked script execution in '{lab.url}alphapulse/api/reports/runs/{run_id}/html"
    errors = [e for e in console.errors if not e.startswith(blocked)]
    assert errors == [], f"console errors in Lab (ignored: {console.ignored})"


def test_parameters_are_checked_then_sent_and_a_failure_shows_its_error(
    lab: LabServer, page: Page, output: Path
) -> None:
    panel = open_reports(page, lab)
    row = report_row(panel, "tiny")
    row.get_by_role("button", name="Parameters").click()
    editor = row.locator("textarea")
    expect(editor).to_have_value(re.compile(r'"x": 1'))
    posts: list[Request] = []
    page.on(
        "request",
        lambda r: posts.append(r) if r.method == "POST" and "/reports/" in r.url else None,
    )
    editor.fill("{x: 3")
    row.get_by_role("button", name="Run now").click()
    expect(row.locator(".alphapulse-Reports-message")).to_contain_text(
        "The parameters are not JSON"
    )
    page.wait_for_timeout(500)
    assert posts == [], "a bad JSON was sent"

    editor.fill('{"x": -2, "lake": null}')
    run_id = run_now(page, row)
    expect(row.locator(".alphapulse-Reports-message")).to_have_text("")
    run = run_row(panel, run_id)
    expect(run).to_have_attribute("data-status", "failed", timeout=RUN_MS)
    # Only what differs from the notebook's defaults was sent.
    assert api_call(lab, "GET", f"reports/runs/{run_id}")[1]["params"] == {"x": -2}
    expect(run.locator(".alphapulse-Reports-meta")).to_contain_text("x=-2")
    expect(run.locator(".alphapulse-Reports-runError")).to_contain_text("x is negative: -2")
    expect(run.locator(".alphapulse-Reports-chip")).to_have_class(
        re.compile("alphapulse-run-failed")
    )
    run.scroll_into_view_if_needed()
    page.screenshot(path=output / "lab-reports-failed.png")


def test_a_running_report_is_cancelled(lab: LabServer, page: Page) -> None:
    panel = open_reports(page, lab)
    run_id = run_now(page, report_row(panel, "hangs"))
    run = run_row(panel, run_id)
    expect(run).to_have_attribute("data-status", "running", timeout=RUN_MS)
    run.get_by_role("button", name="Cancel").click()
    expect(run).to_have_attribute("data-status", "cancelled", timeout=RUN_MS)
    expect(run.get_by_role("button", name="Cancel")).to_be_hidden()
    assert api_call(lab, "GET", f"reports/runs/{run_id}")[1]["status"] == "cancelled"


def test_the_commands_run_a_report_and_open_the_last_run(lab: LabServer, page: Page) -> None:
    panel = open_reports(page, lab)
    before = {r["id"] for r in api_call(lab, "GET", "reports/runs?limit=1000")[1]["runs"]}
    command(page, "alphapulse:run-report", {"report": "sleepy", "params": {"seconds": 0.2}})
    runs = api_call(lab, "GET", "reports/runs?report=sleepy")[1]["runs"]
    [run] = [r for r in runs if r["id"] not in before]
    assert run["params"] == {"seconds": 0.2}, run
    expect(run_row(panel, run["id"])).to_have_attribute("data-status", "succeeded", timeout=RUN_MS)
    command(page, "alphapulse:open-report-run")  # the newest run with HTML: this one
    expect(page.locator(".lm-TabBar-tab.lm-mod-current", has_text="sleepy")).to_be_visible(
        timeout=WAIT_MS
    )
    report = page.frame_locator(".alphapulse-ReportWidget:visible iframe").first
    expect(report.locator("body")).to_contain_text("slept 0.2", timeout=WAIT_MS)
    # The AlphaPulse menu has the Reports commands.
    page.locator(".lm-MenuBar-itemLabel", has_text="AlphaPulse").click()
    menu = page.locator(".lm-Menu")
    for label in ("Open AlphaPulse Reports", "Run a report now…", "Open the last report run"):
        expect(menu.locator(".lm-Menu-itemLabel", has_text=label)).to_be_visible()
    page.keyboard.press("Escape")


def test_schedules_bad_cron_refused_good_one_listed_disabled_and_deleted(
    lab: LabServer, page: Page, console: Console, output: Path
) -> None:
    panel = open_reports(page, lab)
    panel.get_by_role("button", name="New schedule").click()
    form = panel.locator(".alphapulse-Reports-form")
    expect(form).to_be_visible()
    form.locator("select.alphapulse-Reports-formReport").select_option("tiny")
    form.locator(".alphapulse-Reports-formCron").fill("every morning")
    form.get_by_role("button", name="Create").click()
    status, refusal = api_call(
        lab, "POST", "reports/schedules", {"report": "tiny", "cron": "every morning"}
    )
    assert status == 400 and refusal["message"], refusal
    message = form.locator(".alphapulse-Reports-message")
    expect(message).to_have_text(refusal["message"], timeout=WAIT_MS)
    page.screenshot(path=output / "lab-reports-bad-cron.png")
    assert api_call(lab, "GET", "reports")[1]["schedules"] == []

    form.locator(".alphapulse-Reports-formCron").fill("30 6 * * 1-5")
    form.locator(".alphapulse-Reports-formParams").fill('{"x": 4}')
    form.locator(".alphapulse-Reports-formZone").fill("Europe/Paris")
    form.locator(".alphapulse-Reports-formMissed").select_option("run_once")
    form.get_by_role("button", name="Create").click()
    expect(form).to_be_hidden(timeout=WAIT_MS)
    [schedule] = api_call(lab, "GET", "reports")[1]["schedules"]
    assert schedule["params"] == {"x": 4} and schedule["missed"] == "run_once", schedule
    row = panel.locator(f".alphapulse-Reports-schedule[data-schedule='{schedule['id']}']")
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row.locator(".alphapulse-Reports-cron")).to_have_text("30 6 * * 1-5")
    expect(row.locator(".alphapulse-Reports-next")).to_have_text(
        re.compile(r"^next: (Mon|Tue|Wed|Thu|Fri) \d+ \w{3} 06:30 Europe/Paris \(in .+\)$")
    )
    expect(row.locator(".alphapulse-Reports-meta")).to_contain_text("missed runs: run once")
    expect(row.locator(".alphapulse-Reports-meta")).to_contain_text("x=4")
    page.screenshot(path=output / "lab-reports-schedule.png")

    row.get_by_role("checkbox").uncheck()
    expect(row).to_have_attribute("data-enabled", "false", timeout=WAIT_MS)
    expect(row.locator(".alphapulse-Reports-next")).to_have_text("next: disabled")
    assert api_call(lab, "GET", "reports")[1]["schedules"][0]["enabled"] is False

    row.get_by_role("button", name="Delete").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Delete this schedule?")
    dialog.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0, timeout=WAIT_MS)
    expect(panel.locator(".alphapulse-message", has_text="No schedules.")).to_be_visible()
    assert api_call(lab, "GET", "reports")[1]["schedules"] == []
    # The browser logs the refused cron's 400 itself; nothing else may be an error.
    refused = [e for e in console.errors if "status of 400" in e and "reports/schedules" in e]
    assert len(refused) == 1 and console.errors == refused, console.errors


def test_an_unavailable_app_database_is_named_in_the_panel(
    lab: LabServer, page: Page, output: Path
) -> None:
    reason = "cannot use the app database at /data/alphapulse.db: database is locked"
    page.route(
        re.compile(r".*/alphapulse/api/reports(\?.*)?$"),
        lambda route: route.fulfill(
            status=503,
            content_type="application/json",
            body=orjson.dumps({"message": reason}),
        ),
    )
    panel = open_reports(page, lab)
    banner = panel.locator(".alphapulse-banner")
    expect(banner).to_have_text(f"The app database is unavailable: {reason}", timeout=WAIT_MS)
    # Nothing is known of the schedules and runs: no list says "none".
    expect(panel.locator(".alphapulse-message", has_text="No schedules.")).to_be_hidden()
    expect(panel.locator(".alphapulse-message", has_text="No runs yet.")).to_be_hidden()
    page.screenshot(path=output / "lab-reports-503.png")
    page.unroute_all(behavior="ignoreErrors")
    command(page, "alphapulse:open-reports")  # the poll backs off; the command asks now
    expect(banner).to_be_hidden(timeout=90_000)
    expect(report_row(panel, "tiny")).to_be_visible()


def test_a_server_without_the_extension_is_named_in_the_reports(lab: LabServer, page: Page) -> None:
    page.route(
        re.compile(r".*/alphapulse/api/.*"),
        lambda route: route.fulfill(status=404, body="404: Not Found"),
    )
    panel = open_reports(page, lab)
    banner = panel.locator(".alphapulse-banner")
    expect(banner).to_contain_text("server extension is not running", timeout=WAIT_MS)
    expect(banner).to_contain_text("jupyter server extension enable alphapulse.server")
