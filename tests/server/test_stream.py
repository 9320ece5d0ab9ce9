"""The WebSocket stream: subscriptions, the items' shapes, errors, and a client that stops
reading (it gets fewer, newer updates from a bounded buffer and slows nobody)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from alphapulse.server.stream import MAX_TRADES
from tests.server.test_routes import Fetch, get

Ws = Any


async def ws_open(jp_ws_fetch: Fetch, *subscriptions: dict[str, Any]) -> Ws:
    ws = await jp_ws_fetch("alphapulse", "api", "stream")
    for spec in subscriptions:
        await ws.write_message(orjson.dumps({"op": "subscribe", **spec}).decode())
    return ws


async def collect(ws: Ws, seconds: float, until: Callable[[list[Any]], bool]) -> list[Any]:
    messages: list[Any] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not until(messages):
        try:
            text = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
        except TimeoutError:
            break
        assert text is not None, "the server closed the stream"
        messages.append(orjson.loads(text))
    return messages


def items(messages: list[Any], channel: str) -> list[Any]:
    return [
        i for m in messages if m["type"] == "update" for i in m["items"] if i["channel"] == channel
    ]


async def test_bars_trades_book_status_and_news(running: Any, jp_ws_fetch: Fetch) -> None:
    ws = await ws_open(
        jp_ws_fetch,
        {"channel": "bars", "instrument": "kraken:BTC/USD", "interval": "1s"},
        {"channel": "trades", "instrument": "coinbase:BTC-USD"},
        {"channel": "book", "instrument": "binance:BTCUSDT", "depth": 5},
        {"channel": "status"},
        {"channel": "news"},
    )

    def complete(messages: list[Any]) -> bool:
        live = [b for b in items(messages, "bars") if not b["history"] and b["bars"]]
        return all(items(messages, c) for c in ("trades", "book", "status", "news")) and bool(live)

    messages = await collect(ws, 45, complete)
    ws.close()
    assert [m["channel"] for m in messages if m["type"] == "subscribed"] == [
        "bars",
        "trades",
        "book",
        "status",
        "news",
    ]
    bars = items(messages, "bars")
    assert bars[0]["history"] is True  # first, so that a chart starts from the lake's bars
    live = [bar for item in bars if not item["history"] for bar in item["bars"]]
    assert live and all(b["low"] <= min(b["open"], b["close"]) for b in live)
    assert all(b["high"] >= max(b["open"], b["close"]) and b["volume"] > 0 for b in live)
    assert all(b["time"] == int(b["time"]) for b in live)  # whole seconds: a 1 s bar's start
    trades = [r for i in items(messages, "trades") for r in i["rows"]]
    assert {i["instrument"] for i in items(messages, "trades")} == {"coinbase:BTC-USD"}
    assert trades and all(r["side"] in ("buy", "sell", "unknown") for r in trades)
    book = items(messages, "book")[-1]
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    assert items(messages, "status")[-1]["status"]["collector"]["venues"]["kraken"]["frames"] > 0
    assert all("headline" in r for i in items(messages, "news") for r in i["rows"])


@pytest.mark.parametrize(
    "spec",
    [
        {"op": "subscribe", "channel": "candles", "instrument": "kraken:BTC/USD"},
        {"op": "subscribe", "channel": "bars", "instrument": "kraken:BTC/USD", "interval": "0s"},
        {"op": "subscribe", "channel": "bars", "instrument": "kraken:BTC/USD", "interval": "1mo"},
        {"op": "subscribe", "channel": "book", "instrument": "BTC/USD"},
        {"op": "subscribe", "channel": "book", "instrument": "kraken:BTC/USD", "depth": 0},
        {"op": "dance"},
        [1, 2],
    ],
)
async def test_a_bad_message_gets_an_error_and_the_socket_stays(
    running: Any, jp_ws_fetch: Fetch, spec: Any
) -> None:
    ws = await jp_ws_fetch("alphapulse", "api", "stream")
    await ws.write_message(orjson.dumps(spec).decode())
    await ws.write_message(orjson.dumps({"op": "subscribe", "channel": "status"}).decode())
    messages = await collect(ws, 10, lambda m: len(m) >= 2)
    ws.close()
    assert messages[0]["type"] == "error" and messages[0]["message"]
    assert messages[1] == {"type": "subscribed", "channel": "status"}


async def test_unsubscribe_stops_the_updates(running: Any, jp_ws_fetch: Fetch) -> None:
    spec = {"channel": "trades", "instrument": "kraken:BTC/USD"}
    ws = await ws_open(jp_ws_fetch, spec)
    await collect(ws, 20, lambda m: bool(items(m, "trades")))
    await ws.write_message(orjson.dumps({"op": "unsubscribe", **spec}).decode())
    await asyncio.sleep(0.5)  # what was already on its way
    while True:
        try:
            await asyncio.wait_for(ws.read_message(), 0.05)
        except TimeoutError:
            break
    later = await collect(ws, 2, lambda m: False)
    ws.close()
    assert not items(later, "trades")


def stuck_client(
    port: int, path: str, token: str, subscriptions: list[dict[str, Any]]
) -> socket.socket:
    """A WebSocket client that subscribes and then never reads: a browser tab that froze."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: token {token}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    for spec in subscriptions:
        payload = orjson.dumps({"op": "subscribe", **spec})
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        if len(payload) < 126:
            header = struct.pack("!BB", 0x81, 0x80 | len(payload))
        else:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        sock.sendall(header + mask + masked)
    return sock


async def test_a_client_that_stops_reading_slows_nobody(
    running: Any, jp_ws_fetch: Fetch, jp_fetch: Fetch, jp_http_port: int, jp_base_url: str
) -> None:
    hub = running.web_app.settings["alphapulse_state"].hub
    listed = (await get(jp_fetch, "instruments"))["instruments"]
    instruments = sorted({i["instrument"] for i in listed})
    # Everything, the books 1000 deep: tens of kB a flush, which fills the socket's buffers.
    every = [{"channel": "trades", "instrument": i} for i in instruments]
    every += [{"channel": "book", "instrument": i, "depth": 1000} for i in instruments]
    every += [{"channel": "news"}]
    token = running.identity_provider.token
    path = f"{jp_base_url}alphapulse/api/stream"
    # In a thread: its blocking handshake must not block the loop that serves it.
    stuck = await asyncio.to_thread(stuck_client, jp_http_port, path, token, every)
    healthy = await ws_open(jp_ws_fetch, {"channel": "trades", "instrument": "kraken:BTC/USD"})
    try:
        deadline = time.monotonic() + 30
        while not (frozen := [c for c in hub.clients if len(c.keys) > 2]):
            assert time.monotonic() < deadline, "the stuck client did not subscribe"
            await asyncio.sleep(0.2)
        client = frozen[0]
        # A slow network path: the kernel's send buffer of a loopback socket would grow to
        # megabytes and take minutes to fill; a small one backs up within seconds.
        handler = client.send.__self__
        handler.ws_connection.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        while client.writing is None or client.writing.done():  # its writes back up
            assert time.monotonic() < deadline, "the stuck client's socket never filled"
            await asyncio.sleep(0.2)
        sent_before = client.sent
        started = time.monotonic()
        messages = await collect(healthy, 3, lambda m: False)
        rate = len(items(messages, "trades")) / (time.monotonic() - started)
        latencies = []
        for _ in range(20):
            t0 = time.perf_counter()
            await jp_fetch("alphapulse", "api", "status")
            latencies.append(time.perf_counter() - t0)
    finally:
        stuck.close()
        healthy.close()
    assert rate >= 5, f"the healthy client got {rate:.1f} updates/s"
    assert sorted(latencies)[-2] < 0.5, latencies  # REST stays responsive
    # The frozen socket got nothing more while backed up; its buffer is bounded and
    # coalesced: at most MAX_TRADES trades an instrument, one book each (the latest).
    healthy_sent = sum(1 for m in messages if m["type"] == "update")
    assert client.sent - sent_before <= 1 < healthy_sent, (client.sent - sent_before, healthy_sent)
    assert all(len(q) <= MAX_TRADES for q in client.trades.values())
    assert sum(len(q) for q in client.trades.values()) > 0
    assert set(client.books) <= set(instruments)
