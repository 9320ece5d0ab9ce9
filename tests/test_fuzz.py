"""Garbage never crashes a normalizer: 100k random and mutated frames per protocol.

Every frame must come out as events or as a counted reject, and the events must still
convert to Arrow. Deterministic (seeded), so a failure reproduces.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

from alphapulse import _core
from alphapulse.capture import read_capture
from alphapulse.simulator.demo import write_demo_capture
from tests.conftest import FIXTURES

FRAMES_PER_PROTOCOL = 100_000

KRAKEN_V2_SEEDS = [
    b'{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":65000.1,'
    b'"qty":0.5}],"asks":[{"price":65000.2,"qty":1.25}],"checksum":1234}]}',
    b'{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":65000.0,'
    b'"qty":0.1}],"asks":[],"checksum":99,"timestamp":"2023-10-06T17:35:55.440295Z"}]}',
    b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell","price":'
    b'65000.1,"qty":0.01,"ord_type":"market","trade_id":4665906,"timestamp":'
    b'"2023-09-25T07:49:37.708706Z"}]}',
    b'{"channel":"heartbeat"}',
    b'{"method":"subscribe","result":{"channel":"book","depth":10,"symbol":"BTC/USD"},'
    b'"success":true}',
]


def _seeds(tmp_path: Path) -> dict[str, list[bytes]]:
    capture = tmp_path / "seed.capture.zst"
    write_demo_capture(capture, seconds=3)
    seeds: dict[str, list[bytes]] = {"kraken": KRAKEN_V2_SEEDS}
    for r in read_capture(capture):
        if r.kind in ("recv", "http") and r.protocol:
            seeds.setdefault(r.protocol, []).append(r.data)
    alpaca = [
        json.dumps(json.loads(p.read_text())["frame"]).encode()
        for p in sorted((FIXTURES / "alpaca").glob("*.json"))
    ]
    seeds["alpaca"] = alpaca or [b'[{"T":"t","S":"AAPL","p":1.5,"s":1,"t":"2021-02-22T15:51:44Z"}]']
    seeds["binance_us"] = seeds["binance"]
    seeds["alpaca_news"] = seeds["alpaca"]
    return seeds


def _mutate(rng: random.Random, frame: bytes, corpus: list[bytes]) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a byte
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:  # truncate
            del data[pos:]
        elif op == 2:  # insert a structural character
            data[pos:pos] = rng.choice(
                [
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b",",
                    b'"',
                    b":",
                    b"-",
                    b"1e999",
                    b"null",
                    b"\\u0000",
                    b"9" * 30,
                ]
            )
        elif op == 3:  # delete a run
            del data[pos : pos + rng.randint(1, 20)]
        elif op == 4:  # splice another frame in
            other = rng.choice(corpus)
            cut = rng.randrange(len(other) + 1)
            data[pos:] = other[cut:]
        else:  # duplicate a run
            data[pos:pos] = data[pos : pos + rng.randint(1, 40)]
    return bytes(data)


@pytest.mark.parametrize("protocol", _core.PROTOCOLS)
def test_garbage_never_crashes(protocol: str, tmp_path: Path) -> None:
    corpus = _seeds(tmp_path)[protocol]
    rng = random.Random(f"fuzz-{protocol}")
    engine = _core.Engine(protocol)
    fed = 0
    batch: list[bytes] = []
    while fed < FRAMES_PER_PROTOCOL:
        if rng.random() < 0.2:
            frame = rng.randbytes(rng.randrange(200))
        else:
            frame = _mutate(rng, rng.choice(corpus), corpus)
        batch.append(frame)
        fed += 1
        if len(batch) == 5000:
            engine.feed_many(batch, [fed] * len(batch))
            batch.clear()
            # Events must still be valid Arrow.
            for table in engine.take().values():
                assert pa.table(table).num_rows == len(table)
        if fed % 20_000 == 0:
            engine.feed_http("https://api.binance.com/api/v3/depth?symbol=X", rng.randbytes(50), 0)
    assert engine.frames == FRAMES_PER_PROTOCOL
    assert 0 < engine.rejects <= FRAMES_PER_PROTOCOL + 5
    # A fresh engine still accepts the seeds: fuzzing did not change what is valid.
    fresh = _core.Engine(protocol)
    for frame in corpus[:50]:
        fresh.feed(frame, 1)
    assert fresh.rejects < fresh.frames
