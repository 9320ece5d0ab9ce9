"""Live charts: ``live()``'s spec and the kernel relay that the front end asks for when
it cannot reach the server's stream (alphapulse.widgets.relay), fed by a fake source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from alphapulse.widgets import CandlestickChart, DepthChart
from alphapulse.widgets.live_chart import LiveChart
from alphapulse.widgets.relay import subscriptions
from tests.test_widgets import T0, recorded


@pytest.fixture()
def chart() -> Iterator[CandlestickChart]:
    made = CandlestickChart()
    yield made
    made.close()


def front_end_says(chart: LiveChart, content: dict[str, Any]) -> None:
    chart._handle_custom_msg(content, [])


def test_live_sets_the_spec_and_checks_it(chart: CandlestickChart) -> None:
    assert chart.live("kraken:BTC/USD", interval="5s", depth=10) is chart
    assert chart.live_spec == {"instrument": "kraken:BTC/USD", "interval": "5s", "depth": 10}
    assert subscriptions("candlestick", chart.live_spec) == [
        {"op": "subscribe", "channel": "bars", "instrument": "kraken:BTC/USD", "interval": "5s"},
        {"op": "subscribe", "channel": "book", "instrument": "kraken:BTC/USD", "depth": 10},
    ]
    depth = DepthChart().live("coinbase:BTC-USD", depth=25)
    assert subscriptions("depth", depth.live_spec) == [
        {"op": "subscribe", "channel": "book", "instrument": "coinbase:BTC-USD", "depth": 25}
    ]
    with pytest.raises(ValueError, match="'<venue>:<venue symbol>'"):
        chart.live("BTC/USD")
    with pytest.raises(ValueError, match="interval is like"):
        chart.live("kraken:BTC/USD", interval="1 sec")
    chart.stop_live()
    assert chart.live_spec == {}


def test_the_relay_starts_when_the_front_end_asks(chart: CandlestickChart, tmp_path: Path) -> None:
    calls: list[tuple[Path | None, list[dict[str, Any]]]] = []
    history = {"channel": "bars", "instrument": "kraken:BTC/USD", "interval": "1s", "history": True}

    async def source(lake: Path | None, specs: list[dict[str, Any]]) -> AsyncIterator[list[Any]]:
        calls.append((lake, specs))
        yield [{**history, "bars": [{"time": T0, "open": 1, "high": 1, "low": 1, "close": 1}]}]
        yield []  # nothing new: nothing sent
        await asyncio.sleep(0)
        yield [
            {"channel": "book", "instrument": "kraken:BTC/USD", "time": 1, "bids": [], "asks": []}
        ]

    chart.relay_source = source
    recorder = recorded(chart)
    chart.live("kraken:BTC/USD", lake=tmp_path)
    assert chart.relay is None  # the front end tries the server's stream first
    front_end_says(chart, {"type": "relay"})
    assert chart.relay is not None and chart.relay.wait(5)
    assert calls == [(tmp_path, subscriptions("candlestick", chart.live_spec))]
    custom = recorder.custom()
    assert [m["type"] for m in custom] == ["relay", "stream", "stream", "relay"]
    assert custom[0] == {"type": "relay", "state": "started"}
    assert custom[1]["items"][0]["history"] is True
    assert custom[2]["items"][0]["channel"] == "book"
    assert custom[3] == {"type": "relay", "state": "stopped"}


def test_stop_live_cancels_the_relay_and_closes_the_source(chart: CandlestickChart) -> None:
    closed: list[bool] = []

    async def endless(lake: Path | None, specs: list[dict[str, Any]]) -> AsyncIterator[list[Any]]:
        try:
            while True:
                await asyncio.sleep(0.01)
                yield [{"channel": "bars", "history": False, "bars": []}]
        finally:
            closed.append(True)

    chart.relay_source = endless
    recorded(chart)
    chart.live("kraken:BTC/USD")
    front_end_says(chart, {"type": "relay"})
    relay = chart.relay
    assert relay is not None
    deadline = time.monotonic() + 10
    while relay.sent == 0 and time.monotonic() < deadline:  # streaming, on a busy machine too
        time.sleep(0.01)
    assert relay.sent > 0
    started = time.monotonic()
    chart.stop_live()
    assert time.monotonic() - started < 2
    assert chart.relay is None and not relay.running and closed == [True]


def test_a_failing_source_is_reported_to_the_chart(chart: CandlestickChart) -> None:
    async def failing(lake: Path | None, specs: list[dict[str, Any]]) -> AsyncIterator[list[Any]]:
        raise ConnectionError("no collector is running on data/lake")
        yield []  # an async generator

    chart.relay_source = failing
    recorder = recorded(chart)
    chart.live("kraken:BTC/USD")
    front_end_says(chart, {"type": "relay"})
    assert chart.relay is not None and chart.relay.wait(5)
    assert {
        "type": "error",
        "message": "live relay stopped: no collector is running on data/lake",
    } in (recorder.custom())


def test_the_relay_stops_when_the_charts_last_view_goes(chart: CandlestickChart) -> None:
    async def endless(lake: Path | None, specs: list[dict[str, Any]]) -> AsyncIterator[list[Any]]:
        while True:
            await asyncio.sleep(0.01)
            yield []

    chart.relay_source = endless
    recorded(chart)
    chart.live("kraken:BTC/USD")
    front_end_says(chart, {"type": "relay"})
    relay = chart.relay
    assert relay is not None and relay.running
    front_end_says(chart, {"type": "relay_stop"})
    assert chart.relay is None and not relay.running
    assert chart.live_spec  # a view shown later streams again


def test_no_relay_without_a_live_spec(chart: CandlestickChart) -> None:
    front_end_says(chart, {"type": "relay"})
    front_end_says(chart, {"type": "something else"})
    assert chart.relay is None
