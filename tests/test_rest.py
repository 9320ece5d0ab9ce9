"""RestClient: Binance's request-weight rules, against fake answers and the simulator's REST.

The simulator's weight window is shortened (``WeightLimit(..., interval=…)``) and the client
is given the same window, so "wait for the minute to roll" takes seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from alphapulse.rest import RestClient, SnapshotError
from alphapulse.simulator import SimulatedExchange
from alphapulse.simulator.binance import Binance as BinanceVenue
from alphapulse.simulator.weights import WeightLimit

BINANCE = ["BTCUSDT", "ETHUSDT"]


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


def fake(answers: list[httpx.Response]) -> tuple[httpx.MockTransport, list[float]]:
    """A transport giving ``answers`` in turn (then 200s), and the times it was asked."""
    times: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return answers.pop(0) if answers else httpx.Response(200, content=b"{}")

    return httpx.MockTransport(handle), times


def test_429_retry_after_holds_every_request_then_retries() -> None:
    async def main() -> None:
        transport, times = fake([httpx.Response(429, headers={"Retry-After": "1"})])
        client = RestClient(6000, transport=transport)
        start = time.monotonic()
        first = asyncio.create_task(client.get("http://venue/a", 5))
        await asyncio.sleep(0.05)  # the 429 is in
        second = asyncio.create_task(client.get("http://venue/b", 5))
        assert await first == b"{}" and await second == b"{}"
        await client.aclose()
        assert client.throttled == 1 and len(times) == 3
        # Nothing was asked again before Retry-After, not even the other request.
        assert all(t - start >= 1.0 for t in times[1:]), [t - start for t in times]

    run(main())


def test_418_waits_until_the_ban_ends() -> None:
    async def main() -> None:
        transport, times = fake([httpx.Response(418, headers={"Retry-After": "2"})])
        client = RestClient(1200, transport=transport)
        assert await client.get("http://venue/depth", 10) == b"{}"
        await client.aclose()
        assert client.banned == 1 and times[1] - times[0] >= 2.0

    run(main())


def test_headers_that_only_look_like_numbers_are_ignored() -> None:
    """``"²".isdigit()`` is true and ``int("²")`` a ValueError: not a SnapshotError, so it
    escaped the fetcher's contract (OSError or httpx errors only)."""

    async def main() -> None:
        superscript = "\u00b2".encode("latin-1")  # headers are latin-1 on the wire
        transport, times = fake(
            [
                httpx.Response(
                    200, headers=[(b"X-MBX-USED-WEIGHT-1M", superscript)], content=b"{}"
                ),
                httpx.Response(429, headers=[(b"Retry-After", superscript)]),
            ]
        )
        client = RestClient(6000, transport=transport, interval=1.0)
        assert await client.get("http://venue/a", 5) == b"{}"
        assert await client.get("http://venue/b", 5) == b"{}"  # the window's rest, then again
        await client.aclose()
        assert client.throttled == 1 and len(times) == 3

    run(main())


def test_errors_are_snapshot_errors_and_never_retried() -> None:
    async def main() -> None:
        transport, times = fake([httpx.Response(400, json={"code": -1121})])
        client = RestClient(6000, transport=transport)
        with pytest.raises(SnapshotError, match="HTTP 400"):
            await client.get("http://venue/depth?symbol=NOPE", 5)
        assert len(times) == 1

        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        broken = RestClient(6000, transport=httpx.MockTransport(refuse))
        with pytest.raises(OSError, match="ConnectError"):  # the service's except OSError
            await broken.get("http://venue/depth", 5)
        always = [httpx.Response(429, headers={"Retry-After": "0"}) for _ in range(3)]
        transport, times = fake(always)
        stubborn = RestClient(6000, transport=transport, max_attempts=3)
        with pytest.raises(SnapshotError, match="after 3 attempts"):
            await stubborn.get("http://venue/depth", 5)
        for c in (client, broken, stubborn):
            await c.aclose()

    run(main())


async def window_start(interval: float) -> None:
    """Wait for the start of a weight window, so that a test's requests share one."""
    await asyncio.sleep(interval - time.time() % interval + 0.01)


def binance_sim(
    limit: int, interval: float
) -> tuple[SimulatedExchange, Callable[[str, int], str], WeightLimit]:
    ex = SimulatedExchange("binance", BINANCE, seed=20, rate=0)
    assert isinstance(ex.venue, BinanceVenue)
    weights = ex.venue.weights = WeightLimit(limit, interval=interval)

    def depth(symbol: str, levels: int) -> str:
        return f"{ex.rest_url}/api/v3/depth?symbol={symbol}&limit={levels}"

    return ex, depth, weights


def test_under_a_small_weight_limit_snapshots_wait_instead_of_failing() -> None:
    """Six snapshots of weight 25 against 60 a window: three windows, no 429."""

    async def main() -> None:
        ex, depth, weights = binance_sim(60, 2.0)
        async with ex:
            client = RestClient(60, interval=2.0)
            await window_start(2.0)
            start = time.monotonic()
            bodies = await asyncio.gather(
                *(client.get(depth(BINANCE[i % 2], 500), 25) for i in range(6))
            )
            await client.aclose()
        assert all(b'"lastUpdateId"' in b for b in bodies)
        assert time.monotonic() - start >= 3.9  # two windows rolled
        assert weights.banned == 0 and client.banned == 0
        assert client.throttled == weights.refused <= 1  # at most a race at a window's edge

    run(main())


def test_the_venues_count_holds_us_back_when_others_spent_it() -> None:
    """Another process on the IP spent 80 of 100: after our first light request the venue
    says 85, so the next request waits for the window although we spent only 5."""

    async def main() -> None:
        ex, depth, weights = binance_sim(100, 3.0)
        async with ex, httpx.AsyncClient() as other:
            client = RestClient(100, interval=3.0)
            await window_start(3.0)
            for _ in range(4):  # exchangeInfo weighs 20
                assert (await other.get(f"{ex.rest_url}/api/v3/exchangeInfo")).status_code == 200
            await client.get(depth("BTCUSDT", 100), 5)
            assert client.waited == 0
            await client.get(depth("ETHUSDT", 500), 25)
            await client.aclose()
        assert client.waited > 0 and client.throttled == 0 and weights.refused == 0

    run(main())


def test_a_429_from_the_simulator_is_waited_out_never_hammered() -> None:
    """The IP's weight is gone before we ask: one 429, a wait of Retry-After, then the
    snapshot; asking again early would have earned a 418 ban from the simulator."""

    async def main() -> None:
        ex, depth, weights = binance_sim(50, 2.0)
        async with ex, httpx.AsyncClient() as other:
            client = RestClient(50, interval=2.0)
            await window_start(2.0)
            for _ in range(2):
                await other.get(f"{ex.rest_url}/api/v3/exchangeInfo")
            body = await client.get(depth("BTCUSDT", 500), 25)
            await client.aclose()
        assert b'"lastUpdateId"' in body
        assert client.throttled == weights.refused == 1 and weights.banned == 0

    run(main())
