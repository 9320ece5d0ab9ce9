"""The news screen's stories and a story's chart, without widgets.

Stories come from two places, merged by id: the lake's ``news`` table (what was said before
the page opened; ``time_ms``) and the collector's live channel (``time``, ms). A story's
chart is its symbol's bars around its time, from the lake, at an interval that fits how old
the story is (as the Lab's News panel picks one), with the story's bar marked and a price
line at that bar's close.

    >>> pick_instrument(["kraken:BTC/USD", "alpaca:AAPL"], "btcusd")
    'kraken:BTC/USD'
    >>> interval_for(30.0), interval_for(3_600.0), interval_for(86_400.0)
    (('1s', 1), ('1m', 60), ('1h', 3600))
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

#: Stories kept, newest first.
MAX_STORIES: Final = 300
#: Bars a story's chart shows on each side of the story (fewer after it when it is recent).
BARS_AROUND: Final = 90
#: The marker's and the price line's colour (amber: neither candle colour).
STORY_COLOR: Final = "#f0b429"
#: Venues tried first for a story's symbol: the news comes from Alpaca, whose stocks are its
#: stories' symbols.
PREFERRED_VENUES: Final = ("alpaca",)
_PLAIN = re.compile(r"[^A-Za-z0-9]")


@dataclass(frozen=True)
class Story:
    id: int
    time_s: float
    headline: str
    symbols: tuple[str, ...]
    source: str = ""
    url: str = ""
    summary: str = ""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Story:
        """A row of the lake (``time_ms``) or of the live channel (``time``, ms)."""
        ms = row.get("time_ms", row.get("time"))
        return cls(
            id=int(row["id"]),
            time_s=float(ms or 0) / 1000,
            headline=str(row.get("headline") or ""),
            symbols=tuple(str(s) for s in row.get("symbols") or ()),
            source=str(row.get("source") or ""),
            url=str(row.get("url") or ""),
            summary=str(row.get("summary") or ""),
        )


class Stories:
    """Newest first, each id once (the fuller of two copies: the lake's has a summary)."""

    def __init__(self, keep: int = MAX_STORIES) -> None:
        self.keep = keep
        self._by_id: dict[int, Story] = {}
        self.ordered: list[Story] = []

    def merge(self, rows: Iterable[Mapping[str, Any]]) -> bool:
        """Whether any story was new (or filled in)."""
        changed = False
        for row in rows:
            story = Story.from_row(row)
            known = self._by_id.get(story.id)
            if known is None or (story.summary and not known.summary):
                self._by_id[story.id] = story
                changed = True
        if changed:
            self.ordered = sorted(self._by_id.values(), key=lambda s: (-s.time_s, -s.id))
            del self.ordered[self.keep :]
            self._by_id = {s.id: s for s in self.ordered}
        return changed

    def get(self, story_id: int) -> Story | None:
        return self._by_id.get(story_id)

    def naming(self, symbol: str) -> list[Story]:
        """The stories naming ``symbol`` (any case); all for an empty one."""
        wanted = symbol.strip().upper()
        if not wanted:
            return list(self.ordered)
        return [s for s in self.ordered if any(x.upper() == wanted for x in s.symbols)]

    def symbols(self) -> list[str]:
        return sorted({x for s in self.ordered for x in s.symbols})


def pick_instrument(instruments: Sequence[str], symbol: str) -> str | None:
    """The collected instrument that trades ``symbol`` ("BTCUSD" is kraken's "BTC/USD" and
    coinbase's "BTC-USD"): on a preferred venue if one has it, else the first listed."""
    wanted = _PLAIN.sub("", symbol).upper()
    if not wanted:
        return None
    matching = [i for i in instruments if _PLAIN.sub("", i.split(":", 1)[-1]).upper() == wanted]
    for venue in PREFERRED_VENUES:
        for instrument in matching:
            if instrument.startswith(f"{venue}:"):
                return instrument
    return matching[0] if matching else None


def interval_for(age_s: float) -> tuple[str, int]:
    """The bars that show a story ``age_s`` seconds old with room around it."""
    if age_s < 400:
        return "1s", 1
    if age_s < 400 * 60:
        return "1m", 60
    return "1h", 3600


@dataclass(frozen=True)
class StoryChart:
    instrument: str
    interval: str
    bars: list[dict[str, Any]]
    #: The story's bar (its start, epoch seconds) and that bar's close; None: no bar at or
    #: before the story's time in the window.
    bar_time: int | None
    price: float | None

    story_s: float

    def marker_for(self, headline: str) -> dict[str, Any]:
        """The story's marker: on its bar, its headline cut to 40 characters."""
        text = headline if len(headline) <= 40 else headline[:39] + "\u2026"
        return {
            "time": self.bar_time if self.bar_time is not None else int(self.story_s),
            "position": "aboveBar",
            "shape": "arrowDown",
            "color": STORY_COLOR,
            "text": text,
        }


BARS_SQL: Final = (
    "select epoch(ts)::bigint as time, open, high, low, close, volume "
    "from bars(to_seconds($every::bigint), venue := $venue, symbol := $symbol, "
    "start := make_timestamp($start::bigint * 1000000), "
    "stop := make_timestamp($stop::bigint * 1000000)) order by time"
)


def story_chart(
    lake: Path, instrument: str, story_time_s: float, now: float | None = None
) -> StoryChart:
    """``instrument``'s bars around ``story_time_s`` from the lake (blocking: a thread);
    ``now``: the clock the story's age is measured on (default: this machine's)."""
    from alphapulse.query.session import connect

    now_s = time.time() if now is None else now
    interval, seconds = interval_for(now_s - story_time_s)
    bar = int(story_time_s) // seconds * seconds
    start, stop = bar - BARS_AROUND * seconds, min(bar + (BARS_AROUND + 1) * seconds, now_s + 1)
    venue, symbol = instrument.split(":", 1)
    params = {"every": seconds, "venue": venue, "symbol": symbol}
    with connect(lake) as session:
        rows: list[dict[str, Any]] = session.arrow(
            BARS_SQL, {**params, "start": start, "stop": int(stop)}
        ).to_pylist()
    before = [r for r in rows if r["time"] <= bar]
    story_bar = before[-1] if before else None
    return StoryChart(
        instrument,
        interval,
        rows,
        None if story_bar is None else int(story_bar["time"]),
        None if story_bar is None else float(story_bar["close"]),
        story_time_s,
    )
