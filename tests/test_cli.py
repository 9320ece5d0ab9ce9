"""`alphapulse …` as a user runs it: replay, demo, schema, status, and every kind of bad
input answered with one line and an exit code."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alphapulse import commands
from alphapulse.capture import CaptureWriter, read_capture
from alphapulse.cli import main
from tests.conftest import KRAKEN, ROOT, recording


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alphapulse", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.capture.zst"
    out = run("demo", "--out", str(path), "--seconds", "20")
    assert out.returncode == 0, out.stderr
    assert "records from kraken_v1, coinbase, binance" in out.stdout
    return path


def test_demo_replays_clean(demo: Path) -> None:
    out = run("replay", "--verify", str(demo))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK: 0 checksum failures, 0 sequence gaps" in out.stdout
    for name in ("kraken:XBT/USD", "coinbase:BTC-USD", "binance:BTCUSDT"):
        assert name in out.stdout


def test_replay_json(demo: Path) -> None:
    out = run("replay", "--json", str(demo))
    assert out.returncode == 0
    report = json.loads(out.stdout)
    assert report["frames"] > 1000 and report["rejects"] == 0
    kraken = report["instruments"]["kraken:XBT/USD"]
    assert set(kraken) >= {
        "trades",
        "book_updates",
        "checksums_verified",
        "checksums_failed",
        "gaps",
        "crossed",
    }
    assert kraken["checksums_verified"] == kraken["book_updates"] > 100
    assert all(isinstance(v, int) for i in report["instruments"].values() for v in i.values())


def test_verify_fails_on_a_damaged_capture(demo: Path, tmp_path: Path) -> None:
    """Drop one Kraken book update and one Binance diff: --verify must exit non-zero."""
    damaged = tmp_path / "damaged.capture.zst"
    dropped = {"kraken_v1": False, "binance": False}
    marker = {"kraken_v1": b'"c":', "binance": b"depthUpdate"}
    late = 5_000_000_000 + min_ts(demo)
    with CaptureWriter(damaged) as w:
        for r in read_capture(demo):
            venue = r.protocol or ""
            if (
                r.kind == "recv"
                and venue in marker
                and marker[venue] in r.data
                and not dropped[venue]
                and r.ts > late
            ):
                dropped[venue] = True
                continue
            if r.kind == "connect":
                w.connect(r.conn, r.protocol or "", r.url or "", r.ts)
            elif r.kind == "recv":
                w.recv(r.conn, r.data, r.ts)
            elif r.kind == "http":
                w.http(r.conn, r.protocol or "", r.url or "", r.data, r.ts)
    assert all(dropped.values())
    out = run("replay", "--verify", "--json", str(damaged))
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["checksums_failed"] >= 1 and report["gaps"] >= 1
    assert not report["ok"]
    assert run("replay", "--json", str(damaged)).returncode == 0  # without --verify


_MIN_TS: dict[Path, int] = {}


def min_ts(path: Path) -> int:
    if path not in _MIN_TS:
        _MIN_TS[path] = next(r.ts for r in read_capture(path) if r.kind == "connect")
    return _MIN_TS[path]


def test_replay_shared_recording() -> None:
    out = run("replay", "--verify", str(recording(KRAKEN)))
    assert out.returncode == 0
    assert "kraken:XMR/USD" in out.stdout


def test_replay_errors_are_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "missing.zst")]) == 2
    assert "no capture at" in capsys.readouterr().err
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    assert main(["replay", str(junk)]) == 2
    assert "header" in capsys.readouterr().err


def test_schema_lists_tables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    out = capsys.readouterr().out
    assert "trades:" in out and "price_raw" in out and "rejects:" in out
    assert main(["schema", "nope"]) == 2


# --- bad input: one line on stderr, exit 2 (usage) or 1 (runtime), never a traceback -------


def one_line_error(out: subprocess.CompletedProcess[str], code: int, expected: str) -> str:
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == code, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and ": error: " in lines[0], out.stderr
    assert expected in lines[0], lines[0]
    return lines[0]


def run_quick(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Errors come before anything runs: a hang (``--duration nan`` collected forever) fails."""
    return subprocess.run(
        [sys.executable, "-m", "alphapulse", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


USAGE_ERRORS = [
    (["collect", "--duration", "nan"], "argument --duration: not a finite number: 'nan'"),
    (["collect", "--duration", "-1"], "argument --duration: must be above 0, not '-1'"),
    (["collect", "--rate", "inf"], "argument --rate: not a finite number: 'inf'"),
    (["collect", "--rate", "nan"], "argument --rate: not a finite number"),
    (["collect", "--rate", "-5"], "argument --rate: must be above 0"),
    (["collect", "--rate", "0"], "argument --rate: must be above 0"),
    (["simulate", "--port", "70000"], "argument --port: port 70000 is out of range (0-65535)"),
    (["simulate", "--port", "-1"], "argument --port: port -1 is out of range"),
    (["simulate", "--rate", "0"], "argument --rate: must be above 0"),
    (["simulate", "--port", "0", "--symbols", "ZZZ"], "--symbols: 'ZZZ' is not a BASE/QUOTE"),
    (["demo", "--seconds", "nan"], "argument --seconds: not a finite number"),
    (["demo", "--seconds", "1e308"], "argument --seconds: at most 86,400 (a day)"),
    (["demo", "--seed", "1" + "0" * 20], "argument --seed: must fit in 64 bits"),
    (["demo", "--seed", "x"], "argument --seed: not an integer: 'x'"),
    (["demo", "--out", "/"], "--out /: a directory, not a capture file"),
    (["collect", "--venue", "kraken", "--symbols", ""], "argument --symbols: no symbols given"),
    (["collect", "--venue", "kraken", "--symbols", "BTC/USD,,ETH/USD"], "an empty symbol"),
    (["collect", "--venue", "kraken", "--symbols", "A/B,A/B"], "symbol 'A/B' is given twice"),
    (["collect", "--venue", "nasdaq", "--symbols", "AAPL"], "argument --venue: invalid choice"),
    (["collect", "--symbols", "BTC/USD"], "--symbols needs --venue"),
    (["collect", "--venue", "kraken"], "--venue kraken needs --symbols"),
    (["collect", "--config", "/nonexistent/c.toml"], "/nonexistent/c.toml: cannot read"),
    (
        ["collect", "--simulated", "--venue", "binance_us", "--symbols", "BTCUSD"],
        "--venue binance_us: the simulator cannot serve it: unknown venue 'binance_us'",
    ),
    (
        ["collect", "--simulated", "--venue", "kraken", "--symbols", "BTCUSD"],
        "'BTCUSD' is not a BASE/QUOTE pair",
    ),
    (
        ["collect", "--venue", "alpaca", "--symbols", "AAPL"],
        "--venue alpaca: Alpaca needs ALPACA_API_KEY",
    ),
    (["schema", "nope"], 'no table "nope"'),
    # An unset shell variable: not "no config" (the simulator) nor the default lake.
    (["collect", "--config", ""], "argument --config: an empty path"),
    (["collect", "--lake", ""], "argument --lake: an empty path"),
    (["collect", "--capture", ""], "argument --capture: an empty path"),
    (["status", "--lake", ""], "argument --lake: an empty path"),
    (["demo", "--out", ""], "argument --out: an empty path"),
    (["replay", ""], "argument path: an empty path"),
    (["nope"], "argument command: invalid choice: 'nope'"),
]


@pytest.mark.parametrize(
    ("argv", "expected"), USAGE_ERRORS, ids=[" ".join(argv) for argv, _ in USAGE_ERRORS]
)
def test_usage_errors_are_one_line_and_exit_2(argv: list[str], expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    one_line_error(run_quick(*argv, env=env), 2, expected)


def test_a_bad_config_file_is_one_line_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text('[venues.kraken]\nsymbols = "BTC/USD"\n')
    one_line_error(
        run_quick("collect", "--config", str(config)),
        2,
        f"{config}: venues.kraken.symbols: expected an array, got a string 'BTC/USD'",
    )
    one_line_error(run_quick("collect", "--config", str(tmp_path)), 2, "Is a directory")


def collect_into(lake: Path, *more: str) -> list[str]:
    return ["collect", "--simulated", "--duration", "1", "--lake", str(lake), *more]


def test_paths_of_the_wrong_kind(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a lake")
    one_line_error(run_quick(*collect_into(a_file)), 1, f"{a_file}: not a directory")
    under = a_file / "lake"
    one_line_error(run_quick(*collect_into(under)), 1, f"Not a directory: {under}")
    more = ("--capture", str(tmp_path))
    one_line_error(run_quick(*collect_into(tmp_path / "lake", *more)), 1, "not a capture file")
    more = ("--capture", str(a_file / "sub" / "c.capture.zst"))
    expected = f"{a_file}/sub/c.capture.zst: {a_file} is a file, not a directory"
    one_line_error(run_quick(*collect_into(tmp_path / "lake", *more)), 1, expected)
    assert a_file.read_text() == "not a lake"


@pytest.mark.parametrize("kind", ["text", "recording", "plain capture"])
def test_a_capture_path_holding_something_else_is_left_alone(kind: str, tmp_path: Path) -> None:
    """The capture writer appends: it used to add zstd frames to any file, exit 0."""
    victim = tmp_path / "victim"
    if kind == "text":
        victim.write_text("my notes\n")
    elif kind == "recording":
        victim.write_bytes(recording(KRAKEN).read_bytes())
    else:  # our records, but not the zstd frames the writer appends
        victim.write_text('{"t":"header","format":"alphapulse.capture","version":1}\n')
    before = victim.read_bytes()
    argv = collect_into(tmp_path / "lake", "--capture", str(victim))
    one_line_error(run_quick(*argv), 1, f"{victim}: exists and is not an AlphaPulse capture")
    assert victim.read_bytes() == before


def test_an_existing_capture_is_appended_to(tmp_path: Path) -> None:
    from alphapulse.commands import check_paths
    from alphapulse.config import CollectorConfig

    capture = tmp_path / "c.capture.zst"
    CaptureWriter(capture).close()
    empty = tmp_path / "empty.capture.zst"
    empty.touch()
    for path in (capture, empty, tmp_path / "new.capture.zst"):
        check_paths(CollectorConfig(lake=tmp_path / "lake", capture=path))


def test_a_directory_that_is_not_a_lake(tmp_path: Path) -> None:
    """``--lake .`` in a project directory would fill it with table directories."""
    (tmp_path / "notes.txt").write_text("mine")
    one_line_error(run_quick(*collect_into(tmp_path)), 1, f"{tmp_path}: not a lake")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_alphapulse_lake.lock").touch()  # a collector died before writing the marker
    out = run_quick(*collect_into(empty, "--rate", "50"))
    assert out.returncode == 0, out.stderr


def test_a_lake_of_a_newer_version(tmp_path: Path) -> None:
    (tmp_path / "_alphapulse_lake.json").write_text(
        '{"format": "alphapulse.lake", "schema_version": 99}'
    )
    one_line_error(run_quick(*collect_into(tmp_path)), 1, "lake schema version 99")


def test_a_lake_another_collector_holds(tmp_path: Path) -> None:
    from alphapulse.lake import LakeWriter

    writer = LakeWriter(tmp_path)
    try:
        out = run_quick(*collect_into(tmp_path))
    finally:
        writer.close()
    one_line_error(out, 1, f"another writer holds the lake at {tmp_path}")


def test_an_unwritable_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    argv = [sys.executable, "-m", "alphapulse", *collect_into(lake)]
    if os.geteuid() != 0:
        lake.chmod(0o555)
    elif (
        shutil.which("unshare")
        and subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0
    ):
        # Root writes anywhere a mode allows nothing: make the lake a read-only mount.
        mount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        argv = ["unshare", "-m", "sh", "-c", mount, str(lake), *argv]
    else:
        pytest.skip("running as root without mount namespaces: no directory is unwritable")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    lake.chmod(0o755)
    line = one_line_error(out, 1, str(lake))
    assert "Read-only file system" in line or "Permission denied" in line


# --- status -----------------------------------------------------------------------------------


def fake_status(lake: Path, committed: bool = True) -> None:
    """What a running collector leaves in its lake; this test's pid counts as alive."""
    lake.mkdir(exist_ok=True)
    status = {
        "pid": os.getpid(),
        "ts": time.time(),
        "uptime_s": 125.0,
        "venues": {
            "kraken": {
                "frames": 120345,
                "connected": 1,
                "gaps": 0,
                "resyncs": 2,
                "rejects": 0,
                "out_of_sync": [],
            }
        },
        "sink": {
            "rows_written": 1204112,
            "rows_buffered": 3018,
            "bytes_written": 38_200_000,
            "files_committed": 14,
            "queue_depth": 3,
            "max_queue": 64,
            "rows_lost": 0,
        },
    }
    (lake / "_status.json").write_text(json.dumps(status))
    if committed:
        today = datetime.now(UTC).date().isoformat()
        part = lake / "trades" / "venue=kraken" / f"date={today}" / "part-000000-x.parquet"
        part.parent.mkdir(parents=True)
        part.write_bytes(b"")
        os.utime(part, (time.time() - 42, time.time() - 42))


def test_status_formats_the_lake(tmp_path: Path) -> None:
    fake_status(tmp_path)
    out = run_quick("status", "--lake", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "{" not in out.stdout  # not a dict's repr
    assert "kraken" in out.stdout and "frames      120,345" in out.stdout
    lake_line = out.stdout.splitlines()[-1]
    assert lake_line.startswith("  lake: 1,204,112 rows written, 3,018 buffered | 38.2 MB in 14 ")
    assert "queue 3/64" in lake_line and re.search(r"last commit 4\d s ago$", lake_line)


def test_status_json(tmp_path: Path) -> None:
    fake_status(tmp_path, committed=False)
    out = run_quick("status", "--lake", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["lake"] == str(tmp_path) and status["pid"] == os.getpid()
    assert status["sink"]["rows_written"] == 1204112 and status["last_commit_age_s"] is None
    assert 0 <= status["status_age_s"] < 30


def test_status_without_a_collector(tmp_path: Path) -> None:
    one_line_error(run_quick("status", "--lake", str(tmp_path)), 1, "no collector is running")


BAD_STATUS = [
    ("{}", "pid is None"),
    ("[1]", "not a JSON object"),
    ("{not json", "not JSON"),
    ('{"pid": [1]}', "pid is [1]"),
    ('{"pid": 0}', "pid is 0"),  # os.kill(0, 0) would ask the whole process group
    ('{"pid": true}', "pid is True"),
    ('{"pid": 99999999999999999999}', "pid is 1e+20"),
    ('{"pid": {pid}}', "ts: field required"),
    ('{"pid": {pid}, "ts": "x", "uptime_s": 1, "venues": {}}', "ts: input should be"),
    ('{"pid": {pid}, "ts": 1, "uptime_s": "a", "venues": {}}', "uptime_s: input should be"),
    ('{"pid": {pid}, "ts": 1, "uptime_s": 1, "venues": []}', "venues: input should be"),
    ('{"pid": {pid}, "ts": 1, "uptime_s": 1, "venues": {"k": {"frames": "x"}}}', "venues.k."),
    ('{"pid": {pid}, "ts": 1, "uptime_s": 1, "venues": {}, "sink": []}', "sink: input should"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_STATUS, ids=[t for t, _ in BAD_STATUS])
@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_a_status_file_of_the_wrong_shape_is_one_line(
    text: str, expected: str, json_out: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A status file a collector did not write (or not this version) with a live pid."""
    (tmp_path / "_status.json").write_text(text.replace("{pid}", str(os.getpid())))
    argv = ["status", "--lake", str(tmp_path), *(["--json"] if json_out else [])]
    assert main(argv) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("alphapulse status: error: "), err
    assert "_status.json: not a collector's status" in err[0] and expected in err[0], err


def test_a_status_file_of_a_dead_collector(tmp_path: Path) -> None:
    fake_status(tmp_path)
    status = json.loads((tmp_path / "_status.json").read_text())
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    status["pid"] = int(dead.stdout)
    (tmp_path / "_status.json").write_text(json.dumps(status))
    one_line_error(run_quick("status", "--lake", str(tmp_path)), 1, "no collector is running")


def test_the_status_file_name_is_the_collectors() -> None:
    from alphapulse import collect, status

    assert status.STATUS_FILE == collect.STATUS_FILE


CLOSED_STDOUT = [(["schema"], 1), (["status", "--lake", "{lake}"], 1), (["collect", "--help"], 0)]


@pytest.mark.parametrize(
    ("argv", "code"), CLOSED_STDOUT, ids=[" ".join(a) for a, _ in CLOSED_STDOUT]
)
def test_a_closed_pipe_is_not_a_traceback(argv: list[str], code: int, tmp_path: Path) -> None:
    """``alphapulse schema | head -1``: the reader is gone before (most of) the output."""
    fake_status(tmp_path)
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as closed:
        out = subprocess.run(
            [sys.executable, "-m", "alphapulse", *(a.format(lake=tmp_path) for a in argv)],
            stdout=closed,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert out.stderr == "" and out.returncode == code


def test_no_stdout_at_all_is_not_a_traceback() -> None:
    """Started with stdout closed (``>&-``), Python's sys.stdout is None."""
    out = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "alphapulse", "schema"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stderr == "" and out.returncode == 0


def tiny_capture(path: Path) -> Path:
    with CaptureWriter(path) as w:
        w.connect("k", "kraken_v1", "wss://ws.kraken.com")
        w.recv("k", '{"event":"heartbeat"}')
    return path


@pytest.mark.parametrize("verify", [[], ["--verify"], ["--json"]], ids=["plain", "verify", "json"])
def test_replay_into_a_closed_pipe_exits_1_like_every_command(
    verify: list[str], tmp_path: Path
) -> None:
    """``alphapulse replay f | head -c 10``: the report did not reach its reader."""
    capture = tiny_capture(tmp_path / "c.capture.zst")
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as closed:
        out = subprocess.run(
            [sys.executable, "-m", "alphapulse", "replay", *verify, str(capture)],
            stdout=closed,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert out.stderr == "" and out.returncode == 1


def test_replay_with_no_stdout_at_all_is_not_a_traceback(tmp_path: Path) -> None:
    capture = tiny_capture(tmp_path / "c.capture.zst")
    argv = [sys.executable, "-m", "alphapulse", "replay", "--verify", str(capture)]
    out = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *argv], capture_output=True, text=True, timeout=60
    )
    assert out.stderr == "" and out.returncode == 0


def test_a_failed_collect_says_why_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Not "rows lost 0, out of sync {}" when a venue delivered nothing."""
    from alphapulse import collect

    async def failed(*args: object, **kwargs: object) -> collect.CollectResult:
        venues = {"kraken": {"out_of_sync": ["XBT/USD"]}, "alpaca": {"out_of_sync": []}}
        summary = {"venues": venues, "problems": ["alpaca: delivered no data"]}
        return collect.CollectResult(summary=summary, rows_lost=3)

    monkeypatch.setattr(collect, "run_collector", failed)
    assert main(["collect", "--simulated", "--duration", "1", "--lake", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "alphapulse collect: alpaca: delivered no data; 3 rows lost; kraken out of sync: XBT/USD\n"
    )


@pytest.mark.parametrize("base", ["junk", "https://paper-api.alpaca.markets", "wss://"])
def test_an_unusable_alpaca_base_url_is_one_line(base: str, tmp_path: Path) -> None:
    """ALPACA_BASE_URL is no config key: it used to fail at every connect, for ever."""
    env = {**os.environ, "ALPACA_API_KEY": "k", "ALPACA_API_SECRET": "s", "ALPACA_BASE_URL": base}
    argv = ["collect", "--venue", "alpaca", "--symbols", "AAPL", "--lake", str(tmp_path / "l")]
    line = one_line_error(run_quick(*argv, env=env), 2, "--venue alpaca: connection ")
    assert "is not a ws:// or wss:// URL" in line and not (tmp_path / "l").exists()


def test_unusable_venue_keys_are_one_line() -> None:
    env = {**os.environ, "COINBASE_API_KEY": "key", "COINBASE_API_SECRET": "not a key"}
    argv = ["collect", "--venue", "coinbase", "--symbols", "BTC-USD"]
    one_line_error(run_quick(*argv, env=env), 2, "--venue coinbase: ")


def test_ctrl_c_outside_collect_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "cmd_schema", interrupted)
    assert main(["schema"]) == 130
    assert capsys.readouterr().err == "alphapulse schema: interrupted\n"


def test_an_interrupted_demo_leaves_no_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A demo cut short at a flush would otherwise replay as a whole, clean capture."""
    from alphapulse.simulator import demo

    def interrupted(path: Path, **kwargs: object) -> object:
        with CaptureWriter(path) as w:
            w.connect("k", "kraken_v1", "wss://ws.kraken.com")
        raise KeyboardInterrupt

    out = tmp_path / "demo.capture.zst"
    out.write_bytes(b"the previous demo")
    monkeypatch.setattr(demo, "write_demo_capture", interrupted)
    assert main(["demo", "--out", str(out)]) == 130
    assert capsys.readouterr().err == "alphapulse demo: interrupted\n"
    assert out.read_bytes() == b"the previous demo"
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


#: The console script `alphapulse` is this (pip writes it from [project.scripts]).
CONSOLE_SCRIPT = "import sys; from alphapulse.cli import main; sys.exit(main())"


def interrupt_at(argv: list[str], loaded: str) -> subprocess.CompletedProcess[str]:
    """Start ``argv`` and send it SIGINT as soon as it has loaded a shared library whose path
    contains ``loaded``: in the middle of its imports, at a point the test can find again."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if loaded in maps.read_text():
                    break
            time.sleep(0.0005)
        else:
            pytest.fail(f"{argv} never loaded {loaded}")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc/<pid>/maps")
@pytest.mark.parametrize("entry", ["-m", "script"])
@pytest.mark.parametrize("loaded", ["orjson", "libarrow", "websockets/speedups"])
def test_ctrl_c_while_starting_is_one_line(entry: str, loaded: str) -> None:
    """Ctrl-C in the first half second, while the imports run (before main's handler was in
    place this was a KeyboardInterrupt traceback, or a segfault inside orjson's init)."""
    start = ["-m", "alphapulse"] if entry == "-m" else ["-c", CONSOLE_SCRIPT]
    out = interrupt_at([sys.executable, *start, "schema"], loaded)
    assert "Traceback" not in out.stderr, out.stderr
    assert (out.returncode, out.stderr) == (130, "alphapulse: interrupted\n")
    assert out.stdout == ""


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(commands, "cmd_schema", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["schema"])


# --- make help ------------------------------------------------------------------------------


def test_make_help_lists_every_target() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([A-Za-z0-9_-]+):(?!=)", makefile, re.M)
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert phony is not None and set(phony.group(1).split()) == set(targets)
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    listed = [line.split()[1] for line in out.stdout.splitlines()]
    assert listed == targets  # each once, in the Makefile's order
