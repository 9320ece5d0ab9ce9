"""No file makes `alphapulse replay` print a traceback, and damage never reads as whole.

Hypothesis builds captures (ours) and recordings (the shared format) in plain, gzip and
zstd, then damages them: truncation at every class of offset (frame and line boundaries,
either side of them, the gzip trailer), bit flips, overwritten, inserted and deleted
bytes, wrong JSON types, pure random bytes. Each file goes through the real CLI entry
in-process. The normal run tries a few hundred files in a few seconds; ``-m slow`` runs the
heavy profile.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphapulse.capture import CaptureError, CaptureReader, Record
from alphapulse.cli import main
from alphapulse.salvage import GZIP_MAGIC, ZSTD_MAGIC
from tests.damaged_files import compress, frame_offsets, shared_lines, write_capture

FAST = 80
HEAVY = 2000

WRONG_VALUES: list[Any] = [None, True, 0, -1, 1.5, 1e308, 2**64, "", "x", [], {}, [1], {"a": 1}]


@cache
def corpus() -> dict[str, list[bytes]]:
    """The lines of one capture of ours and one shared recording, undamaged."""
    with tempfile.TemporaryDirectory() as tmp:
        data = (
            (Path(tmp) / "c.capture.zst").read_bytes()
            if write_capture(Path(tmp) / "c.capture.zst", records=12, flush_records=4)
            else b""
        )
    starts = frame_offsets(data)
    frames = [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)], strict=True)]
    decoded = b"".join(zstandard.ZstdDecompressor().decompress(f) for f in frames)
    return {"capture": decoded.splitlines(), "recording": shared_lines(8)}


def zstd_frames(lines: list[bytes], per_frame: int) -> bytes:
    """Lines in independent checksummed frames, as the capture writer flushes them."""
    return b"".join(
        compress(b"".join(line + b"\n" for line in lines[i : i + per_frame]), "zstd")
        for i in range(0, len(lines), per_frame)
    )


def boundaries(data: bytes) -> list[int]:
    """Offsets where a truncation or flip is most telling: frame, member and line edges."""
    edges = {0, 1, 4, 10, len(data) - 8, len(data) - 4, len(data) - 1, len(data)}
    for marker in (ZSTD_MAGIC, GZIP_MAGIC, b"\n"):
        at = data.find(marker)
        while at >= 0 and len(edges) < 200:
            edges |= {at - 1, at, at + 1}
            at = data.find(marker, at + 1)
    return sorted(e for e in edges if 0 <= e <= len(data))


@st.composite
def offsets(draw: st.DrawFn, data: bytes) -> int:
    return draw(st.sampled_from(boundaries(data)) | st.integers(0, len(data)))


@st.composite
def retyped(draw: st.DrawFn, lines: list[bytes]) -> list[bytes]:
    """One line with a field of the wrong JSON type, missing, or not an object at all."""
    lines = list(lines)
    i = draw(st.integers(0, len(lines) - 1))
    record = json.loads(lines[i])
    key = draw(st.sampled_from(sorted(record)))
    how = draw(st.sampled_from(["value", "delete", "scalar"]))
    if how == "value":
        record[key] = draw(st.sampled_from(WRONG_VALUES))
    elif how == "delete":
        del record[key]
    else:
        record = draw(st.sampled_from(WRONG_VALUES))
    lines[i] = json.dumps(record).encode()
    return lines


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    op = draw(st.sampled_from(["truncate", "flip", "overwrite", "insert", "delete", "random"]))
    if op == "random":
        return draw(st.binary(max_size=300))
    if op == "truncate":
        return data[: draw(offsets(data))]
    if not data:
        return data
    at = min(draw(offsets(data)), len(data) - 1)
    if op == "flip":
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if op == "overwrite":
        junk = draw(st.binary(min_size=1, max_size=16))
        return data[:at] + junk + data[at + len(junk) :]
    if op == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    return data[:at] + data[at + draw(st.integers(1, 64)) :]


@st.composite
def encoded(draw: st.DrawFn, kind: str, compression: str, lines: list[bytes]) -> bytes:
    if compression == "zstd":
        return zstd_frames(lines, draw(st.integers(1, 8)))
    if compression == "gzip" and draw(st.booleans()):  # several members, like appended files
        cut = draw(st.integers(1, len(lines)))
        parts = (lines[:cut], lines[cut:])
        return b"".join(compress(b"".join(x + b"\n" for x in p), "gzip") for p in parts)
    return compress(b"".join(line + b"\n" for line in lines), compression)


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["capture", "recording"]))
    compression = draw(st.sampled_from(["plain", "gzip", "zstd"]))
    lines = corpus()[kind]
    if draw(st.booleans()):
        lines = draw(retyped(lines))
    data = draw(encoded(kind, compression, lines))
    for _ in range(draw(st.integers(0, 3))):
        data = draw(damaged(data))
    return data


def replay_cli(path: Path, *flags: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["replay", *flags, str(path)])
    return code, out.getvalue(), err.getvalue()


def check_cli(path: Path, data: bytes, flags: list[str]) -> None:
    path.write_bytes(data)
    code, out, err = replay_cli(path, *flags)
    assert code in (0, 1, 2)
    if code == 0:
        assert err == ""
    else:
        assert err.startswith("alphapulse replay: ") and err.count("\n") == 1, err
    if code == 2:
        assert out == ""
        return
    if "--json" in flags:
        report = json.loads(out)
        assert code == (1 if "--verify" in flags and not report["ok"] else 0)
        assert report["intact"] == (report["damaged_places"] == 0)
    else:
        verdict = out.splitlines()[-1]
        assert verdict.startswith(("OK: ", "FAILED: ", "DAMAGED: "))
        assert ("DAMAGED" in out) != verdict.startswith(("OK", "FAILED"))


FLAGS = st.lists(st.sampled_from(["--json", "--verify"]), unique=True)


def cli_property(examples: int) -> Callable[..., None]:
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=damaged_files(), flags=FLAGS)
    def run(tmp: Path, data: bytes, flags: list[str]) -> None:
        check_cli(tmp / "case", data, flags)

    return run


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_no_file_makes_replay_crash(tmp: Path) -> None:
    cli_property(FAST)(tmp)


# --- what survives: a cut keeps a prefix, a flipped bit never passes as a record ---------


def read(path: Path, data: bytes) -> tuple[list[Record], CaptureReader] | None:
    path.write_bytes(data)
    reader = CaptureReader(path)
    try:
        return list(reader), reader
    except CaptureError:
        return None


def decode_cut(data: bytes, compression: str) -> tuple[set[int], bytes]:
    """Where ``data`` could have been cut and still look whole, and everything a streaming
    decoder gets out of it (found without the reader under test)."""
    if compression == "plain":
        return {0, *(i + 1 for i, byte in enumerate(data) if byte == ord("\n"))}, data
    ends, out, at = {0}, [], 0
    while at < len(data):
        decoder = (
            zstandard.ZstdDecompressor().decompressobj()
            if compression == "zstd"
            else zlib.decompressobj(31)
        )
        out.append(decoder.decompress(data[at:]))
        if not decoder.eof:
            break
        at = len(data) - len(decoder.unused_data)
        ends.add(at)
    return ends, b"".join(out)


def cut_property(examples: int) -> Callable[..., None]:
    @settings(max_examples=examples, deadline=None)
    @given(
        kind=st.sampled_from(["capture", "recording"]),
        compression=st.sampled_from(["plain", "gzip", "zstd"]),
        data=st.data(),
    )
    def run(tmp: Path, kind: str, compression: str, data: st.DataObject) -> None:
        check_cut(tmp, kind, compression, data)

    return run


def check_cut(tmp: Path, kind: str, compression: str, data: st.DataObject) -> None:
    whole_file = data.draw(encoded(kind, compression, corpus()[kind]))
    whole = read(tmp / "whole", whole_file)
    assert whole is not None and not whole[1].damage.found
    at = data.draw(offsets(whole_file))
    cut = read(tmp / "cut", whole_file[:at])
    if cut is None:  # nothing left past the header
        return
    records, reader = cut
    assert records == whole[0][: len(records)]
    clean_cuts, decoded = decode_cut(whole_file[:at], compression)
    # Nothing tells a cut at a frame, member or line boundary from a shorter whole file.
    assert reader.damage.found == (at not in clean_cuts)
    assert len(records) == decoded.count(b"\n")  # every complete line is a record


def flip_property(examples: int) -> Callable[..., None]:
    @settings(max_examples=examples, deadline=None)
    @given(per_frame=st.integers(1, 6), data=st.data())
    def run(tmp: Path, per_frame: int, data: st.DataObject) -> None:
        check_flip(tmp, per_frame, data)

    return run


def check_flip(tmp: Path, per_frame: int, data: st.DataObject) -> None:
    whole_file = zstd_frames(corpus()["capture"], per_frame)
    whole = read(tmp / "whole", whole_file)
    assert whole is not None
    at = data.draw(st.integers(0, len(whole_file) - 1))
    bit = 1 << data.draw(st.integers(0, 7))
    flipped = whole_file[:at] + bytes([whole_file[at] ^ bit]) + whole_file[at + 1 :]
    result = read(tmp / "flipped", flipped)
    if result is None:
        return
    records, reader = result
    # An in-order subsequence of the originals (a frame's protocol comes from its connect
    # record, so frames whose connect was lost have none).
    remaining = iter([(r.kind, r.ts, r.conn, r.data) for r in whole[0]])
    assert all((r.kind, r.ts, r.conn, r.data) in remaining for r in records)
    assert reader.damage.found or records == whole[0]  # or the flip changed nothing


def test_a_cut_keeps_every_complete_record_before_it(tmp: Path) -> None:
    cut_property(FAST)(tmp)


def test_a_flipped_bit_in_a_capture_never_reads_as_a_record(tmp: Path) -> None:
    flip_property(FAST)(tmp)


@pytest.mark.slow
@pytest.mark.parametrize("prop", [cli_property, cut_property, flip_property])
def test_heavy_profile(
    tmp: Path, request: pytest.FixtureRequest, prop: Callable[[int], Callable[..., None]]
) -> None:
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("the heavy fuzzing profile runs with -m slow")
    prop(HEAVY)(tmp)
