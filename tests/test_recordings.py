"""The shared real-exchange recordings are the oracle for parsers, books and checks."""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict

import pyarrow as pa

from alphapulse import _core
from alphapulse.capture import Record
from tests.conftest import BINANCE, COINBASE, KRAKEN, feed, load_records


def _json(r: Record) -> object:
    return json.loads(r.data)


# --- Kraken v1 --------------------------------------------------------------------------------


def _kraken_checksummed_updates(records: list[Record]) -> list[int]:
    """Indexes of the book updates that carry Kraken's checksum, found without the core."""
    out = []
    for i, r in enumerate(records):
        if r.kind == "recv" and r.data.startswith(b"["):
            msg = _json(r)
            assert isinstance(msg, list)
            if str(msg[-2]).startswith("book") and any(
                isinstance(p, dict) and "c" in p for p in msg[1:-2]
            ):
                out.append(i)
    return out


def test_kraken_every_checksum_verifies() -> None:
    records = load_records(KRAKEN)
    checksummed = _kraken_checksummed_updates(records)
    assert len(checksummed) == 2179
    engine = feed(records).engines["kraken_v1"]
    stats = engine.stats()
    assert sum(s["checksums_verified"] for s in stats.values()) == 2179
    assert sum(s["checksums_failed"] for s in stats.values()) == 0
    assert sum(s["book_updates"] for s in stats.values()) == 2179
    assert engine.out_of_sync() == []
    assert engine.rejects == 0


def test_kraken_dropped_update_is_detected() -> None:
    records = load_records(KRAKEN)
    dropped = _kraken_checksummed_updates(records)[100]
    pair = _json(records[dropped])[-1]  # type: ignore[index]
    engine = feed(records[:dropped] + records[dropped + 1 :]).engines["kraken_v1"]
    stats = engine.stats()[f"kraken:{pair}"]
    assert stats["checksums_failed"] == 1  # the next update fails, then the book awaits a resync
    assert engine.out_of_sync() == [pair]
    others = [s for k, s in engine.stats().items() if k != f"kraken:{pair}"]
    assert all(s["checksums_failed"] == 0 for s in others)


# --- Coinbase Advanced Trade ------------------------------------------------------------------


def test_coinbase_sequence_is_continuous() -> None:
    records = load_records(COINBASE)
    sequences = [
        _json(r)["sequence_num"]  # type: ignore[index]
        for r in records
        if r.kind == "recv"
    ]
    assert sequences == list(range(1030))
    replayer = feed(records)
    engine = replayer.engines["coinbase"]
    assert engine.connection_gaps == 0
    assert engine.out_of_sync() == []


def test_coinbase_trades_and_ids() -> None:
    records = load_records(COINBASE)
    engine = _core.Engine("coinbase")
    for r in records:
        if r.kind == "recv":
            engine.feed(r.data, r.ts)
    trades = pa.table(engine.take()["trades"]).to_pylist()
    assert len(trades) == 79 + 200
    ids: dict[str, list[int]] = defaultdict(list)
    for t in trades:
        ids[t["symbol"]].append(t["trade_id"])
    assert set(ids) == {"BTC-USD", "ETH-USD"}
    for product, product_ids in ids.items():
        unique = sorted(set(product_ids))
        assert len(unique) == len(product_ids), f"{product}: duplicate trade ids"
        assert unique == list(range(unique[0], unique[-1] + 1)), f"{product}: ids not continuous"


def test_coinbase_book_never_crosses_and_side_is_maker() -> None:
    """Replays frame by frame: the book never crosses, and trades sit where the maker side
    implies (a "SELL" print at or above the best ask is a buyer lifting the offer)."""
    records = load_records(COINBASE)
    engine = _core.Engine("coinbase")
    agree = disagree = 0
    for r in records:
        if r.kind != "recv":
            continue
        msg = _json(r)
        assert isinstance(msg, dict)
        if msg["channel"] == "market_trades" and msg["events"][0]["type"] == "update":
            for t in msg["events"][0]["trades"]:
                bids, asks = engine.top(t["product_id"], 1)
                if not bids or not asks:
                    continue
                precision = {s: p for s, _, p, _ in engine.instruments()}[t["product_id"]]
                assert precision is not None
                price = _core.parse_fixed(t["price"], precision)
                implied = "buy" if price >= asks[0][0] else "sell" if price <= bids[0][0] else None
                ours = "buy" if t["side"] == "SELL" else "sell"  # the core's conversion
                if implied is not None:
                    agree += implied == ours
                    disagree += implied != ours
        engine.feed(r.data, r.ts)
        if msg["channel"] == "l2_data":
            for product in ("BTC-USD", "ETH-USD"):
                with contextlib.suppress(KeyError):
                    assert not engine.book(product).is_crossed()
    assert agree >= 20 and agree >= 9 * disagree, (agree, disagree)
    taken = engine.take()
    sides = {(t["trade_id"], t["aggressor"]) for t in pa.table(taken["trades"]).to_pylist()}
    assert all(a in ("buy", "sell") for _, a in sides)
    assert all(s["crossed"] == 0 for s in engine.stats().values())


# --- Binance spot ----------------------------------------------------------------------------


def _binance_depth(records: list[Record]) -> tuple[dict[str, int], list[tuple[int, str, int, int]]]:
    snapshots = {}
    diffs = []
    for i, r in enumerate(records):
        if r.kind == "http" and r.url and "/depth" in r.url:
            symbol = r.url.split("symbol=")[1].split("&")[0]
            snapshots[symbol] = json.loads(r.data)["lastUpdateId"]
        elif r.kind == "recv":
            data = _json(r)["data"]  # type: ignore[index]
            if data.get("e") == "depthUpdate":
                diffs.append((i, data["s"], data["U"], data["u"]))
    return snapshots, diffs


def test_binance_books_synchronise() -> None:
    records = load_records(BINANCE)
    snapshots, diffs = _binance_depth(records)
    assert len(snapshots) == 4 and len(diffs) == 177
    stale = sum(1 for _, s, _, u in diffs if u <= snapshots[s])
    engine = feed(records).engines["binance"]
    stats = engine.stats()
    assert engine.out_of_sync() == []
    for symbol in snapshots:
        assert engine.is_synced(symbol)
        assert stats[f"binance:{symbol}"]["gaps"] == 0
        assert stats[f"binance:{symbol}"]["snapshots"] == 1
    applied = sum(s["book_updates"] for s in stats.values())
    assert applied + stale == 177


def test_binance_removed_diff_is_a_gap() -> None:
    records = load_records(BINANCE)
    snapshots, diffs = _binance_depth(records)
    index, _symbol, _, _ = next(
        d for d in diffs[10:] if d[1] == "NKNUSDT" and d[3] > snapshots["NKNUSDT"]
    )
    engine = feed(records[:index] + records[index + 1 :]).engines["binance"]
    assert engine.stats()["binance:NKNUSDT"]["gaps"] == 1
    assert engine.out_of_sync() == ["NKNUSDT"]
    assert all(engine.is_synced(s) for s in snapshots if s != "NKNUSDT")
