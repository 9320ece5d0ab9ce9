"""`alphapulse collect` and `alphapulse status`: the collector as a standalone process.

``run_collector`` wires a config to the service: the lake writer as its sink, the embedded
simulator when asked (or when nothing is configured), a live status line, and a clean stop
after ``duration`` seconds or on SIGINT/SIGTERM that commits everything.

Its limits hold at any rate. Memory: the lake commits early by size (``ROLL_BYTES`` a
partition, ``MAX_BUFFER_BYTES`` in all), its queue is bounded in bytes, the engines hold at
most ``MAX_PENDING_EVENTS`` before the sources stop reading, and the embedded simulator
keeps only a short ground truth. Time: a stop pauses the embedded market first, closes
the connections together and commits at most those bounded buffers, so it takes seconds
whatever the backlog. Storage: when the lake's disk or the capture's refuses a write, the
collector stops at once and says which path (``CollectResult.failure``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import orjson

from alphapulse.config import DEFAULT_VENUES, CollectorConfig, VenueConfig
from alphapulse.control import ControlServer, control_socket_path
from alphapulse.eventlog import next_seq
from alphapulse.journal import JOURNAL_DIR, Journal, JournalError, JournalStorageError
from alphapulse.journal.recovery import Recovery, replay_into_lake
from alphapulse.journal.sink import JournaledLake
from alphapulse.journal.watermark import watermark_metadata
from alphapulse.lake import AsyncLakeWriter, LakeStorageError, LakeWriter
from alphapulse.lake.layout import LakeError, LakeLockedError
from alphapulse.lake.schedule import CompactionSchedule
from alphapulse.service import CollectorService
from alphapulse.venues.base import Credentials

STATUS_FILE = "_status.json"
#: Alpaca's stocks (trades and news) in a collection with nothing configured.
SIMULATED_STOCKS = ("AAPL", "MSFT")


#: Steps of ground truth the embedded simulator keeps per symbol: enough for the recent
#: trades its venues serve in snapshots. Its tests hold 250k; a collector that ran for
#: minutes at a high rate held gigabytes of it (the RSS a soak saw grow).
SIMULATOR_TRUTH_STEPS = 2_000
#: Lake sizing: a partition's file is committed at ROLL_BYTES of Arrow data or ROLL_SECONDS,
#: and all buffers together never pass MAX_BUFFER_BYTES (the largest goes early). The final
#: commit of a stop writes at most that much, which keeps the stop short too.
ROLL_SECONDS = 60.0
ROLL_BYTES = 16 << 20
MAX_BUFFER_BYTES = 64 << 20
#: Batches waiting for the lake's thread, in bytes: past it, drains wait (and sources pause).
MAX_QUEUE_BYTES = 32 << 20
#: Events an engine holds before its sources stop reading (the service's backpressure).
MAX_PENDING_EVENTS = 100_000
#: How often the loop looks at signals, storage failures and the deadline (seconds); the
#: status line is printed every STATUS_SECONDS.
TICK_SECONDS = 0.25
STATUS_SECONDS = 1.0
#: How often freed heap memory is handed back to the system (see ``HeapTrimmer``).
TRIM_SECONDS = 30.0


class HeapTrimmer:
    """Keeps glibc's heap from growing with fragmentation in a long collection.

    A 30-minute soak at 12k frames/s grew 2.5 MB a minute with every Python object count
    flat: glibc's ``mallinfo2`` showed the bytes in use flat and the free bytes inside the
    heap growing. The Arrow buffers the core allocates and the lake's thread frees come in
    every size, and glibc raises its mmap threshold after the first large free, so they
    land in the heap, where a chunk still in use above them pins the freed space. A fixed
    mmap threshold (256 KiB: large buffers are mapped and unmapped whole) and a periodic
    ``malloc_trim`` (freed pages back to the system) kept the heap flat. Elsewhere (musl,
    macOS) it does nothing.
    """

    M_MMAP_THRESHOLD = -3
    MMAP_THRESHOLD = 256 << 10

    def __init__(self) -> None:
        self._libc: Any = None
        if not sys.platform.startswith("linux"):
            return
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:
            return
        if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt"):
            libc.mallopt(self.M_MMAP_THRESHOLD, self.MMAP_THRESHOLD)
            self._libc = libc

    def trim(self) -> None:
        if self._libc is not None:
            self._libc.malloc_trim(0)


@dataclass(frozen=True)
class StorageFailure:
    """Why collection stopped early: a path that could not be written, and the reason."""

    what: str  # "lake", "journal" or "capture"
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"cannot write the {self.what} at {self.path}: {self.reason}"


@dataclass
class CollectResult:
    summary: dict[str, Any] = field(default_factory=dict)
    rows_lost: int = 0
    #: Set when a disk refused a write and collection stopped before its time.
    failure: StorageFailure | None = None
    #: Capture records that could not be written (after a capture failure).
    capture_records_lost: int = 0

    @property
    def out_of_sync(self) -> dict[str, list[str]]:
        venues: dict[str, dict[str, Any]] = self.summary.get("venues", {})
        return {name: v["out_of_sync"] for name, v in venues.items() if v["out_of_sync"]}

    @property
    def ok(self) -> bool:
        """Nothing lost, no storage failure, every book in sync at the end and no venue
        problem (``service.problems()``)."""
        return (
            self.rows_lost == 0
            and self.failure is None
            and not self.out_of_sync
            and not self.summary.get("problems")
        )


def status_line(summary: dict[str, Any], previous: dict[str, Any] | None, dt: float) -> str:
    parts = []
    for name, v in summary["venues"].items():
        before = previous["venues"][name]["frames"] if previous else 0
        rate = (v["frames"] - before) / dt if dt > 0 else 0.0
        parts.append(
            f"{name} {rate:,.0f} f/s gaps {v['gaps']} resyncs {v['resyncs']} "
            f"rejects {v['rejects']}" + (" OUT OF SYNC" if v["out_of_sync"] else "")
        )
    sink = summary.get("sink", {})
    rows = sink.get("rows_written", 0) + sink.get("rows_buffered", 0)
    disk = sink.get("bytes_written", 0) / 1e6
    p99 = summary.get("wire_to_book_p99_us")
    lag = f"lag p99 <= {p99:,.0f} us | " if p99 is not None else ""
    lake = f"lake {rows:,} rows ({disk:,.1f} MB committed), queue {sink.get('queue_depth', 0)}"
    return " | ".join(parts) + f" | {lag}{lake}"


async def _start_simulators(config: CollectorConfig, seed: int, rate: float) -> list[Any]:
    from alphapulse.simulator import SimulatedExchange

    exchanges = []
    for i, (name, vc) in enumerate(config.venues.items()):
        # A market of its own per venue.
        exchange = SimulatedExchange(
            name, vc.symbols, seed=seed + i, rate=rate, truth_limit=SIMULATOR_TRUTH_STEPS
        )
        await exchange.start()
        vc.urls = {"ws": exchange.ws_url, "rest": exchange.rest_url}
        exchanges.append(exchange)
    return exchanges


def _failure(what: str, path: Path, error: BaseException) -> StorageFailure:
    if isinstance(error, LakeStorageError | JournalStorageError):
        if isinstance(error, LakeStorageError):
            path = error.path
        error = error.__cause__ or error
    if isinstance(error, OSError) and error.errno:
        return StorageFailure(what, path, os.strerror(error.errno))
    return StorageFailure(what, path, str(error))


def _write_status(path: Path, summary: dict[str, Any]) -> None:
    """The status ``alphapulse status`` reads, replaced atomically (no fsync: it is live)."""
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_bytes(orjson.dumps({"pid": os.getpid(), "ts": time.time(), **summary}))
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


async def run_collector(
    config: CollectorConfig,
    *,
    simulated: bool = False,
    duration: float | None = None,
    out: TextIO | None = None,
    seed: int = 7,
    rate: float = 200.0,
    settle_seconds: float = 2.0,
    restart_note: dict[str, Any] | None = None,
) -> CollectResult:
    """Collect until ``duration`` passes, a signal arrives or a disk refuses a write; then
    commit and report. At the end of ``duration``, ``settle_seconds`` bounds the wait for
    resyncs in flight (part of the stop's time budget of a few seconds).

    With ``config.journal`` (the default) every batch is journaled before the lake gets
    it, and a start first replays what a crash kept from the lake (``journal_replayed``).
    """
    config.lake.mkdir(parents=True, exist_ok=True)
    journal = _open_journal(config.lake / JOURNAL_DIR) if config.journal else None
    try:
        recovery = None
        if journal is not None:
            recovery = await asyncio.to_thread(
                replay_into_lake, journal, config.lake, roll_bytes=ROLL_BYTES
            )
        result = await _collect(
            config,
            journal,
            recovery,
            simulated=simulated,
            duration=duration,
            out=out,
            seed=seed,
            rate=rate,
            settle_seconds=settle_seconds,
            restart_note=restart_note,
        )
    finally:
        closing_error = _close_journal(journal)
    if closing_error is not None and result.failure is None:
        result.failure = closing_error
        result.summary["failure"] = str(closing_error)
    return result


def _open_journal(directory: Path) -> Journal:
    """The collector's journal, or a LakeError a user can act on."""
    try:
        return Journal(directory)
    except JournalStorageError as exc:
        raise LakeError(str(exc)) from exc
    except JournalError as exc:
        if "another process" in str(exc):
            raise LakeLockedError(
                f"another collector is writing the lake at {directory.parent} (it holds "
                f"the journal {directory})"
            ) from None
        raise LakeError(f"{directory}: {exc}") from exc


def _close_journal(journal: Journal | None) -> StorageFailure | None:
    if journal is None:
        return None
    try:
        journal.close()
    except (JournalStorageError, OSError) as exc:  # an fsync failed: the lake has the rows
        return _failure("journal", journal.directory, exc.__cause__ or exc)
    return None


async def _collect(
    config: CollectorConfig,
    journal: Journal | None,
    recovery: Recovery | None,
    *,
    simulated: bool,
    duration: float | None,
    out: TextIO | None,
    seed: int,
    rate: float,
    settle_seconds: float,
    restart_note: dict[str, Any] | None,
) -> CollectResult:
    defaults = not config.configured
    if simulated or defaults:
        if defaults:
            config.venues = {n: VenueConfig(list(s)) for n, s in DEFAULT_VENUES.items()}
            # Stocks and their news too, so that every surface has something to show.
            config.venues["alpaca"] = VenueConfig(list(SIMULATED_STOCKS), ("trades", "news"))
        simulators = await _start_simulators(config, seed, rate)
    else:
        simulators = []
    loop = asyncio.get_running_loop()
    service: CollectorService | None = None
    stop = asyncio.Event()

    journaled: JournaledLake | None = None

    def committed(path: Path, table: str, rows: int) -> None:
        # Called on the lake's thread: hand the event to the loop's.
        if journaled is not None:
            journaled.committed()
        if service is not None:
            append = functools.partial(
                service.events.append, "file_committed", path=str(path), table=table, rows=rows
            )
            loop.call_soon_threadsafe(append)

    def lake_failed(error: BaseException) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to stop
            loop.call_soon_threadsafe(stop.set)

    writer = LakeWriter(
        config.lake,
        roll_seconds=ROLL_SECONDS,
        roll_bytes=ROLL_BYTES,
        max_buffer_bytes=MAX_BUFFER_BYTES,
        on_commit=committed,
        lead_table="events",
        publish_tail=True,  # rows are queryable as they arrive, not 60 s later
        journal_marks=(
            None if journal is None else functools.partial(watermark_metadata, journal.journal_id)
        ),
    )
    sink = AsyncLakeWriter(writer, max_queue_bytes=MAX_QUEUE_BYTES, on_error=lake_failed)
    if journal is not None:
        journaled = JournaledLake(journal, sink, on_error=lambda _: stop.set())
    lake_side: AsyncLakeWriter | JournaledLake = sink if journaled is None else journaled
    feed = None
    if config.pg_dsn:
        from alphapulse.buffer.feed import BufferFeed, FedSink

        def buffer_event(kind: str, **detail: Any) -> None:
            if service is not None:
                service.events.append(kind, **detail)

        feed = BufferFeed(config.pg_dsn, config.lake, lake_side.flush, on_event=buffer_event)
    venues = config.build_venues()
    if simulators:
        for venue in venues:  # the simulator takes any keys; a real venue's come from the env
            if venue.name == "alpaca" and venue.credentials is None:
                venue.credentials = Credentials("simulated-key", "simulated-secret")
    service = CollectorService(
        venues,
        lake_side if feed is None else FedSink(lake_side, feed),
        capture=config.capture,
        max_pending_events=MAX_PENDING_EVENTS,
        first_event_seq=next_seq(config.lake),
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    status_path = config.lake / STATUS_FILE
    failure: StorageFailure | None = None
    heap = HeapTrimmer()
    await service.start()
    if feed is not None:
        service.metrics.watch_buffer(feed.stats)
        feed.start()
    if restart_note:
        service.events.append("collector_restarted", **restart_note)
    if recovery is not None and (recovery.records or recovery.damage.get("damaged_segments")):
        service.events.append("journal_replayed", **recovery.event())
    control_path = control_socket_path(config.lake)
    info = {"lake": str(config.lake), "simulated": bool(simulators), "control": str(control_path)}
    control = ControlServer(service, control_path, info)
    try:
        await control.start()
    except OSError as e:  # the collector runs on; only its endpoint is missing
        service.events.append("control_failed", path=str(control_path), error=str(e))
        info["control"] = None
    compaction = _compaction_schedule(config, service, loop)
    started = time.monotonic()
    trimmed = started
    previous: dict[str, Any] | None = None
    last = started - STATUS_SECONDS  # the first status at the first tick
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=TICK_SECONDS)
            if service.capture is not None and service.capture.failed is not None:
                failure = _failure("capture", service.capture.path, service.capture.failed)
            if sink.error is not None:
                failure = _failure("lake", config.lake, sink.error)
            if journaled is not None and journaled.journal_error is not None:
                failure = _failure("journal", journaled.journal.directory, journaled.journal_error)
            now = time.monotonic()
            if failure is not None or stop.is_set():
                break
            if duration is not None and now - started >= duration:
                break
            if now - trimmed >= TRIM_SECONDS:
                heap.trim()
                trimmed = now
            if now - last < STATUS_SECONDS:
                continue
            summary = {**info, **service.summary()}
            try:
                _write_status(status_path, summary)
            except OSError as e:
                failure = _failure("lake", status_path, e)
                break
            if out is not None:
                line = status_line(summary, previous, now - last)
                out.write(("\r" if out.isatty() else "") + line + ("" if out.isatty() else "\n"))
                out.flush()
            previous, last = summary, now
        if failure is None and not stop.is_set():  # a signal means now: no settling
            await _settle(service, settle_seconds)
    finally:
        if compaction is not None:  # lets a merge under way finish, off the loop
            await loop.run_in_executor(None, compaction.stop)
        await control.close()
        for exchange in simulators:
            exchange.pause()  # nothing new to collect: the stop reads only what is in flight
        await service.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        for exchange in simulators:
            await exchange.stop()
        with contextlib.suppress(OSError):
            status_path.unlink()
    if failure is None and sink.error is not None:  # the last commit failed
        failure = _failure("lake", config.lake, sink.error)
    if out is not None:
        if out.isatty():
            out.write("\n")
        if failure is not None:
            out.write(f"stopped: {failure}\n")
            out.flush()
    return _result(service, sink, failure)


def _compaction_schedule(
    config: CollectorConfig, service: CollectorService, loop: asyncio.AbstractEventLoop
) -> CompactionSchedule | None:
    """Scheduled compaction (``compact_every``), its runs as events; None when off."""
    if not config.compact_every:
        return None

    def event(kind: str, detail: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the stop is done
            loop.call_soon_threadsafe(functools.partial(service.events.append, kind, **detail))

    schedule = CompactionSchedule(
        config.lake, config.compact_every, config.compact_older_than, on_event=event
    )
    schedule.start()
    return schedule


async def _settle(service: CollectorService, seconds: float) -> None:
    """Give resyncs in flight a moment to land before the books are judged."""
    deadline = time.monotonic() + seconds
    while any(v["out_of_sync"] for v in service.summary()["venues"].values()):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.2)


def _result(
    service: CollectorService, sink: AsyncLakeWriter, failure: StorageFailure | None
) -> CollectResult:
    summary = service.summary()
    capture_lost = service.capture.records_lost if service.capture is not None else 0
    rows_lost = sink.rows_lost + service.rows_lost
    summary["rows_lost"] = rows_lost
    if failure is not None:
        summary["failure"] = str(failure)
    if service.capture is not None:
        summary["capture"] = {
            "path": str(service.capture.path),
            "records": service.capture.records,
            "records_lost": capture_lost,
        }
    return CollectResult(summary, rows_lost, failure, capture_lost)


def read_status(lake: Path) -> dict[str, Any] | None:
    """The status a running collector writes every second, or None."""
    path = lake / STATUS_FILE
    try:
        status: dict[str, Any] = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    try:
        os.kill(int(status["pid"]), 0)
    except (OSError, KeyError, ValueError):
        return None  # the process that wrote it is gone
    return status


def print_status(lake: Path, out: TextIO = sys.stdout) -> int:
    status = read_status(lake)
    if status is None:
        print(f"no collector is running on {lake}", file=sys.stderr)
        return 1
    age = time.time() - float(status["ts"])
    out.write(f"collector pid {status['pid']}, up {status['uptime_s']:.0f} s ({age:.1f} s ago)\n")
    for name, v in status["venues"].items():
        out.write(
            f"  {name:<10} frames {v['frames']:>12,}  connected {v['connected']}  "
            f"gaps {v['gaps']}  resyncs {v['resyncs']}  rejects {v['rejects']}"
            + (f"  out of sync: {', '.join(v['out_of_sync'])}" if v["out_of_sync"] else "")
            + "\n"
        )
    out.write(f"  lake: {status['sink']}\n")
    return 0
