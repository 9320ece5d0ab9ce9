"""Shared fixtures: the real exchange recordings in ../shared/recordings/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from alphapulse import _core
from alphapulse.capture import Record, read_capture
from alphapulse.replay import Replayer

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = ROOT.parent / "shared" / "recordings"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

KRAKEN = "kraken_v1_2021-04-17.jsonl.gz"
COINBASE = "coinbase_advanced_trade_2026-08-09.jsonl.gz"
BINANCE = "binance_spot_2021-10-12.jsonl.gz"


def recording(name: str) -> Path:
    path = RECORDINGS / name
    if not path.exists():
        pytest.skip(f"shared recording {name} not found at {RECORDINGS} (../shared/ absent)")
    return path


def load_records(name: str) -> list[Record]:
    return list(read_capture(recording(name)))


def feed(records: list[Record]) -> Replayer:
    """Replay records through fresh engines (events are discarded as they are counted)."""
    replayer = Replayer()
    for r in records:
        if r.protocol is None:
            continue
        if r.kind == "recv":
            replayer.frame(r.protocol, r.conn, r.data, r.ts)
        elif r.kind == "http" and r.url:
            replayer.http(r.protocol, r.url, r.data, r.ts)
        elif r.kind == "connect":
            replayer.connect(r.protocol, r.conn)
    return replayer


Rows = dict[str, list[dict[str, Any]]]


def take_rows(engine: _core.Engine) -> Rows:
    """Every table as rows; timestamps and durations as int64 nanoseconds."""
    out: Rows = {}
    for name, batch in engine.take().items():
        table = pa.table(batch)
        for i, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type) or pa.types.is_duration(field.type):
                table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
        out[name] = table.to_pylist()
    return out


def statuses(rows: Rows, kind: str) -> list[dict[str, Any]]:
    return [s for s in rows["statuses"] if s["kind"] == kind]
