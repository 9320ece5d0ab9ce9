"""The report routes against a real Jupyter server with the AlphaPulse extension: its
scheduler runs real (tiny) report notebooks; the app database is SQLite in the data dir."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.report_notebooks import write_reports

Fetch = Callable[..., Awaitable[Any]]


@pytest.fixture
def jp_server_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("ALPHAPULSE_REPORTS", str(write_reports(tmp_path / "reports")))
    monkeypatch.delenv("ALPHAPULSE_APP_DSN", raising=False)
    return {
        "ServerApp": {"jpserver_extensions": {"alphapulse.server": True}},
        "AlphaPulse": {
            "lake": str(tmp_path / "lake"),
            "data_dir": str(tmp_path / "data"),
            "autostart": False,  # reports need no collector
        },
    }


@pytest.fixture(autouse=True)
def started(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Any:
    """The extension started (pytest-jupyter does not run the start hook): its scheduler."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    return jp_serverapp


async def _json(fetch: Fetch, path: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    response = await fetch(path, method=method, body=data)
    return json.loads(response.body) if response.body else None


async def _error(fetch: Fetch, path: str, method: str, body: Any = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    with pytest.raises(HTTPClientError) as caught:
        await fetch(path, method=method, body=data)
    response = caught.value.response
    assert response is not None
    return caught.value.code, json.loads(response.body)["message"]


async def _opened(jp_fetch: Fetch) -> dict[str, Any]:
    """The overview once the server has opened its app database (at start, in a thread)."""
    for _ in range(100):
        try:
            return dict(await _json(jp_fetch, "alphapulse/api/reports"))
        except HTTPClientError as e:
            if e.code != 503:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("the app database never opened")


async def _finished(jp_fetch: Fetch, run_id: str, timeout: float = 60) -> dict[str, Any]:
    for _ in range(int(timeout * 5)):
        run = await _json(jp_fetch, f"alphapulse/api/reports/runs/{run_id}")
        if run["status"] not in ("queued", "running"):
            return dict(run)
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


async def test_reports_are_listed_with_their_parameters(jp_fetch: Fetch) -> None:
    overview = await _opened(jp_fetch)
    reports = {r["name"]: r for r in overview["reports"]}
    assert reports["tiny"]["parameters"] == {"x": 1, "lake": None}
    assert reports["tiny"]["title"] == "The tiny report"
    assert overview["schedules"] == []
    assert overview["scheduler"]["running"] is True


async def test_run_now_executes_and_serves_its_html(jp_fetch: Fetch, tmp_path: Path) -> None:
    await _opened(jp_fetch)
    run = await _json(
        jp_fetch, "alphapulse/api/reports/runs", "POST", {"report": "tiny", "params": {"x": 7}}
    )
    assert run["status"] == "queued" and run["params"] == {"x": 7}
    done = await _finished(jp_fetch, run["id"])
    assert done["status"] == "succeeded", done
    assert done["has_html"] is True and "archive" not in done and "pid" not in done
    response = await jp_fetch(f"alphapulse/api/reports/runs/{run['id']}/html")
    assert "x squared is 49" in response.body.decode()
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Content-Security-Policy"].startswith("sandbox")
    response = await jp_fetch("alphapulse/api/reports/runs", params={"report": "tiny"})
    assert [r["id"] for r in json.loads(response.body)["runs"]] == [run["id"]]
    # archived under the data directory the server was given
    assert (tmp_path / "data" / "reports" / "tiny" / run["id"] / "tiny.html").is_file()


async def test_a_failing_run_keeps_its_traceback(jp_fetch: Fetch) -> None:
    await _opened(jp_fetch)
    body = {"report": "tiny", "params": {"x": -2}}
    run = await _json(jp_fetch, "alphapulse/api/reports/runs", "POST", body)
    done = await _finished(jp_fetch, run["id"])
    assert done["status"] == "failed"
    assert done["error"].startswith("ValueError: x is negative")
    assert "raise ValueError" in done["traceback"]


async def test_a_running_report_is_cancelled(jp_fetch: Fetch) -> None:
    await _opened(jp_fetch)
    run = await _json(jp_fetch, "alphapulse/api/reports/runs", "POST", {"report": "hangs"})
    for _ in range(100):
        if (await _json(jp_fetch, f"alphapulse/api/reports/runs/{run['id']}"))["status"] == (
            "running"
        ):
            break
        await asyncio.sleep(0.1)
    await _json(jp_fetch, f"alphapulse/api/reports/runs/{run['id']}/cancel", "POST", {})
    done = await _finished(jp_fetch, run["id"], timeout=20)
    assert done["status"] == "cancelled"
    code, message = await _error(
        jp_fetch, f"alphapulse/api/reports/runs/{run['id']}/cancel", "POST", {}
    )
    assert (code, message) == (400, f"run {run['id']} has already ended (cancelled)")


async def test_schedules_are_added_listed_disabled_and_deleted(jp_fetch: Fetch) -> None:
    await _opened(jp_fetch)
    body = {"report": "tiny", "cron": "0 7 * * *", "params": {"x": 2}, "missed": "run_once"}
    schedule = await _json(jp_fetch, "alphapulse/api/reports/schedules", "POST", body)
    assert (schedule["report"], schedule["cron"], schedule["missed"]) == (
        "tiny",
        "0 7 * * *",
        "run_once",
    )
    assert len(schedule["next_runs"]) == 3 and schedule["next_runs"][0].endswith("07:00:00+00:00")
    overview = await _json(jp_fetch, "alphapulse/api/reports")
    assert [s["id"] for s in overview["schedules"]] == [schedule["id"]]
    path = f"alphapulse/api/reports/schedules/{schedule['id']}"
    assert (await _json(jp_fetch, path, "PATCH", {"enabled": False}))["enabled"] is False
    response = await jp_fetch(path, method="DELETE")
    assert response.code == 204
    assert (await _json(jp_fetch, "alphapulse/api/reports"))["schedules"] == []
    assert (await _error(jp_fetch, path, "DELETE"))[0] == 404


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "alphapulse/api/reports/schedules",
            {"report": "tiny", "cron": "every day"},
            "not a cron expression: 'every day'",
        ),
        (
            "alphapulse/api/reports/schedules",
            {"report": "tiny", "cron": "0 7 * * *", "timezone": "Mars/Olympus"},
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            "alphapulse/api/reports/schedules",
            {"report": "nope", "cron": "0 7 * * *"},
            "no report named 'nope'",
        ),
        ("alphapulse/api/reports/runs", {"report": "tiny", "params": {"y": 1}}, "no parameter 'y'"),
        ("alphapulse/api/reports/runs", {"report": "tiny", "params": [1]}, "params must be"),
        ("alphapulse/api/reports/runs", {"report": "tiny", "timeout": -1}, "timeout must be"),
        ("alphapulse/api/reports/runs", {"report": 3}, "report must be a non-empty string"),
    ],
)
async def test_bad_requests_are_400_with_the_reason(
    jp_fetch: Fetch, path: str, body: dict[str, Any], message: str
) -> None:
    await _opened(jp_fetch)
    code, text = await _error(jp_fetch, path, "POST", body)
    assert code == 400 and message in text, text


async def test_unknown_runs_are_404(jp_fetch: Fetch) -> None:
    await _opened(jp_fetch)
    for path in ("runs/20261201T070000Z-000000", "runs/20261201T070000Z-000000/html"):
        assert (await _error(jp_fetch, f"alphapulse/api/reports/{path}", "GET"))[0] == 404
    body = b"not json"
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("alphapulse/api/reports/runs", method="POST", body=body)
    assert caught.value.code == 400
