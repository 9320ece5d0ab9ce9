"""What the collector needs to know to talk to one venue: where, how to subscribe, how to
resync one instrument. Transport lives in ``alphapulse.sources``, parsing in the Rust core.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Credentials:
    """API keys from the environment. ``repr`` never shows the secret."""

    key: str
    secret: str = field(repr=False)

    @classmethod
    def from_env(cls, key_var: str, secret_var: str) -> Credentials | None:
        key, secret = os.environ.get(key_var), os.environ.get(secret_var)
        return cls(key, secret) if key and secret else None


@dataclass(frozen=True, slots=True)
class Connection:
    """One WebSocket connection the collector keeps open, and what it sends on open."""

    name: str
    url: str
    protocol: str
    subscribe: tuple[str, ...]
    #: Sent before the subscriptions; never captured or logged (they may hold secrets). A
    #: callable is called at every (re)connect, for tokens that expire (Coinbase JWTs).
    auth: tuple[str, ...] | Callable[[], tuple[str, ...]] = ()
    #: Seconds of silence after which the connection is considered dead; None: no data-silence
    #: limit (a venue without heartbeats, whose quiet feeds are silent), WebSocket pings only.
    stall_seconds: float | None = 15.0
    #: Venue symbols this connection carries (empty: all of the venue's); resyncs go here.
    symbols: tuple[str, ...] = ()
    #: Handshake: consulted on each frame received after authenticating and before
    #: subscribing; True once the venue acknowledged (Alpaca's ``authenticated``). Raises
    #: :class:`FatalVenueError` for a reply that makes reconnecting pointless. None: no wait.
    ready: Callable[[bytes], bool] | None = None
    #: The venue closes connections older than this (Binance: 24 h); the collector replaces
    #: the connection before then, opening the new one before closing the old.
    max_lifetime_seconds: float | None = None


class FatalVenueError(Exception):
    """The venue refused the connection for a reason a reconnect would not fix (bad keys, no
    entitlement, too many connections): the connection stops, with this message.

    ``kind`` names the problem's event: ``auth_failed``, ``subscription_refused`` or
    ``venue_error``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class SnapshotFetcher(Protocol):
    """REST snapshots within a venue's request budget (``alphapulse.rest.RestClient``).

    ``get`` raises ``OSError`` or ``httpx.HTTPError`` subclasses on failure.
    """

    async def get(self, url: str, weight: int) -> bytes: ...
    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Resync:
    """How to bring one instrument's book back in sync."""

    #: Messages to send on the instrument's connection (unsubscribe + subscribe).
    messages: tuple[str, ...] = ()
    #: A REST snapshot to fetch and feed to the engine (Binance).
    snapshot_url: str | None = None
    #: Request weight of that snapshot against the venue's per-minute budget.
    weight: int = 0


class Venue:
    """Base class: one subclass per venue module."""

    name: str = ""
    protocol: str = ""
    #: The venue's request-weight budget per minute for REST snapshots (0: none used).
    weight_per_minute: int = 0
    #: The most messages a second the venue accepts from a client (None: no limit); every
    #: message the collector sends on the venue's connections is paced to it.
    messages_per_second: float | None = None

    def __init__(
        self,
        symbols: list[str],
        *,
        channels: tuple[str, ...] = ("book", "trades"),
        urls: Mapping[str, str] | None = None,
        credentials: Credentials | None = None,
        depth: int | None = None,
        stall_seconds: float | None = None,
    ) -> None:
        self.symbols = list(symbols)
        #: Overrides every connection's stall limit (seconds of silence before reconnecting).
        self.stall_seconds = stall_seconds
        self.channels = channels
        self.urls = dict(urls or {})
        self.credentials = credentials
        self.depth = depth

    def connections(self) -> list[Connection]:
        raise NotImplementedError

    def resync(self, venue_symbol: str) -> Resync:
        raise NotImplementedError

    def resync_many(self, symbols: list[str]) -> list[Resync]:
        """Resyncs for several symbols of one connection, due in the same round (a venue may
        put several in one message)."""
        return [self.resync(s) for s in symbols]

    def make_fetcher(self) -> SnapshotFetcher | None:
        """The REST client for this venue's snapshots (None: the collector's default)."""
        return None

    def error_kind(self, message: str) -> str:
        """The event kind of a venue error reply (a ``venue_error`` status): ``auth_failed``,
        ``subscription_refused`` or ``venue_error``."""
        return "venue_error"

    def initial_snapshots(self, connection: str | None = None) -> list[Resync]:
        """REST snapshots to fetch after each (re)connect of ``connection`` (a name; every
        connection's when None): Binance; none by default."""
        return []

    def url(self, key: str, default: str) -> str:
        return self.urls.get(key, default)
