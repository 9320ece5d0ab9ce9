"""Raw frame captures: AlphaPulse's own format, and import of the shared recording format.

**AlphaPulse capture** (``*.capture.zst``): JSON lines, one record each, compressed as a
sequence of independent zstd frames, each with its content checksum. The writer closes a
zstd frame on every flush (by record count or age), so the file is append-only and readable
while it is being written: a reader sees every flushed record. A torn last frame (a crash
mid-write) costs only the records after the tear, and a corrupt frame only its own records
(:mod:`alphapulse.salvage` says what each compression allows). Records::

    {"t":"header","format":"alphapulse.capture","version":1,"created":<ns>,"meta":{…}}
    {"t":"connect","conn":"k1","ts":<ns>,"protocol":"kraken_v1","url":"wss://…"}
    {"t":"send","conn":"k1","ts":<ns>,"data":"<text frame>"}
    {"t":"recv","conn":"k1","ts":<ns>,"data":"<text frame>"}     ("b64" for binary frames)
    {"t":"http","conn":"h1","ts":<ns>,"protocol":"binance","url":"https://…","data":"<body>"}
    {"t":"disconnect","conn":"k1","ts":<ns>,"reason":"…"}

``ts`` is the local receive (or send) time in Unix nanoseconds.

**Shared recordings** (cryptofeed's sample format, gzip or zstd): the header names the
exchange, ``ts`` is float seconds. :func:`read_capture` detects either format and either
compression and yields the same :class:`Record` objects.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson
import zstandard

from alphapulse.capture_records import (
    SHARED_PROTOCOLS,
    Record,
    RecordShapeError,
    integer_ns,
    json_type,
    own_record,
    seconds_as_ns,
    shared_record,
)
from alphapulse.salvage import Damage, Lines

__all__ = [
    "FORMAT",
    "VERSION",
    "CaptureError",
    "CaptureReader",
    "CaptureWriter",
    "Record",
    "now_ns",
    "read_capture",
]

FORMAT = "alphapulse.capture"
VERSION = 1

log = logging.getLogger(__name__)


class CaptureError(ValueError):
    """A file that is not a capture we can read."""


def now_ns() -> int:
    return time.time_ns()


class CaptureWriter:
    """Appends records to an AlphaPulse capture.

    Each :meth:`flush` writes the buffered records as one complete zstd frame and, with
    ``fsync=True``, syncs it to disk. Flushes happen every ``flush_records`` records or
    ``flush_seconds`` seconds, whichever comes first, and on close.

    A write the file system refuses (disk full) does not raise into the caller, which is a
    source's receive loop: the file is cut back to its last whole frame, the writer stops,
    ``failed`` holds the error and ``records_lost`` counts every record it could not keep
    (then and after). Whoever owns the writer checks ``failed`` and stops collecting.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        meta: dict[str, Any] | None = None,
        flush_records: int = 5000,
        flush_seconds: float = 1.0,
        level: int = 3,
        fsync: bool = False,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Unbuffered: a flush is one write of a whole zstd frame, and after a failed one
        # no half-written buffer is left to reach the disk later.
        self._file: BinaryIO = self.path.open("ab", buffering=0)
        self._size = self._file.seek(0, os.SEEK_END)
        self.failed: OSError | None = None
        self.records_lost = 0
        # The checksum turns a flipped bit into a frame that fails to decode, instead of
        # records that parse but hold different bytes from the ones captured.
        self._compressor = zstandard.ZstdCompressor(
            level=level, write_content_size=True, write_checksum=True
        )
        self._buffer: list[bytes] = []
        self._flush_records = flush_records
        self._flush_seconds = flush_seconds
        self._fsync = fsync
        self._last_flush = time.monotonic()
        self.records = 0
        if self._size == 0:
            self._append(
                {
                    "t": "header",
                    "format": FORMAT,
                    "version": VERSION,
                    "created": now_ns(),
                    "meta": meta or {},
                }
            )
            self.flush()

    def _append(self, record: dict[str, Any]) -> None:
        self.records += 1
        if self.failed is not None:
            self.records_lost += 1
            return
        self._buffer.append(orjson.dumps(record) + b"\n")
        if (
            len(self._buffer) >= self._flush_records
            or time.monotonic() - self._last_flush >= self._flush_seconds
        ):
            self.flush()

    def connect(self, conn: str, protocol: str, url: str, ts: int | None = None) -> None:
        self._append(
            {"t": "connect", "conn": conn, "ts": ts or now_ns(), "protocol": protocol, "url": url}
        )

    def disconnect(self, conn: str, reason: str = "", ts: int | None = None) -> None:
        self._append({"t": "disconnect", "conn": conn, "ts": ts or now_ns(), "reason": reason})

    def _frame(self, kind: str, conn: str, data: bytes | str, ts: int | None) -> None:
        record: dict[str, Any] = {"t": kind, "conn": conn, "ts": ts or now_ns()}
        if isinstance(data, str):
            record["data"] = data
        else:
            try:
                record["data"] = data.decode()
            except UnicodeDecodeError:
                record["b64"] = base64.b64encode(data).decode()
        self._append(record)

    def send(self, conn: str, data: bytes | str, ts: int | None = None) -> None:
        self._frame("send", conn, data, ts)

    def recv(self, conn: str, data: bytes | str, ts: int | None = None) -> None:
        self._frame("recv", conn, data, ts)

    def http(
        self, conn: str, protocol: str, url: str, body: bytes | str, ts: int | None = None
    ) -> None:
        text = body if isinstance(body, str) else body.decode()
        self._append(
            {
                "t": "http",
                "conn": conn,
                "ts": ts or now_ns(),
                "protocol": protocol,
                "url": url,
                "data": text,
            }
        )

    def flush(self) -> None:
        """Write buffered records as one complete zstd frame."""
        self._last_flush = time.monotonic()
        if self.failed is not None:
            return
        try:
            if self._buffer:
                self._write(self._compressor.compress(b"".join(self._buffer)))
                self._buffer.clear()
            if self._fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            self._fail(exc)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written or 0 :]
        self._size += len(data)

    def _fail(self, exc: OSError) -> None:
        self.failed = exc
        self.records_lost += len(self._buffer)
        self._buffer.clear()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        log.error("capture stopped: cannot write to %s: %s", self.path, reason)
        with contextlib.suppress(OSError):
            os.ftruncate(self._file.fileno(), self._size)  # drop the torn frame
        with contextlib.suppress(OSError):
            self._file.close()

    def close(self) -> None:
        if not self._file.closed:
            self.flush()
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CaptureReader:
    """Iterates the records of a capture in either format; see the module doc.

    Damage never raises: records that cannot be read are counted in :attr:`damage` (with
    their line numbers in its samples) and reading goes on. :class:`CaptureError` means the
    file is not a capture at all (no readable header).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no capture at {self.path}")
        if not self.path.is_file() and not self.path.is_dir():
            # A pipe (<(zcat …), /dev/stdin from a pipe) or a device: reading past damage
            # seeks, which they cannot ("File or stream is not seekable.").
            raise CaptureError(
                f"{self.path}: not a regular file (a pipe?); captures are read from files, "
                "which damage can be skipped in: save the stream to a file first"
            )
        self._lines = Lines(self.path)
        self.format: str | None = None
        self.header: dict[str, Any] = {}

    @property
    def size(self) -> int:
        return self._lines.size

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    @property
    def compression(self) -> str:
        return self._lines.compression

    @property
    def damage(self) -> Damage:
        return self._lines.damage

    @property
    def malformed(self) -> int:
        return self.damage.malformed_records

    def _error(self, what: str) -> CaptureError:
        first = f" (after damage: {self.damage.samples[0]})" if self.damage.samples else ""
        return CaptureError(f"{self.path}: {what}{first}")

    def __iter__(self) -> Iterator[Record]:
        lines = iter(self._lines)
        first = next(lines, None)
        if first is None:
            raise self._error("empty capture" if self.size == 0 else "no readable records")
        lineno, line = first
        try:
            header = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise self._error("first line is not a JSON header") from None
        if not isinstance(header, dict) or header.get("t") != "header":
            raise self._error("no header record")
        self.header = header
        if header.get("format") == FORMAT:
            version = header.get("version")
            # 1.0 and true equal 1 in Python; a writer of this format writes the integer.
            if type(version) is not int or version != VERSION:
                raise self._error(f"capture version {version!r} is not {VERSION}")
            self.format = FORMAT
            yield Record("header", self._header_ts(lineno, integer_ns, "created"), meta=header)
            yield from self._records(lines, own_record)
        elif "exchange" in header:
            exchange = header["exchange"]
            if not isinstance(exchange, str) or exchange not in SHARED_PROTOCOLS:
                raise self._error(f"recording of an exchange we do not speak: {exchange!r}")
            self.format = "shared-recording"
            yield Record("header", self._header_ts(lineno, seconds_as_ns, "recorded"), meta=header)
            yield from self._records(
                lines, lambda r, protocols: shared_record(r, exchange, protocols)
            )
        else:
            raise self._error(f"unknown capture format {header.get('format')!r}")

    def _header_ts(self, lineno: int, parse: Callable[[object, str], int], key: str) -> int:
        """The header's time: informative only, so a bad one is noted and read as 0."""
        if key not in self.header:
            return 0
        try:
            return parse(self.header[key], key)
        except RecordShapeError as e:
            self.damage.note(f"line {lineno:,}", f"header: {e}")
            return 0

    def _records(
        self,
        lines: Iterator[tuple[int, bytes]],
        parse: Callable[[dict[str, Any], dict[str, str]], Record | None],
    ) -> Iterator[Record]:
        protocols: dict[str, str] = {}
        for lineno, line in lines:
            try:
                r = orjson.loads(line)
                if not isinstance(r, dict):
                    raise RecordShapeError(f"{json_type(r)}, not a JSON object")
                record = parse(r, protocols)
                if record is None:
                    raise RecordShapeError(f"unknown record type {str(r.get('t'))[:40]!r}")
            except orjson.JSONDecodeError:
                self.damage.malformed(lineno, "not JSON", len(line))
            except RecordShapeError as e:
                self.damage.malformed(lineno, str(e), len(line))
            except ValueError as e:  # e.g. text that is not valid UTF-8 once decoded
                self.damage.malformed(lineno, f"unreadable ({type(e).__name__})", len(line))
            else:
                yield record


def read_capture(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Every record of a capture, whatever its format and compression."""
    return iter(CaptureReader(path))
