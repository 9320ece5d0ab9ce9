"""The benchmark harness in its quickest mode, so that ``make bench`` cannot rot unseen.

Benchmarks themselves stay out of the default run (pyproject ignores tests/benchmarks);
this runs their code on small inputs, a few rounds, and checks what the tables promise:
interleaved rounds, every repetition kept, the ratio of medians, the Rust table apart.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from tests.benchmarks.measure import Figure, Row, Timing, interleaved

pytest.importorskip("msgspec")
pytest.importorskip("order_book")


def test_rounds_alternate_and_keep_every_repetition() -> None:
    order: list[str] = []

    def side(name: str) -> Timing:
        order.append(name)
        return Timing(len(order), 1)

    times = interleaved({"a": lambda: side("a"), "b": lambda: side("b")}, 4)
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert [t.wall for t in times["a"]] == [1, 4, 5, 8]


def test_ratio_of_medians_and_paired_ratios() -> None:
    ours = Figure.of([2.0, 4.0, 6.0], "/s")
    peer = Figure.of([1.0, 1.0, 4.0], "/s")
    row = Row("x", ours, peer=peer, peer_name="peer")
    assert row.ratio == 4.0  # medians 4 / 1
    assert row.paired() == [2.0, 4.0, 1.5]
    assert row.paired_text() == "1.50..4.00x"
    slower = Row("ns", Figure.of([10.0, 30.0], "ns"), peer=Figure.of([20.0, 30.0], "ns"))
    assert slower.ratio == 25.0 / 20.0  # lower is better: peer / ours


def test_criterion_rows_are_read_from_its_results(tmp_path: Path) -> None:
    from tests.benchmarks import criterion

    new = tmp_path / "engine" / "binance_depth" / "new"
    new.mkdir(parents=True)
    (new / "benchmark.json").write_text(json.dumps({"throughput": {"Elements": 1000}}))
    (new / "sample.json").write_text(json.dumps({"times": [1e6, 2e6], "iters": [1, 2]}))
    rows, note = criterion.rows(tmp_path)
    assert [r.metric for r in rows] == [
        "rust binance depthUpdate frames/s (normalize + checks + book apply)"
    ]
    assert rows[0].ours.values == (1e6, 1e6)
    assert "2 samples" in note
    assert criterion.rows(tmp_path / "none") == ([], criterion.rows(tmp_path / "none")[1])


def test_quick_run_prints_separate_tables(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.benchmarks import run

    assert run.main(["--quick", "--only", "parse,book,lake"]) == 0
    out = capsys.readouterr().out
    python_side = out.split("From Python", 1)[1].split("Rust only", 1)[0]
    for label in ("msgspec str", "msgspec exact", "pyarrow lake settings", "order_book"):
        assert label in python_side
    assert "What each side does:" in python_side
    assert "where LakeWriter's time goes" in out
    assert "rust " not in python_side  # criterion figures only in their own table


def test_lakegen_writes_the_lake_layout_the_collector_writes(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from alphapulse import _core
    from alphapulse.lake.snapshot import generation
    from tests.benchmarks import lakegen

    spec = lakegen.Spec(trades=3_000, symbols=3, days=2, file_minutes=360)
    root = lakegen.lake(spec, tmp_path, quiet=True)
    assert root == tmp_path / spec.key
    files = sorted(root.glob("trades/venue=binance/date=*/part-*.parquet"))
    assert len(files) == 8  # 4 files a day of 6 hours, 2 days
    table = pq.read_table(files[0])
    assert table.schema.remove_metadata().equals(pa.schema(_core.event_schema("trades")))
    ts = table.column("ts_recv").to_pylist()
    assert ts == sorted(ts) and len(set(table.column("symbol").to_pylist())) == 3
    # Not sorted by symbol: the symbols are interleaved, as they arrive.
    symbols = table.column("symbol").to_pylist()
    assert symbols != sorted(symbols)
    scale = [10.0**p for p in table.column("price_precision").to_pylist()]
    raw = table.column("price_raw").to_pylist()
    assert table.column("price").to_pylist() == [r / s for r, s in zip(raw, scale, strict=True)]
    assert sum(pq.read_metadata(f).num_rows for f in files) == 3_000
    assert generation(root) is not None  # else a session re-lists the lake every query
    mtime = files[0].stat().st_mtime_ns
    assert lakegen.lake(spec, tmp_path, quiet=True) == root  # cached: not written again
    assert files[0].stat().st_mtime_ns == mtime


def test_query_benchmark_runs_on_a_tiny_lake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.benchmarks import lakegen, query_bench
    from tests.benchmarks.measure import Plan

    spec = lakegen.Spec(trades=5_000, days=2)
    sections = ("compact", "bars", "day", "magics")
    rows = query_bench.run(
        Plan(repeats=2, scale=0.01), spec=spec, cache=tmp_path, sections=sections
    )
    out = capsys.readouterr().out
    metrics = [r.metric for r in rows]
    assert any(m.startswith("compaction rows/s") for m in metrics)
    for lake in ("raw lake", "compacted"):
        assert f"1m bars, full scan, 0.005M trades, {lake} (ms)" in metrics
        assert any(m.startswith("1m bars, one symbol-day") and lake in m for m in metrics)
    for row in rows:
        assert row.ours.n >= 2 and row.ours.median > 0
    bars = [r for r in rows if r.metric.startswith("1m bars")]
    assert all(r.peer is not None and r.ratio is not None for r in bars)
    assert "peer duckdb by hand" in out and "same bars on both sides" in out
    assert "%%duckdb overhead" in out  # measured, or said not to be
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == [spec.key, f"{spec.key}-compacted"]  # scratch copies removed


def test_tail_benchmark_runs_beside_a_collector(tmp_path: Path) -> None:
    from tests.benchmarks import query_tail
    from tests.benchmarks.measure import Plan

    rows = query_tail.run(Plan(repeats=1, scale=0.01), tmp_path, seconds=2.0)
    latency, throughput = rows
    assert latency.ours.n >= 1 and latency.target == query_tail.TARGET_MS
    assert "rows seen per query" in latency.note
    assert throughput.peer is not None and throughput.ratio is not None
