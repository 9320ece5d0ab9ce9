"""The capture format: append-only, readable while written, crash-tolerant; and imports."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import pytest
import zstandard

from alphapulse.capture import CaptureError, CaptureReader, CaptureWriter, read_capture
from alphapulse.salvage import ZSTD_MAGIC
from tests.conftest import KRAKEN, recording
from tests.damaged_files import frame_offsets, shared_lines, write_capture


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
    for version in ("1.0", "true", '"1"'):  # not the integer our writer writes
        future.write_text(f'{{"t":"header","format":"alphapulse.capture","version":{version}}}\n')
        with pytest.raises(CaptureError, match=r"version .* is not 1"):
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


# --- damage: recover what can be recovered, count what cannot -------------------------------


def test_truncation_at_any_offset_keeps_a_prefix_and_reports_the_tear(tmp_path: Path) -> None:
    path = tmp_path / "cut.capture.zst"
    whole = write_capture(path)
    data = path.read_bytes()
    boundaries = {*frame_offsets(data), len(data)}
    cut = tmp_path / "c.capture.zst"
    for end in range(1, len(data), 3):
        cut.write_bytes(data[:end])
        reader = CaptureReader(cut)
        try:
            survived = list(reader)
        except CaptureError as e:  # the header's frame is torn: not a capture yet
            assert end < frame_offsets(data)[1] and "no readable records" in str(e)
            continue
        assert survived == whole[: len(survived)], end
        # A cut at a frame boundary leaves a shorter, whole capture: nothing can tell.
        assert reader.damage.found == (end not in boundaries), end


def test_a_corrupt_frame_costs_only_its_own_records(tmp_path: Path) -> None:
    path = tmp_path / "flip.capture.zst"
    whole = write_capture(path, records=40, flush_records=10)
    data = bytearray(path.read_bytes())
    frames = frame_offsets(bytes(data))
    third, fourth = frames[2], frames[3]
    data[(third + fourth) // 2] ^= 0x10  # a flipped bit in a later frame
    path.write_bytes(bytes(data))
    reader = CaptureReader(path)
    survived = list(reader)
    lost = [r for r in whole if r not in survived]
    assert len(lost) == 10 and survived == [r for r in whole if r not in lost]
    assert reader.damage.unreadable_bytes == fourth - third
    assert reader.damage.samples[0].startswith(f"byte {third:,}: zstd frame corrupt")


def test_garbage_between_frames_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "garbage.capture.zst"
    whole = write_capture(path)
    data = path.read_bytes()
    at = frame_offsets(data)[2]
    path.write_bytes(data[:at] + b"\x00" * 100 + data[at:])
    reader = CaptureReader(path)
    assert list(reader) == whole
    assert reader.damage.unreadable_bytes == 100 and reader.damage.unreadable_records == 0


def test_zstd_skippable_frames_are_not_damage(tmp_path: Path) -> None:
    path = tmp_path / "skippable.capture.zst"
    whole = write_capture(path)
    data = path.read_bytes()
    at = frame_offsets(data)[1]
    skippable = (0x184D2A53).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"meta!"
    path.write_bytes(data[:at] + skippable + data[at:])
    reader = CaptureReader(path)
    assert list(reader) == whole and not reader.damage.found


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9])
def test_torn_gzip_recording_keeps_every_complete_record(tmp_path: Path, fraction: float) -> None:
    source = recording(KRAKEN)
    whole = list(read_capture(source))
    data = source.read_bytes()
    cut = data[: int(len(data) * fraction)]
    decoded = zlib.decompressobj(31).decompress(cut)  # what the torn file still holds
    path = tmp_path / "torn.jsonl.gz"
    path.write_bytes(cut)
    reader = CaptureReader(path)
    survived = list(reader)
    assert len(survived) == decoded.count(b"\n") > 0
    assert survived == whole[: len(survived)]
    assert reader.damage.lost_records == 1
    assert reader.damage.unreadable_bytes == len(decoded) - decoded.rfind(b"\n") - 1


def test_corrupt_gzip_resumes_at_the_next_member(tmp_path: Path) -> None:
    lines = shared_lines(30)
    members = [
        gzip.compress(b"\n".join(part) + b"\n") for part in (lines[:10], lines[10:20], lines[20:])
    ]
    path = tmp_path / "members.jsonl.gz"
    path.write_bytes(b"".join(members))
    whole = list(read_capture(path))
    assert len(whole) == len(lines)
    damaged = bytearray(members[1])
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(members[0] + damaged + members[2])
    reader = CaptureReader(path)
    assert list(reader) == whole[:10] + whole[20:]
    assert reader.damage.unreadable_bytes == len(damaged)
    assert reader.damage.samples[0].startswith(f"byte {len(members[0])}: gzip member corrupt")


def test_plain_file_without_its_last_newline_is_torn(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    lines = shared_lines(3)
    path.write_bytes(b"\n".join(lines) + b"\n" + lines[-1][:17])
    reader = CaptureReader(path)
    assert len(list(reader)) == len(lines)
    assert reader.damage.lost_records == 1 and reader.damage.unreadable_bytes == 17
    assert reader.damage.samples == [
        f"line {len(lines) + 1}: the file ends mid-record (17 bytes without their newline)"
    ]


WRONG_TYPES = [
    ('{"t":"recv","conn":"c","ts":"10","data":"x"}', "'ts' is a string, not integer nanoseconds"),
    ('{"t":"recv","conn":"c","ts":10,"data":5}', "'data' is a number, not a string"),
    ('{"t":"recv","conn":"c","ts":10}', "no 'data'"),
    ('{"t":"recv","conn":7,"ts":10,"data":"x"}', "'conn' is a number, not a string"),
    ('{"t":"recv","conn":"c","ts":true,"data":"x"}', "'ts' is a boolean"),
    ('{"t":"recv","conn":"c","ts":1e300,"data":"x"}', "'ts' is a number"),
    ('{"t":"recv","conn":"c","ts":-5,"data":"x"}', "out of range"),
    ('{"t":"recv","conn":"c","ts":10,"b64":"!!"}', "'b64' is not base64"),
    ('{"t":"connect","conn":"c","ts":10,"protocol":"nope"}', "a protocol we do not speak"),
    ('{"t":"connect","conn":"c","ts":10,"protocol":["kraken"]}', "'protocol' is an array"),
    ('{"t":"http","conn":"h","ts":10,"url":{},"data":"{}"}', "'url' is an object"),
    ('{"t":"disconnect","conn":"c","ts":10,"reason":null}', "no 'reason'"),
    ("[1,2,3]", "an array, not a JSON object"),
    ("42", "a number, not a JSON object"),
    ('{"t":"bogus","ts":1}', "unknown record type 'bogus'"),
    ('{"t":"recv","conn":"c","ts":1,"data":"x"', "not JSON"),
]


def test_wrong_json_types_are_counted_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "types.jsonl"
    good = '{"t":"recv","conn":"c","ts":1,"data":"x"}'
    lines = ['{"t":"header","format":"alphapulse.capture","version":1,"created":"yesterday"}']
    for bad, _ in WRONG_TYPES:
        lines += [bad, good]
    path.write_text("\n".join(lines) + "\n")
    reader = CaptureReader(path)
    records = list(reader)
    assert [r.kind for r in records] == ["header"] + ["recv"] * len(WRONG_TYPES)
    assert records[0].ts == 0
    assert reader.malformed == len(WRONG_TYPES)
    assert (
        reader.damage.samples[0] == "line 1: header: 'created' is a string, not integer nanoseconds"
    )
    for i, (_, why) in enumerate(WRONG_TYPES):
        sample = reader.damage.samples[1 + i]
        assert sample.startswith(f"line {2 + 2 * i}: ") and why in sample, sample


def test_wrong_json_types_in_a_shared_recording(tmp_path: Path) -> None:
    header, *rest = shared_lines(2)
    path = tmp_path / "types.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                header,
                *rest,
                b'{"t":"recv","conn":"K.1","ts":"1618678133.0","data":"x"}',
                b'{"t":"recv","conn":"K.1","ts":NaN,"data":"x"}',
                b'{"t":"recv","conn":"K.1","ts":1618678133.0,"data":[1]}',
                b'{"t":"recv","conn":"K.1","ts":1618678133.0,"addr":3,"data":"x"}',
            ]
        )
        + b"\n"
    )
    reader = CaptureReader(path)
    assert len(list(reader)) == 1 + len(rest)
    assert reader.malformed == 4
    assert "'ts' is a string, not seconds" in reader.damage.samples[0]


def test_damage_samples_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "noisy.jsonl"
    path.write_text(shared_lines(0)[0].decode() + "\n" + "junk\n" * 1000)
    reader = CaptureReader(path)
    list(reader)
    assert reader.malformed == 1000 and reader.damage.places == 1000
    assert len(reader.damage.samples) == 20 and reader.damage.samples[-1] == "line 21: not JSON"


def test_a_file_with_no_readable_record_is_a_capture_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.capture.zst"
    path.write_bytes(ZSTD_MAGIC + b"\x00" * 50)
    with pytest.raises(CaptureError, match=r"no readable records \(after damage: byte 0"):
        list(read_capture(path))


@pytest.mark.parametrize("exchange", ["[]", "{}", "7", "null", '"NYSE"'])
def test_a_recording_header_naming_no_exchange_we_speak(tmp_path: Path, exchange: str) -> None:
    path = tmp_path / "header.jsonl"
    path.write_text(f'{{"t":"header","format":2,"exchange":{exchange},"recorded":1.0}}\n')
    with pytest.raises(CaptureError, match="recording of an exchange we do not speak"):
        list(read_capture(path))
