"""`alphapulse replay` on damaged files: nothing reported as success that was not."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from alphapulse.cli import main
from alphapulse.commands import ReplayProgress
from alphapulse.replay import replay
from tests.conftest import KRAKEN, recording
from tests.damaged_files import frame_offsets, shared_lines, write_capture


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def capture(tmp_path: Path) -> Path:
    path = tmp_path / "c.capture.zst"
    write_capture(path, records=60, flush_records=10)
    return path


def test_intact_capture_is_ok(capture: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--verify", str(capture))
    assert (code, err) == (0, "")
    assert "DAMAGED" not in out and out.splitlines()[-1].startswith("OK: ")


def test_a_capture_cut_short_fails_verify(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = capture.read_bytes()
    cut = tmp_path / "cut.capture.zst"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    code, out, err = run_main(capsys, "--verify", str(cut))
    assert code == 1
    assert "OK" not in out and out.splitlines()[-1].startswith("DAMAGED: ")
    assert "torn write" in out
    assert err.count("\n") == 1 and "records unreadable" in err
    # Without --verify the report still says so, and the exit code stays 0.
    code, out, err = run_main(capsys, str(cut))
    assert (code, err) == (0, "") and out.splitlines()[-1].startswith("DAMAGED: ")


def test_a_flipped_byte_in_a_later_frame_loses_only_that_frame(
    capture: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = replay(capture)
    data = bytearray(capture.read_bytes())
    frames = frame_offsets(bytes(data))
    data[(frames[3] + frames[4]) // 2] ^= 0x01
    flipped = tmp_path / "flipped.capture.zst"
    flipped.write_bytes(bytes(data))
    code, out, err = run_main(capsys, "--verify", "--json", str(flipped))
    report = json.loads(out)
    assert code == 1 and err.startswith("alphapulse replay: ")
    assert report["records"] == whole.records - 10  # one frame of 10 records, no more
    assert report["unreadable_bytes"] == frames[4] - frames[3]
    assert report["intact"] is False and report["ok"] is False
    assert report["damaged_places"] == 1 and "zstd frame corrupt" in report["damage"][0]


def test_gzip_recording_cut_in_half_is_damaged_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = recording(KRAKEN).read_bytes()
    half = tmp_path / "half.jsonl.gz"
    half.write_bytes(data[: len(data) // 2])
    code, out, _ = run_main(capsys, "--verify", "--json", str(half))
    report = json.loads(out)
    assert code == 1 and report["records"] > 100 and report["unreadable_records"] == 1
    assert "gzip member (torn write)" in report["damage"][0]


def test_wrong_json_types_are_unreadable_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = shared_lines(5)
    lines[4] = b'{"t":"recv","conn":"K.1","ts":1618678133.0,"data":12}'
    lines[5] = b'{"t":"recv","conn":"K.1","ts":"soon","data":"{}"}'
    lines[6] = b'{"t":"recv","ts":1618678133.0}'
    path = tmp_path / "types.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, out, _ = run_main(capsys, "--verify", "--json", str(path))
    report = json.loads(out)
    assert code == 1 and report["unreadable_records"] == report["malformed_records"] == 3
    assert [d.split(":")[0] for d in report["damage"]] == ["line 5", "line 6", "line 7"]


def test_frames_that_cannot_be_replayed_are_not_ok(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Frames on a connection with no connect record were skipped, and the file was "OK"."""
    path = tmp_path / "orphans.jsonl"
    path.write_text(
        '{"t":"header","format":"alphapulse.capture","version":1}\n'
        '{"t":"send","conn":"k","ts":1,"data":"{}"}\n'
        '{"t":"recv","conn":"k","ts":2,"data":"{\\"event\\":\\"heartbeat\\"}"}\n'
        '{"t":"recv","conn":"k","ts":3,"data":"{\\"event\\":\\"heartbeat\\"}"}\n'
        '{"t":"http","conn":"h","ts":4,"data":"{}"}\n'
    )
    code, out, err = run_main(capsys, "--verify", "--json", str(path))
    report = json.loads(out)
    assert code == 1 and not report["ok"] and report["frames"] == 0
    assert report["unreadable_records"] == 3 and report["damaged_places"] == 2
    assert report["damage"] == [
        "connection 'k': 2 frames on a connection that no connect record opened (no protocol "
        "to read them with): not replayed",
        "connection 'h': 1 http record without a protocol or url: not replayed",
    ]
    assert err.count("\n") == 1


def test_json_report_of_a_file_whose_name_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = os.fsdecode(b"\xff.jsonl")  # what Python makes of such a name: a lone surrogate
    path = tmp_path / name
    path.write_text(
        '{"t":"header","format":"alphapulse.capture","version":1}\n'
        '{"t":"connect","conn":"k","ts":1,"protocol":"kraken_v1"}\n'
    )
    code, out, err = run_main(capsys, "--verify", "--json", str(path))
    assert (code, err) == (0, "")
    assert json.loads(out)["path"] == f"{tmp_path}/\\xff.jsonl"


def test_a_pipe_is_one_line_saying_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, out, err = run_main(capsys, "--verify", str(fifo))
    assert (code, out) == (2, "")
    assert err == (
        f"alphapulse replay: error: {fifo}: not a regular file (a pipe?); captures are read "
        "from files, which damage can be skipped in: save the stream to a file first\n"
    )


def test_a_file_that_is_not_a_capture_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dir"
    path.mkdir()
    code, out, err = run_main(capsys, str(path))
    assert (code, out) == (2, "") and err.count("\n") == 1
    # In the words of every other command's errors, not Python's "[Errno 21] ...: '...'".
    assert err == f"alphapulse replay: error: Is a directory: {path}\n"


def test_closed_pipe_is_not_a_traceback(capture: Path) -> None:
    """`alphapulse replay x --json | head -c 10`, with the reader gone before the write."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-m", "alphapulse", "replay", "--json", str(capture)],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
    )
    os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    # The report did not reach its reader: 1, as for schema and status (tests/test_cli.py).
    assert done.returncode == 1


def test_progress_bar_only_on_a_terminal() -> None:
    silent = io.StringIO()
    bar = ReplayProgress(silent, min_bytes=0)
    bar(50, 100)
    bar.close()
    assert silent.getvalue() == ""

    leader, follower = pty.openpty()
    os.set_blocking(leader, False)
    with os.fdopen(follower, "w") as tty:
        small = ReplayProgress(tty, min_bytes=1000)
        small(50, 100)  # a small file: done before a bar would help
        small.close()
        with pytest.raises(BlockingIOError):
            os.read(leader, 4096)
        big = ReplayProgress(tty, min_bytes=0)
        big(50, 100)
        big(100, 100)
        big.close()
    shown = os.read(leader, 4096).decode()
    os.close(leader)
    assert shown.startswith("\rreplay:") and "B/s" in shown


@pytest.mark.parametrize("seconds", ["0", "-5", "nan", "inf"])
def test_demo_refuses_a_duration_it_cannot_simulate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], seconds: str
) -> None:
    out = tmp_path / "demo.capture.zst"
    assert main(["demo", "--out", str(out), "--seconds", seconds]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not out.exists()


def test_demo_into_a_directory_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path), "--seconds", "1"]) == 2
    assert capsys.readouterr().err.startswith("alphapulse demo: ")
