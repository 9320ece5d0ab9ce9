"""The test PostgreSQL is a real server: Debian's PostgreSQL 15, run by a non-root user,
with data that outlives a connection, settings that take effect, and nothing left behind."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from tests.pg_cluster import PostgresCluster, PostgresUnavailableError


def test_the_session_cluster_is_a_real_postgresql_server(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        version = conn.execute("SHOW server_version").fetchone()
        data_dir = conn.execute("SHOW data_directory").fetchone()
        conn.execute("CREATE TABLE IF NOT EXISTS survives (n int)")
        conn.execute("INSERT INTO survives VALUES (42)")
    assert version is not None and int(str(version[0]).split(".")[0]) >= 15
    assert data_dir is not None and Path(str(data_dir[0])).stat().st_uid != 0  # not root
    # A new connection (a new backend process) reads what the first one committed.
    with psycopg.connect(postgres_dsn) as conn:
        assert (42,) in conn.execute("SELECT n FROM survives").fetchall()
        conn.execute("DROP TABLE survives")


def test_the_server_asks_tcp_clients_for_the_password(postgres_cluster: PostgresCluster) -> None:
    wrong = postgres_cluster.dsn().replace(postgres_cluster.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10).close()


def test_fresh_databases_do_not_share_rows(postgres_cluster: PostgresCluster) -> None:
    first, second = postgres_cluster.create_database(), postgres_cluster.create_database()
    assert first != second
    with psycopg.connect(first) as conn:
        conn.execute("CREATE TABLE t (n int)")
    with psycopg.connect(second) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
    for dsn in (first, second):
        postgres_cluster.drop_database(dsn)


def test_a_cluster_takes_settings_and_stops_without_a_trace() -> None:
    cluster = PostgresCluster(settings={"work_mem": "7MB", "application_name": "it's quoted"})
    try:
        cluster.start()
    except PostgresUnavailableError as exc:  # the session fixture's reason to skip
        pytest.skip(f"no PostgreSQL for the tests: {exc}")
    root, port = cluster.root, cluster.port
    assert root is not None
    with cluster.connect() as conn:
        assert conn.execute("SHOW work_mem").fetchone() == ("7MB",)
        assert conn.execute("SHOW application_name").fetchone() == ("it's quoted",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)  # the tests' default
    postmaster = int((root / "data" / "postmaster.pid").read_text().split()[0])
    assert running(postmaster)
    cluster.stop()
    assert not root.exists()
    assert not running(postmaster)
    with socket.socket() as probe:  # nothing listens on its port any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def running(pid: int) -> bool:
    """Alive and not a zombie (the server is reparented to PID 1, which may never reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
