"""How many frames a second the simulator serves: ``python -m alphapulse.simulator.bench``.

The exchange runs in this process at an unreachable ``rate``; a client in a child process
subscribes to every book and trade stream and counts the WebSocket frames it reads (a raw
socket reader: parsing the frame headers only, so the client is not the bottleneck). The
figure is frames received per second, over ``--seconds`` after a warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from collections.abc import Sequence

from alphapulse.simulator.exchange import SimulatedExchange

SYMBOLS = {
    "kraken": ["BTC/USD", "ETH/USD"],
    "coinbase": ["BTC-USD", "ETH-USD"],
    "binance": ["BTCUSDT", "ETHUSDT"],
    "alpaca": ["BTC/USD", "ETH/USD"],
}


def _subscription(venue: str) -> tuple[str, list[str]]:
    """The client's URL path and messages: every book and trade stream."""
    kraken = '"BTC/USD","ETH/USD"'
    if venue == "kraken":
        return "/v2", [
            '{"method":"subscribe","params":{"channel":"instrument"}}',
            f'{{"method":"subscribe","params":{{"channel":"book","symbol":[{kraken}]}}}}',
            f'{{"method":"subscribe","params":{{"channel":"trade","symbol":[{kraken}]}}}}',
        ]
    if venue == "coinbase":
        products = '["BTC-USD","ETH-USD"]'
        return "/", [
            f'{{"type":"subscribe","product_ids":{products},"channel":"{c}"}}'
            for c in ("level2", "market_trades")
        ]
    if venue == "binance":
        streams = "/".join(f"{s}@{k}" for s in ("btcusdt", "ethusdt") for k in ("depth", "trade"))
        return f"/stream?streams={streams}", []
    return "/v1beta3/crypto/us", [
        '{"action":"auth","key":"k","secret":"s"}',
        f'{{"action":"subscribe","trades":[{kraken}],"orderbooks":[{kraken}]}}',
    ]


def _client(
    venue: str,
    port: int,
    seconds: float,
    warmup: float,
    result: multiprocessing.Queue[tuple[int, float]],
) -> None:
    """A raw WebSocket client: handshake, subscribe, then count frames by their headers."""

    async def main() -> None:
        path, messages = _subscription(venue)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await reader.readuntil(b"\r\n\r\n")
        for m in messages:
            payload = m.encode()  # client frames are masked; a zero mask keeps them readable
            assert len(payload) < 126, "one-byte length only"
            writer.write(bytes((0x81, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
        buffer = b""
        frames = 0
        start = time.monotonic()
        counting_from = start + warmup
        counted = 0
        end = counting_from + seconds
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            buffer += chunk
            pos, n = 0, len(buffer)
            while pos + 2 <= n:
                length = buffer[pos + 1] & 0x7F
                header = 2
                if length == 126:
                    if pos + 4 > n:
                        break
                    length, header = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), 4
                elif length == 127:
                    if pos + 10 > n:
                        break
                    length, header = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), 10
                if pos + header + length > n:
                    break
                pos += header + length
                frames += 1
            buffer = buffer[pos:]
            now = time.monotonic()
            if now >= counting_from and not counted:
                counted = frames
            if now >= end:
                break
        result.put((frames - counted, time.monotonic() - counting_from))
        writer.close()

    asyncio.run(main())


async def measure(venue: str, rate: float, seconds: float, warmup: float = 1.0) -> float:
    """Frames per second one client received from ``venue`` (see the module doc)."""
    async with SimulatedExchange(venue, SYMBOLS[venue], rate=rate, truth_limit=10_000) as ex:
        result: multiprocessing.Queue[tuple[int, float]] = multiprocessing.Queue()
        proc = multiprocessing.Process(
            target=_client, args=(venue, ex.port, seconds, warmup, result), daemon=True
        )
        proc.start()
        while proc.is_alive():
            await asyncio.sleep(0.05)
        frames, elapsed = result.get(timeout=5)
        stats = ex.stats()
        print(
            f"{venue:9} {frames / elapsed:>10,.0f} frames/s received "
            f"({stats.steps / stats.seconds:,.0f} steps/s over the run)"
        )
        return frames / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alphapulse.simulator.bench")
    parser.add_argument("--venue", action="append", choices=list(SYMBOLS))
    parser.add_argument("--rate", type=float, default=1_000_000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    for venue in args.venue or list(SYMBOLS):
        asyncio.run(measure(venue, args.rate, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
