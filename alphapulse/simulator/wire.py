"""The venues' wire protocols, spoken by the simulator: market-model steps in, frames out.

Each feed writes what a client on one connection would see, into a capture: the connect,
the subscribe messages sent, every frame received (and REST snapshots where the venue
needs them), with the venue's own sequence numbers, checksums and heartbeats.
"""

from __future__ import annotations

from typing import Any

import orjson

from alphapulse.book import kraken_checksum
from alphapulse.capture import CaptureWriter
from alphapulse.simulator.encoding import fixed, rfc3339, trimmed
from alphapulse.simulator.market import ASK, BID, MarketModel, Step

__all__ = ["BinanceFeed", "CoinbaseFeed", "KrakenV1Feed", "fixed", "rfc3339", "trimmed"]


def dumps(message: Any) -> str:
    return orjson.dumps(message).decode()


class KrakenV1Feed:
    """Kraken WS v1: array frames, book-N with CRC32 checksums, trades, heartbeats."""

    protocol = "kraken_v1"
    url = "wss://ws.kraken.com"

    def __init__(self, models: dict[str, MarketModel], depth: int = 25) -> None:
        self.models = {f"{_kraken_asset(m.spec.base)}/{m.spec.quote}": m for m in models.values()}
        self.by_model = {id(m): s for s, m in self.models.items()}
        self.depth = depth
        self.channel = {s: 100 + i for i, s in enumerate(self.models)}
        self.published: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
        self.conn = "kraken-1"

    def _window(self, model: MarketModel) -> tuple[dict[int, int], dict[int, int]]:
        bids = dict(model.levels(BID)[: self.depth])
        asks = dict(model.levels(ASK)[: self.depth])
        return bids, asks

    def _level(self, model: MarketModel, price: int, size: int, ts: int) -> list[str]:
        spec = model.spec
        return [
            fixed(price, spec.price_decimals),
            fixed(size, spec.size_decimals),
            fixed(ts // 1000, 6),
        ]

    def open(self, w: CaptureWriter, ts: int) -> None:
        w.connect(self.conn, self.protocol, self.url, ts)
        pairs = list(self.models)
        w.recv(
            self.conn,
            dumps(
                {"connectionID": 1, "event": "systemStatus", "status": "online", "version": "1.9.0"}
            ),
            ts,
        )
        for name in ("trade", f"book-{self.depth}"):
            sub: dict[str, Any] = {"name": name.split("-")[0]}
            if name.startswith("book"):
                sub["depth"] = self.depth
            w.send(self.conn, dumps({"event": "subscribe", "pair": pairs, "subscription": sub}), ts)
            for pair in pairs:
                w.recv(
                    self.conn,
                    dumps(
                        {
                            "channelID": self.channel[pair],
                            "channelName": name,
                            "event": "subscriptionStatus",
                            "pair": pair,
                            "status": "subscribed",
                            "subscription": sub,
                        }
                    ),
                    ts,
                )
        for pair, model in self.models.items():
            bids, asks = self._window(model)
            self.published[pair] = (bids, asks)
            snapshot = {
                "as": [self._level(model, p, s, ts) for p, s in asks.items()],
                "bs": [self._level(model, p, s, ts) for p, s in bids.items()],
            }
            w.recv(self.conn, dumps([self.channel[pair], snapshot, f"book-{self.depth}", pair]), ts)

    def heartbeat(self, w: CaptureWriter, ts: int) -> None:
        w.recv(self.conn, '{"event":"heartbeat"}', ts)

    def on_step(self, w: CaptureWriter, ts: int, model: MarketModel, step: Step) -> None:
        pair = self.by_model[id(model)]
        spec = model.spec
        if step.trades:
            trades = [
                [
                    fixed(t.price, spec.price_decimals),
                    fixed(t.size, spec.size_decimals),
                    fixed(ts // 1000, 6),
                    "b" if t.aggressor == BID else "s",
                    "m",
                    "",
                ]
                for t in step.trades
            ]
            w.recv(self.conn, dumps([self.channel[pair], trades, "trade", pair]), ts)
        old = self.published[pair]
        new = self._window(model)
        updates: list[list[list[str]]] = [[], []]
        for side in (BID, ASK):
            for price in old[side].keys() - new[side].keys():
                if price not in model.book[side]:  # gone, not merely pushed past the depth
                    updates[side].append(self._level(model, price, 0, ts))
            for price, size in new[side].items():
                if old[side].get(price) != size:
                    updates[side].append(self._level(model, price, size, ts))
        self.published[pair] = new
        if not updates[BID] and not updates[ASK]:
            return
        checksum = kraken_checksum(
            [
                (fixed(p, spec.price_decimals), fixed(s, spec.size_decimals))
                for p, s in sorted(new[ASK].items())[:10]
            ],
            [
                (fixed(p, spec.price_decimals), fixed(s, spec.size_decimals))
                for p, s in sorted(new[BID].items(), reverse=True)[:10]
            ],
        )
        parts: list[dict[str, Any]] = []
        if updates[ASK]:
            parts.append({"a": updates[ASK]})
        if updates[BID]:
            parts.append({"b": updates[BID]})
        parts[-1]["c"] = str(checksum)
        w.recv(self.conn, dumps([self.channel[pair], *parts, f"book-{self.depth}", pair]), ts)


class CoinbaseFeed:
    """Coinbase Advanced Trade: one `sequence_num` per connection, full-depth level2."""

    protocol = "coinbase"
    url = "wss://advanced-trade-ws.coinbase.com"

    def __init__(self, models: dict[str, MarketModel]) -> None:
        self.models = {f"{m.spec.base}-{m.spec.quote}": m for m in models.values()}
        self.by_model = {id(m): s for s, m in self.models.items()}
        self.sequence = 0
        self.heartbeat_counter = 1000
        self.trade_id = {p: 1_000_000 for p in self.models}
        self.conn = "coinbase-1"

    def _send(self, w: CaptureWriter, ts: int, channel: str, events: list[Any]) -> None:
        message = {
            "channel": channel,
            "client_id": "",
            "timestamp": rfc3339(ts),
            "sequence_num": self.sequence,
            "events": events,
        }
        self.sequence += 1
        w.recv(self.conn, dumps(message), ts)

    def open(self, w: CaptureWriter, ts: int) -> None:
        products = {
            "products": [
                {
                    "product_id": p,
                    "base_currency_id": m.spec.base,
                    "quote_currency_id": m.spec.quote,
                    "price_increment": trimmed(1, m.spec.price_decimals),
                    "base_increment": trimmed(1, m.spec.size_decimals),
                }
                for p, m in self.models.items()
            ]
        }
        w.http(
            "coinbase-rest",
            self.protocol,
            "https://api.coinbase.com/api/v3/brokerage/market/products",
            dumps(products),
            ts,
        )
        w.connect(self.conn, self.protocol, self.url, ts)
        ids = list(self.models)
        for channel in ("level2", "market_trades", "heartbeats"):
            w.send(
                self.conn, dumps({"type": "subscribe", "product_ids": ids, "channel": channel}), ts
            )
            self._send(w, ts, "subscriptions", [{"subscriptions": {channel: ids}}])
        for product, model in self.models.items():
            updates = [
                self._level(model, side, p, s, ts)
                for side in (BID, ASK)
                for p, s in model.levels(side)
            ]
            self._send(
                w, ts, "l2_data", [{"type": "snapshot", "product_id": product, "updates": updates}]
            )

    def _level(self, model: MarketModel, side: int, price: int, size: int, ts: int) -> Any:
        return {
            "side": "bid" if side == BID else "offer",
            "event_time": rfc3339(ts),
            "price_level": trimmed(price, model.spec.price_decimals),
            "new_quantity": trimmed(size, model.spec.size_decimals),
        }

    def heartbeat(self, w: CaptureWriter, ts: int) -> None:
        self.heartbeat_counter += 1
        self._send(
            w,
            ts,
            "heartbeats",
            [{"current_time": rfc3339(ts), "heartbeat_counter": self.heartbeat_counter}],
        )

    def on_step(self, w: CaptureWriter, ts: int, model: MarketModel, step: Step) -> None:
        product = self.by_model[id(model)]
        spec = model.spec
        if step.trades:
            trades = []
            for t in step.trades:
                self.trade_id[product] += 1
                # Coinbase reports the maker's side: a buyer lifting the ask prints "SELL".
                trades.append(
                    {
                        "product_id": product,
                        "trade_id": str(self.trade_id[product]),
                        "price": trimmed(t.price, spec.price_decimals),
                        "size": trimmed(t.size, spec.size_decimals),
                        "time": rfc3339(ts),
                        "side": "SELL" if t.aggressor == BID else "BUY",
                    }
                )
            self._send(w, ts, "market_trades", [{"type": "update", "trades": trades}])
        if step.changes:
            updates = [self._level(model, side, p, s, ts) for side, p, s in step.changes]
            self._send(
                w, ts, "l2_data", [{"type": "update", "product_id": product, "updates": updates}]
            )


class BinanceFeed:
    """Binance spot combined streams, synchronised with REST depth snapshots by update id."""

    protocol = "binance"

    def __init__(self, models: dict[str, MarketModel]) -> None:
        self.models = {
            f"{m.spec.base}{m.spec.quote}T"
            if m.spec.quote == "USD"
            else f"{m.spec.base}{m.spec.quote}": m
            for m in models.values()
        }
        self.by_model = {id(m): s for s, m in self.models.items()}
        self.update_id = {s: 5_000_000 * (i + 1) for i, s in enumerate(self.models)}
        self.trade_id = {s: 700_000 for s in self.models}
        self.snapshot_sent: set[str] = set()
        streams = "/".join(f"{s.lower()}@depth@100ms/{s.lower()}@trade" for s in self.models)
        self.url = f"wss://stream.binance.com:9443/stream?streams={streams}"
        self.conn = "binance-1"

    def open(self, w: CaptureWriter, ts: int) -> None:
        w.connect(self.conn, self.protocol, self.url, ts)

    def heartbeat(self, w: CaptureWriter, ts: int) -> None:
        """Binance pings at the WebSocket level; no data frame to write. Fetch due snapshots."""
        for symbol, model in self.models.items():
            if symbol not in self.snapshot_sent:
                self._snapshot(w, ts, symbol, model)

    def _snapshot(self, w: CaptureWriter, ts: int, symbol: str, model: MarketModel) -> None:
        # Fetched after the stream opened, as Binance documents: diffs already received with
        # u <= lastUpdateId are then dropped by the client.
        d = model.spec.price_decimals, model.spec.size_decimals
        body = {
            "lastUpdateId": self.update_id[symbol],
            "bids": [[fixed(p, d[0]), fixed(s, d[1])] for p, s in model.levels(BID)],
            "asks": [[fixed(p, d[0]), fixed(s, d[1])] for p, s in model.levels(ASK)],
        }
        url = f"https://api.binance.com/api/v3/depth?symbol={symbol}&limit=1000"
        w.http("binance-rest", self.protocol, url, dumps(body), ts)
        self.snapshot_sent.add(symbol)

    def on_step(self, w: CaptureWriter, ts: int, model: MarketModel, step: Step) -> None:
        symbol = self.by_model[id(model)]
        d = model.spec.price_decimals, model.spec.size_decimals
        stream = symbol.lower()
        ms = ts // 1_000_000
        for t in step.trades:
            self.trade_id[symbol] += 1
            data = {
                "e": "trade",
                "E": ms,
                "s": symbol,
                "t": self.trade_id[symbol],
                "p": fixed(t.price, d[0]),
                "q": fixed(t.size, d[1]),
                "T": ms,
                "m": t.aggressor == ASK,
                "M": True,
            }
            w.recv(self.conn, dumps({"stream": f"{stream}@trade", "data": data}), ts)
        if step.changes:
            first = self.update_id[symbol] + 1
            self.update_id[symbol] += len(step.changes)
            bids = [[fixed(p, d[0]), fixed(s, d[1])] for side, p, s in step.changes if side == BID]
            asks = [[fixed(p, d[0]), fixed(s, d[1])] for side, p, s in step.changes if side == ASK]
            data = {
                "e": "depthUpdate",
                "E": ms,
                "s": symbol,
                "U": first,
                "u": self.update_id[symbol],
                "b": bids,
                "a": asks,
            }
            w.recv(self.conn, dumps({"stream": f"{stream}@depth@100ms", "data": data}), ts)


def _kraken_asset(asset: str) -> str:
    return "XBT" if asset == "BTC" else asset
