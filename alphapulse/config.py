"""Collector settings: the lake, the venues and their symbols, from a TOML file, the
environment and the command line (in rising order of precedence).

```toml
lake = "data/lake"
capture = "data/captures/session.capture.zst"   # optional

[venues.kraken]
symbols = ["BTC/USD", "ETH/USD"]
channels = ["book", "trades"]

[venues.binance]
symbols = ["BTCUSDT"]
urls = { ws = "wss://stream.binance.com:9443", rest = "https://api.binance.com" }
```

With nothing configured, AlphaPulse collects from the embedded simulator. Secrets are never
read from the file: Alpaca keys come from ``ALPACA_API_KEY`` / ``ALPACA_API_SECRET``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alphapulse.venues import VENUES, Venue

DEFAULT_LAKE = Path("data/lake")
#: What `alphapulse collect` runs when nothing is configured (on the simulator).
DEFAULT_VENUES: dict[str, list[str]] = {
    "kraken": ["BTC/USD", "ETH/USD"],
    "coinbase": ["BTC-USD", "ETH-USD"],
    "binance": ["BTCUSDT", "ETHUSDT"],
}


class ConfigError(ValueError):
    """A setting that cannot be used, with what is wrong."""


@dataclass
class VenueConfig:
    symbols: list[str]
    channels: tuple[str, ...] = ("book", "trades")
    urls: dict[str, str] = field(default_factory=dict)
    depth: int | None = None


@dataclass
class CollectorConfig:
    lake: Path = DEFAULT_LAKE
    capture: Path | None = None
    venues: dict[str, VenueConfig] = field(default_factory=dict)

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
                data = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise ConfigError(f"{path}: {e}") from None
            config = cls.from_dict(data)
        if lake := os.environ.get("ALPHAPULSE_LAKE"):
            config.lake = Path(lake)
        return config

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectorConfig:
        config = cls(lake=Path(data.get("lake", DEFAULT_LAKE)))
        if "capture" in data:
            config.capture = Path(data["capture"])
        for name, v in dict(data.get("venues", {})).items():
            if name not in VENUES:
                raise ConfigError(f"unknown venue {name!r}; known: {', '.join(VENUES)}")
            if not v.get("symbols"):
                raise ConfigError(f"venue {name!r} has no symbols")
            config.venues[name] = VenueConfig(
                symbols=list(v["symbols"]),
                channels=tuple(v.get("channels", ("book", "trades"))),
                urls=dict(v.get("urls", {})),
                depth=v.get("depth"),
            )
        return config

    def build_venues(self) -> list[Venue]:
        return [
            VENUES[name](vc.symbols, channels=vc.channels, urls=vc.urls, depth=vc.depth)
            for name, vc in self.venues.items()
        ]
