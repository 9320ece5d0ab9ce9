"""``alphapulse report ...`` and ``alphapulse scheduler`` as a user runs them: real
processes, real notebooks, the app database in the data directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alphapulse.appdb import AppDB
from alphapulse.reports.cli import typed_value
from tests.report_notebooks import write_reports


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALPHAPULSE_")}
    environ["ALPHAPULSE_REPORTS"] = str(write_reports(tmp_path / "reports"))
    environ["ALPHAPULSE_DATA"] = str(tmp_path / "data")
    environ["ALPHAPULSE_LAKE"] = str(tmp_path / "lake")
    return environ


def alphapulse(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alphapulse", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_parameters_are_read_as_papermill_reads_them() -> None:
    assert typed_value("3") == 3 and typed_value("2.5") == 2.5
    assert typed_value("true") is True and typed_value("None") is None
    assert typed_value("2026-12-01") == "2026-12-01"  # a date is not a number
    assert typed_value("nan") == "nan"  # not a JSON number: kept as text


def test_run_archives_the_report_and_lists_it(env: dict[str, str], tmp_path: Path) -> None:
    done = alphapulse(env, "report", "run", "tiny", "-p", "x", "6", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "succeeded" and run["params"]["x"] == 6
    archive = Path(run["archive"])
    assert archive == tmp_path / "data" / "reports" / "tiny" / run["id"]
    assert "x squared is 36" in (archive / "tiny.html").read_text()
    record = json.loads((archive / "run.json").read_text())
    assert record["status"] == "succeeded" and record["papermill_seconds"] > 0
    assert record["params"] == {"x": 6, "lake": str(tmp_path / "lake")}  # the lake, injected
    runs = alphapulse(env, "report", "runs", "tiny")
    assert run["id"] in runs.stdout and "succeeded" in runs.stdout


def test_a_failing_run_exits_1_with_its_error(env: dict[str, str]) -> None:
    done = alphapulse(env, "report", "run", "tiny", "-p", "x", "-1")
    assert done.returncode == 1
    assert "failed" in done.stdout
    assert "error: ValueError: x is negative: -1" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "run", "nope"], "no report named 'nope' (reports: "),
        (["report", "run", "tiny", "-p", "y", "1"], "report 'tiny' has no parameter 'y'"),
        (["report", "run", "../x"], "a report's name is letters"),
        (["report", "schedule", "tiny", "--cron", "61 * * * *"], "not a cron expression"),
        (
            ["report", "schedule", "tiny", "--cron", "@daily", "--timezone", "Nowhere"],
            "unknown time zone 'Nowhere'",
        ),
        (["report", "cancel", "42"], "no schedule 42"),
        (["report", "run", "dated", "-p", "date", "@tomorrow"], "is not @today, @yesterday"),
        (["report", "cancel", "20261201T000000Z-abcdef"], "no run '20261201T000000Z-abcdef'"),
    ],
)
def test_bad_requests_are_one_line_and_exit_2(
    env: dict[str, str], args: list[str], message: str
) -> None:
    done = alphapulse(env, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_app_database_is_one_line_exit_1(env: dict[str, str]) -> None:
    env["ALPHAPULSE_APP_DSN"] = "postgresql://u:secret@127.0.0.1:1/nowhere"
    done = alphapulse(env, "report", "list")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "secret" not in done.stderr, done.stderr


def test_schedule_list_and_cancel(env: dict[str, str]) -> None:
    done = alphapulse(
        env, "report", "schedule", "tiny", "--cron", "30 6 * * 1-5", "-p", "x", "2",
        "--timezone", "America/New_York", "--missed", "run_once",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("schedule 1: tiny at '30 6 * * 1-5' (America/New_York)")
    listed = json.loads(alphapulse(env, "report", "list", "--json").stdout)
    assert {"hangs", "sleepy", "tiny"} <= {r["name"] for r in listed["reports"]}
    (schedule,) = listed["schedules"]
    assert (schedule["params"], schedule["missed"]) == ({"x": 2}, "run_once")
    assert alphapulse(env, "report", "cancel", "1").returncode == 0
    assert json.loads(alphapulse(env, "report", "list", "--json").stdout)["schedules"] == []


def _schedule_missed_run(env: dict[str, str], report: str = "tiny") -> None:
    """A schedule created two days ago whose missed ticks run once: due the moment a
    scheduler starts."""
    db = AppDB.open(data_dir=Path(env["ALPHAPULSE_DATA"]))
    try:
        created = datetime.now(UTC) - timedelta(days=2)
        db.add_schedule(report, "0 * * * *", {}, missed="run_once", created_at=created)
    finally:
        db.close()


def _runs(env: dict[str, str]) -> list[dict[str, object]]:
    done = alphapulse(env, "report", "runs", "--json")
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, object]] = json.loads(done.stdout)
    return runs


def test_the_scheduler_command_runs_due_reports_and_stops_on_sigterm(
    env: dict[str, str],
) -> None:
    _schedule_missed_run(env)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "alphapulse", "scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not [r for r in _runs(env) if r["status"] == "succeeded"]:
            assert time.monotonic() < deadline, "the due report never ran"
            assert scheduler.poll() is None, scheduler.communicate()
            time.sleep(0.5)
        scheduler.send_signal(signal.SIGTERM)
        out, err = scheduler.communicate(timeout=15)
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    assert scheduler.returncode == 0, err
    assert "scheduler:" in out
    (run,) = _runs(env)
    assert run["schedule_id"] == 1


def test_a_standalone_collect_runs_the_schedules(env: dict[str, str]) -> None:
    _schedule_missed_run(env)
    done = alphapulse(
        env,
        "collect",
        "--simulated",
        "--venue",
        "kraken",
        "--symbols",
        "BTC/USD",
        "--duration",
        "15",
    )
    assert done.returncode == 0, done.stderr
    assert [r["status"] for r in _runs(env)] == ["succeeded"]
