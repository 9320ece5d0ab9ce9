"""Shared fixtures: the real exchange recordings in ../shared/recordings/."""

from __future__ import annotations

from pathlib import Path

import pytest

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
