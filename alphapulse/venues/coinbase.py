"""Coinbase Advanced Trade WebSocket (``wss://advanced-trade-ws.coinbase.com``).

One subscribe message per channel. ``heartbeats`` keeps quiet products' connections alive
and gives a counter to check. ``sequence_num`` counts every message of the connection, so a
gap puts every book on it out of sync; they are resynced together, by one ``level2``
unsubscribe and one subscribe listing every broken product (it was two messages per product,
all at once). Coinbase limits unauthenticated messages to 8 a second per IP (Advanced Trade
WebSocket rate limits), and the runtime paces sends at ``messages_per_second``.

Market data needs no credentials. With a CDP API key in ``COINBASE_API_KEY`` (its name or
id) and ``COINBASE_API_SECRET`` (an EC P-256 private key in PEM, or an Ed25519 key as CDP
issues it: base64 of the 32-byte seed and the 32-byte public key), every message carries a
JWT of its own, signed when it is made (ES256 or EdDSA), since a token lives two minutes
(Advanced Trade WebSocket authentication). The key is read when the venue is built, so a
bad one stops the collector there with a :class:`CredentialsError`.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import time
from typing import Any

import jwt
import orjson
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from alphapulse.venues.base import Connection, Credentials, Resync, Venue

#: Coinbase JWTs are valid for two minutes.
JWT_SECONDS = 120
DEFAULT_URL = "wss://advanced-trade-ws.coinbase.com"
CHANNELS = {"book": "level2", "trades": "market_trades", "ticker": "ticker", "bars": "candles"}
#: Unauthenticated messages a second per IP that Coinbase accepts.
RATE_LIMIT = 8
KEY_VAR, SECRET_VAR = "COINBASE_API_KEY", "COINBASE_API_SECRET"

SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class CredentialsError(ValueError):
    """API credentials that cannot be used, with what is wrong (never the secret)."""


def load_signing_key(secret: str) -> tuple[str, SigningKey]:
    """The JWT algorithm and private key of a CDP API secret; CredentialsError if unusable."""
    # Keys pasted into an environment variable often carry literal "\n"s.
    text = secret.replace("\\n", "\n").strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise CredentialsError(f"{SECRET_VAR} is not a readable PEM private key: {e}") from None
        if isinstance(key, ec.EllipticCurvePrivateKey):
            if not isinstance(key.curve, ec.SECP256R1):
                raise CredentialsError(
                    f"{SECRET_VAR} is an EC key on {key.curve.name}; Coinbase signs with P-256"
                )
            return "ES256", key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return "EdDSA", key
        raise CredentialsError(
            f"{SECRET_VAR} is a {type(key).__name__.lstrip('_')}; "
            "Coinbase keys are EC (P-256, PEM) or Ed25519"
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 64:
        raise CredentialsError(
            f"{SECRET_VAR} is neither a PEM EC private key nor a base64 Ed25519 key "
            "(64 bytes: seed, then public key)"
        )
    ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])
    if ed_key.public_key().public_bytes_raw() != raw[32:]:
        raise CredentialsError(f"{SECRET_VAR}: the Ed25519 public key does not match its seed")
    return "EdDSA", ed_key


class Signer:
    """Signs one JWT per message with a CDP key."""

    def __init__(self, credentials: Credentials) -> None:
        if not credentials.key.strip():
            raise CredentialsError(f"{KEY_VAR} is empty")
        self.key_name = credentials.key
        self.algorithm, self._key = load_signing_key(credentials.secret)

    def __repr__(self) -> str:
        return f"Signer({self.key_name!r}, {self.algorithm})"

    def token(self, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {"iss": "cdp", "nbf": issued, "exp": issued + JWT_SECONDS, "sub": self.key_name}
        # A nonce in the header makes every token unique, as Coinbase's samples do.
        headers = {"kid": self.key_name, "nonce": secrets.token_hex(16)}
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)


def coinbase_jwt(key_name: str, private_key_pem: str, now: float | None = None) -> str:
    """A JWT for the Advanced Trade WebSocket (CDP key name and private key)."""
    return Signer(Credentials(key_name, private_key_pem)).token(now)


def credentials_from_env() -> Credentials | None:
    """The CDP key from the environment; both halves or none, else CredentialsError."""
    key, secret = os.environ.get(KEY_VAR), os.environ.get(SECRET_VAR)
    if bool(key) != bool(secret):
        missing = SECRET_VAR if key else KEY_VAR
        raise CredentialsError(
            f"{missing} is not set: a CDP key needs both {KEY_VAR} and {SECRET_VAR}"
        )
    return Credentials(key, secret) if key and secret else None


class Coinbase(Venue):
    name = "coinbase"
    protocol = "coinbase"
    #: A quarter below the limit: Coinbase counts arrivals per IP, and queued sends can
    #: arrive closer together than they left.
    messages_per_second = RATE_LIMIT * 0.75

    def __init__(self, symbols: list[str], **kwargs: Any) -> None:
        super().__init__(symbols, **kwargs)
        creds = self.credentials or credentials_from_env()
        self.signer = Signer(creds) if creds is not None else None

    def _message(self, kind: str, channel: str, products: list[str]) -> str:
        message: dict[str, object] = {"type": kind, "product_ids": products, "channel": channel}
        if self.signer is not None:
            message["jwt"] = self.signer.token()
        return orjson.dumps(message).decode()

    def _subscriptions(self) -> tuple[str, ...]:
        channels = ["heartbeats"] + [CHANNELS[c] for c in self.channels if c in CHANNELS]
        return tuple(self._message("subscribe", ch, self.symbols) for ch in channels)

    def connections(self) -> list[Connection]:
        url = self.url("ws", DEFAULT_URL)
        if self.signer is None:
            return [Connection("coinbase", url, self.protocol, self._subscriptions())]
        # Signed at every (re)connect, and then sent as authentication: never captured.
        return [Connection("coinbase", url, self.protocol, (), auth=self._subscriptions)]

    def resync(self, venue_symbol: str) -> Resync:
        return self.resync_many([venue_symbol])[0]

    def resync_many(self, symbols: list[str]) -> list[Resync]:
        """Two messages whatever the number of products: a sequence gap breaks every book
        of the connection at once, and a message per product would exceed the rate."""
        if not symbols:
            return []
        products = list(symbols)
        return [
            Resync(
                messages=(
                    self._message("unsubscribe", "level2", products),
                    self._message("subscribe", "level2", products),
                )
            )
        ]
