"""Alpaca market data v2 and news: every documented message shape (fixtures/alpaca/)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alphapulse import _core
from tests.conftest import FIXTURES, take_rows

CASES = sorted((FIXTURES / "alpaca").glob("*.json"))
TABLE = {"deltas": "book_deltas"}
DECIMAL_FIELDS = {
    "price": ("price_raw", "price_precision"),
    "size": ("size_raw", "size_precision"),
    "bid_price": ("bid_price_raw", "price_precision"),
    "bid_size": ("bid_size_raw", "size_precision"),
    "ask_price": ("ask_price_raw", "price_precision"),
    "ask_size": ("ask_size_raw", "size_precision"),
    "open": ("open_raw", "price_precision"),
    "high": ("high_raw", "price_precision"),
    "low": ("low_raw", "price_precision"),
    "close": ("close_raw", "price_precision"),
    "volume": ("volume_raw", "size_precision"),
}


def check_row(row: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    for key, want in expected.items():
        if key in DECIMAL_FIELDS:
            raw, precision = DECIMAL_FIELDS[key]
            got = Decimal(row[raw]).scaleb(-row[precision])
            assert got == Decimal(want), f"{where}.{key}: {got} != {want}"
        elif key == "reason_contains":
            assert want in row["reason"], f"{where}.reason: {row['reason']!r}"
        elif key == "ts_event" and want == 0:
            assert row[key] is None, f"{where}.ts_event: the venue sent none, so null"
        elif key == "interval_ns":
            assert row["interval"] == want, f"{where}.interval"
        else:
            assert row[key] == want, f"{where}.{key}: {row[key]!r} != {want!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_documented_message(case: Path) -> None:
    fixture = json.loads(case.read_text())
    engine = _core.Engine("alpaca")
    engine.feed(json.dumps(fixture["frame"]).encode(), 1_700_000_000_000_000_000)
    expect = fixture["expect"]
    tables = take_rows(engine)
    # The engine's own book statuses (a snapshot syncing a book) are not the venue's messages.
    tables["statuses"] = [r for r in tables["statuses"] if r["kind"] != "synced"]
    for kind, count in expect["counts"].items():
        assert len(tables[TABLE.get(kind, kind)]) == count, f"{case.stem}: {kind}"
    for kind, expected_rows in expect.items():
        if kind == "counts":
            continue
        got = tables[TABLE.get(kind, kind)]
        for i, want in enumerate(expected_rows):
            check_row(got[i], want, f"{case.stem}.{kind}[{i}]")


def test_fixtures_cover_every_message_type() -> None:
    types = set()
    for case in CASES:
        frame = json.loads(case.read_text())["frame"]
        for message in frame if isinstance(frame, list) else [frame]:
            types.add(message.get("T"))
    assert {"success", "error", "subscription", "t", "q", "b", "u", "d", "s", "o", "n"} <= types


def test_a_bad_message_rejects_the_frame_and_keeps_the_stream() -> None:
    engine = _core.Engine("alpaca")
    good = b'[{"T":"t","S":"AAPL","i":1,"x":"V","p":126.55,"s":1,"t":"2021-02-22T15:51:44.208Z"}]'
    bad = b'[{"T":"t","S":"AAPL","i":2,"x":"V","p":"oops","s":1,"t":"2021-02-22T15:51:44.208Z"}]'
    engine.feed(good, 1)
    engine.feed(bad, 2)
    engine.feed(good.replace(b'"i":1,', b'"i":3,'), 3)
    tables = take_rows(engine)
    assert len(tables["trades"]) == 2
    rejects = tables["rejects"]
    assert len(rejects) == 1 and rejects[0]["raw"] == bad
    assert "p" in rejects[0]["reason"]
