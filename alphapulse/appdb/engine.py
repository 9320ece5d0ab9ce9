"""Which database, how to talk to it, and how its failures read. SQLite in the data
directory unless ``$ALPHAPULSE_APP_DSN`` names PostgreSQL; passwords never leave this module
unmasked."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from alphapulse.appdb.records import AppDBError
from alphapulse.dsn import mask

APP_DSN_ENV = "ALPHAPULSE_APP_DSN"
SQLITE_FILE = "alphapulse-app.sqlite"
# A writer waits this long for another one (a migration on open, a scheduler's update)
# before SQLite reports the database locked.
BUSY_TIMEOUT_S = 30.0
# An unreachable PostgreSQL host fails the open within this, not after TCP's minutes.
CONNECT_TIMEOUT_S = 10
# Execution option of the connections that write: SQLite takes the write lock at BEGIN
# (BEGIN IMMEDIATE), so a transaction that reads first never fails on upgrading its lock.
WRITE = {"appdb_write": True}

_POSTGRESQL = {"postgres", "postgresql", "postgresql+psycopg"}
_SQLITE = {"sqlite", "sqlite+pysqlite"}


def shown(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def resolve_url(dsn: str | None, data_dir: Path) -> URL:
    """The database to open: ``dsn``, else ``$ALPHAPULSE_APP_DSN``, else SQLite in
    ``data_dir``. ``postgresql://`` DSNs go through psycopg 3."""
    source = "the app database DSN"
    if dsn is None and (env := os.environ.get(APP_DSN_ENV, "").strip()):
        dsn, source = env, f"${APP_DSN_ENV}"
    if dsn is None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AppDBError(
                f"cannot create the data directory {data_dir} for the app database: "
                f"{exc.strerror or exc}"
            ) from None
        return URL.create("sqlite", database=str(data_dir / SQLITE_FILE))
    try:
        url = make_url(dsn.strip())
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise AppDBError(
            f"{source} is not a database URL: {mask(dsn)!r} (expected "
            "postgresql://user:password@host:port/dbname or sqlite:///path/to/file)"
        ) from None
    if url.drivername in _POSTGRESQL:
        return url.set(drivername="postgresql+psycopg")
    if url.drivername in _SQLITE:
        if url.database in (None, "", ":memory:"):
            raise AppDBError(
                f"{source} names an in-memory SQLite database, which the scheduler's "
                "threads cannot share: give a file, sqlite:///path/to/file"
            )
        return url
    raise AppDBError(
        f"{source} names {url.drivername!r}: the app database is SQLite (sqlite:///path) "
        "or PostgreSQL (postgresql://user:password@host:port/dbname)"
    )


def create_app_engine(url: URL) -> Engine:
    """One engine per AppDB: a pool shared by the threads, a short session per call."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        connect_args: dict[str, Any] = {"application_name": "alphapulse"}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise AppDBError(f"cannot use the app database at {shown(url)}: {exc}") from None


def _sqlite_engine(url: URL) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # sqlite3 would BEGIN (deferred) behind our back; _begin below does it instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")  # runs outlive a deleted schedule: SET NULL
        # WAL: the server reads while a scheduler in another process writes.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("appdb_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def database_error(
    url: URL, exc: SQLAlchemyError | OSError, doing: str = "cannot open"
) -> AppDBError:
    """One line for a database that cannot be reached or used, its password masked."""
    cause: BaseException = (exc.orig or exc) if isinstance(exc, DBAPIError) else exc
    reason = " ".join(line.strip() for line in str(cause).splitlines() if line.strip())
    reason = mask(reason or type(cause).__name__, url.password if url.password else None)
    return AppDBError(f"{doing} the app database at {shown(url)}: {reason}")
