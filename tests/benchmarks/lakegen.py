"""A synthetic trades lake for the query benchmarks, written as the collector writes one.

The query layer's figures (bars over 50M trades, one symbol-day, compaction) need a lake of
a realistic size and shape, made in a minute or two rather than by a month of collection:

- ``--symbols`` instruments spread over ``--venues`` (round robin), ``--days`` UTC days from
  2026-01-01, ``--trades`` rows in all, split evenly over the days;
- a day's trades arrive as one stream across all symbols (exponential gaps, busier symbols
  more often), so every file is sorted by ``ts_recv`` and *not* by symbol, like the
  collector's; a file per partition every ``--file-minutes`` (the collector rolls every
  60 s; hourly keeps the file count of a month near the collector's after a light
  compaction, and is the default);
- prices a geometric random walk per symbol (about 3% a day), rounded to the symbol's tick;
  sizes lognormal around a few hundred dollars of notional, rounded to the lot; the raw
  mantissas and precisions consistent with the floats (``price == price_raw / 10**p``, as
  the core computes it); ``ts_event`` the venue's millisecond time a few ms earlier; trade
  ids increasing per symbol.

The files are written by ``LakeWriter`` itself (one ``write`` + ``flush`` per file), so
the layout, names, encodings, row groups and metadata are exactly the lake's. A lake is
cached under ``data/bench/`` keyed by its parameters and reused; ``_lakegen.json`` is
written last, so an interrupted generation is redone, not reused.

    python -m tests.benchmarks.lakegen --trades 50000000      # prints the lake's path
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from alphapulse import _core
from alphapulse.lake import LakeWriter

CACHE = Path(__file__).resolve().parents[2] / "data" / "bench"
DONE = "_lakegen.json"
#: Bump when the generated data changes, so that cached lakes are not reused.
VERSION = 1
DAY_NS = 86_400 * 10**9
START_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z

#: (symbol, base, quote, start price, price precision, size precision, relative activity)
SYMBOLS = [
    ("BTCUSDT", "BTC", "USDT", 95_000.0, 2, 5, 10.0),
    ("ETHUSDT", "ETH", "USDT", 3_300.0, 2, 4, 6.0),
    ("SOLUSDT", "SOL", "USDT", 190.0, 2, 3, 3.0),
    ("XRPUSDT", "XRP", "USDT", 2.3, 4, 1, 2.5),
    ("DOGEUSDT", "DOGE", "USDT", 0.32, 5, 0, 2.0),
    ("BNBUSDT", "BNB", "USDT", 690.0, 2, 3, 1.5),
    ("ADAUSDT", "ADA", "USDT", 0.9, 4, 1, 1.0),
    ("LINKUSDT", "LINK", "USDT", 21.0, 2, 2, 0.8),
    ("AVAXUSDT", "AVAX", "USDT", 36.0, 2, 2, 0.6),
    ("LTCUSDT", "LTC", "USDT", 105.0, 2, 3, 0.5),
]


@dataclass(frozen=True)
class Spec:
    """What a generated lake holds; its cache key."""

    trades: int = 50_000_000
    symbols: int = 10
    days: int = 30
    venues: tuple[str, ...] = ("binance",)
    file_minutes: int = 60
    seed: int = 7

    def __post_init__(self) -> None:
        if self.trades < self.days or self.symbols < 1 or self.days < 1 or not self.venues:
            raise ValueError("need at least one trade a day, one symbol, one day and one venue")
        if not 1 <= self.file_minutes <= 1440 or 1440 % self.file_minutes:
            raise ValueError("--file-minutes must divide a day (1, 5, 60, 1440...)")

    @property
    def key(self) -> str:
        venues = "+".join(self.venues)
        return (
            f"trades{self.trades}-sym{self.symbols}-days{self.days}-{venues}"
            f"-f{self.file_minutes}m-seed{self.seed}-v{VERSION}"
        )


def lake(spec: Spec, cache: Path = CACHE, *, force: bool = False, quiet: bool = False) -> Path:
    """The lake for ``spec`` under ``cache``, generated unless a finished one is there."""
    root = cache / spec.key
    if (root / DONE).exists() and not force:
        _ensure_generation(root)
        return root
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    generate(root, spec)
    seconds = time.perf_counter() - started
    _ensure_generation(root)
    (root / DONE).write_text(json.dumps({**asdict(spec), "version": VERSION, "seconds": seconds}))
    if not quiet:
        print(f"lakegen: {spec.trades:,} trades in {seconds:.1f} s -> {root}", file=sys.stderr)
    return root


def _ensure_generation(root: Path) -> None:
    """Give a lake made by a writer that predates generation files one, as today's writer
    does: without it a session re-lists every file before every query, which would be
    measured as the query's cost."""
    from alphapulse.lake.snapshot import bump_generation, generation

    if generation(root) is None:
        bump_generation(root)


class _Symbols:
    """Per-symbol constants and the state carried from one day to the next."""

    def __init__(self, spec: Spec) -> None:
        rows = [SYMBOLS[i % len(SYMBOLS)] for i in range(spec.symbols)]
        # Beyond the ten real ones, more symbols get names of their own.
        self.symbol = [s if i < len(SYMBOLS) else f"S{i:03d}{s}" for i, (s, *_) in enumerate(rows)]
        self.venue = [spec.venues[i % len(spec.venues)] for i in range(spec.symbols)]
        self.instrument = [
            f"{base}-{quote}@{venue}"
            for (_, base, quote, *_), venue in zip(rows, self.venue, strict=True)
        ]
        self.price = np.array([r[3] for r in rows])
        self.price_precision = np.array([r[4] for r in rows], dtype=np.uint8)
        self.size_precision = np.array([r[5] for r in rows], dtype=np.uint8)
        activity = np.array([r[6] for r in rows])
        self.weights = activity / activity.sum()
        self.next_trade_id = np.full(spec.symbols, 1_000_000_000, dtype=np.uint64)


def generate(root: Path, spec: Spec) -> None:
    """Write the lake: a day's trades at a time, one file per partition per file period."""
    rng = np.random.default_rng(spec.seed)
    symbols = _Symbols(spec)
    schema = pa.schema(_core.event_schema("trades"))
    per_file_ns = spec.file_minutes * 60 * 10**9
    # Roll limits out of the way: the files are cut here, by time, and flushed.
    with LakeWriter(root, roll_rows=1 << 40, roll_bytes=1 << 50, roll_seconds=1e9) as writer:
        for day in range(spec.days):
            count = spec.trades // spec.days + (day < spec.trades % spec.days)
            table = _day_of_trades(rng, symbols, schema, START_NS + day * DAY_NS, count)
            ts = table.column("ts_recv").cast(pa.int64()).to_numpy()
            cuts = np.searchsorted(ts, START_NS + day * DAY_NS + per_file_ns * np.arange(1, 1440))
            bounds = [0, *sorted(set(cuts.tolist())), len(ts)]
            for lo, hi in itertools.pairwise(bounds):
                if hi > lo:
                    writer.write("trades", table.slice(lo, hi - lo))
                    writer.flush()


def _day_of_trades(
    rng: np.random.Generator, symbols: _Symbols, schema: pa.Schema, day_ns: int, count: int
) -> pa.Table:
    """``count`` trades over the day starting at ``day_ns``, in ts_recv order."""
    # Sorted uniform times are a Poisson stream conditioned on its count.
    ts_recv = np.sort(rng.integers(day_ns, day_ns + DAY_NS, count, dtype=np.int64))
    which = rng.choice(len(symbols.weights), size=count, p=symbols.weights).astype(np.int32)
    latency_ns = (rng.lognormal(np.log(4e6), 0.6, count)).astype(np.int64)
    ts_event = (ts_recv - latency_ns) // 1_000_000 * 1_000_000  # the venue's milliseconds

    log_price = np.empty(count)
    trade_id = np.empty(count, dtype=np.uint64)
    for k in range(len(symbols.weights)):
        at = np.flatnonzero(which == k)
        if not len(at):
            continue
        steps = rng.standard_normal(len(at)) * (0.03 / np.sqrt(len(at)))
        walk = np.log(symbols.price[k]) + np.cumsum(steps)
        log_price[at] = walk
        symbols.price[k] = float(np.exp(walk[-1]))
        trade_id[at] = symbols.next_trade_id[k] + np.arange(len(at), dtype=np.uint64)
        symbols.next_trade_id[k] += np.uint64(len(at))

    price_scale = 10.0 ** symbols.price_precision[which]
    size_scale = 10.0 ** symbols.size_precision[which]
    price_raw = np.maximum(np.rint(np.exp(log_price) * price_scale), 1).astype(np.int64)
    notional = rng.lognormal(np.log(300.0), 1.4, count)
    size_raw = np.maximum(np.rint(notional / np.exp(log_price) * size_scale), 1).astype(np.int64)

    def text(values: list[str], codes: np.ndarray) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values)).cast(pa.string())

    columns = {
        "ts_event": pa.array(ts_event, pa.timestamp("ns", "UTC")),
        "ts_recv": pa.array(ts_recv, pa.timestamp("ns", "UTC")),
        "venue": text(symbols.venue, which),
        "instrument": text(symbols.instrument, which),
        "symbol": text(symbols.symbol, which),
        # As the core computes them: the mantissa over a power of ten.
        "price": pa.array(price_raw / price_scale),
        "size": pa.array(size_raw / size_scale),
        "aggressor": text(["buy", "sell"], rng.integers(0, 2, count, dtype=np.int32)),
        "trade_id": pa.array(trade_id),
        "price_raw": pa.array(price_raw),
        "size_raw": pa.array(size_raw),
        "price_precision": pa.array(symbols.price_precision[which]),
        "size_precision": pa.array(symbols.size_precision[which]),
    }
    return pa.Table.from_arrays(list(columns.values()), schema=schema)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.lakegen", description=None)
    default = Spec()
    parser.add_argument("--trades", type=int, default=default.trades)
    parser.add_argument("--symbols", type=int, default=default.symbols)
    parser.add_argument("--days", type=int, default=default.days)
    parser.add_argument("--venues", default=",".join(default.venues), help="comma-separated")
    parser.add_argument("--file-minutes", type=int, default=default.file_minutes)
    parser.add_argument("--seed", type=int, default=default.seed)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where lakes are kept")
    parser.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = parser.parse_args(argv)
    try:
        spec = Spec(
            args.trades,
            args.symbols,
            args.days,
            tuple(v for v in args.venues.split(",") if v),
            args.file_minutes,
            args.seed,
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(lake(spec, args.cache, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())
