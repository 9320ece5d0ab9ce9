"""Coinbase Advanced Trade WebSocket (``wss://advanced-trade-ws.coinbase.com``).

One subscribe message per channel. ``heartbeats`` keeps quiet products' connections alive
and gives a counter to check. ``sequence_num`` counts every message of the connection, so a
gap puts every book on it out of sync; each is resynced by resubscribing its ``level2``.

Market data needs no credentials. With a CDP API key in ``COINBASE_API_KEY`` (the key name,
``organizations/…/apiKeys/…``) and ``COINBASE_API_SECRET`` (its EC private key, PEM), every
subscribe carries a fresh ES256 JWT, as Coinbase documents; those messages are then sent as
authentication, never captured or logged.
"""

from __future__ import annotations

import base64
import secrets
import time

import orjson

from alphapulse.venues.base import Connection, Credentials, Resync, Venue

#: Coinbase JWTs are valid for two minutes.
JWT_SECONDS = 120


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def coinbase_jwt(key_name: str, private_key_pem: str, now: float | None = None) -> str:
    """An ES256 JWT for the Advanced Trade WebSocket (CDP key name and EC private key)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    issued = int(time.time() if now is None else now)
    header = {"alg": "ES256", "kid": key_name, "nonce": secrets.token_hex(16), "typ": "JWT"}
    claims = {"iss": "cdp", "nbf": issued, "exp": issued + JWT_SECONDS, "sub": key_name}
    signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(orjson.dumps(claims))}"
    # Keys pasted into an environment variable often carry literal "\n"s.
    key = serialization.load_pem_private_key(
        private_key_pem.replace("\\n", "\n").encode(), password=None
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("COINBASE_API_SECRET must be an EC private key (PEM)")
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


DEFAULT_URL = "wss://advanced-trade-ws.coinbase.com"
CHANNELS = {"book": "level2", "trades": "market_trades", "ticker": "ticker", "bars": "candles"}


def _message(kind: str, channel: str, products: list[str], jwt: str | None = None) -> str:
    message: dict[str, object] = {"type": kind, "product_ids": products, "channel": channel}
    if jwt is not None:
        message["jwt"] = jwt
    return orjson.dumps(message).decode()


class Coinbase(Venue):
    name = "coinbase"
    protocol = "coinbase"

    def _credentials(self) -> Credentials | None:
        return self.credentials or Credentials.from_env("COINBASE_API_KEY", "COINBASE_API_SECRET")

    def _subscriptions(self, jwt: str | None = None) -> tuple[str, ...]:
        channels = ["heartbeats"] + [CHANNELS[c] for c in self.channels if c in CHANNELS]
        return tuple(_message("subscribe", ch, self.symbols, jwt) for ch in channels)

    def connections(self) -> list[Connection]:
        url = self.url("ws", DEFAULT_URL)
        creds = self._credentials()
        if creds is None:
            return [Connection("coinbase", url, self.protocol, self._subscriptions())]

        def signed() -> tuple[str, ...]:
            # A fresh token at every (re)connect: each is valid for two minutes.
            return self._subscriptions(coinbase_jwt(creds.key, creds.secret))

        return [Connection("coinbase", url, self.protocol, (), auth=signed)]

    def resync(self, venue_symbol: str) -> Resync:
        return Resync(
            messages=(
                _message("unsubscribe", "level2", [venue_symbol]),
                _message("subscribe", "level2", [venue_symbol]),
            )
        )
