"""The charts' Python side (alphapulse.widgets): frames of every kind to rows, the messages
update() and the markers send, the built bundle and its licence. Live charts and the
kernel relay: test_widgets_live.py. The front end's own logic has unit tests in
extension/charts/test (``npm test``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from IPython.core.interactiveshell import InteractiveShell

import alphapulse
import alphapulse.magics
from alphapulse.widgets import CandlestickChart, DepthChart
from alphapulse.widgets.live_chart import BUNDLE, LiveChart
from tests.query_lakes import DAY0_NS, write_trades_lake

T0 = 1_704_067_200  # 2024-01-01 00:00 UTC
BARS = {
    "open": [1.0, 2.0, 3.0],
    "high": [1.5, 2.5, 3.5],
    "low": [0.5, 1.5, 2.5],
    "close": [1.2, 2.2, 3.2],
    "volume": [10.0, 20.0, 30.0],
}
INSTANTS = [datetime.fromtimestamp(T0 + 60 * i, UTC) for i in range(3)]
EXPECTED = [{"time": T0 + 60 * i, **{k: v[i] for k, v in BARS.items()}} for i in range(3)]


class Recorder:
    """A comm that keeps what the widget sends."""

    comm_id = "recorder"

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, data: dict[str, Any], buffers: object = None, **_: object) -> None:
        json.dumps(data, allow_nan=False)  # what the kernel could not send fails here
        self.messages.append(data)

    def on_msg(self, callback: object) -> None:
        pass

    def close(self, *args: object, **kwargs: object) -> None:
        pass

    def custom(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.messages if m["method"] == "custom"]

    def updates(self) -> list[dict[str, Any]]:
        return [m["state"] for m in self.messages if m["method"] == "update"]


def recorded(chart: LiveChart) -> Recorder:
    recorder = Recorder()
    chart.comm = recorder
    return recorder


def price_rows(chart: CandlestickChart) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = chart.series[0]["data"]
    return rows


# -- frames of every kind -------------------------------------------------------------------


def _frames() -> dict[str, object]:
    arrow = pa.table({"ts": pa.array(INSTANTS, pa.timestamp("ns", tz="UTC")), **BARS})
    pandas = arrow.to_pandas()
    return {
        "polars": pl.from_arrow(arrow),
        "polars-lazy": pl.from_arrow(arrow).lazy(),  # type: ignore[union-attr]
        "pandas": pandas,
        "pandas-time-index": pandas.set_index("ts"),
        "pandas-unnamed-time-index": pandas.set_index("ts").rename_axis(None),
        "pyarrow": arrow,
        "record-batch": arrow.to_batches()[0],
        "duckdb-relation": duckdb.sql("select * from arrow"),
        "dicts": arrow.to_pylist(),
    }


FRAME_KINDS = [
    "polars",
    "polars-lazy",
    "pandas",
    "pandas-time-index",
    "pandas-unnamed-time-index",
    "pyarrow",
    "record-batch",
    "duckdb-relation",
    "dicts",
]


def test_every_frame_kind_is_tested() -> None:
    assert list(_frames()) == FRAME_KINDS


@pytest.mark.parametrize("kind", FRAME_KINDS)
def test_bars_from_every_frame_type(kind: str) -> None:
    assert price_rows(CandlestickChart(_frames()[kind])) == EXPECTED


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("widgets-lake")
    write_trades_lake(root, venues=("kraken",), days=1, rows_per_day=2_000)
    return root


def test_bars_of_the_lake_from_a_session_and_a_duckdb_cell(lake: Path) -> None:
    sql = "select * from bars('1h', venue := 'kraken', symbol := 'BTC-USD')"
    with alphapulse.connect(lake) as session:
        from_session = price_rows(CandlestickChart(session.query(sql)))
    assert len(from_session) == 24
    assert from_session[0]["time"] == DAY0_NS // 10**9
    assert all({"open", "high", "low", "close", "volume"} <= row.keys() for row in from_session)

    shell = InteractiveShell.instance()
    alphapulse.magics.load_ipython_extension(shell)
    try:
        shell.run_line_magic("config", f"DuckDBMagic.lake = {str(lake)!r}")
        result = shell.run_cell_magic("duckdb", "", sql)  # type: ignore[no-untyped-call]
        assert type(result).__name__ == "QueryResult"
        # DuckDB's parallel sums may differ in the last bit between two runs.
        expected = [pytest.approx(row) for row in from_session]
        assert price_rows(CandlestickChart(result)) == expected
        relation = shell.run_cell_magic("duckdb", "--relation", sql)  # type: ignore[no-untyped-call]
        assert price_rows(CandlestickChart(relation)) == expected
    finally:
        alphapulse.magics.unload_ipython_extension(shell)


def test_a_frame_of_several_instruments_is_refused_by_name(lake: Path) -> None:
    with alphapulse.connect(lake) as session:
        frame = session.query("select * from bars('1h', venue := 'kraken')")
    with pytest.raises(ValueError, match=r"2 instruments \(BTC-USD@kraken, ETH-USD@kraken\)"):
        CandlestickChart(frame)


@pytest.mark.parametrize("name", ["time", "ts", "bucket", "ts_recv", "timestamp", "TS", "Time"])
def test_time_column_names(name: str) -> None:
    frame = pl.DataFrame({name: INSTANTS, **BARS})
    assert price_rows(CandlestickChart(frame)) == EXPECTED


@pytest.mark.parametrize(
    "times",
    [
        [T0 + 60 * i for i in range(3)],  # seconds
        [(T0 + 60 * i) * 1_000 for i in range(3)],  # milliseconds
        [(T0 + 60 * i) * 1_000_000 for i in range(3)],  # microseconds
        [(T0 + 60 * i) * 1_000_000_000 for i in range(3)],  # nanoseconds
        [float(T0 + 60 * i) for i in range(3)],
        [i.replace(tzinfo=None) for i in INSTANTS],  # naive: UTC
        [i.isoformat() for i in INSTANTS],
    ],
    ids=["s", "ms", "us", "ns", "float-s", "naive", "iso-text"],
)
def test_time_values_become_unix_seconds(times: list[object]) -> None:
    assert price_rows(CandlestickChart({"time": times, **BARS})) == EXPECTED


def test_dates_are_midnight_utc() -> None:
    chart = CandlestickChart({"date": [date(2024, 1, 1)], **{k: v[:1] for k, v in BARS.items()}})
    assert price_rows(chart)[0]["time"] == T0


def test_missing_columns_are_named() -> None:
    with pytest.raises(
        ValueError, match=r"needs a time column, one of time, ts, bucket.*has columns open"
    ):
        CandlestickChart(BARS)
    with pytest.raises(
        ValueError, match=r"high, low missing \(the data has columns ts, open, close\)"
    ):
        CandlestickChart({"ts": INSTANTS, "open": BARS["open"], "close": BARS["close"]})
    with pytest.raises(ValueError, match="column 'open' is string"):
        CandlestickChart({"ts": INSTANTS, **BARS, "open": ["a", "b", "c"]})
    with pytest.raises(TypeError, match="not int"):
        CandlestickChart(42)


def test_missing_values_are_gaps_and_rows_come_sorted_once_per_time() -> None:
    frame = pd.DataFrame(
        {
            "ts": [T0 + 120, T0, None, T0 + 60, T0 + 120],
            "open": [9.0, 1.0, 5.0, float("nan"), 3.0],
            "high": [9.0, 1.5, 5.0, 2.5, 3.5],
            "low": [9.0, 0.5, 5.0, 1.5, 2.5],
            "close": [9.0, 1.2, 5.0, float("inf"), 3.2],
            "volume": [1.0, None, 1.0, 20.0, 30.0],
        }
    )
    rows = price_rows(CandlestickChart(frame))
    assert rows == [
        {"time": T0, "open": 1.0, "high": 1.5, "low": 0.5, "close": 1.2},
        {"time": T0 + 60, "high": 2.5, "low": 1.5, "volume": 20.0},
        {"time": T0 + 120, "open": 3.0, "high": 3.5, "low": 2.5, "close": 3.2, "volume": 30.0},
    ]
    json.dumps(rows, allow_nan=False)


# -- what the chart sends ---------------------------------------------------------------------


def test_update_sends_only_the_row_and_keeps_the_order_rules() -> None:
    chart = CandlestickChart({"time": [T0, T0 + 60], **{k: v[:2] for k, v in BARS.items()}})
    recorder = recorded(chart)
    chart.update({"time": T0 + 60, "open": 2.0, "high": 9.0, "low": 1.0, "close": 8.0})
    chart.update({"time": datetime.fromtimestamp(T0 + 120, UTC), **{k: 1.0 for k in BARS}})
    chart.update({"time": T0, **{k: 5.0 for k in BARS}})  # older than the last: ignored
    assert recorder.updates() == []  # never the whole series
    assert recorder.custom() == [
        {
            "type": "rows",
            "series": "price",
            "rows": [{"time": T0 + 60, "open": 2.0, "high": 9.0, "low": 1.0, "close": 8.0}],
        },
        {"type": "rows", "series": "price", "rows": [{"time": T0 + 120, **{k: 1.0 for k in BARS}}]},
    ]
    # Kept in the traitlet too: a page reloaded later draws them.
    assert [r["time"] for r in price_rows(chart)] == [T0, T0 + 60, T0 + 120]
    assert price_rows(chart)[1]["close"] == 8.0


def test_added_series_update_and_errors() -> None:
    chart = CandlestickChart(pl.DataFrame({"ts": INSTANTS, **BARS}))
    chart.add_series("sma", pl.DataFrame({"ts": INSTANTS, "sma": [1.0, 1.5, 2.0]}), color="#f00")
    chart.add_series("signal", {"time": [T0], "value": [0.5]}, kind="histogram", pane=1)
    assert [s["name"] for s in chart.series] == ["price", "sma", "signal"]
    assert chart.series[1]["data"][2] == {"time": T0 + 120, "value": 2.0}
    assert chart.series[2]["pane"] == 1
    recorder = recorded(chart)
    chart.update({"time": T0 + 180, "value": 2.5}, series="sma")
    assert recorder.custom() == [
        {"type": "rows", "series": "sma", "rows": [{"time": T0 + 180, "value": 2.5}]}
    ]
    with pytest.raises(KeyError, match="no series 'nope'; the chart has 'price', 'sma', 'signal'"):
        chart.update({"time": T0, "value": 1}, series="nope")
    with pytest.raises(ValueError, match="which column is the value"):
        chart.add_series("x", {"time": [T0], "a": [1.0], "b": [2.0]})
    with pytest.raises(ValueError, match="kind is one of candlestick, line, histogram"):
        chart.add_series("x", {"time": [T0], "value": [1.0]}, kind="area")


def test_markers_from_trades_and_dicts() -> None:
    chart = CandlestickChart(pl.DataFrame({"ts": INSTANTS, **BARS}))
    recorder = recorded(chart)
    trades = pl.DataFrame(
        {
            "ts_recv": [INSTANTS[1], INSTANTS[0], INSTANTS[0]],
            "aggressor": ["sell", "buy", "unknown"],
            "price": [2.0, 1.0, 1.1],
        }
    )
    chart.set_markers(trades)
    assert chart.markers == [
        {"time": T0, "position": "belowBar", "shape": "arrowUp", "color": "#26a69a", "text": ""},
        {"time": T0, "position": "aboveBar", "shape": "circle", "color": "#2196f3", "text": ""},
        {
            "time": T0 + 60,
            "position": "aboveBar",
            "shape": "arrowDown",
            "color": "#ef5350",
            "text": "",
        },
    ]
    assert recorder.updates() == [{"markers": chart.markers}]
    chart.set_markers([{"time": T0, "position": "atPriceTop", "price": 1.4, "text": "entry"}])
    assert chart.markers[0]["price"] == 1.4 and chart.markers[0]["text"] == "entry"
    with pytest.raises(ValueError, match="position atPriceTop needs a price"):
        chart.set_markers([{"time": T0, "position": "atPriceTop"}])
    with pytest.raises(ValueError, match="shape is one of"):
        chart.set_markers([{"time": T0, "shape": "star"}])
    chart.add_price_line(1.25, title="entry", color="#888")
    assert chart.price_lines == [{"price": 1.25, "title": "entry", "color": "#888"}]


def test_options_are_checked() -> None:
    assert CandlestickChart(height=250, title="t", theme="dark").options == {
        "height": 250,
        "title": "t",
        "theme": "dark",
        "volume": True,
    }
    with pytest.raises(ValueError, match="theme is one of auto, light, dark"):
        CandlestickChart(theme="blue")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="height is in pixels"):
        DepthChart(height=10)


def test_depth_levels_from_pairs_frames_and_a_book() -> None:
    chart = DepthChart(
        [[99.0, 1.0], [100.0, 2.0], [98.0, 0.0]], pl.DataFrame({"price": [101.0], "size": [3.0]})
    )
    assert (chart.bids, chart.asks) == ([[100.0, 2.0], [99.0, 1.0]], [[101.0, 3.0]])
    book = pl.DataFrame(
        {
            "side": ["bid", "bid", "ask"],
            "level": [1, 2, 1],
            "price": [10.0, 9.0, 11.0],
            "size": [1.0, 2.0, 3.0],
        }
    )
    recorder = recorded(chart)
    chart.update(book)
    assert recorder.updates() == [{"bids": [[10.0, 1.0], [9.0, 2.0]], "asks": [[11.0, 3.0]]}]
    with pytest.raises(ValueError, match="need price and size columns"):
        DepthChart({"p": [1.0]}, [])


# -- the bundle -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle() -> str:
    if not BUNDLE.is_file():
        pytest.skip(f"{BUNDLE} is not built: run `make widgets` (needs Node and npm)")
    return BUNDLE.read_text(encoding="utf-8")


def test_bundle_size_licence_and_module_shape(bundle: str) -> None:
    assert len(bundle.encode()) <= 300_000
    assert "TradingView Lightweight Charts" in bundle
    assert "Licensed under Apache License 2.0" in bundle
    assert re.search(r"export\s*\{\s*\w+ as default\s*\}", bundle)
    # Everything is inside: no import of a package or a URL at run time.
    assert not re.search(r"""\bfrom\s*["'](?!\.)""", bundle)
    assert not re.search(r"""\bimport\s*\(\s*["']""", bundle)
    notice = (BUNDLE.parent / "NOTICE").read_text(encoding="utf-8")
    assert "Copyright (c) 2023 TradingView, Inc. https://www.tradingview.com/" in notice
    assert "attributionLogo" in notice
    assert "Apache License" in (BUNDLE.parent / "LICENSE.lightweight-charts.txt").read_text()
    assert CandlestickChart().get_state()["_esm"] == bundle
