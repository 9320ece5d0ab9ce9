"""Collector settings: the lake, the venues and their symbols, from a TOML file, the
environment and the command line (in rising order of precedence).

```toml
lake = "data/lake"
capture = "data/captures/session.capture.zst"   # optional
compact_every = "1h"                            # optional: compact the lake hourly
compact_older_than = "1h"                       # files at least this old (the default)
journal = true                                  # the crash journal (the default)
pg_dsn = "postgresql://collector@db:5432/market" # optional: the PostgreSQL buffer

[venues.kraken]
symbols = ["BTC/USD", "ETH/USD"]
channels = ["book", "trades"]                   # book, trades, ticker
depth = 25                                      # 10, 25, 100, 500 or 1000

[venues.binance]
symbols = ["BTCUSDT"]
urls = { ws = "wss://stream.binance.com:9443", rest = "https://api.binance.com" }

[venues.alpaca]
symbols = ["AAPL", "BTC/USD"]
channels = ["trades", "ticker", "news"]
feed = "sip"                                    # stock feed: "iex" (default) or "sip"
```

Every venue takes ``symbols`` (required, no duplicates), ``channels`` (default book and
trades; each venue module names the ones it has) and ``urls.ws``; Binance also ``urls.rest``.
The file is checked against a strict schema: a key it does not know, a string where a list
belongs (``symbols = "BTC/USD"``) or a number written as a string is an error, and every
error is one line naming the file and the key.

Durations (``compact_every``, ``compact_older_than``) are seconds or strings such as
``"90s"``, ``"15m"``, ``"1h"``. Scheduled compaction (``alphapulse lake compact`` in a
thread of the collector, each run an event) is off unless ``compact_every`` is set.

With nothing configured, AlphaPulse collects from the embedded simulator. Secrets are never
read from the file: Alpaca keys come from ``ALPACA_API_KEY`` / ``ALPACA_API_SECRET``; the
buffer's password from ``$ALPHAPULSE_PG_DSN`` (which wins over ``pg_dsn``) or libpq's own
``PGPASSWORD`` / ``~/.pgpass``.
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from alphapulse.arguments import parse_duration
from alphapulse.venues import VENUES, Venue, alpaca, binance, coinbase

DEFAULT_LAKE = Path("data/lake")
#: What `alphapulse collect` runs when nothing is configured (on the simulator).
DEFAULT_VENUES: dict[str, list[str]] = {
    "kraken": ["BTC/USD", "ETH/USD"],
    "coinbase": ["BTC-USD", "ETH-USD"],
    "binance": ["BTCUSDT", "ETHUSDT"],
}
#: Book depths Kraken's v2 book channel accepts.
KRAKEN_DEPTHS = (10, 25, 100, 500, 1000)
#: The channels each venue module subscribes to, read from its own tables so that the two
#: cannot drift (Kraken names its three in ``Kraken.connections``; tests/test_config.py
#: checks that every channel listed here changes what a venue subscribes to).
CHANNELS: dict[str, frozenset[str]] = {
    "kraken": frozenset({"book", "trades", "ticker"}),
    "coinbase": frozenset(coinbase.CHANNELS),
    "binance": frozenset(binance.STREAMS),
    "binance_us": frozenset(binance.STREAMS),
    "alpaca": frozenset(alpaca.CHANNELS) | {"news"},
}


class ConfigError(ValueError):
    """A setting that cannot be used, with what is wrong, in one line."""


@dataclass
class VenueConfig:
    symbols: list[str]
    channels: tuple[str, ...] = ("book", "trades")
    urls: dict[str, str] = field(default_factory=dict)
    depth: int | None = None
    #: Alpaca's stock feed ("iex" or "sip"); None leaves the venue's default.
    feed: str | None = None

    def venue_kwargs(self, venue: type[Venue]) -> dict[str, Any]:
        """Keyword arguments for ``venue``: the optional settings only when set, so a venue
        class that does not know a setting is never handed it (ConfigError if it was set)."""
        optional = {"feed": self.feed}
        accepted = inspect.signature(venue).parameters
        for key, value in optional.items():
            if value is not None and key not in accepted:
                raise ConfigError(f"{key}: this build's {venue.name} venue has no {key} setting")
        kwargs: dict[str, Any] = {k: v for k, v in optional.items() if v is not None}
        return {"channels": self.channels, "urls": self.urls, "depth": self.depth, **kwargs}


@dataclass
class CollectorConfig:
    lake: Path = DEFAULT_LAKE
    capture: Path | None = None
    venues: dict[str, VenueConfig] = field(default_factory=dict)
    #: Where the settings were read (the file's path), for messages; None: the defaults.
    source: str | None = None
    #: Seconds between scheduled compactions of the lake; None: never (the default).
    compact_every: float | None = None
    #: Files a scheduled compaction merges are at least this old (seconds).
    compact_older_than: float = 3600.0
    #: Journal every batch before the lake has it, so that a crash loses nothing synced.
    journal: bool = True
    #: The PostgreSQL buffer's DSN (``$ALPHAPULSE_PG_DSN`` or ``pg_dsn``); None: no buffer.
    pg_dsn: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.venues)

    @classmethod
    def load(cls, path: Path | None = None) -> CollectorConfig:
        """From ``path`` (or ``$ALPHAPULSE_CONFIG``), then ``$ALPHAPULSE_LAKE``."""
        config = cls()
        path = path or (Path(p) if (p := os.environ.get("ALPHAPULSE_CONFIG")) else None)
        if path is not None:
            try:
                text = path.read_bytes().decode()
            except OSError as e:
                raise ConfigError(f"{path}: cannot read the config: {e.strerror}") from None
            except UnicodeDecodeError as e:
                raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"{path}: not valid TOML: {e}") from None
            except RecursionError:  # tomllib recurses once per level of nesting
                raise ConfigError(
                    f"{path}: not valid TOML: arrays or tables nested too deeply"
                ) from None
            config = cls.from_dict(data, source=str(path))
        if lake := os.environ.get("ALPHAPULSE_LAKE"):
            config.lake = _home(lake, "lake", "$ALPHAPULSE_LAKE")
        if dsn := os.environ.get("ALPHAPULSE_PG_DSN"):
            config.pg_dsn = dsn
        return config

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> CollectorConfig:
        """Validate ``data`` (a parsed TOML file; ``source`` names it in errors)."""
        try:
            schema = ConfigFile.model_validate(data)
        except ValidationError as e:
            raise ConfigError(describe(source, e)) from None
        # "~/data/lake" in a file is the home directory, as in a shell, not a "~" directory.
        capture = _home(schema.capture, "capture", source) if schema.capture is not None else None
        config = cls(
            lake=_home(schema.lake, "lake", source),
            capture=capture,
            source=source,
            compact_every=schema.compact_every,
            compact_older_than=schema.compact_older_than,
            journal=schema.journal,
            pg_dsn=schema.pg_dsn,
        )
        for name in data.get("venues", {}):  # the file's order, not the schema's
            vs: VenueSchema = getattr(schema.venues, name)
            config.venues[name] = VenueConfig(
                symbols=vs.symbols,
                channels=tuple(vs.channels),
                urls=vs.urls.model_dump(exclude_none=True),
                depth=getattr(vs, "depth", None),
                feed=getattr(vs, "feed", None),
            )
            try:
                config.venues[name].venue_kwargs(VENUES[name])
            except ConfigError as e:
                raise ConfigError(f"{source}: venues.{name}.{e}") from None
        return config

    def build_venues(self) -> list[Venue]:
        return [
            VENUES[name](vc.symbols, **vc.venue_kwargs(VENUES[name]))
            for name, vc in self.venues.items()
        ]


def data_directory(lake: Path) -> Path:
    """Where the app database and the reports' archive live: ``$ALPHAPULSE_DATA``, else the
    lake's parent (``data/`` for the default ``data/lake``)."""
    if data := os.environ.get("ALPHAPULSE_DATA"):
        return _home(data, "data", "$ALPHAPULSE_DATA")
    return lake.parent


def _home(text: str, key: str, source: str | None) -> Path:
    """``text`` with ``~`` / ``~user`` expanded; ConfigError for a user without a home
    (``~0``), which pathlib reports as a RuntimeError."""
    try:
        return Path(text).expanduser()
    except RuntimeError:
        where = f"{source}: " if source else ""
        raise ConfigError(f"{where}{key}: {text!r}: no such user's home directory") from None


# --- the file's schema -------------------------------------------------------------------
# Strict: TOML has real types, so "10" is not a number and "BTC/USD" is not a list.

_STRICT = ConfigDict(strict=True, extra="forbid")


def _url(*schemes: str) -> AfterValidator:
    def check(url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"{url!r} is not a {' or '.join(s + '://' for s in schemes)} URL")
        try:
            parts.port  # noqa: B018 - reading it checks the range
        except ValueError:
            raise ValueError(f"{url!r} has a port out of range (0-65535)") from None
        return url  # as written: a trailing "/" would change the paths venues append

    return AfterValidator(check)


def _token(value: str) -> str:
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is empty or has spaces")
    return value


def _path(value: str) -> str:
    if not value:
        raise ValueError("an empty path")
    if "\0" in value:
        raise ValueError(f"{value!r} holds a NUL character, which no path can")
    return value


def _duration(value: object) -> object:
    """``"1h"`` and the like as seconds; numbers go on to be checked as floats."""
    if isinstance(value, str):
        return parse_duration(value)
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{value!r} is not a duration (seconds: 0 or more)")
    return value


def _positive(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise ValueError("must be above 0 (leave it out for no scheduled compaction)")
    return value


Token = Annotated[str, AfterValidator(_token)]
FilePath = Annotated[str, AfterValidator(_path)]
#: Seconds, as a number or a string with a unit ("90s", "15m", "1h", "2d").
Duration = Annotated[float, BeforeValidator(_duration), AfterValidator(_finite)]


class WsUrls(BaseModel):
    model_config = _STRICT
    ws: Annotated[str, _url("ws", "wss")] | None = None


class WsRestUrls(WsUrls):
    rest: Annotated[str, _url("http", "https")] | None = None


class VenueSchema(BaseModel):
    model_config = _STRICT
    venue: ClassVar[str]

    symbols: list[Token] = Field(default_factory=list, validate_default=True)
    channels: list[str] = Field(default_factory=lambda: ["book", "trades"], min_length=1)
    urls: WsUrls = WsUrls()

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, symbols: list[str]) -> list[str]:
        if not symbols:
            raise ValueError('no symbols: list at least one, e.g. symbols = ["BTC/USD"]')
        return _unique("symbol", symbols)

    @field_validator("channels")
    @classmethod
    def _channels(cls, channels: list[str]) -> list[str]:
        known = CHANNELS[cls.venue]
        if unknown := [c for c in channels if c not in known]:
            raise ValueError(f"unknown channel {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return _unique("channel", channels)


def _unique(what: str, values: list[str]) -> list[str]:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what} {v!r}")
        seen.add(v)
    return values


class KrakenSchema(VenueSchema):
    venue = "kraken"
    depth: int | None = None

    @field_validator("depth")
    @classmethod
    def _depth(cls, depth: int | None) -> int | None:
        if depth is not None and depth not in KRAKEN_DEPTHS:
            raise ValueError(f"depth {depth} is not one of {', '.join(map(str, KRAKEN_DEPTHS))}")
        return depth


class CoinbaseSchema(VenueSchema):
    venue = "coinbase"


class BinanceSchema(VenueSchema):
    venue = "binance"
    urls: WsRestUrls = WsRestUrls()


class BinanceUSSchema(BinanceSchema):
    venue = "binance_us"


class AlpacaSchema(VenueSchema):
    venue = "alpaca"
    feed: Literal["iex", "sip"] | None = None


class VenuesSchema(BaseModel):
    """One optional table per venue in ``alphapulse.venues.VENUES`` (a test checks)."""

    model_config = _STRICT
    kraken: KrakenSchema | None = None
    coinbase: CoinbaseSchema | None = None
    binance: BinanceSchema | None = None
    binance_us: BinanceUSSchema | None = None
    alpaca: AlpacaSchema | None = None


class ConfigFile(BaseModel):
    model_config = _STRICT
    lake: FilePath = str(DEFAULT_LAKE)
    capture: FilePath | None = None
    compact_every: Annotated[Duration | None, AfterValidator(_positive)] = None
    compact_older_than: Duration = 3600.0
    journal: bool = True
    pg_dsn: str | None = None
    venues: VenuesSchema = VenuesSchema()


# --- one line per file: pydantic's errors in TOML words ----------------------------------

_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int: bool is an int
    (str, "a string"),
    (int, "an integer"),
    (float, "a float"),
    (list, "an array"),
    (dict, "a table"),
    (datetime, "a datetime"),
    (date, "a date"),
    (time, "a time"),
)
#: pydantic's type errors, as what the key should have been.
_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "list_type": "an array",
    "model_type": "a table",
    "dict_type": "a table",
}
#: At most this many errors on the line; the count of the rest follows.
_MAX_ERRORS = 3


def describe(source: str, error: ValidationError) -> str:
    """``source: key.path: what is wrong; other.key: ...`` on one line."""
    details = error.errors(include_url=False)
    parts = [_describe_one(d) for d in details[:_MAX_ERRORS]]
    more = len(details) - _MAX_ERRORS
    return f"{source}: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _describe_one(detail: ErrorDetails) -> str:
    loc = detail["loc"]
    kind, value = detail["type"], detail["input"]
    if kind == "extra_forbidden":
        what = "venue" if loc[:1] == ("venues",) and len(loc) == 2 else "key"
        known = _known_keys(loc)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown {what} {loc[-1]!r} ({hint}known: {', '.join(known)})"
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {_toml_value(value)}"
    elif kind == "value_error":
        message = str(detail.get("ctx", {}).get("error", detail["msg"]))
    else:
        message = f"{detail['msg'][:1].lower()}{detail['msg'][1:]}, got {_toml_value(value)}"
    return f"{_key_path(loc)}: {message}" if loc else message


def _key_path(loc: tuple[int | str, ...]) -> str:
    """TOML's spelling: ``venues.kraken.symbols[0]``, quoting keys that need it."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            bare = part and all(c.isascii() and (c.isalnum() or c in "-_") for c in part)
            out += ("." if out else "") + (part if bare else repr(part))
    return out


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the schema allows where ``loc`` ends (its last part is the unknown key)."""
    model: type[BaseModel] = ConfigFile
    for part in loc[:-1]:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        if info is None:
            return []
        nested = [
            t
            for t in (info.annotation, *get_args(info.annotation))
            if isinstance(t, type) and not get_args(t) and issubclass(t, BaseModel)
        ]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def _toml_value(value: object) -> str:
    kind = next((name for t, name in _TOML_TYPES if isinstance(value, t)), type(value).__name__)
    shown = repr(value)
    if isinstance(value, dict | list):
        return kind
    return f"{kind} {shown if len(shown) <= 40 else shown[:37] + '...'}"
