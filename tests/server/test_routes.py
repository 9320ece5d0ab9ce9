"""The REST routes and the stream against an authenticating server (pytest-jupyter) whose
extension runs a real collector child on the embedded simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pyarrow as pa
import pytest
from tornado.httpclient import HTTPClientError

Fetch = Callable[..., Awaitable[Any]]


async def get(jp_fetch: Fetch, path: str, **params: Any) -> Any:
    response = await jp_fetch("alphapulse", "api", path, params=params)
    return orjson.loads(response.body)


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.3)


async def test_status_collectors_instruments_and_book(running: Any, jp_fetch: Fetch) -> None:
    status = await get(jp_fetch, "status")
    assert status["supervisor"]["state"] == "running" and status["collector"]["simulated"]
    collectors = {c["venue"]: c for c in (await get(jp_fetch, "collectors"))["collectors"]}
    assert set(collectors) == {"kraken", "coinbase", "binance", "alpaca"}
    instruments = [i["instrument"] for i in (await get(jp_fetch, "instruments"))["instruments"]]
    assert "kraken:BTC/USD" in instruments

    async def synced() -> bool:
        book = await get(jp_fetch, "book", instrument="kraken:BTC/USD", depth=5)
        return bool(book["synced"] and len(book["bids"]) == 5)

    await until(synced)
    book = await get(jp_fetch, "book", instrument="kraken:BTC/USD", depth=5)
    assert float(book["bids"][0][0]) < float(book["asks"][0][0])


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"instrument": "kraken:BTC/USD", "depth": "x"}, 400),
        ({"instrument": "kraken:BTC/USD", "depth": "0"}, 400),
        ({"instrument": "BTC/USD"}, 400),
        ({"instrument": "kraken:NOPE"}, 400),
    ],
)
async def test_bad_book_requests_are_400(
    running: Any, jp_fetch: Fetch, params: dict[str, str], code: int
) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("alphapulse", "api", "book", params=params)
    assert caught.value.code == code


async def test_stop_and_start_a_venue(running: Any, jp_fetch: Fetch) -> None:
    response = await jp_fetch(
        "alphapulse", "api", "collectors", "binance", "stop", method="POST", body=b""
    )
    assert orjson.loads(response.body)["state"] == "stopped"
    collectors = {c["venue"]: c for c in (await get(jp_fetch, "collectors"))["collectors"]}
    assert collectors["binance"]["state"] == "stopped"
    response = await jp_fetch(
        "alphapulse", "api", "collectors", "binance", "start", method="POST", body=b""
    )
    assert orjson.loads(response.body)["state"] == "running"
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("alphapulse", "api", "collectors", "nasdaq", "stop", method="POST", body=b"")
    assert caught.value.code == 400

    async def logged() -> bool:
        kinds = [e["kind"] for e in (await get(jp_fetch, "events", since=-1))["events"]]
        return "venue_stopped" in kinds and "venue_started" in kinds

    await until(logged, 90)  # events reach the lake with its commits (the live tail)


async def test_events_since_and_news(running: Any, jp_fetch: Fetch) -> None:
    async def some() -> bool:
        return len((await get(jp_fetch, "events", since=-1))["events"]) > 3

    await until(some, 60)
    events = (await get(jp_fetch, "events", since=-1, limit=1000))["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and events[0]["kind"] == "service_start"
    later = (await get(jp_fetch, "events", since=seqs[1]))["events"]
    assert [e["seq"] for e in later][:2] == seqs[2:4]
    # tail=N: the newest N, oldest first (the Lab Monitor opens on these).
    newest = (await get(jp_fetch, "events", tail=2))["events"]
    everything = (await get(jp_fetch, "events", since=-1, limit=10_000))["events"]
    upto = [e["seq"] for e in everything if e["seq"] <= newest[-1]["seq"]]  # more may come
    assert [e["seq"] for e in newest] == upto[-2:]

    async def news() -> bool:
        return bool((await get(jp_fetch, "news", symbol="AAPL"))["news"])

    await until(news, 60)
    stories = (await get(jp_fetch, "news", symbol="AAPL"))["news"]
    assert all("AAPL" in s["symbols"] for s in stories)


async def test_query_json_arrow_and_refusals(running: Any, jp_fetch: Fetch) -> None:
    async def query(body: dict[str, Any]) -> Any:
        return await jp_fetch("alphapulse", "api", "query", method="POST", body=orjson.dumps(body))

    async def rows() -> bool:
        try:
            response = await query({"sql": "select count(*) n from trades"})
        except HTTPClientError:
            return False  # 503 until the lake's first commit
        return bool(orjson.loads(response.body)["rows"][0][0] > 0)

    await until(rows, 60)
    response = await query({"sql": "select * from trades", "max_rows": 5})
    body = orjson.loads(response.body)
    assert body["row_count"] == 5 and body["truncated"] is True
    response = await query({"sql": "select venue, price from trades", "format": "arrow"})
    assert response.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(response.body).read_all()
    assert table.column_names == ["venue", "price"] and table.num_rows > 0
    for bad in (
        {"sql": "copy trades to '/tmp/x.csv'"},
        {"sql": "attach '/tmp/x.db'"},
        {"sql": "install httpfs"},
        {"sql": "select 1; drop view trades"},
        {"sql": "select * from read_text('/etc/passwd')"},
        {"sql": 42},
        {"sql": "select 1", "format": "csv"},
    ):
        with pytest.raises(HTTPClientError) as caught:
            await query(bad)
        assert caught.value.code == 400, bad


async def test_metrics_include_the_collectors(running: Any, jp_fetch: Fetch) -> None:
    async def metrics() -> bool:
        text = (await jp_fetch("metrics")).body.decode()
        return 'alphapulse_frames_total{venue="kraken"}' in text

    await until(metrics, 30)
