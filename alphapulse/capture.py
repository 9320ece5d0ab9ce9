"""Raw frame captures: AlphaPulse's own format, and import of the shared recording format.

**AlphaPulse capture** (``*.capture.zst``): JSON lines, one record each, compressed as a
sequence of independent zstd frames. The writer closes a zstd frame on every flush (by
record count or age), so the file is append-only and readable while it is being written:
a reader sees every flushed record, and a torn last frame (a crash mid-write) costs only
the records after the last flush. Records::

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
import gzip
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

import orjson
import zstandard

FORMAT = "alphapulse.capture"
VERSION = 1
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

log = logging.getLogger(__name__)

RecordKind = Literal["header", "connect", "send", "recv", "http", "disconnect"]


class CaptureError(ValueError):
    """A file that is not a capture we can read."""


@dataclass(frozen=True, slots=True)
class Record:
    """One capture record. ``data`` is the frame or response body as bytes."""

    kind: RecordKind
    ts: int
    conn: str = ""
    data: bytes = b""
    protocol: str | None = None
    url: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


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
        self._compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
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


class _Lines:
    """Decompressed lines of a file (plain, gzip, or concatenated zstd frames).

    A torn tail (an incomplete last compressed frame) ends the iteration quietly and is
    reported in ``truncated_bytes``.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.bytes_read = 0
        self.truncated_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as f:
            magic = f.read(4)
            f.seek(0)
            if magic.startswith(_ZSTD_MAGIC):
                chunks = self._zstd(f)
            elif magic.startswith(_GZIP_MAGIC):
                chunks = self._gzip(f)
            else:
                chunks = self._plain(f)
            tail = b""
            for chunk in chunks:
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()
                yield from (line for line in lines if line)
            if tail.strip():
                # A line without its newline: the writer died mid-record.
                self.truncated_bytes += len(tail)

    def _plain(self, f: BinaryIO) -> Iterator[bytes]:
        while chunk := f.read(_CHUNK):
            self.bytes_read += len(chunk)
            yield chunk

    def _gzip(self, f: BinaryIO) -> Iterator[bytes]:
        with gzip.GzipFile(fileobj=f) as g:
            try:
                while chunk := g.read(_CHUNK):
                    self.bytes_read = f.tell()
                    yield chunk
            except (EOFError, gzip.BadGzipFile):
                self.truncated_bytes = self.size - self.bytes_read

    def _zstd(self, f: BinaryIO) -> Iterator[bytes]:
        dctx = zstandard.ZstdDecompressor()
        pending = b""
        while True:
            chunk = f.read(_CHUNK)
            pending += chunk
            # Decompress every complete frame in `pending`.
            while pending:
                obj = dctx.decompressobj()
                try:
                    out = obj.decompress(pending)
                except zstandard.ZstdError:
                    self.truncated_bytes = len(pending) + len(f.read())
                    return
                if not obj.eof:
                    break  # need more input for this frame
                yield out
                consumed = len(pending) - len(obj.unused_data)
                self.bytes_read += consumed
                pending = obj.unused_data
            if not chunk:
                self.truncated_bytes = len(pending)
                return


_SHARED_PROTOCOLS = {
    "COINBASE": "coinbase",
    "KRAKEN": "kraken_v1",
    "BINANCE": "binance",
    "BINANCE_US": "binance_us",
    "ALPACA": "alpaca",
}


def _shared_protocol(exchange: str, url: str) -> str:
    if exchange == "KRAKEN" and "/v2" in url:
        return "kraken"
    try:
        return _SHARED_PROTOCOLS[exchange]
    except KeyError:
        raise CaptureError(f"recording of an exchange we do not speak: {exchange!r}") from None


def _seconds_to_ns(ts: float) -> int:
    # Recordings keep microseconds; rounding there keeps float noise out of the ns.
    return round(ts * 1_000_000) * 1000


class CaptureReader:
    """Iterates the records of a capture in either format; see the module doc."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no capture at {self.path}")
        self._lines = _Lines(self.path)
        self.format: str | None = None
        self.header: dict[str, Any] = {}
        self.malformed = 0

    @property
    def size(self) -> int:
        return self._lines.size

    @property
    def bytes_read(self) -> int:
        return self._lines.bytes_read

    @property
    def truncated_bytes(self) -> int:
        return self._lines.truncated_bytes

    def __iter__(self) -> Iterator[Record]:
        lines = iter(self._lines)
        first = next(lines, None)
        if first is None:
            raise CaptureError(f"{self.path}: empty capture")
        try:
            header = orjson.loads(first)
        except orjson.JSONDecodeError:
            raise CaptureError(f"{self.path}: first line is not a JSON header") from None
        if not isinstance(header, dict) or header.get("t") != "header":
            raise CaptureError(f"{self.path}: no header record")
        self.header = header
        if header.get("format") == FORMAT:
            if header.get("version") != VERSION:
                raise CaptureError(
                    f"{self.path}: capture version {header.get('version')} is not {VERSION}"
                )
            self.format = FORMAT
            yield Record("header", int(header.get("created", 0)), meta=header)
            yield from self._own(lines)
        elif "exchange" in header:
            self.format = "shared-recording"
            yield Record("header", _seconds_to_ns(float(header.get("recorded", 0))), meta=header)
            yield from self._shared(lines, str(header["exchange"]))
        else:
            raise CaptureError(f"{self.path}: unknown capture format {header.get('format')!r}")

    def _own(self, lines: Iterator[bytes]) -> Iterator[Record]:
        protocols: dict[str, str] = {}
        for line in lines:
            try:
                r = orjson.loads(line)
                kind = r["t"]
                conn = r.get("conn", "")
                ts = int(r["ts"])
                if kind == "connect":
                    protocols[conn] = r["protocol"]
                    yield Record("connect", ts, conn, protocol=r["protocol"], url=r.get("url"))
                elif kind in ("recv", "send"):
                    data = base64.b64decode(r["b64"]) if "b64" in r else r["data"].encode()
                    yield Record(kind, ts, conn, data, protocol=protocols.get(conn))
                elif kind == "http":
                    yield Record(
                        "http",
                        ts,
                        conn,
                        r["data"].encode(),
                        protocol=r.get("protocol"),
                        url=r.get("url"),
                    )
                elif kind == "disconnect":
                    yield Record(
                        "disconnect",
                        ts,
                        conn,
                        protocol=protocols.get(conn),
                        meta={"reason": r.get("reason", "")},
                    )
                else:
                    self.malformed += 1
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                self.malformed += 1

    def _shared(self, lines: Iterator[bytes], exchange: str) -> Iterator[Record]:
        protocols: dict[str, str] = {}
        for line in lines:
            try:
                r = orjson.loads(line)
                kind = r["t"]
                conn = r.get("conn", "")
                ts = _seconds_to_ns(float(r["ts"]))
                url = r.get("addr") or r.get("url") or ""
                if conn not in protocols:
                    protocols[conn] = _shared_protocol(exchange, url)
                protocol = protocols[conn]
                if kind == "connect":
                    yield Record("connect", ts, conn, protocol=protocol, url=url)
                elif kind in ("recv", "send"):
                    data = r["data"]
                    raw = data.encode() if isinstance(data, str) else base64.b64decode(data)
                    yield Record(kind, ts, conn, raw, protocol=protocol)
                elif kind == "http":
                    yield Record("http", ts, conn, r["data"].encode(), protocol=protocol, url=url)
                else:
                    self.malformed += 1
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                self.malformed += 1


def read_capture(path: str | os.PathLike[str]) -> Iterator[Record]:
    """Every record of a capture, whatever its format and compression."""
    return iter(CaptureReader(path))
