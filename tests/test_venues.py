"""Venue modules: the subscribe, auth and resync messages each venue documents."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from alphapulse.config import CollectorConfig, ConfigError
from alphapulse.venues import (
    Alpaca,
    Binance,
    BinanceUS,
    Coinbase,
    Credentials,
    Kraken,
    venue_symbol,
)
from alphapulse.venues.coinbase import CredentialsError


def test_kraken_v2_subscriptions_and_resync() -> None:
    (conn,) = Kraken(["BTC/USD", "ETH/USD"], depth=25).connections()
    assert conn.url == "wss://ws.kraken.com/v2" and conn.protocol == "kraken"
    messages = [json.loads(m) for m in conn.subscribe]
    assert messages[0] == {
        "method": "subscribe",
        "params": {"channel": "instrument", "snapshot": True},
    }
    assert messages[1]["params"] == {
        "channel": "book",
        "symbol": ["BTC/USD", "ETH/USD"],
        "depth": 25,
        "snapshot": True,
    }
    assert messages[2]["params"]["channel"] == "trade"
    unsub, sub = (json.loads(m) for m in Kraken(["BTC/USD"]).resync("ETH/USD").messages)
    assert unsub == {
        "method": "unsubscribe",
        "params": {"channel": "book", "symbol": ["ETH/USD"], "depth": 10},
    }
    assert sub["method"] == "subscribe" and sub["params"]["symbol"] == ["ETH/USD"]


def test_kraken_ticker_follows_the_best_bid_offer() -> None:
    """Kraken's default ticker trigger is trades: quotes would skip every BBO change."""
    (conn,) = Kraken(["BTC/USD"], channels=("ticker",)).connections()
    assert json.loads(conn.subscribe[-1])["params"] == {
        "channel": "ticker",
        "symbol": ["BTC/USD"],
        "event_trigger": "bbo",
    }


@pytest.mark.parametrize("depth", [1, 20, 50, 5000])
def test_kraken_book_depth_is_one_kraken_offers(depth: int) -> None:
    with pytest.raises(ValueError, match=f"depth {depth} .* 10, 25, 100, 500, 1000"):
        Kraken(["BTC/USD"], depth=depth)
    for allowed in (10, 25, 100, 500, 1000):
        assert Kraken(["BTC/USD"], depth=allowed).depth == allowed


def test_kraken_resyncs_a_connection_in_two_messages() -> None:
    (plan,) = Kraken(["BTC/USD", "ETH/USD", "SOL/USD"], depth=25).resync_many(
        ["BTC/USD", "SOL/USD"]
    )
    unsub, sub = (json.loads(m) for m in plan.messages)
    assert unsub["method"] == "unsubscribe" and sub["method"] == "subscribe"
    assert unsub["params"]["symbol"] == sub["params"]["symbol"] == ["BTC/USD", "SOL/USD"]
    assert sub["params"]["depth"] == 25 and sub["params"]["snapshot"] is True
    assert Kraken(["BTC/USD"]).resync_many([]) == []


def test_coinbase_subscriptions_and_resync() -> None:
    (conn,) = Coinbase(["BTC-USD"], channels=("book", "trades", "ticker")).connections()
    channels = [json.loads(m)["channel"] for m in conn.subscribe]
    assert channels == ["heartbeats", "level2", "market_trades", "ticker"]
    assert all(json.loads(m)["product_ids"] == ["BTC-USD"] for m in conn.subscribe)
    plan = Coinbase(["BTC-USD"]).resync("BTC-USD")
    assert [json.loads(m)["type"] for m in plan.messages] == ["unsubscribe", "subscribe"]


def test_coinbase_resyncs_many_products_in_two_messages() -> None:
    """A sequence gap breaks every book of the connection: 2 messages, not 2 per product."""
    products = [f"C{i}-USD" for i in range(50)]
    venue = Coinbase(products)
    (plan,) = venue.resync_many(products)
    unsub, sub = (json.loads(m) for m in plan.messages)
    assert unsub == {"type": "unsubscribe", "product_ids": products, "channel": "level2"}
    assert sub == {"type": "subscribe", "product_ids": products, "channel": "level2"}
    assert venue.resync_many([]) == []
    # Paced below Coinbase's 8 unauthenticated messages a second per IP.
    assert venue.messages_per_second is not None and 0 < venue.messages_per_second < 8


def test_binance_streams_snapshots_and_weights() -> None:
    venue = Binance(["BTCUSDT", "ETHUSDT"], urls={"ws": "ws://127.0.0.1:9", "rest": "http://h"})
    (conn,) = venue.connections()
    assert conn.url == (
        "ws://127.0.0.1:9/stream?streams=btcusdt@depth@100ms/btcusdt@trade/"
        "ethusdt@depth@100ms/ethusdt@trade"
    )
    plan = venue.resync("BTCUSDT")
    assert plan.snapshot_url == "http://h/api/v3/depth?symbol=BTCUSDT&limit=1000"
    assert plan.weight == 50 and venue.weight_per_minute == 6000
    us = BinanceUS(["BTCUSD"])
    assert us.connections()[0].url.startswith("wss://stream.binance.us:9443/stream?")
    assert us.protocol == "binance_us" and us.weight_per_minute == 1200
    # Binance.US weighs a depth snapshot five times lighter than Binance.
    assert us.resync("BTCUSD").weight == 10


@pytest.mark.parametrize(
    ("symbol", "hint"),
    [
        ("btcusdt", "'BTCUSDT'"),  # the REST snapshot refuses lower case: no book ever syncs
        ("BTC/USDT", "'BTCUSDT'"),  # "/" separates the URL's streams
        ("BTC&limit=5", "'BTC&LIMIT=5'"),  # would rewrite the snapshot query
        ("X" * 21, "'XXXXXXXXXXXXXXXXXXXXX'"),
        ("BTCÜSDT", "like BTCUSDT"),
    ],
)
@pytest.mark.parametrize("venue", [Binance, BinanceUS])
def test_binance_refuses_what_is_not_a_binance_symbol(
    venue: type[Binance], symbol: str, hint: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(hint)) as e:
        venue([symbol])
    assert str(e.value).startswith(f"{venue.name}: ") and "is not a Binance symbol" in str(e.value)


def test_collect_refuses_a_binance_symbol_before_connecting() -> None:
    from alphapulse.commands import build_parser, collect_config

    args = build_parser().parse_args(["collect", "--venue", "binance", "--symbols", "BTC/USDT"])
    with pytest.raises(ConfigError, match=r"--venue binance: binance: 'BTC/USDT' is not a"):
        collect_config(args)


@pytest.mark.parametrize(
    ("limit", "binance", "binance_us"),
    [(5, 5, 1), (100, 5, 1), (101, 25, 5), (500, 25, 5), (1000, 50, 10), (5000, 250, 50)],
)
def test_binance_snapshot_weights_by_limit(limit: int, binance: int, binance_us: int) -> None:
    assert Binance(["X"]).snapshot_weight(limit) == binance
    assert BinanceUS(["X"]).snapshot_weight(limit) == binance_us


def test_binance_fetches_snapshots_with_a_rest_client() -> None:
    import asyncio

    from alphapulse.rest import RestClient

    for venue in (Binance(["BTCUSDT"]), BinanceUS(["BTCUSD"])):
        fetcher = venue.make_fetcher()
        assert isinstance(fetcher, RestClient)
        assert fetcher.weight_per_minute == venue.weight_per_minute
        asyncio.run(fetcher.aclose())
    assert Kraken(["BTC/USD"]).make_fetcher() is None


def test_binance_splits_past_1024_streams_per_connection() -> None:
    symbols = [f"S{i}USDT" for i in range(1100)]
    venue = Binance(symbols, channels=("book", "trades"), urls={"ws": "ws://h:1"})
    conns = venue.connections()
    assert [c.name for c in conns] == ["binance", "binance-2", "binance-3"]
    per_connection: list[list[str]] = []
    for conn in conns[:2]:
        assert conn.url == "ws://h:1/stream"  # too many for a URL: SUBSCRIBE messages
        messages = [json.loads(m) for m in conn.subscribe]
        assert all(m["method"] == "SUBSCRIBE" for m in messages)
        assert [m["id"] for m in messages] == list(range(1, len(messages) + 1))
        per_connection.append([p for m in messages for p in m["params"]])
    assert conns[2].subscribe == () and len(conns[2].url) < 4000  # 152 fit in the URL
    per_connection.append(conns[2].url.partition("?streams=")[2].split("/"))
    assert [len(s) for s in per_connection] == [1024, 1024, 152]
    # A symbol's streams stay on one connection, and every stream is somewhere.
    assert per_connection[0][-2:] == ["s511usdt@depth@100ms", "s511usdt@trade"]
    assert [s for streams in per_connection for s in streams] == [
        f"{s.lower()}@{kind}" for s in symbols for kind in ("depth@100ms", "trade")
    ]
    # After a connection opens, the snapshots of its own books.
    snapshots = venue.initial_snapshots("binance-3")
    assert len(snapshots) == 76 and snapshots[0].snapshot_url is not None
    assert "symbol=S1024USDT&" in snapshots[0].snapshot_url
    assert len(venue.initial_snapshots()) == 1100


def test_alpaca_needs_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    monkeypatch.delenv("ALPACA_API_SECRET", raising=False)
    with pytest.raises(ValueError, match="ALPACA_API_KEY"):
        Alpaca(["AAPL"]).connections()
    monkeypatch.setenv("ALPACA_API_KEY", "key-id")
    monkeypatch.setenv("ALPACA_API_SECRET", "s3cret")
    monkeypatch.setenv("ALPACA_BASE_URL", "ws://127.0.0.1:7000/")
    conns = Alpaca(["AAPL", "BTC/USD"], channels=("trades", "book", "news")).connections()
    assert [c.name for c in conns] == ["alpaca-stocks", "alpaca-crypto", "alpaca-news"]
    assert conns[0].url == "ws://127.0.0.1:7000/v2/iex"
    assert isinstance(conns[0].auth, tuple)
    assert json.loads(conns[0].auth[0]) == {"action": "auth", "key": "key-id", "secret": "s3cret"}
    assert json.loads(conns[0].subscribe[0]) == {"action": "subscribe", "trades": ["AAPL"]}
    assert json.loads(conns[1].subscribe[0]) == {
        "action": "subscribe",
        "trades": ["BTC/USD"],
        "orderbooks": ["BTC/USD"],
    }
    # The secret is only ever in the auth message: not in subscriptions, not in reprs.
    assert all("s3cret" not in m for c in conns for m in c.subscribe)
    assert "s3cret" not in repr(Credentials("k", "s3cret"))


def test_symbols_per_venue() -> None:
    assert venue_symbol("kraken", "BTC", "USD") == "BTC/USD"
    assert venue_symbol("coinbase", "BTC", "USD") == "BTC-USD"
    assert venue_symbol("binance", "BTC", "USD") == "BTCUSDT"
    assert venue_symbol("binance_us", "BTC", "USD") == "BTCUSD"
    assert venue_symbol("alpaca", "AAPL", "") == "AAPL"


def test_config_from_toml_and_errors(tmp_path: pytest.TempPathFactory) -> None:
    config = CollectorConfig.from_dict(
        {"lake": "x/lake", "venues": {"kraken": {"symbols": ["BTC/USD"], "depth": 25}}}
    )
    (venue,) = config.build_venues()
    assert isinstance(venue, Kraken) and venue.depth == 25 and config.configured
    with pytest.raises(ConfigError, match="unknown venue"):
        CollectorConfig.from_dict({"venues": {"nasdaq": {"symbols": ["X"]}}})
    with pytest.raises(ConfigError, match="no symbols"):
        CollectorConfig.from_dict({"venues": {"kraken": {}}})
    assert not CollectorConfig().configured


def test_coinbase_jwt_is_a_valid_es256_token(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import time

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    from alphapulse.venues.coinbase import coinbase_jwt

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    name = "organizations/org-1/apiKeys/key-1"

    def unb64(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    token = coinbase_jwt(name, pem.replace("\n", "\\n"), now=1_700_000_000)  # env-style "\n"s
    header_b64, claims_b64, sig_b64 = token.split(".")
    header, claims = json.loads(unb64(header_b64)), json.loads(unb64(claims_b64))
    assert header["alg"] == "ES256" and header["kid"] == name and len(header["nonce"]) == 32
    assert claims == {"iss": "cdp", "nbf": 1_700_000_000, "exp": 1_700_000_120, "sub": name}
    sig = unb64(sig_b64)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    signed = f"{header_b64}.{claims_b64}".encode()
    key.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))  # raises if invalid
    with pytest.raises(InvalidSignature):
        key.public_key().verify(der, signed + b"x", ec.ECDSA(hashes.SHA256()))

    # With keys in the environment, subscriptions become fresh signed auth messages.
    monkeypatch.setenv("COINBASE_API_KEY", name)
    monkeypatch.setenv("COINBASE_API_SECRET", pem)
    venue = Coinbase(["BTC-USD", "ETH-USD"])
    (conn,) = venue.connections()
    assert conn.subscribe == () and callable(conn.auth)
    first, again = conn.auth(), conn.auth()
    assert [json.loads(m)["channel"] for m in first] == ["heartbeats", "level2", "market_trades"]
    assert all(json.loads(m)["jwt"].count(".") == 2 for m in first)
    assert first != again  # a new nonce (and time) every connect
    assert int(json.loads(unb64(json.loads(first[0])["jwt"].split(".")[1]))["nbf"]) <= time.time()
    # A token of its own on every message, resyncs included.
    (plan,) = venue.resync_many(["BTC-USD", "ETH-USD"])
    tokens = [json.loads(m)["jwt"] for m in (*first, *again, *plan.messages)]
    assert len(set(tokens)) == len(tokens) == 8
    for token in tokens:
        claims = pyjwt.decode(token, key.public_key(), algorithms=["ES256"])
        assert claims["sub"] == name and claims["exp"] - claims["nbf"] == 120


def _ed25519_cdp_secret(key: ed25519.Ed25519PrivateKey) -> str:
    """How CDP hands out an Ed25519 secret: base64 of the seed then the public key."""
    seed = key.private_bytes_raw()
    return base64.b64encode(seed + key.public_key().public_bytes_raw()).decode()


def test_coinbase_signs_with_an_ed25519_cdp_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    monkeypatch.setenv("COINBASE_API_KEY", "3f1c0d2e-0000-4000-8000-000000000001")
    for secret in (
        _ed25519_cdp_secret(key),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    ):
        monkeypatch.setenv("COINBASE_API_SECRET", secret)
        (conn,) = Coinbase(["BTC-USD"]).connections()
        assert callable(conn.auth)
        token = json.loads(conn.auth()[0])["jwt"]
        assert pyjwt.get_unverified_header(token)["alg"] == "EdDSA"
        claims = pyjwt.decode(token, key.public_key(), algorithms=["EdDSA"])
        assert claims["iss"] == "cdp" and claims["sub"] == "3f1c0d2e-0000-4000-8000-000000000001"


def _pem(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


@pytest.mark.parametrize(
    ("key", "secret", "message"),
    [
        ("k", "-----BEGIN EC PRIVATE KEY-----\nbm90IGEga2V5\n-----END EC PRIVATE KEY-----", "PEM"),
        ("k", "not-a-key", "neither a PEM EC private key nor a base64 Ed25519 key"),
        ("k", base64.b64encode(bytes(64)).decode(), "public key does not match"),
        ("k", "rsa", "RSAPrivateKey; Coinbase keys are EC"),
        ("k", "p384", "secp384r1; Coinbase signs with P-256"),
        ("k", "", "COINBASE_API_SECRET is not set"),
        ("", "p256", "COINBASE_API_KEY is not set"),
    ],
)
def test_coinbase_refuses_unusable_credentials_when_built(
    monkeypatch: pytest.MonkeyPatch, key: str, secret: str, message: str
) -> None:
    keys = {
        "rsa": lambda: _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "p384": lambda: _pem(ec.generate_private_key(ec.SECP384R1())),
        "p256": lambda: _pem(ec.generate_private_key(ec.SECP256R1())),
    }
    value = keys[secret]() if secret in keys else secret
    monkeypatch.setenv("COINBASE_API_KEY", key)
    monkeypatch.setenv("COINBASE_API_SECRET", value)
    with pytest.raises(CredentialsError, match=re.escape(message)) as error:
        Coinbase(["BTC-USD"])
    assert isinstance(error.value, ValueError)  # one-line config errors catch it
    body = value.replace("\\n", "\n").splitlines()[1:2] or [value]
    assert not body[0] or body[0] not in str(error.value)  # never the secret itself
