"""Replay a capture through the normalizers and books, and report what it holds.

Usage::

    report = replay("data/demo.capture.zst", on_events=lambda protocol, batches: ...)
    report.ok, report.frames, report.instruments["kraken:XBT/USD"]["checksums_verified"]

A damaged file is replayed as far as it can be read (see :mod:`alphapulse.salvage`); the
report says what could not be read, and ``report.ok`` is false for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alphapulse import _core
from alphapulse.capture import CaptureReader

#: Counters reported per instrument, in display order.
INSTRUMENT_COUNTERS = (
    "trades",
    "quotes",
    "book_updates",
    "snapshots",
    "checksums_verified",
    "checksums_failed",
    "gaps",
    "crossed",
    "duplicates",
)

EventSink = Callable[[str, dict[str, _core.EventBatch]], None]
Progress = Callable[[int, int], None]


@dataclass
class ReplayReport:
    """What a replay found. ``instruments`` is keyed ``<venue>:<venue symbol>``."""

    path: str
    format: str
    records: int = 0
    frames: int = 0
    rejects: int = 0
    compression: str = "plain"
    #: Records known lost or unreadable, and bytes that did not become records; see
    #: :mod:`alphapulse.salvage` for what each compression lets a reader recover.
    unreadable_records: int = 0
    malformed_records: int = 0
    unreadable_bytes: int = 0
    #: The first few damaged places, one line each ("line 12: 'ts' is a string, ...").
    damage: list[str] = field(default_factory=list)
    damaged_places: int = 0
    connection_gaps: int = 0
    instruments: dict[str, dict[str, int]] = field(default_factory=dict)
    out_of_sync: list[str] = field(default_factory=list)

    @property
    def checksums_failed(self) -> int:
        return sum(i["checksums_failed"] for i in self.instruments.values())

    @property
    def gaps(self) -> int:
        return self.connection_gaps + sum(i["gaps"] for i in self.instruments.values())

    @property
    def intact(self) -> bool:
        """Every byte of the file was read as a record."""
        return self.damaged_places == 0

    @property
    def ok(self) -> bool:
        """The file is intact, no checksum failed and no sequence gap was found."""
        return self.intact and self.checksums_failed == 0 and self.gaps == 0

    def to_json(self) -> dict[str, Any]:
        return {
            # A file name that is not UTF-8 (Python keeps its bytes as lone surrogates, which
            # JSON cannot hold) is shown with those bytes escaped: "\\xff.jsonl".
            "path": self.path.encode("utf-8", "surrogateescape").decode(
                "utf-8", "backslashreplace"
            ),
            "format": self.format,
            "records": self.records,
            "frames": self.frames,
            "rejects": self.rejects,
            "compression": self.compression,
            "intact": self.intact,
            "unreadable_records": self.unreadable_records,
            "malformed_records": self.malformed_records,
            "unreadable_bytes": self.unreadable_bytes,
            "damaged_places": self.damaged_places,
            "damage": self.damage,
            "connection_gaps": self.connection_gaps,
            "gaps": self.gaps,
            "checksums_failed": self.checksums_failed,
            "ok": self.ok,
            "out_of_sync": self.out_of_sync,
            "instruments": self.instruments,
        }


class Replayer:
    """Feeds capture records to one engine per protocol; connections are numbered per engine."""

    def __init__(self, on_events: EventSink | None = None, take_every: int = 4096) -> None:
        self.engines: dict[str, _core.Engine] = {}
        self._conns: dict[tuple[str, str], int] = {}
        self._on_events = on_events
        self._take_every = take_every
        self._since_take = 0

    def engine(self, protocol: str) -> _core.Engine:
        engine = self.engines.get(protocol)
        if engine is None:
            engine = self.engines[protocol] = _core.Engine(protocol)
        return engine

    def _conn(self, protocol: str, conn: str) -> int:
        key = (protocol, conn)
        number = self._conns.get(key)
        if number is None:
            number = self._conns[key] = len(self._conns)
        return number

    def connect(self, protocol: str, conn: str) -> None:
        self.engine(protocol).connected(self._conn(protocol, conn))

    def frame(self, protocol: str, conn: str, data: bytes, ts: int) -> None:
        self.engine(protocol).feed(data, ts, self._conn(protocol, conn))
        self._tick()

    def disconnect(self, protocol: str, ts: int, reason: str) -> None:
        self.engine(protocol).disconnected(ts, reason)

    def http(self, protocol: str, url: str, body: bytes, ts: int) -> None:
        self.engine(protocol).feed_http(url, body, ts)
        self._tick()

    def _tick(self) -> None:
        self._since_take += 1
        if self._since_take >= self._take_every:
            self.drain()

    def drain(self) -> None:
        """Hand pending events to the sink (or drop them when there is none)."""
        self._since_take = 0
        for protocol, engine in self.engines.items():
            if self._on_events is None:
                engine.discard()
            elif engine.pending_events:
                self._on_events(protocol, engine.take())


def replay(
    path: str | os.PathLike[str],
    *,
    on_events: EventSink | None = None,
    progress: Progress | None = None,
) -> ReplayReport:
    """Replay every record of the capture at ``path``.

    ``on_events(protocol, batches)`` receives the normalized events as Arrow batches; without
    it they are dropped once counted. ``progress(done_bytes, total_bytes)`` is called now and
    then.
    """
    reader = CaptureReader(path)
    replayer = Replayer(on_events)
    records = 0
    #: Frames and responses that cannot be replayed, by (connection, kind): a frame on a
    #: connection that no ``connect`` record opened has no protocol to be read with.
    unreplayed: dict[tuple[str, str], int] = {}
    for record in reader:
        records += 1
        protocol = record.protocol
        if record.kind in ("recv", "http") and (
            protocol is None or (record.kind == "http" and record.url is None)
        ):
            key = (record.conn, record.kind)
            unreplayed[key] = unreplayed.get(key, 0) + 1
        elif protocol is not None:
            if record.kind == "recv":
                replayer.frame(protocol, record.conn, record.data, record.ts)
            elif record.kind == "http" and record.url is not None:
                replayer.http(protocol, record.url, record.data, record.ts)
            elif record.kind == "connect":
                replayer.connect(protocol, record.conn)
            elif record.kind == "disconnect":
                replayer.disconnect(protocol, record.ts, str(record.meta.get("reason", "")))
        if progress is not None and records % 2048 == 0:
            progress(reader.bytes_read, reader.size)
    replayer.drain()
    if progress is not None:
        progress(reader.size, reader.size)

    damage = reader.damage
    for (conn, kind), count in unreplayed.items():
        what = (
            f"{count:,} frame{'s' if count != 1 else ''} on a connection that no connect "
            "record opened (no protocol to read them with): not replayed"
            if kind == "recv"
            else f"{count:,} http record{'s' if count != 1 else ''} without a protocol or "
            "url: not replayed"
        )
        damage.note(f"connection {conn[:40]!r}", what, records=count)
    report = ReplayReport(
        path=str(path),
        format=reader.format or "unknown",
        records=records,
        compression=reader.compression,
        unreadable_records=damage.unreadable_records,
        malformed_records=damage.malformed_records,
        unreadable_bytes=damage.unreadable_bytes,
        damage=list(damage.samples),
        damaged_places=damage.places,
    )
    for engine in replayer.engines.values():
        report.frames += engine.frames
        report.rejects += engine.rejects
        report.connection_gaps += engine.connection_gaps
        report.instruments.update(engine.stats())
        report.out_of_sync += [f"{engine.venue}:{s}" for s in engine.out_of_sync()]
    return report
