"""A lake of known content for the report notebooks, written by the real LakeWriter.

One trading day (``DAY``) and a little of the next (``NEXT``):

- kraken, BTC/USD and ETH/USD: trades every 2 s and 3 s from 10:00 to 13:00 on random walks,
  BTC/USD with a planted jump of +1.5% in the minute 11:30 (the day's largest 1-minute
  move), quotes every 5 s with spreads of a few ticks; heartbeats every second (frames);
  events: two gaps, a checksum failure and the resync it caused (out of sync 5.5 s), three
  rejected frames, a disconnect and the reconnect after it (both books out of sync 3 s);
- coinbase, BTC-USD: trades every 4 s from 10:00 to 12:00 and a book (no quotes) whose best
  levels stay 13.00 apart around 65,010.00 (a spread of 2.00 bps), with a resync at 11:00;
  one gap, out of sync 2 s;
- alpaca news: BTCUSD in four stories of the day, ETHUSD in two, SOLUSD (never traded) in one;
- ``NEXT``: 100 kraken BTC/USD trades after midnight and a story, no quotes or book.

The reports' figures are checked against DuckDB queries over this lake, not against these
constants: the constants only make the checks mean something (a largest move that is not a
tie, a spread that only the book gives, events of every kind the data-quality report counts).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from alphapulse import _core
from alphapulse.eventlog import SCHEMA as EVENTS_SCHEMA
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation

DAY = date(2026, 3, 2)
NEXT = DAY + timedelta(days=1)
SECOND = 10**9
#: The planted move: BTC/USD on kraken jumps in this minute.
JUMP_AT = datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
JUMP = 0.015
#: The coinbase book: mid and spread, constant through the day.
BOOK_MID = 65_010.0
BOOK_SPREAD = 13.0


def ns(day: date, hour: int, minute: int = 0, second: float = 0.0) -> int:
    midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * SECOND
    return midnight + (hour * 3600 + minute * 60) * SECOND + round(second * SECOND)


def _stamps(values: np.ndarray | list[int]) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), pa.timestamp("ns", tz="UTC"))


def _table(name: str, columns: dict[str, Any]) -> pa.Table:
    return pa.table(columns, schema=pa.schema(_core.event_schema(name)))


def _walk(rng: np.random.Generator, start: float, step: float, n: int, tick: float) -> np.ndarray:
    return np.round((start + np.cumsum(rng.normal(0, step, n))) / tick) * tick


def trades(
    venue: str,
    symbol: str,
    ts: np.ndarray,
    price: np.ndarray,
    rng: np.random.Generator,
    *,
    price_precision: int,
    size_precision: int = 4,
) -> pa.Table:
    n = len(ts)
    price_raw = np.rint(price * 10**price_precision).astype(np.int64)
    size_raw = rng.integers(1, 5_000, n).astype(np.int64)
    base, quote = symbol.replace("/", "-").split("-")
    return _table(
        "trades",
        {
            "ts_event": _stamps(ts - 3_000_000),
            "ts_recv": _stamps(ts),
            "venue": [venue] * n,
            "instrument": [f"{base}-{quote}@{venue}"] * n,
            "symbol": [symbol] * n,
            "price": price_raw / 10**price_precision,
            "size": size_raw / 10**size_precision,
            "aggressor": np.where(rng.random(n) < 0.5, "buy", "sell").tolist(),
            "trade_id": pa.array(np.arange(n), pa.uint64()),
            "price_raw": price_raw,
            "size_raw": size_raw,
            "price_precision": pa.array(np.full(n, price_precision), pa.uint8()),
            "size_precision": pa.array(np.full(n, size_precision), pa.uint8()),
        },
    )


def quotes(
    venue: str, symbol: str, ts: np.ndarray, mid: np.ndarray, ticks: np.ndarray, tick: float
) -> pa.Table:
    n = len(ts)
    precision = round(-np.log10(tick))
    bid = np.round((mid - ticks * tick / 2) / tick) * tick
    ask = bid + ticks * tick
    base, quote = symbol.split("/")
    sizes = np.full(n, 1.5)
    return _table(
        "quotes",
        {
            "ts_event": _stamps(ts),
            "ts_recv": _stamps(ts),
            "venue": [venue] * n,
            "instrument": [f"{base}-{quote}@{venue}"] * n,
            "symbol": [symbol] * n,
            "bid_price": bid,
            "bid_size": sizes,
            "ask_price": ask,
            "ask_size": sizes,
            "bid_price_raw": np.rint(bid * 10**precision).astype(np.int64),
            "bid_size_raw": np.full(n, 15_000, np.int64),
            "ask_price_raw": np.rint(ask * 10**precision).astype(np.int64),
            "ask_size_raw": np.full(n, 15_000, np.int64),
            "price_precision": pa.array(np.full(n, precision), pa.uint8()),
            "size_precision": pa.array(np.full(n, 4), pa.uint8()),
        },
    )


def book(venue: str, symbol: str, snapshots: list[int], changes: list[int]) -> pa.Table:
    """Snapshots (a clear, five levels a side) at ``snapshots`` and size changes on the third
    level at ``changes``: the best levels never move, so the spread is BOOK_SPREAD."""
    rows: list[tuple[int, str, str, float, float, int]] = []  # ts, action, side, price, size, flags
    half = BOOK_SPREAD / 2
    for ts in snapshots:
        rows.append((ts, "clear", "bid", 0.0, 0.0, 1))
        for level in range(5):
            rows.append((ts, "set", "bid", BOOK_MID - half - level, 0.5 + level, 1))
            rows.append((ts, "set", "ask", BOOK_MID + half + level, 0.5 + level, 1))
    for i, ts in enumerate(changes):
        side = "bid" if i % 2 else "ask"
        price = BOOK_MID - half - 2 if side == "bid" else BOOK_MID + half + 2
        rows.append((ts, "set", side, price, 1.0 + (i % 7) / 10, 0))
    rows.sort(key=lambda r: r[0])  # stable: a snapshot's rows keep their order
    n = len(rows)
    ts_col, action, side_col, price_col, size_col, flags = map(list, zip(*rows, strict=True))
    price_raw = np.rint(np.array(price_col) * 100).astype(np.int64)
    size_raw = np.rint(np.array(size_col) * 10**8).astype(np.int64)
    return _table(
        "book_deltas",
        {
            "ts_event": _stamps(ts_col),
            "ts_recv": _stamps(ts_col),
            "venue": [venue] * n,
            "instrument": ["BTC-USD@" + venue] * n,
            "symbol": [symbol] * n,
            "action": action,
            "side": side_col,
            "price": price_raw / 100,
            "size": size_raw / 10**8,
            "sequence": pa.array(np.arange(1, n + 1), pa.uint64()),
            "flags": pa.array(flags, pa.uint8()),
            "price_raw": price_raw,
            "size_raw": size_raw,
            "price_precision": pa.array(np.full(n, 2), pa.uint8()),
            "size_precision": pa.array(np.full(n, 8), pa.uint8()),
        },
    )


def news(stories: list[tuple[int, int, list[str], str]]) -> pa.Table:
    n = len(stories)
    ts = [s[0] for s in stories]
    return _table(
        "news",
        {
            "ts_event": _stamps(ts),
            "ts_recv": _stamps(ts),
            "venue": ["alpaca"] * n,
            "id": pa.array([s[1] for s in stories], pa.uint64()),
            "headline": [s[3] for s in stories],
            "summary": [""] * n,
            "author": ["AlphaPulse tests"] * n,
            "source": ["tests"] * n,
            "url": [f"https://example.com/{s[1]}" for s in stories] * 1,
            "content": [""] * n,
            "symbols": [s[2] for s in stories],
            "updated_at": _stamps(ts),
        },
    )


def heartbeats(venue: str, ts: np.ndarray) -> pa.Table:
    n = len(ts)
    return _table(
        "statuses",
        {
            "ts_event": _stamps(ts),
            "ts_recv": _stamps(ts),
            "venue": [venue] * n,
            "instrument": pa.nulls(n, pa.string()),
            "symbol": pa.nulls(n, pa.string()),
            "kind": ["heartbeat"] * n,
            "message": [""] * n,
        },
    )


def rejects(venue: str, rows: list[tuple[int, str]]) -> pa.Table:
    return _table(
        "rejects",
        {
            "ts_recv": _stamps([ts for ts, _ in rows]),
            "venue": [venue] * len(rows),
            "reason": [reason for _, reason in rows],
            "raw": [b"{not json" for _ in rows],
        },
    )


Event = tuple[int, str, str, str | None, dict[str, Any]]


def events(rows: list[Event]) -> pa.Table:
    rows = sorted(rows, key=lambda r: r[0])
    return pa.table(
        {
            "ts_recv": _stamps([r[0] for r in rows]),
            "seq": pa.array(range(len(rows)), pa.uint64()),
            "kind": [r[1] for r in rows],
            "venue": [r[2] for r in rows],
            "instrument": [r[3] for r in rows],
            "detail": [orjson.dumps(r[4]).decode() for r in rows],
        },
        schema=EVENTS_SCHEMA,
    )


def _kraken_events(d: date) -> list[Event]:
    def at(h: int, m: int, s: float = 0.0) -> int:
        return ns(d, h, m, s)

    conn = {"connection": "kraken"}
    return [
        (at(9, 59, 58.5), "connect", "kraken", None, {**conn, "conn_id": 1}),
        (at(9, 59, 58.6), "subscribe", "kraken", None, {**conn, "messages": 1}),
        (at(9, 59, 59), "synced", "kraken", "BTC/USD", {"message": "snapshot"}),
        (at(9, 59, 59), "synced", "kraken", "ETH/USD", {"message": "snapshot"}),
        (at(10, 30), "gap", "kraken", "BTC/USD", {"message": "sequence 101 after 99"}),
        (at(11, 0), "gap", "kraken", "ETH/USD", {"message": "sequence 7 after 5"}),
        (at(11, 15), "checksum_failed", "kraken", "BTC/USD", {"message": "checksum"}),
        (at(11, 15), "resync_needed", "kraken", "BTC/USD", {"message": "checksum"}),
        (at(11, 15, 1), "resync", "kraken", "BTC/USD", {"attempt": 1, "method": "resubscribe"}),
        (at(11, 15, 5.5), "synced", "kraken", "BTC/USD", {"message": "snapshot"}),
        (at(11, 15, 5.6), "resync_done", "kraken", "BTC/USD", {"seconds": 4.6}),
        (at(12, 0, 0.25), "reject", "kraken", None, {"count": 3, "first_reason": "bad json"}),
        (at(12, 30), "disconnect", "kraken", None, {**conn, "reason": "closed: 1006"}),
        (at(12, 30), "resync_needed", "kraken", "BTC/USD", {"message": "connection lost"}),
        (at(12, 30), "resync_needed", "kraken", "ETH/USD", {"message": "connection lost"}),
        (at(12, 30, 0.1), "reconnect_scheduled", "kraken", None, {**conn, "delay_s": 1.9}),
        (at(12, 30, 2), "connect", "kraken", None, {**conn, "conn_id": 2}),
        (at(12, 30, 3), "synced", "kraken", "BTC/USD", {"message": "snapshot"}),
        (at(12, 30, 3), "synced", "kraken", "ETH/USD", {"message": "snapshot"}),
    ]


def _coinbase_events(d: date) -> list[Event]:
    conn = {"connection": "coinbase"}
    return [
        (ns(d, 9, 59, 58.5), "connect", "coinbase", None, {**conn, "conn_id": 3}),
        (ns(d, 9, 59, 59), "synced", "coinbase", "BTC-USD", {"message": "snapshot"}),
        (ns(d, 11, 45), "gap", "coinbase", "BTC-USD", {"message": "sequence"}),
        (ns(d, 11, 45), "resync_needed", "coinbase", "BTC-USD", {"message": "gap"}),
        (ns(d, 11, 45, 2), "synced", "coinbase", "BTC-USD", {"message": "snapshot"}),
    ]


def _service_events(d: date) -> list[Event]:
    venues = {"kraken": {"frames": 10_900, "rejects": 3}, "coinbase": {"frames": 2_500}}
    return [
        (ns(d, 9, 59, 58), "service_start", "service", None, {"pid": 1}),
        (
            ns(d, 13, 0, 5),
            "service_stop",
            "service",
            None,
            {"uptime_s": 10_927.0, "rows_lost": 0, "venues": venues},
        ),
    ]


def write_report_lake(root: Path, seed: int = 11) -> Path:
    """Write the lake described above at ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    with LakeWriter(root, roll_rows=10**9, roll_seconds=1e9) as writer:
        # kraken BTC/USD: every 2 s, +1.5% from the first trade of JUMP_AT's minute on.
        ts = np.arange(ns(DAY, 10), ns(DAY, 13), 2 * SECOND)
        price = _walk(rng, 65_000.0, 4.0, len(ts), 0.1)
        price = np.where(ts >= int(JUMP_AT.timestamp()) * SECOND, price * (1 + JUMP), price)
        price = np.round(price, 1)
        writer.write("trades", trades("kraken", "BTC/USD", ts, price, rng, price_precision=1))
        q_ts = np.arange(ns(DAY, 10, 0, 1), ns(DAY, 13), 5 * SECOND)
        mid = price[np.searchsorted(ts, q_ts, side="right") - 1]
        writer.write(
            "quotes", quotes("kraken", "BTC/USD", q_ts, mid, rng.integers(1, 9, len(q_ts)), 0.1)
        )
        # kraken ETH/USD: every 3 s.
        ts = np.arange(ns(DAY, 10, 0, 1), ns(DAY, 13), 3 * SECOND)
        price = _walk(rng, 1_900.0, 0.12, len(ts), 0.01)
        writer.write("trades", trades("kraken", "ETH/USD", ts, price, rng, price_precision=2))
        mid = price[np.searchsorted(ts, q_ts, side="right") - 1]
        writer.write(
            "quotes", quotes("kraken", "ETH/USD", q_ts, mid, rng.integers(1, 30, len(q_ts)), 0.01)
        )
        writer.write("statuses", heartbeats("kraken", np.arange(ns(DAY, 10), ns(DAY, 13), SECOND)))
        writer.write(
            "rejects",
            rejects(
                "kraken",
                [
                    (ns(DAY, 12, 0, 0.1), "bad json"),
                    (ns(DAY, 12, 0, 0.2), "bad json"),
                    (ns(DAY, 12, 0, 0.25), "unknown channel"),
                ],
            ),
        )
        # coinbase BTC-USD: trades every 4 s, a book and no quotes.
        ts = np.arange(ns(DAY, 10, 0, 0.5), ns(DAY, 12), 4 * SECOND)
        price = _walk(rng, 65_010.0, 5.0, len(ts), 0.01)
        writer.write("trades", trades("coinbase", "BTC-USD", ts, price, rng, price_precision=2))
        changes = np.arange(ns(DAY, 10), ns(DAY, 12), 10 * SECOND).tolist()
        writer.write(
            "book_deltas",
            book("coinbase", "BTC-USD", [ns(DAY, 9, 59, 59), ns(DAY, 11, 0, 0.5)], changes),
        )
        writer.write(
            "news",
            news(
                [
                    (ns(DAY, 10, 15), 1, ["BTCUSD"], "Bitcoin funds see inflows"),
                    (ns(DAY, 10, 45), 2, ["BTCUSD"], "Miners sell less"),
                    (ns(DAY, 11, 31), 3, ["BTCUSD", "ETHUSD"], "Crypto rallies on rate news"),
                    (ns(DAY, 12, 10), 4, ["ETHUSD"], "Ether upgrade date set"),
                    (ns(DAY, 12, 20), 5, ["BTCUSD"], "Bitcoin holds its gains"),
                    (ns(DAY, 23, 59, 59.9), 6, ["SOLUSD"], "Solana outage resolved"),
                    (ns(NEXT, 0, 5), 7, ["BTCUSD"], "Asia opens higher"),
                ]
            ),
        )
        writer.write(
            "events",
            events(_kraken_events(DAY) + _coinbase_events(DAY) + _service_events(DAY)),
        )
        # NEXT: a few kraken trades after midnight.
        ts = np.arange(ns(NEXT, 0), ns(NEXT, 0) + 100 * 2 * SECOND, 2 * SECOND)
        price = _walk(rng, 66_000.0, 4.0, len(ts), 0.1)
        writer.write("trades", trades("kraken", "BTC/USD", ts, price, rng, price_precision=1))
    bump_generation(root)
    return root
