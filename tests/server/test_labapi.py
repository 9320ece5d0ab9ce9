"""The routes the Lab extension builds on (schema, templates, the charts' bundle) and the
lake routes' answer to a damaged file, against an authenticating server over a lake
written beforehand: no collector runs (nothing starts the extension), so what the lake
holds is exactly what the test wrote."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
import tornado.httpclient
from tornado.httpclient import HTTPClientError, HTTPResponse

from alphapulse.eventlog import EventLog
from alphapulse.lake import LakeWriter
from alphapulse.lake.snapshot import bump_generation
from alphapulse.query.views import VIEWS, lake_schema
from alphapulse.server import labapi, templates
from tests.query_lakes import DAY0_NS, write_trades_lake

Fetch = Callable[..., Awaitable[Any]]
ROOT = Path(__file__).resolve().parent.parent.parent


def story(i: int) -> pa.Table:
    """One news row (text columns not given are empty)."""
    row: dict[str, Any] = dict.fromkeys(lake_schema("news").names, "")
    row.update(ts_event=DAY0_NS + i, ts_recv=DAY0_NS + i, updated_at=None, venue="alpaca")
    row.update(id=i, headline=f"story {i}", symbols=["AAPL"])
    return pa.Table.from_pylist([row], schema=lake_schema("news"))


def write_lake(root: Path) -> None:
    """Trades of two venues, three events files and two news files."""
    write_trades_lake(root, venues=("kraken", "coinbase"), days=1, rows_per_day=300)
    log = EventLog()
    with LakeWriter(root) as writer:
        for i in range(3):  # one file each
            log.append("service_start", pid=i)
            writer.write("events", log.drain())
            writer.flush()
        for i in range(2):
            writer.write("news", story(i))
            writer.flush()
    bump_generation(root)


@pytest.fixture
def filled(lake: Path) -> Path:
    write_lake(lake)
    return lake


async def get(jp_fetch: Fetch, *path: str, **params: Any) -> Any:
    response = await jp_fetch("alphapulse", "api", *path, params=params)
    return orjson.loads(response.body)


async def error(call: Awaitable[Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HTTPClientError) as caught:
        await call
    assert caught.value.response is not None
    return caught.value.code, orjson.loads(caught.value.response.body)


async def query(jp_fetch: Fetch, sql: str) -> Any:
    body = orjson.dumps({"sql": sql})
    response = await jp_fetch("alphapulse", "api", "query", method="POST", body=body)
    return orjson.loads(response.body)


# -- schema -------------------------------------------------------------------------------


async def test_the_schema_is_what_the_query_endpoint_sees(filled: Path, jp_fetch: Fetch) -> None:
    tables = (await get(jp_fetch, "schema"))["tables"]
    names = [t["name"] for t in tables]
    assert names == sorted(VIEWS)  # the views a query names, in a stable order
    trades = {c["name"]: c["type"] for c in tables[names.index("trades")]["columns"]}
    assert trades["ts_event"] == "TIMESTAMPTZ_NS" and trades["price"] == "DOUBLE"
    assert trades["venue"] == "VARCHAR" and trades["date"] == "DATE"
    for table in tables:  # each one as the endpoint's own DESCRIBE and SELECT give it
        described = await query(jp_fetch, f"describe {table['name']}")
        assert [{"name": r[0], "type": r[1]} for r in described["rows"]] == table["columns"]
        selected = await query(jp_fetch, f"select * from {table['name']} limit 0")
        assert [c["name"] for c in selected["columns"]] == [c["name"] for c in table["columns"]]


async def test_the_schema_waits_for_the_first_commit(lake: Path, jp_fetch: Fetch) -> None:
    code, body = await error(jp_fetch("alphapulse", "api", "schema"))
    assert code == 503 and "not a lake yet" in body["message"]
    write_lake(lake)
    tables = (await get(jp_fetch, "schema"))["tables"]
    assert "trades" in [t["name"] for t in tables]


async def test_the_schema_answers_fast(filled: Path, jp_fetch: Fetch) -> None:
    await get(jp_fetch, "schema")  # the session opens (its views are built once)
    took = []
    for _ in range(10):
        started = time.perf_counter()
        await get(jp_fetch, "schema")
        took.append(time.perf_counter() - started)
    assert min(took) < 0.1 and sorted(took)[5] < 0.1, took


# -- templates ----------------------------------------------------------------------------


async def test_templates_are_the_checkout_notebooks(
    jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(templates, "PACKAGED", tmp_path / "no-copies")
    listed = (await get(jp_fetch, "templates"))["templates"]
    stems = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert [t["name"] for t in listed] == stems
    first = listed[0]
    assert first["name"] == "01_query_the_lake"
    assert first["title"] == "Querying the lake: trades, bars, VWAP"
    assert first["description"].startswith(
        "alphapulse.connect() opens a DuckDB session whose views (trades, quotes,"
    )
    assert "`" not in first["description"] and "**" not in first["description"]
    notebook = await get(jp_fetch, "templates", "01_query_the_lake")
    original = orjson.loads((ROOT / "notebooks" / "01_query_the_lake.ipynb").read_bytes())
    assert notebook["nbformat"] == 4
    assert [c["source"] for c in notebook["cells"]] == [c["source"] for c in original["cells"]]


async def test_a_template_comes_clean_and_copies_come_first(
    jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    copies = tmp_path / "templates"
    copies.mkdir()
    notebook = orjson.loads((ROOT / "notebooks" / "04_live_charts.ipynb").read_bytes())
    for n, cell in enumerate(c for c in notebook["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran\n"]}]
        cell["metadata"]["execution"] = {"iopub.status.idle": "2026-03-02T10:00:00Z"}
    (copies / "ran-once.ipynb").write_bytes(orjson.dumps(notebook))
    monkeypatch.setattr(templates, "PACKAGED", copies)
    listed = (await get(jp_fetch, "templates"))["templates"]
    assert [t["name"] for t in listed] == ["ran-once"]  # the copies, not the checkout
    assert listed[0]["title"] == "Charts: bars from the lake, a book, and a live instrument"
    clean = await get(jp_fetch, "templates", "ran-once")
    code = [c for c in clean["cells"] if c["cell_type"] == "code"]
    assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert all("execution" not in c["metadata"] for c in code)
    assert len(clean["cells"]) == len(notebook["cells"])


@pytest.mark.parametrize(
    "name",
    ["nope", "..", "%2e%2e", "..%2F..%2Fpyproject", "..%2Fsecret", "01_query_the_lake.ipynb"],
)
async def test_a_bad_template_name_is_404_never_a_path(
    jp_fetch: Fetch,  # which starts the server listening
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
) -> None:
    copies = tmp_path / "templates"
    copies.mkdir()
    notebook = (ROOT / "notebooks" / "01_query_the_lake.ipynb").read_bytes()
    (copies / "01_query_the_lake.ipynb").write_bytes(notebook)
    (tmp_path / "secret.ipynb").write_bytes(notebook)  # beside the templates: never served
    monkeypatch.setattr(templates, "PACKAGED", copies)
    # The raw path, as sent (jp_fetch would escape the % signs).
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}alphapulse/api/templates/{name}"
    client = tornado.httpclient.AsyncHTTPClient()
    response: HTTPResponse = await client.fetch(url, headers=jp_auth_header, raise_error=False)
    assert response.code == 404
    assert "no template named" in orjson.loads(response.body)["message"]


# -- the charts' bundle -------------------------------------------------------------------


def test_the_bundle_is_the_widgets_bundle() -> None:
    from alphapulse.widgets.live_chart import BUNDLE

    assert labapi.CHARTS_BUNDLE == BUNDLE


async def test_the_bundle_is_javascript_revalidated_by_its_hash(
    jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle = tmp_path / "charts.js"
    bundle.write_text("export default { render() {} };\n")
    monkeypatch.setattr(labapi, "CHARTS_BUNDLE", bundle)
    response = await jp_fetch("alphapulse", "api", "static", "charts.js")
    assert response.headers["Content-Type"] == "application/javascript"
    assert response.body == bundle.read_bytes()
    assert response.headers["Cache-Control"] == "no-cache"
    etag = response.headers["Etag"]
    with pytest.raises(HTTPClientError) as caught:  # unchanged: 304, no body
        await jp_fetch("alphapulse", "api", "static", "charts.js", headers={"If-None-Match": etag})
    assert caught.value.code == 304
    bundle.write_text("export default { render() { /* rebuilt */ } };\n")
    response = await jp_fetch(
        "alphapulse", "api", "static", "charts.js", headers={"If-None-Match": etag}
    )
    assert response.body == bundle.read_bytes() and response.headers["Etag"] != etag


async def test_a_missing_bundle_says_how_to_build_it(
    jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(labapi, "CHARTS_BUNDLE", tmp_path / "static" / "charts.js")
    code, body = await error(jp_fetch("alphapulse", "api", "static", "charts.js"))
    assert code == 404
    assert "charts bundle is not built" in body["message"] and "make widgets" in body["message"]


# -- a damaged lake file ------------------------------------------------------------------


@pytest.mark.parametrize("size", ["half", "zero"])
@pytest.mark.parametrize(("route", "table"), [("events", "events"), ("news", "news")])
async def test_a_damaged_file_is_a_clear_503(
    filled: Path, jp_fetch: Fetch, route: str, table: str, size: str
) -> None:
    assert (await get(jp_fetch, route))[route]  # read whole first
    victim = sorted(filled.glob(f"{table}/venue=*/date=*/part-*.parquet"))[0]
    with victim.open("r+b") as f:
        f.truncate(0 if size == "zero" else victim.stat().st_size // 2)
    bump_generation(filled)
    code, body = await error(jp_fetch("alphapulse", "api", route))
    assert code == 503
    assert body["message"].startswith(f"{table}: damaged lake file {victim} (")
    assert body["message"].endswith("move it out of the lake or restore it, then query again")
    assert "Traceback" not in str(body) and "traceback" not in body


async def test_an_error_says_what_in_its_message(filled: Path, jp_fetch: Fetch) -> None:
    """JupyterLab's requestAPI shows ``message``: the line, not "Bad Request"."""
    body = orjson.dumps({"sql": "drop view trades"})
    code, answer = await error(jp_fetch("alphapulse", "api", "query", method="POST", body=body))
    assert code == 400 and "runs only a SELECT" in answer["message"]
    assert answer["reason"] == answer["message"]
