"""The session over a live writer's tail: rows not yet committed are queryable, and a
query spanning the tail and the lake sees each row once while commits happen.

Needs the writer's tail publishing (``LakeWriter(publish_tail=True)``); skipped without.
"""

from __future__ import annotations

import inspect
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import alphapulse
from alphapulse.lake import LakeWriter
from tests.query_lakes import TRADES_SCHEMA

pytestmark = pytest.mark.skipif(
    "publish_tail" not in inspect.signature(LakeWriter).parameters,
    reason="the lake writer does not publish a live tail yet",
)


def batch(first_id: int, n: int, ts_ns: int) -> pa.Table:
    """``n`` trades of one message at ``ts_ns``, trade ids from ``first_id``."""
    stamps = pa.array(np.full(n, ts_ns), pa.timestamp("ns", tz="UTC"))
    ids = np.arange(first_id, first_id + n)
    return pa.table(
        {
            "ts_event": stamps,
            "ts_recv": stamps,
            "venue": ["kraken"] * n,
            "instrument": ["BTC-USD@kraken"] * n,
            "symbol": ["BTC/USD"] * n,
            "price": (100 + ids % 7).astype(float),
            "size": np.ones(n),
            "aggressor": ["buy"] * n,
            "trade_id": pa.array(ids, pa.uint64()),
            "price_raw": 100 + ids % 7,
            "size_raw": np.ones(n, np.int64),
            "price_precision": pa.array(np.zeros(n), pa.uint8()),
            "size_precision": pa.array(np.zeros(n), pa.uint8()),
        },
        schema=TRADES_SCHEMA,
    )


def test_rows_not_yet_committed_are_queryable(tmp_path: Path) -> None:
    with LakeWriter(tmp_path, publish_tail=True, roll_seconds=3600) as writer:  # type: ignore[call-arg]
        writer.write("trades", batch(0, 5, time.time_ns() - 10 * 10**9))
        writer.flush()
        with alphapulse.connect(tmp_path) as s:
            writer.write("trades", batch(5, 3, time.time_ns() - 10**9))  # a second ago
            recent = "select count(*) n from trades where ts_recv > now() - interval 5 seconds"
            assert s.query(recent)["n"][0] == 3
            assert s.query("select count(*) n from trades")["n"][0] == 8
            assert alphapulse.scan("trades", lake=tmp_path).collect().height == 8
            assert s.query("select sum(trades) n from bars('1s')")["n"][0] == 8
        writer.flush()
    # The writer gone, the lake alone holds them all.
    with alphapulse.connect(tmp_path) as s:
        assert s.query("select count(*) n, count(distinct trade_id) d from trades").row(0) == (8, 8)


def test_each_row_once_while_commits_happen(tmp_path: Path) -> None:
    written = 0  # rows whose write() has returned (the next 40 may be visible already)
    done = threading.Event()
    failure: list[BaseException] = []

    def write() -> None:
        nonlocal written
        try:
            # Small files: a commit every few batches, so queries straddle many commits.
            with LakeWriter(tmp_path, publish_tail=True, roll_rows=120) as writer:  # type: ignore[call-arg]
                for i in range(300):
                    writer.write("trades", batch(i * 40, 40, time.time_ns()))
                    written += 40
                    time.sleep(0.002)
        except BaseException as e:
            failure.append(e)
        finally:
            done.set()

    with LakeWriter(tmp_path):  # the marker, so that the session can open the lake
        pass
    thread = threading.Thread(target=write)
    thread.start()
    queries = 0
    with alphapulse.connect(tmp_path) as s:
        while not done.is_set():
            before = written
            n, distinct, low, high = s.query(
                "select count(*), count(distinct trade_id), min(trade_id), max(trade_id) "
                "from trades"
            ).row(0)
            after = written
            assert n == distinct, "a row seen twice"
            # Every row written before the query, at most the batch being written besides,
            # and whole batches only.
            assert before <= n <= after + 40, "a row missed (or one from nowhere)"
            assert n % 40 == 0
            if n:
                assert (low, high) == (0, n - 1)  # a prefix of what was written: no gap
            queries += 1
        thread.join()
        assert not failure, failure
        assert queries > 10
        assert s.query("select count(distinct trade_id) n from trades")["n"][0] == 12_000
