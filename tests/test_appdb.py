"""The app database on SQLite and on a real PostgreSQL server: migrated from empty and from
the previous revision, a newer schema refused untouched, errors in one line without the
password, and two processes opening an empty database at once."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alphapulse.appdb import APP_DSN_ENV, RUN_STATES, AppDB, AppDBError
from alphapulse.appdb.engine import create_app_engine, resolve_url, shown
from alphapulse.appdb.migrate import alembic_config, head, migrate, revisions
from alphapulse.appdb.models import Base, UTCDateTime
from tests.pg_cluster import PostgresCluster, PostgresUnavailableError, free_port

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def app_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.sqlite'}"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
def raw(app_dsn: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on the same database, for looking under the AppDB (and writing past it)."""
    engine = create_app_engine(resolve_url(app_dsn, tmp_path))
    yield engine
    engine.dispose()


def version_of(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return []
        return list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))


def test_the_package_ships_two_revisions_in_order() -> None:
    assert revisions() == ["0001", "0002"] and head() == "0002"


def test_an_empty_database_is_migrated_to_head(
    app_dsn: str, raw: sa.Engine, tmp_path: Path
) -> None:
    AppDB.open(app_dsn, data_dir=tmp_path).close()
    assert version_of(raw) == ["0002"]
    inspector = sa.inspect(raw)
    assert set(inspector.get_table_names()) == {"alembic_version", "schedules", "runs"}
    for table in Base.metadata.sorted_tables:
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys())
    indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("runs")}
    assert indexes["ix_runs_report_created_at"] == ["report", "created_at"]
    (fk,) = inspector.get_foreign_keys("runs")
    assert fk["referred_table"] == "schedules" and fk["options"].get("ondelete") == "SET NULL"
    # The migrations build exactly what the models describe (types and nullability too).
    with raw.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_opening_again_at_head_changes_nothing(
    app_dsn: str, raw: sa.Engine, tmp_path: Path
) -> None:
    with AppDB.open(app_dsn, data_dir=tmp_path) as db:
        db.add_schedule("daily", "0 7 * * *", {})
    with AppDB.open(app_dsn, data_dir=tmp_path) as db:
        assert [s.report for s in db.schedules()] == ["daily"]
    assert version_of(raw) == ["0002"]


# The 0001 schema as it shipped, for writing rows before the upgrade.
V1 = sa.MetaData()
V1_SCHEDULES = sa.Table(
    "schedules",
    V1,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("report", sa.String),
    sa.Column("cron", sa.String),
    sa.Column("params", sa.JSON),
    sa.Column("created_at", UTCDateTime),
)
V1_RUNS = sa.Table(
    "runs",
    V1,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("report", sa.String),
    sa.Column("params", sa.JSON),
    sa.Column("schedule_id", sa.Integer),
    sa.Column("status", sa.String),
    sa.Column("created_at", UTCDateTime),
    sa.Column("seconds", sa.Float),
)


def test_a_0001_database_with_rows_is_upgraded_keeping_them(
    app_dsn: str, raw: sa.Engine, tmp_path: Path
) -> None:
    migrate(raw, shown(raw.url), target="0001")
    assert version_of(raw) == ["0001"]
    assert "missed" not in {c["name"] for c in sa.inspect(raw).get_columns("schedules")}
    created = datetime(2026, 11, 30, 23, 59, 59, 123456, tzinfo=UTC)
    with raw.begin() as conn:
        conn.execute(
            V1_SCHEDULES.insert(),
            [
                {
                    "report": "daily",
                    "cron": "0 7 * * *",
                    "params": {"venue": "kraken"},
                    "created_at": created,
                }
            ],
        )
        conn.execute(
            V1_RUNS.insert(),
            [
                {
                    "id": "20261130T235959Z-aaaaaa",
                    "report": "daily",
                    "params": {"date": "2026-11-30"},
                    "schedule_id": 1,
                    "status": "succeeded",
                    "created_at": created,
                    "seconds": 4.5,
                }
            ],
        )
    with AppDB.open(app_dsn, data_dir=tmp_path) as db:
        (schedule,) = db.schedules()
        run = db.run("20261130T235959Z-aaaaaa")
    assert version_of(raw) == ["0002"]
    # Kept as written, with 0001's server defaults for the columns it did not send ...
    assert (schedule.report, schedule.cron, schedule.params) == (
        "daily",
        "0 7 * * *",
        {"venue": "kraken"},
    )
    assert (schedule.timezone, schedule.enabled, schedule.created_at) == ("UTC", True, created)
    # ... and 0002's defaults in the new columns.
    assert (schedule.missed, schedule.timeout, schedule.last_fired_for) == ("skip", 3600.0, None)
    assert run is not None and run.schedule_id == schedule.id and run.created_at == created
    assert (run.status, run.seconds, run.params) == ("succeeded", 4.5, {"date": "2026-11-30"})
    assert (run.cancel_requested, run.pid, run.papermill_seconds) == (False, None, None)


def test_a_downgrade_to_0001_keeps_the_rows_and_their_links(
    app_dsn: str, raw: sa.Engine, tmp_path: Path
) -> None:
    with AppDB.open(app_dsn, data_dir=tmp_path) as db:
        schedule = db.add_schedule("daily", "0 7 * * *", {"n": 1}, missed="run_once")
        run = db.create_run("daily", {}, schedule_id=schedule.id)
    with raw.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert version_of(raw) == ["0001"]
    assert "pid" not in {c["name"] for c in sa.inspect(raw).get_columns("runs")}
    with raw.connect() as conn:
        assert conn.execute(sa.text("SELECT schedule_id FROM runs")).all() == [(schedule.id,)]
    with AppDB.open(app_dsn, data_dir=tmp_path) as db:  # and up again
        again = db.run(run.id)
        assert again is not None and again.schedule_id == schedule.id
        assert [s.missed for s in db.schedules()] == ["skip"]  # 0002's default once more


FUTURE = "9999_future"


def test_a_database_of_a_newer_schema_is_refused_untouched(
    app_dsn: str, raw: sa.Engine, tmp_path: Path
) -> None:
    # A newer AlphaPulse stamped this database; its tables are its own business.
    with raw.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text(f"INSERT INTO alembic_version VALUES ('{FUTURE}')"))
        conn.execute(sa.text("CREATE TABLE schedules (id INTEGER PRIMARY KEY, future TEXT)"))
    with pytest.raises(AppDBError) as refused:
        AppDB.open(app_dsn, data_dir=tmp_path)
    url = shown(resolve_url(app_dsn, tmp_path))
    assert str(refused.value) == (
        f"the app database at {url} has schema revision {FUTURE}, newer than this AlphaPulse "
        "knows (newest: 0002): upgrade alphapulse"
    )
    assert "\n" not in str(refused.value)
    assert version_of(raw) == [FUTURE]
    inspector = sa.inspect(raw)
    assert set(inspector.get_table_names()) == {"alembic_version", "schedules"}
    assert [c["name"] for c in inspector.get_columns("schedules")] == ["id", "future"]


# -- errors ------------------------------------------------------------------------------

SECRET = "hunter2-s3cret"


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("not a url", "is not a database URL"),
        (f"postgresql://u:{SECRET}@127.0.0.1:notaport/db", "is not a database URL"),
        (f"mysql://u:{SECRET}@127.0.0.1/db", "names 'mysql': the app database is SQLite"),
        ("postgresql+psycopg2://u@127.0.0.1/db", "names 'postgresql+psycopg2'"),
        ("sqlite://", "in-memory SQLite"),
    ],
)
def test_a_bad_dsn_is_one_line_without_its_password(
    dsn: str, expected: str, tmp_path: Path
) -> None:
    with pytest.raises(AppDBError) as bad:
        AppDB.open(dsn, data_dir=tmp_path)
    message = str(bad.value)
    assert expected in message and "\n" not in message and SECRET not in message


def test_a_server_that_is_down_is_one_line_without_the_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(AppDBError) as down:
        AppDB.open(f"postgresql://alphapulse:{SECRET}@127.0.0.1:{port}/app", data_dir=tmp_path)
    message = str(down.value)
    assert message.startswith(
        "cannot open the app database at "
        f"postgresql+psycopg://alphapulse:***@127.0.0.1:{port}/app: "
    )
    assert "refused" in message.lower() and "\n" not in message and SECRET not in message
    assert time.monotonic() - started < 15


def test_a_wrong_password_is_refused_by_the_server_and_masked(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    dsn = postgres_cluster.dsn().replace(postgres_cluster.password, SECRET)
    with pytest.raises(AppDBError) as refused:
        AppDB.open(dsn, data_dir=tmp_path)
    message = str(refused.value)
    assert "password authentication failed" in message
    assert "\n" not in message and SECRET not in message and ":***@" in message


def test_sqlite_files_that_cannot_be_opened_are_one_line(tmp_path: Path) -> None:
    not_a_database = tmp_path / "junk.sqlite"
    not_a_database.write_bytes(b"this is no SQLite file, just bytes " * 100)
    with pytest.raises(AppDBError, match="file is not a database"):
        AppDB.open(f"sqlite:///{not_a_database}", data_dir=tmp_path)
    with pytest.raises(AppDBError, match="unable to open database file"):
        AppDB.open(f"sqlite:///{tmp_path}/missing/dir/app.sqlite", data_dir=tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(AppDBError, match="cannot create the data directory"):
        AppDB.open(data_dir=a_file / "data")


def test_the_default_is_sqlite_in_the_data_dir_unless_the_env_names_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(APP_DSN_ENV, raising=False)
    with AppDB.open(data_dir=tmp_path / "data") as db:
        assert db.url == f"sqlite:///{tmp_path}/data/alphapulse-app.sqlite"
    elsewhere = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv(APP_DSN_ENV, f"sqlite:///{elsewhere}")
    with AppDB.open(data_dir=tmp_path / "data") as db:
        assert db.url == f"sqlite:///{elsewhere}"
    assert elsewhere.exists()
    with sa.create_engine(f"sqlite:///{elsewhere}").connect() as conn:  # WAL: readers and a writer
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_postgresql_dsns_go_through_psycopg_with_the_password_masked(
    postgres_database: str, tmp_path: Path
) -> None:
    assert postgres_database.startswith("postgresql://")
    with AppDB.open(postgres_database, data_dir=tmp_path) as db:
        assert db.url.startswith("postgresql+psycopg://alphapulse:***@127.0.0.1:")
        assert "***" in repr(db) and db.url.split("@")[0].count(":") == 2


def test_a_server_that_goes_down_after_open_is_an_app_db_error(tmp_path: Path) -> None:
    cluster = PostgresCluster()
    try:
        cluster.start()
    except PostgresUnavailableError as exc:
        pytest.skip(f"no PostgreSQL for the tests: {exc}")
    try:
        db = AppDB.open(cluster.dsn(), data_dir=tmp_path)
        db.add_schedule("daily", "0 7 * * *", {})
    finally:
        cluster.stop()
    with pytest.raises(AppDBError) as lost:
        db.schedules()
    assert str(lost.value).startswith("cannot use the app database at postgresql+psycopg://")
    assert cluster.password not in str(lost.value) and "\n" not in str(lost.value)
    db.close()


# -- two processes at once -----------------------------------------------------------------

OPENER = """
import sys, time
from pathlib import Path
from alphapulse.appdb import AppDB
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together
with AppDB.open(sys.argv[1], data_dir=Path(sys.argv[3])) as db:
    db.add_schedule("from-" + sys.argv[4], "0 7 * * *", {})
"""


def test_processes_opening_an_empty_database_at_once_all_succeed(
    app_dsn: str, raw: sa.Engine, tmp_path: Path
) -> None:
    start_at = time.time() + 3.0  # past the imports of every process
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, app_dsn, str(start_at), str(tmp_path), str(n)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in openers]
    assert [p.returncode for p in openers] == [0, 0, 0], errors
    assert version_of(raw) == ["0002"]
    with AppDB.open(app_dsn, data_dir=tmp_path) as db:
        assert sorted(s.report for s in db.schedules()) == ["from-0", "from-1", "from-2"]


# -- the repository ------------------------------------------------------------------------


@pytest.fixture
def db(app_dsn: str, tmp_path: Path) -> Iterator[AppDB]:
    with AppDB.open(app_dsn, data_dir=tmp_path) as opened:
        yield opened


T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def test_schedules_are_added_listed_enabled_and_deleted(db: AppDB) -> None:
    daily = db.add_schedule("daily", "0 7 * * *", {"venue": "kraken"}, created_at=T0)
    quality = db.add_schedule(
        "quality", "30 6 * * 1-5", {}, timezone="Europe/Berlin", missed="run_once", timeout=90
    )
    assert (daily.report, daily.cron, daily.params, daily.created_at) == (
        "daily",
        "0 7 * * *",
        {"venue": "kraken"},
        T0,
    )
    assert (daily.timezone, daily.missed, daily.timeout, daily.enabled) == (
        "UTC",
        "skip",
        3600.0,
        True,
    )
    assert (quality.timezone, quality.missed, quality.timeout) == (
        "Europe/Berlin",
        "run_once",
        90.0,
    )
    assert quality.created_at.tzinfo is UTC and daily.last_fired_for is None
    assert db.schedules() == [daily, quality] and db.schedule(daily.id) == daily

    paused = db.set_schedule_enabled(daily.id, False)
    assert paused.enabled is False and db.schedule(daily.id) == paused
    assert db.schedules(enabled_only=True) == [quality]
    assert db.set_schedule_enabled(daily.id, True).enabled is True

    run = db.create_run("quality", {}, schedule_id=quality.id, scheduled_for=T0)
    assert db.delete_schedule(quality.id) is True
    assert db.delete_schedule(quality.id) is False and db.schedule(quality.id) is None
    kept = db.run(run.id)  # the run outlives its schedule (ON DELETE SET NULL)
    assert kept is not None and kept.schedule_id is None and kept.scheduled_for == T0
    with pytest.raises(KeyError):
        db.set_schedule_enabled(quality.id, True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"missed": "twice"}, "missed must be one of skip, run_once"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"created_at": datetime(2026, 12, 1)}, "must be timezone-aware"),
    ],
)
def test_a_bad_schedule_is_refused(db: AppDB, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        db.add_schedule("daily", "0 7 * * *", {}, **changes)  # type: ignore[arg-type]
    assert db.schedules() == []


def test_runs_are_listed_newest_first_and_filtered(db: AppDB) -> None:
    made = [
        db.create_run(report, {"i": i}, now=T0 + timedelta(minutes=i))
        for i, report in enumerate(["daily", "quality", "daily", "daily"])
    ]
    assert all(r.status == "queued" and r.started_at is None for r in made)
    assert made[0].id.startswith("20261201T070000Z-") and len({r.id for r in made}) == 4
    assert sorted(r.id for r in made) == [r.id for r in made]  # ids sort by time
    newest_first = list(reversed(made))
    assert db.runs() == newest_first
    assert db.runs(limit=2) == newest_first[:2]
    assert db.runs(report="daily") == [made[3], made[2], made[0]]
    db.update_run(made[2].id, status="failed")
    db.update_run(made[1].id, status="running")
    assert db.runs(status=["failed", "running"]) == [db.run(made[2].id), db.run(made[1].id)]
    assert db.runs(report="daily", status=["queued"]) == [made[3], made[0]]
    assert db.runs(report="nothing") == [] and db.run("no-such-run") is None
    with pytest.raises(ValueError, match="limit must be at least 1"):
        db.runs(limit=0)


def test_a_run_is_updated_field_by_field_and_cancelled(db: AppDB) -> None:
    run = db.create_run("daily", {"date": "2026-12-01"}, now=T0)
    started = T0 + timedelta(seconds=2)
    db.update_run(run.id, status="running", started_at=started, pid=4321)
    done = db.update_run(
        run.id,
        status="failed",
        finished_at=started + timedelta(seconds=12.5),
        seconds=12.5,
        papermill_seconds=11.25,
        archive="/data/reports/daily/" + run.id,
        error="ZeroDivisionError: division by zero",
        traceback="Traceback (most recent call last):\n  ...\nZeroDivisionError",
    )
    assert db.run(run.id) == done  # what it returns is what is stored
    assert (done.status, done.pid, done.started_at, done.seconds) == ("failed", 4321, started, 12.5)
    assert done.papermill_seconds == 11.25 and done.traceback and "\n" in done.traceback
    assert done.created_at == T0 and done.params == {"date": "2026-12-01"}
    assert done.cancel_requested is False
    assert db.request_cancel(run.id).cancel_requested is True
    assert db.run(run.id) == dataclasses.replace(done, cancel_requested=True)

    with pytest.raises(KeyError):
        db.update_run("nope", status="failed")
    with pytest.raises(KeyError):
        db.request_cancel("nope")
    with pytest.raises(TypeError, match="'id'"):
        db.update_run(run.id, id="another")
    with pytest.raises(TypeError, match="'colour'"):
        db.update_run(run.id, colour="red")
    with pytest.raises(ValueError, match="status must be one of queued"):
        db.update_run(run.id, status="exploded")
    with pytest.raises(ValueError, match="status must be one of"):
        db.runs(status=["exploded"])
    for state in RUN_STATES:
        assert db.update_run(run.id, status=state).status == state


def test_datetimes_come_back_aware_utc_to_the_microsecond(db: AppDB) -> None:
    berlin = timezone(timedelta(hours=1))
    tick = datetime(2026, 12, 1, 8, 0, 0, 999_999, tzinfo=berlin)  # 07:00:00.999999 UTC
    run = db.create_run("daily", {}, scheduled_for=tick, now=tick)
    stored = db.run(run.id)
    assert stored is not None and stored.scheduled_for == tick and stored.created_at == tick
    assert stored.scheduled_for.tzinfo is UTC and stored.scheduled_for.hour == 7
    assert stored.id.startswith("20261201T070000Z-")
    with pytest.raises(ValueError, match="must be timezone-aware"):
        db.create_run("daily", {}, now=datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="must be timezone-aware"):
        db.update_run(run.id, finished_at=datetime(2026, 12, 1))


def test_params_round_trip_as_json(db: AppDB) -> None:
    params = {
        "date": "2026-12-01",
        "venues": ["kraken", "coinbase"],
        "window": {"minutes": 15, "ratio": 0.25, "label": "naïve “quoted” ✓ 日本"},
        "dry_run": False,
        "limit": None,
    }
    run = db.create_run("daily", params)
    schedule = db.add_schedule("daily", "0 7 * * *", params)
    assert db.run(run.id) is not None and db.run(run.id).params == params  # type: ignore[union-attr]
    assert db.schedule(schedule.id) is not None and db.schedules()[0].params == params
    assert list(db.runs()[0].params) == list(params)  # key order kept
    with pytest.raises(ValueError, match="params must be JSON"):
        db.create_run("daily", {"date": datetime(2026, 12, 1, tzinfo=UTC)})
    with pytest.raises(ValueError, match="params must be JSON"):
        db.create_run("daily", {"ratio": float("nan")})


def test_mark_fired_is_a_compare_and_set(db: AppDB) -> None:
    schedule = db.add_schedule("daily", "0 7 * * *", {})
    assert db.mark_fired(schedule.id, T0) is True
    assert db.mark_fired(schedule.id, T0) is False  # the same tick again
    assert db.mark_fired(schedule.id, T0 - timedelta(days=1)) is False  # an older one
    assert db.schedule(schedule.id).last_fired_for == T0  # type: ignore[union-attr]
    assert db.mark_fired(schedule.id, T0 + timedelta(days=1)) is True
    assert db.mark_fired(schedule.id + 100, T0) is False  # no such schedule


def test_two_schedulers_racing_for_each_tick_fire_it_once(app_dsn: str, tmp_path: Path) -> None:
    # Two AppDBs (two engines, as the server and a standalone scheduler would have), one
    # thread each, released together at every tick.
    first, second = (AppDB.open(app_dsn, data_dir=tmp_path) for _ in range(2))
    schedule = first.add_schedule("daily", "* * * * *", {})
    ticks = [T0 + timedelta(minutes=i) for i in range(25)]
    barrier = threading.Barrier(2)

    def scheduler(db: AppDB) -> list[bool]:
        won = []
        for tick in ticks:
            barrier.wait(timeout=30)
            won.append(db.mark_fired(schedule.id, tick))
        return won

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(scheduler, [first, second])
    assert [x + y for x, y in zip(a, b, strict=True)] == [1] * len(ticks)
    assert first.schedule(schedule.id).last_fired_for == ticks[-1]  # type: ignore[union-attr]
    first.close()
    second.close()


def test_worker_threads_share_one_app_db(db: AppDB) -> None:
    def worker(n: int) -> str:
        run = db.create_run(f"report-{n % 3}", {"n": n})
        db.update_run(run.id, status="running", pid=n)
        db.runs(report=f"report-{n % 3}")
        return db.update_run(run.id, status="succeeded", seconds=float(n)).id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(worker, range(64)))
    assert len(set(ids)) == 64
    assert len(db.runs(status=["succeeded"], limit=1000)) == 64
