"""The report scheduler: cron schedules from the app database fire report runs.

It runs as an asyncio task in the Jupyter server extension, in a standalone ``alphapulse
collect`` and in ``alphapulse scheduler``. Several may share one database: a tick is taken
with a compare-and-set on the schedule's row (``AppDB.mark_fired``), so a tick fires once
whichever scheduler sees it first.

The rules:

- A schedule's ticks come from its cron expression (croniter) in its time zone.
- A tick is **on time** while the clock is within ``grace`` seconds after it; a tick is fired
  once, with ``scheduled_for`` set to it.
- Ticks that passed while no scheduler ran are **missed**. Each schedule says what to do:
  ``run_once`` fires one run for the newest missed tick as soon as a scheduler sees it;
  ``skip`` fires none and records one ``skipped`` run for them, so that the gap shows in
  ``report runs``. Older missed ticks are never run one by one.
- At most ``max_concurrent`` runs at once (the rest wait, queued); each run is stopped at
  its schedule's timeout.
- Runs left ``running`` by a process that died are marked failed when a scheduler starts.

Time comes from a ``Clock``, so the tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from alphapulse.reports.catalog import ReportError
from alphapulse.reports.jobs import execute_run

if TYPE_CHECKING:
    from alphapulse.appdb import AppDB, RunRecord, ScheduleRecord

log = logging.getLogger("alphapulse.reports")

#: How late a tick may be seen and still be on time (not missed).
GRACE_SECONDS = 60.0
#: The longest the scheduler sleeps: schedules added by another process are seen this soon.
POLL_SECONDS = 30.0
MAX_CONCURRENT = 2


class Clock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def check_cron(cron: str) -> str:
    """A five-field cron expression (or an alias like ``@daily``), or ReportError."""
    text = " ".join(str(cron).split())
    fields = text.split(" ")
    if not (text.startswith("@") or len(fields) == 5) or not croniter.is_valid(text):
        raise ReportError(
            f"not a cron expression: {cron!r} (five fields: minute hour day month weekday, "
            'e.g. "0 7 * * *")'
        )
    return text


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(
            f"unknown time zone {name!r} (an IANA name, e.g. Europe/London)"
        ) from None
    return name


def next_ticks(cron: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The ``count`` ticks of ``cron`` after ``after``, in UTC."""
    it = croniter(cron, after.astimezone(ZoneInfo(timezone)))
    return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]


def latest_tick(cron: str, timezone: str, now: datetime) -> datetime:
    """The newest tick at or before ``now``, in UTC."""
    base = (now + timedelta(microseconds=1)).astimezone(ZoneInfo(timezone))
    tick: datetime = croniter(cron, base).get_prev(datetime)
    return tick.astimezone(UTC)


@dataclass(frozen=True)
class Firing:
    """What the scheduler decided for one schedule at one moment."""

    schedule: ScheduleRecord
    tick: datetime
    #: "on_time", "missed_run" (run_once: the newest missed tick runs now) or "missed_skip".
    kind: str


def decide(schedule: ScheduleRecord, now: datetime, grace: float = GRACE_SECONDS) -> Firing | None:
    """Whether ``schedule`` has a tick to take at ``now`` (see the module's rules)."""
    tick = latest_tick(schedule.cron, schedule.timezone, now)
    since = schedule.last_fired_for or schedule.created_at
    if tick <= since:
        return None
    if (now - tick).total_seconds() <= grace:
        return Firing(schedule, tick, "on_time")
    return Firing(schedule, tick, "missed_run" if schedule.missed == "run_once" else "missed_skip")


class Scheduler:
    """Fires the app database's schedules (see the module's doc)."""

    def __init__(
        self,
        db: AppDB,
        *,
        data_dir: Path,
        lake: Path | None,
        clock: Clock | None = None,
        max_concurrent: int = MAX_CONCURRENT,
        grace: float = GRACE_SECONDS,
        poll: float = POLL_SECONDS,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be 1 or more")
        self.db = db
        self.data_dir = data_dir
        self.lake = lake
        self.clock = clock or SystemClock()
        self.max_concurrent = max_concurrent
        self.grace = grace
        self.poll = poll
        self.on_event = on_event
        self._slots = asyncio.Semaphore(max_concurrent)
        self._pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="alphapulse-report")
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        self._wake = asyncio.Event()
        self.running = 0  # runs executing now (not those queued for a slot)
        self.peak_running = 0

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Recover orphaned runs, then fire schedules until stopped."""
        await asyncio.to_thread(self.recover_orphans)
        while not self._stopping:
            try:
                await self.tick()
            except Exception:  # a database that went away: try again next time round
                log.exception("the report scheduler's tick failed")
            # a hair past the tick, so that the clock has surely reached it
            await self._sleep(await asyncio.to_thread(self._seconds_to_next_tick) + 0.01)

    def wake(self) -> None:
        """Look at the schedules now (one was added or changed)."""
        self._wake.set()

    async def tick(self) -> list[str]:
        """Take every due tick; the ids of the runs started (queued for a slot)."""
        now = self.clock.now()
        schedules = await asyncio.to_thread(self.db.schedules, enabled_only=True)
        started = []
        for schedule in schedules:
            firing = decide(schedule, now, self.grace)
            if firing is None:
                continue
            taken = await asyncio.to_thread(self.db.mark_fired, schedule.id, firing.tick)
            if not taken:
                continue  # another scheduler took this tick
            if firing.kind == "missed_skip":
                await asyncio.to_thread(self._record_skip, firing, now)
                continue
            record = await asyncio.to_thread(
                self.db.create_run,
                schedule.report,
                schedule.params,
                schedule_id=schedule.id,
                scheduled_for=firing.tick,
                now=now,
            )
            self._emit("report_run_queued", record, firing=firing.kind)
            self.start(record.id, schedule.timeout)
            started.append(record.id)
        return started

    def start(self, run_id: str, timeout: float | None) -> None:
        """Execute the queued run ``run_id`` when a slot is free (a run started by hand
        from the server goes through here too, under the same limit)."""
        task = asyncio.get_running_loop().create_task(self._execute(run_id, timeout))
        self._tasks[run_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run_id, None))

    async def _execute(self, run_id: str, timeout: float | None) -> None:
        async with self._slots:
            if self._stopping:
                await asyncio.to_thread(
                    self.db.update_run, run_id, status="cancelled", error="the scheduler stopped"
                )
                return
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
            try:
                loop = asyncio.get_running_loop()
                record = await loop.run_in_executor(
                    self._pool,
                    lambda: execute_run(
                        self.db,
                        run_id,
                        data_dir=self.data_dir,
                        lake=self.lake,
                        timeout=timeout,
                        stopping=lambda: self._stopping,
                    ),
                )
                self._emit("report_run_finished", record)
            except Exception:
                log.exception("report run %s could not be executed", run_id)
            finally:
                self.running -= 1

    async def wait_idle(self) -> None:
        """Until every run started so far has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def stop(self) -> None:
        """Stop firing; runs in progress are stopped (recorded as cancelled), queued ones
        are cancelled."""
        self._stopping = True
        self._wake.set()
        await self.wait_idle()
        self._pool.shutdown(wait=False)

    # -- the parts ----------------------------------------------------------------------

    def recover_orphans(self) -> list[str]:
        """Runs recorded as running by a process of this machine that is gone: failed."""
        recovered = []
        for record in self.db.runs(status=["running"], limit=1000):
            if record.pid is not None and _alive(record.pid):
                continue
            self.db.update_run(
                record.id,
                status="failed",
                error="interrupted: the process running it stopped",
                finished_at=self.clock.now(),
                pid=None,
            )
            recovered.append(record.id)
        return recovered

    def _record_skip(self, firing: Firing, now: datetime) -> None:
        schedule = firing.schedule
        record = self.db.create_run(
            schedule.report,
            schedule.params,
            schedule_id=schedule.id,
            scheduled_for=firing.tick,
            now=now,
        )
        record = self.db.update_run(
            record.id,
            status="skipped",
            finished_at=now,
            error=f"missed while no scheduler ran (schedule {schedule.id}: missed = skip)",
        )
        self._emit("report_run_skipped", record)

    def _seconds_to_next_tick(self) -> float:
        now = self.clock.now()
        try:
            schedules = self.db.schedules(enabled_only=True)
        except Exception:
            return self.poll
        soonest = self.poll
        for schedule in schedules:
            tick = next_ticks(schedule.cron, schedule.timezone, now, 1)[0]
            soonest = min(soonest, max(0.0, (tick - now).total_seconds()))
        return soonest

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this is cancelled: no sleeper left pending
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    def _emit(self, kind: str, record: RunRecord, **extra: Any) -> None:
        if self.on_event is not None:
            self.on_event(
                kind, {"run": record.id, "report": record.report, "status": record.status, **extra}
            )


@contextlib.asynccontextmanager
async def scheduler_running(
    data_dir: Path, lake: Path | None, *, max_concurrent: int = MAX_CONCURRENT
) -> AsyncIterator[Scheduler | None]:
    """A scheduler running beside something else (``alphapulse collect``) for the block's
    duration; None when the app database cannot be opened: that is logged, and what it
    runs beside goes on."""
    from alphapulse.appdb import AppDB, AppDBError

    try:
        db = await asyncio.to_thread(AppDB.open, data_dir=data_dir)
    except AppDBError as e:
        log.error("reports are not scheduled: %s", e)
        yield None
        return
    scheduler = Scheduler(db, data_dir=data_dir, lake=lake, max_concurrent=max_concurrent)
    task = asyncio.get_running_loop().create_task(scheduler.run())
    try:
        yield scheduler
    finally:
        await scheduler.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        db.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
