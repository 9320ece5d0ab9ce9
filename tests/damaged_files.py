"""Captures and recordings to damage, for the reader, replay and fuzz tests."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import zstandard

from alphapulse.capture import CaptureWriter, Record, read_capture
from alphapulse.salvage import ZSTD_MAGIC

KRAKEN_BOOK = (
    '[0,{"as":[["5541.30000","2.50700000","1534614248.123678"]],'
    '"bs":[["5541.20000","1.52900000","1534614248.765567"]]},"book-10","XBT/USD"]'
)


def write_capture(path: Path, records: int = 40, flush_records: int = 10) -> list[Record]:
    """A capture of several zstd frames (``flush_records`` records each); returns its records."""
    with CaptureWriter(path, flush_records=flush_records, flush_seconds=3600) as w:
        w.connect("c1", "kraken_v1", "wss://ws.kraken.com", ts=1)
        w.recv("c1", KRAKEN_BOOK, ts=2)
        for i in range(records):
            w.recv("c1", f'{{"event":"heartbeat","i":{i}}}', ts=10 + i)
        w.http("h1", "binance", "https://api.binance.com/api/v3/depth?symbol=X", "{}", ts=500)
        w.disconnect("c1", "bye", ts=600)
    return list(read_capture(path))


def frame_offsets(data: bytes) -> list[int]:
    """Where each zstd frame of a capture starts (the magic does not occur inside ours)."""
    offsets = []
    at = data.find(ZSTD_MAGIC)
    while at >= 0:
        offsets.append(at)
        at = data.find(ZSTD_MAGIC, at + 1)
    return offsets


def shared_lines(frames: int = 20) -> list[bytes]:
    """A small recording in the shared (cryptofeed) format: header, connect, frames."""
    lines = [
        {"t": "header", "format": 2, "exchange": "KRAKEN", "config": {}, "recorded": 1618678132.3},
        {"t": "connect", "conn": "K.1", "ts": 1618678132.4, "addr": "wss://ws.kraken.com"},
        {"t": "recv", "conn": "K.1", "ts": 1618678132.5, "data": KRAKEN_BOOK},
    ]
    lines += [
        {"t": "recv", "conn": "K.1", "ts": 1618678133 + i / 10, "data": '{"event":"heartbeat"}'}
        for i in range(frames)
    ]
    return [json.dumps(line).encode() for line in lines]


def compress(text: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(text, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(write_checksum=True).compress(text)
    return text
