"""`alphapulse replay` / `demo` / `schema` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alphapulse.capture import CaptureWriter, read_capture
from alphapulse.cli import main
from tests.conftest import KRAKEN, recording


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
