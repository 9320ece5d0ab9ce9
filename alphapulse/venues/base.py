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
    #: Seconds of silence after which the connection is considered dead.
    stall_seconds: float = 15.0


@dataclass(frozen=True, slots=True)
class Resync:
    """How to bring one instrument's book back in sync."""

    #: Messages to send on the instrument's connection (unsubscribe + subscribe).
    messages: tuple[str, ...] = ()
    #: A REST snapshot to fetch and feed to the engine (Binance).
    snapshot_url: str | None = None
    #: Request weight of that snapshot against the venue's per-minute budget.
    weight: int = 0


class SnapshotFetcher(Protocol):
    async def get(self, url: str, weight: int) -> bytes: ...
    async def aclose(self) -> None: ...


class Venue:
    """Base class: one subclass per venue module."""

    name: str = ""
    protocol: str = ""
    #: The most messages a second the runtime sends on one of the venue's connections.
    messages_per_second: float | None = None
    #: The venue's request-weight budget per minute for REST snapshots (0: none used).
    weight_per_minute: int = 0

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
        """The resyncs of one connection's broken books, called once per round."""
        return [self.resync(s) for s in symbols]

    def make_fetcher(self) -> SnapshotFetcher | None:
        """The REST client for this venue's snapshots; None when it takes none."""
        return None

    def initial_snapshots(self) -> list[Resync]:
        """REST snapshots to fetch after each (re)connect (Binance); none by default."""
        return []

    def url(self, key: str, default: str) -> str:
        return self.urls.get(key, default)
