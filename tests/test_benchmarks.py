"""The benchmark harness in its quickest mode, so that ``make bench`` cannot rot unseen.

Benchmarks themselves stay out of the default run (pyproject ignores tests/benchmarks);
this runs their code on small inputs, a few rounds, and checks what the tables promise:
interleaved rounds, every repetition kept, the ratio of medians, the Rust table apart.
"""

from __future__ import annotations

import json
from pathlib import Path

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
