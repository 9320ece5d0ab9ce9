"""The capture format: append-only, readable while written, crash-tolerant; and imports."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import zstandard

from alphapulse.capture import CaptureError, CaptureReader, CaptureWriter, read_capture


def write_sample(path: Path, records: int = 10, **kwargs: object) -> None:
    with CaptureWriter(path, meta={"test": True}, **kwargs) as w:  # type: ignore[arg-type]
        w.connect("c1", "kraken_v1", "wss://ws.kraken.com", ts=1)
        w.send("c1", '{"event":"subscribe"}', ts=2)
        for i in range(records):
            w.recv("c1", f'{{"event":"heartbeat","i":{i}}}', ts=10 + i)
        w.recv("c1", b"\xff\x00binary", ts=100)
        w.http("h1", "binance", "https://api.binance.com/api/v3/depth?symbol=X", "{}", ts=200)
        w.disconnect("c1", "bye", ts=300)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a.capture.zst"
    write_sample(path)
    records = list(read_capture(path))
    kinds = [r.kind for r in records]
    assert kinds == ["header", "connect", "send", *["recv"] * 11, "http", "disconnect"]
    assert records[0].meta["meta"] == {"test": True}
    assert records[1].protocol == "kraken_v1" and records[1].url == "wss://ws.kraken.com"
    assert records[3].data == b'{"event":"heartbeat","i":0}' and records[3].ts == 10
    assert records[3].protocol == "kraken_v1"
    assert records[13].data == b"\xff\x00binary"
    assert records[14].url == "https://api.binance.com/api/v3/depth?symbol=X"
    assert records[15].meta == {"reason": "bye"}


def test_readable_while_being_written(tmp_path: Path) -> None:
    path = tmp_path / "live.capture.zst"
    w = CaptureWriter(path, flush_records=5, flush_seconds=3600)
    w.connect("c1", "coinbase", "wss://x", ts=1)
    for i in range(12):
        w.recv("c1", f'{{"i":{i}}}', ts=i + 2)
    # 13 records written, flushed in frames of 5: the reader sees the first 10 (+ header).
    reader = CaptureReader(path)
    seen = list(reader)
    assert len(seen) == 1 + 10 and not reader.damage.found
    w.close()
    assert len(list(read_capture(path))) == 1 + 13


def test_torn_tail_costs_only_the_last_frame(tmp_path: Path) -> None:
    path = tmp_path / "torn.capture.zst"
    write_sample(path, records=50, flush_records=10)
    whole = list(read_capture(path))
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # a crash mid-write of the last zstd frame
    reader = CaptureReader(path)
    survived = list(reader)
    assert 0 < len(survived) < len(whole)
    assert survived == whole[: len(survived)]
    assert reader.damage.found and "torn write" in reader.damage.samples[0]


def test_appending_keeps_one_header(tmp_path: Path) -> None:
    path = tmp_path / "append.capture.zst"
    write_sample(path, records=1)
    write_sample(path, records=1)
    kinds = [r.kind for r in read_capture(path)]
    assert kinds.count("header") == 1 and kinds.count("connect") == 2


def _shared_lines() -> list[str]:
    return [
        json.dumps(
            {
                "t": "header",
                "format": 2,
                "exchange": "KRAKEN",
                "config": {},
                "recorded": 1618678132.358447,
            }
        ),
        json.dumps(
            {
                "t": "connect",
                "conn": "K.ws.1",
                "ts": 1618678132.368463,
                "addr": "wss://ws.kraken.com",
            }
        ),
        json.dumps(
            {
                "t": "recv",
                "conn": "K.ws.1",
                "ts": 1618678133.000001,
                "data": '{"event":"heartbeat"}',
            }
        ),
        json.dumps(
            {"t": "connect", "conn": "K.ws.2", "ts": 1618678134.0, "addr": "wss://ws.kraken.com/v2"}
        ),
        json.dumps(
            {"t": "recv", "conn": "K.ws.2", "ts": 1618678134.5, "data": '{"channel":"heartbeat"}'}
        ),
    ]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "plain"])
def test_shared_recording_format_is_detected(tmp_path: Path, compression: str) -> None:
    text = ("\n".join(_shared_lines()) + "\n").encode()
    path = tmp_path / f"rec.jsonl.{compression}"
    if compression == "gzip":
        path.write_bytes(gzip.compress(text))
    elif compression == "zstd":
        path.write_bytes(zstandard.ZstdCompressor().compress(text))
    else:
        path.write_bytes(text)
    reader = CaptureReader(path)
    records = list(reader)
    assert reader.format == "shared-recording"
    assert [r.kind for r in records] == ["header", "connect", "recv", "connect", "recv"]
    assert records[2].ts == 1_618_678_133_000_001_000
    assert records[2].protocol == "kraken_v1"
    assert records[4].protocol == "kraken"  # WS v2 by its address


def test_unknown_and_future_formats_are_clear_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(CaptureError, match="empty"):
        list(read_capture(empty))
    other = tmp_path / "other.jsonl"
    other.write_text('{"t":"header","format":"something-else"}\n')
    with pytest.raises(CaptureError, match="unknown capture format"):
        list(read_capture(other))
    future = tmp_path / "future.jsonl"
    future.write_text('{"t":"header","format":"alphapulse.capture","version":99}\n')
    with pytest.raises(CaptureError, match="version 99"):
        list(read_capture(future))
    with pytest.raises(FileNotFoundError):
        read_capture(tmp_path / "missing")
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x00\x01\x02")
    with pytest.raises(CaptureError):
        list(read_capture(junk))


def test_malformed_records_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"t":"header","format":"alphapulse.capture","version":1}\n'
        '{"t":"recv","conn":"c","ts":1,"data":"x"}\n'
        "this is not json\n"
        '{"t":"recv","conn":"c"}\n'
    )
    reader = CaptureReader(path)
    assert [r.kind for r in reader] == ["header", "recv"]
    assert reader.malformed == 2
