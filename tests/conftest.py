"""Shared fixtures: the real exchange recordings in ../shared/recordings/."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pytest

from alphapulse import _core
from alphapulse.capture import Record, read_capture
from alphapulse.replay import Replayer
from tests.pg_cluster import PostgresCluster, running

if TYPE_CHECKING:
    from tests.sim_thread import ExchangeThread

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


# CI sets this: there a test that needs PostgreSQL fails rather than skips when none starts.
REQUIRE_POSTGRES_ENV = "ALPHAPULSE_REQUIRE_POSTGRES"


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One private PostgreSQL server per session, started when a test first asks for it
    (see tests/pg_cluster.py); a cluster with other settings is PostgresCluster(...)."""
    with running(PostgresCluster(), REQUIRE_POSTGRES_ENV, "PostgreSQL") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """The session cluster's own database (shared by every test that uses it)."""
    return postgres_cluster.dsn()


@pytest.fixture
def postgres_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database for one test (no rows of another test's), dropped after it."""
    dsn = postgres_cluster.create_database()
    yield dsn
    postgres_cluster.drop_database(dsn)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``tmpfs("2m")`` mounts a tmpfs of that size under ``tmp_path`` (a small disk to fill),
    or skips the test saying why (mounting needs root and mount rights); unmounted after."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        path = tmp_path / f"tmpfs-{len(mounts)}"
        path.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a {size} tmpfs (needs root and mount rights): {done.stderr}")
        mounts.append(path)
        return path

    try:
        yield mount
    finally:
        for path in mounts:
            subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def kraken() -> Iterator[ExchangeThread]:
    """A simulated Kraken (BTC/USD, ETH/USD) in this process, on a loop of its own."""
    from tests.sim_thread import SYMBOLS, ExchangeThread

    venue = ExchangeThread("kraken", SYMBOLS, rate=400)
    try:
        yield venue
    finally:
        venue.close()
