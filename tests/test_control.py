"""The collector's control endpoint and live channel, against a real collector process on the
embedded simulator (``alphapulse collect --simulated``)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from alphapulse.control import control_socket_path
from alphapulse.control_client import (
    ControlClient,
    ControlError,
    ControlUnavailableError,
    find_control,
)

COLLECT = (sys.executable, "-m", "alphapulse", "collect", "--simulated")


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    lake = tmp_path_factory.mktemp("control") / "lake"
    proc = subprocess.Popen(
        [*COLLECT, "--lake", str(lake), "--duration", "120", "--rate", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        path = None
        while path is None:
            assert proc.poll() is None, "the collector exited"
            assert time.monotonic() < deadline, "no control endpoint in the status file"
            time.sleep(0.2)
            path = find_control(lake)
        yield lake, path
    finally:
        proc.terminate()
        proc.wait(30)
    assert not path.exists(), "the socket outlived its collector"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def call(path: Path, op: str, **args: Any) -> Any:
    async with ControlClient(path) as c:
        return await c.call(op, **args)


def test_the_socket_is_private_and_named_after_the_lake(collector: tuple[Path, Path]) -> None:
    lake, path = collector
    assert path == control_socket_path(lake)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_status_and_instruments(collector: tuple[Path, Path]) -> None:
    lake, path = collector
    status = run(call(path, "status"))
    assert status["lake"] == str(lake) and status["simulated"] is True
    assert set(status["venues"]) == {"kraken", "coinbase", "binance", "alpaca"}
    instruments = {i["instrument"]: i for i in run(call(path, "instruments"))}
    assert "kraken:BTC/USD" in instruments and "alpaca:AAPL" in instruments
    assert instruments["kraken:BTC/USD"]["id"] == "BTC-USD@kraken"


def test_book_top_is_the_venues_decimals_best_first(collector: tuple[Path, Path]) -> None:
    _, path = collector
    top = run(call(path, "book_top", instrument="coinbase:BTC-USD", depth=5))
    instruments = {i["instrument"]: i for i in run(call(path, "instruments"))}
    precision = instruments["coinbase:BTC-USD"]["price_precision"]
    assert top["synced"] is True and len(top["bids"]) == 5 and len(top["asks"]) == 5
    bids = [Decimal(p) for p, _ in top["bids"]]
    asks = [Decimal(p) for p, _ in top["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]
    assert all(len(p.split(".")[1]) == precision for p, _ in top["bids"] if "." in p)


@pytest.mark.parametrize(
    ("op", "args", "message"),
    [
        ("book_top", {"instrument": "BTC/USD", "depth": 5}, "venue:symbol"),
        ("book_top", {"instrument": "nowhere:BTC/USD", "depth": 5}, "no venue"),
        ("book_top", {"instrument": "kraken:DOGE/USD", "depth": 5}, "collects no"),
        ("book_top", {"instrument": "kraken:BTC/USD", "depth": "5"}, "depth"),
        ("stop_venue", {"venue": "nowhere"}, "no venue"),
        ("launch", {}, "unknown op"),
    ],
)
def test_bad_requests_get_one_line_errors(
    collector: tuple[Path, Path], op: str, args: dict[str, Any], message: str
) -> None:
    _, path = collector
    with pytest.raises(ControlError, match=message):
        run(call(path, op, **args))
    assert run(call(path, "status"))["venues"]  # and the endpoint still answers


def test_garbage_and_huge_lines_do_not_take_it_down(collector: tuple[Path, Path]) -> None:
    _, path = collector

    async def go() -> list[bytes]:
        answers = []
        for line in (b"not json\n", b"[1, 2]\n", b"x" * 200_000 + b"\n"):
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(line)
            await writer.drain()
            answers.append(await reader.readline())
            writer.close()
        return answers

    for answer in run(go()):
        assert orjson.loads(answer)["ok"] is False
    assert run(call(path, "status"))["venues"]


def test_stop_and_start_a_venue(collector: tuple[Path, Path]) -> None:
    _, path = collector
    stopped = run(call(path, "stop_venue", venue="binance"))
    assert stopped == {"venue": "binance", "state": "stopped", "changed": True}
    assert run(call(path, "stop_venue", venue="binance"))["changed"] is False
    status = run(call(path, "status"))["venues"]["binance"]
    assert status["state"] == "stopped" and status["connected"] == 0
    frames = status["frames"]
    time.sleep(1.0)
    assert run(call(path, "status"))["venues"]["binance"]["frames"] == frames
    assert run(call(path, "start_venue", venue="binance"))["state"] == "running"
    deadline = time.monotonic() + 30
    while run(call(path, "status"))["venues"]["binance"]["frames"] == frames:
        assert time.monotonic() < deadline, "binance did not come back"
        time.sleep(0.3)
    events = run(call(path, "status"))["events"]
    assert events.get("venue_stopped") == 1 and events.get("venue_started") == 1


def test_live_trades_books_and_news_for_what_was_asked(collector: tuple[Path, Path]) -> None:
    _, path = collector

    async def go() -> dict[str, int]:
        seen: dict[str, int] = {}
        async with ControlClient(path) as c:
            await c.subscribe(trades=["kraken:BTC/USD"], books={"coinbase:ETH-USD": 3}, news=True)
            deadline = time.monotonic() + 20
            async for update in c.updates():
                for item in update["items"]:
                    key = f"{item['channel']}:{item.get('instrument', '')}"
                    seen[key] = seen.get(key, 0) + 1
                    if item["channel"] == "book":
                        assert len(item["bids"]) == 3 and item["bids"][0][0] < item["asks"][0][0]
                    if item["channel"] == "trades":
                        assert all(r["price"] > 0 and r["size"] > 0 for r in item["rows"])
                if ("news:" in seen and len(seen) >= 3) or time.monotonic() > deadline:
                    break
        return seen

    seen = run(go())
    assert set(seen) == {"trades:kraken:BTC/USD", "book:coinbase:ETH-USD", "news:"}


def test_a_subscriber_that_stops_reading_does_not_slow_the_collector(
    collector: tuple[Path, Path],
) -> None:
    _, path = collector

    async def go() -> tuple[float, float]:
        # A raw subscriber that never reads again: the collector's writes to it back up.
        _reader, writer = await asyncio.open_unix_connection(str(path))
        every = [f"{v}:{s}" for v, s in (("kraken", "BTC/USD"), ("binance", "BTCUSDT"))]
        request = {"id": 1, "op": "subscribe", "trades": every, "news": True}
        writer.write(orjson.dumps(request) + b"\n")
        await writer.drain()
        before = await call(path, "status")
        await asyncio.sleep(5)
        started = time.perf_counter()
        after = await call(path, "status")
        took = time.perf_counter() - started
        writer.close()
        rate = (after["venues"]["kraken"]["frames"] - before["venues"]["kraken"]["frames"]) / 5
        return rate, took

    rate, took = run(go())
    assert rate > 300, f"kraken at {rate:.0f} frames/s while a subscriber was stuck"
    assert took < 1.0


def test_no_collector_is_a_clear_error(tmp_path: Path) -> None:
    assert find_control(tmp_path) is None
    with pytest.raises(ControlUnavailableError, match="no collector"):
        run(call(tmp_path / "none.sock", "status"))


def test_the_socket_lives_in_the_users_runtime_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert control_socket_path(tmp_path / "lake").parent == tmp_path / "alphapulse"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert control_socket_path(tmp_path / "lake").parent == Path(f"/tmp/alphapulse-{os.getuid()}")
