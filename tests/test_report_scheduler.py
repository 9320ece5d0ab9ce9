"""The report scheduler on an injected clock: real notebooks in a real kernel, a real app
database (SQLite here; PostgreSQL in test_report_scheduler_pg), no sleeping for minutes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alphapulse.appdb import AppDB
from alphapulse.reports.scheduler import Scheduler, decide, latest_tick
from tests.report_notebooks import write_reports

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # schedules are created at this moment
SEVEN = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


class FakeClock:
    """Time that moves when the test says; ``sleep`` waits for the test to move it."""

    def __init__(self, now: datetime) -> None:
        self.current = now
        self.asked: list[float] = []
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self._moved.clear()
        await self._moved.wait()

    def move_to(self, when: datetime) -> None:
        self.current = when
        self._moved.set()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = write_reports(tmp_path / "reports")
    monkeypatch.setenv("ALPHAPULSE_REPORTS", str(directory))
    monkeypatch.delenv("ALPHAPULSE_APP_DSN", raising=False)
    return directory


@pytest.fixture
def db(tmp_path: Path, reports: Path) -> Iterator[AppDB]:
    appdb = AppDB.open(data_dir=tmp_path)
    yield appdb
    appdb.close()


def scheduler(db: AppDB, tmp_path: Path, now: datetime, **kwargs: object) -> Scheduler:
    return Scheduler(db, data_dir=tmp_path, lake=None, clock=FakeClock(now), **kwargs)  # type: ignore[arg-type]


def kernels() -> set[int]:
    """The ipykernel processes running now (a stopped report must leave none)."""
    out = subprocess.run(["pgrep", "-f", "ipykernel_launcher"], capture_output=True, text=True)
    return {int(pid) for pid in out.stdout.split()}


def test_latest_tick_and_decide_follow_the_rules(db: AppDB) -> None:
    s = db.add_schedule("tiny", "0 7 * * *", {}, created_at=T0)
    assert latest_tick("0 7 * * *", "UTC", SEVEN) == SEVEN  # a tick at `now` is due now
    assert latest_tick("0 7 * * *", "Europe/Helsinki", SEVEN) == SEVEN - timedelta(hours=2)
    assert decide(s, SEVEN - timedelta(hours=23)).kind == "missed_skip"  # type: ignore[union-attr]
    assert decide(s, SEVEN + timedelta(seconds=59)).kind == "on_time"  # type: ignore[union-attr]
    assert decide(s, T0 + timedelta(minutes=59)) is None  # before its first tick
    fired = db.mark_fired(s.id, SEVEN)
    assert fired
    assert decide(db.schedule(s.id), SEVEN + timedelta(hours=1)) is None  # type: ignore[arg-type]


async def test_a_due_run_fires_once_and_is_archived(db: AppDB, tmp_path: Path) -> None:
    s = db.add_schedule("tiny", "0 7 * * *", {"x": 4}, created_at=T0)
    db.mark_fired(s.id, SEVEN - timedelta(days=1))  # it ran yesterday
    sched = scheduler(db, tmp_path, SEVEN + timedelta(seconds=5))
    started = await sched.tick()
    assert len(started) == 1
    assert await sched.tick() == []  # the same tick, seen again: nothing
    await sched.wait_idle()
    run = db.run(started[0])
    assert run is not None
    assert (run.status, run.scheduled_for, run.schedule_id) == ("succeeded", SEVEN, s.id)
    assert run.params == {"x": 4}
    assert run.archive is not None and run.seconds is not None and run.papermill_seconds
    html = (Path(run.archive) / "tiny.html").read_text()
    assert "x squared is 16" in html
    assert "print(" not in html  # no code in the rendering
    assert Path(run.archive, "tiny.ipynb").is_file() and Path(run.archive, "run.json").is_file()
    assert Path(run.archive).parent == tmp_path / "reports" / "tiny"


async def test_missed_ticks_run_once_after_a_restart(db: AppDB, tmp_path: Path) -> None:
    s = db.add_schedule("tiny", "0 7 * * *", {}, created_at=T0, missed="run_once")
    # Stopped since before its first tick (12-01 07:00); back on 12-03 at 10:00: three missed.
    sched = scheduler(db, tmp_path, SEVEN + timedelta(hours=3))
    started = await sched.tick()
    assert len(started) == 1  # once, not three times
    assert await sched.tick() == []
    await sched.wait_idle()
    run = db.run(started[0])
    assert run is not None and run.status == "succeeded"
    assert run.scheduled_for == SEVEN  # the newest missed tick
    assert db.schedule(s.id).last_fired_for == SEVEN  # type: ignore[union-attr]


async def test_missed_ticks_are_skipped_and_the_skip_is_recorded(db: AppDB, tmp_path: Path) -> None:
    s = db.add_schedule("tiny", "0 7 * * *", {}, created_at=T0, missed="skip")
    sched = scheduler(db, tmp_path, SEVEN + timedelta(hours=3))
    assert await sched.tick() == []
    runs = db.runs(report="tiny")
    assert [(r.status, r.scheduled_for) for r in runs] == [("skipped", SEVEN)]
    assert "missed" in (runs[0].error or "")
    # the next tick, on time, runs
    sched.clock.move_to(SEVEN + timedelta(days=1, seconds=2))  # type: ignore[attr-defined]
    started = await sched.tick()
    await sched.wait_idle()
    assert [db.run(r).status for r in started] == ["succeeded"]  # type: ignore[union-attr]
    assert db.schedule(s.id).last_fired_for == SEVEN + timedelta(days=1)  # type: ignore[union-attr]


async def test_a_hanging_report_is_stopped_at_its_timeout(db: AppDB, tmp_path: Path) -> None:
    before = kernels()
    db.add_schedule("hangs", "0 7 * * *", {}, created_at=T0, timeout=4.0, missed="run_once")
    sched = scheduler(db, tmp_path, SEVEN)
    started = time.monotonic()
    (run_id,) = await sched.tick()
    await sched.wait_idle()
    elapsed = time.monotonic() - started
    run = db.run(run_id)
    assert run is not None and run.status == "timed_out", run
    assert "timeout of 4 s" in (run.error or "")
    assert elapsed < 4.0 + 10.0  # stopped, not left to run
    # the partial notebook is kept, up to the cell that hung
    partial = Path(run.archive, "hangs.ipynb").read_text()  # type: ignore[arg-type]
    assert "before the hang" in partial
    deadline = time.monotonic() + 5
    while kernels() - before and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert not kernels() - before, "the hanging report's kernel was left running"


async def test_a_failing_report_is_recorded_with_its_error(db: AppDB, tmp_path: Path) -> None:
    db.add_schedule("tiny", "0 7 * * *", {"x": -3}, created_at=T0, missed="run_once")
    sched = scheduler(db, tmp_path, SEVEN)
    (run_id,) = await sched.tick()
    await sched.wait_idle()
    run = db.run(run_id)
    assert run is not None and run.status == "failed"
    assert run.error is not None and run.error.startswith("ValueError: x is negative: -3")
    assert run.traceback is not None and "raise ValueError" in run.traceback
    assert "\x1b[" not in run.traceback  # no terminal colours in what is kept
    html = Path(run.archive, "tiny.html").read_text()  # type: ignore[arg-type]
    assert "x is negative" in html  # the partial notebook, rendered, shows where it failed


async def test_runs_never_exceed_the_concurrency_limit(db: AppDB, tmp_path: Path) -> None:
    for _ in range(3):
        db.add_schedule("sleepy", "0 7 * * *", {"seconds": 2.0}, created_at=T0, missed="run_once")
    sched = scheduler(db, tmp_path, SEVEN, max_concurrent=2)
    started = await sched.tick()
    assert len(started) == 3
    await asyncio.sleep(1.0)
    assert [db.run(r).status for r in started].count("queued") >= 1  # type: ignore[union-attr]
    await sched.wait_idle()
    runs = [db.run(r) for r in started]
    assert all(r is not None and r.status == "succeeded" for r in runs)
    assert sched.peak_running == 2
    # from the database's own times: never three at once
    spans = [(r.started_at, r.finished_at) for r in runs if r is not None]
    for moment, _ in spans:
        overlapping = sum(1 for s, f in spans if s <= moment < f)  # type: ignore[operator,misc]
        assert overlapping <= 2


async def test_a_cancel_request_stops_a_running_report(db: AppDB, tmp_path: Path) -> None:
    db.add_schedule("hangs", "0 7 * * *", {}, created_at=T0, missed="run_once")
    sched = scheduler(db, tmp_path, SEVEN)
    (run_id,) = await sched.tick()
    while db.run(run_id).status != "running":  # type: ignore[union-attr]
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)
    db.request_cancel(run_id)  # what `alphapulse report cancel RUN` does, from anywhere
    await asyncio.wait_for(sched.wait_idle(), 15)
    run = db.run(run_id)
    assert run is not None and (run.status, run.error) == ("cancelled", "cancelled")


async def test_stopping_the_scheduler_stops_its_runs(db: AppDB, tmp_path: Path) -> None:
    before = kernels()
    db.add_schedule("hangs", "0 7 * * *", {}, created_at=T0, missed="run_once")
    db.add_schedule("hangs", "0 7 * * *", {}, created_at=T0, missed="run_once")
    sched = scheduler(db, tmp_path, SEVEN, max_concurrent=1)
    running, queued = await sched.tick()
    while db.run(running).status != "running":  # type: ignore[union-attr]
        await asyncio.sleep(0.1)
    await asyncio.wait_for(sched.stop(), 15)
    assert db.run(running).status == "cancelled"  # type: ignore[union-attr]
    assert "scheduler" in (db.run(running).error or "")  # type: ignore[union-attr]
    assert db.run(queued).status == "cancelled"  # type: ignore[union-attr]
    await asyncio.sleep(1.5)
    assert not kernels() - before


async def test_runs_of_a_dead_process_are_marked_failed_on_start(db: AppDB, tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    orphan = db.create_run("tiny", {})
    db.update_run(orphan.id, status="running", pid=gone.pid)
    alive = db.create_run("tiny", {})
    db.update_run(alive.id, status="running", pid=os.getpid())
    sched = scheduler(db, tmp_path, SEVEN)
    assert sched.recover_orphans() == [orphan.id]
    assert db.run(orphan.id).status == "failed"  # type: ignore[union-attr]
    assert "interrupted" in (db.run(orphan.id).error or "")  # type: ignore[union-attr]
    assert db.run(alive.id).status == "running"  # type: ignore[union-attr]


async def test_the_loop_sleeps_until_the_next_tick(db: AppDB, tmp_path: Path) -> None:
    s = db.add_schedule("tiny", "0 7 * * *", {}, created_at=T0)
    db.mark_fired(s.id, SEVEN - timedelta(days=1))
    clock = FakeClock(SEVEN - timedelta(seconds=30))
    sched = Scheduler(db, data_dir=tmp_path, lake=None, clock=clock)
    loop = asyncio.create_task(sched.run())
    while not clock.asked:
        await asyncio.sleep(0.05)
    assert clock.asked[0] == pytest.approx(30.01, abs=0.001)  # not a poll: the tick itself
    assert db.runs() == []
    clock.move_to(SEVEN + timedelta(seconds=0.02))
    while len(clock.asked) < 2:
        await asyncio.sleep(0.05)
    await sched.wait_idle()
    (run,) = db.runs()
    assert (run.status, run.scheduled_for) == ("succeeded", SEVEN)
    assert clock.asked[1] == pytest.approx(30.01)  # nothing due for a day: the poll interval
    await sched.stop()
    clock.move_to(SEVEN + timedelta(minutes=1))
    await asyncio.wait_for(loop, 5)


async def test_two_schedulers_on_one_database_fire_a_tick_once(db: AppDB, tmp_path: Path) -> None:
    db.add_schedule("tiny", "0 7 * * *", {}, created_at=T0, missed="run_once")
    other = AppDB.open(data_dir=tmp_path)  # a second process's connection, in effect
    try:
        a = scheduler(db, tmp_path, SEVEN)
        b = scheduler(other, tmp_path, SEVEN)
        fired = await asyncio.gather(a.tick(), b.tick())
        await a.wait_idle()
        await b.wait_idle()
    finally:
        other.close()
    assert sorted(len(f) for f in fired) == [0, 1]
    assert len(db.runs()) == 1


async def test_two_schedulers_on_postgresql_fire_a_tick_once(
    postgres_database: str, tmp_path: Path, reports: Path
) -> None:
    """The server's scheduler and a standalone one on one PostgreSQL app database."""
    first = AppDB.open(postgres_database, data_dir=tmp_path)
    second = AppDB.open(postgres_database, data_dir=tmp_path)
    try:
        first.add_schedule("tiny", "0 7 * * *", {"x": 3}, created_at=T0, missed="run_once")
        a = scheduler(first, tmp_path, SEVEN)
        b = scheduler(second, tmp_path, SEVEN)
        fired = await asyncio.gather(a.tick(), b.tick())
        await a.wait_idle()
        await b.wait_idle()
        assert sorted(len(f) for f in fired) == [0, 1]
        (run,) = first.runs()
        assert (run.status, run.scheduled_for) == ("succeeded", SEVEN)
        assert "x squared is 9" in Path(run.archive, "tiny.html").read_text()  # type: ignore[arg-type]
    finally:
        first.close()
        second.close()


async def test_relative_days_resolve_against_the_tick(db: AppDB, tmp_path: Path) -> None:
    """A daily report at 07:00 with date=@yesterday reports the day before its tick, even
    when it runs late (a missed tick run on start)."""
    db.add_schedule("dated", "0 7 * * *", {"date": "@yesterday"}, created_at=T0, missed="run_once")
    sched = scheduler(db, tmp_path, SEVEN + timedelta(hours=20))  # 12-04 03:00: late
    (run_id,) = await sched.tick()
    await sched.wait_idle()
    run = db.run(run_id)
    assert run is not None and run.status == "succeeded"
    assert run.params == {"date": "@yesterday"}  # the schedule's words are kept
    assert "report for 2026-12-02" in Path(run.archive, "dated.html").read_text()  # type: ignore[arg-type]
