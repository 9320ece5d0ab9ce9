"""A private PostgreSQL server for the tests: Debian's binaries (installed with apt-get when
missing and we are root), a cluster initialised in a temporary directory by a non-root user,
listening on 127.0.0.1 at a free port with its socket in that directory, stopped and
removed at the end whatever the tests did.

    with PostgresCluster(settings={"work_mem": "8MB"}) as cluster:
        cluster.dsn()                   # postgresql://alphapulse:…@127.0.0.1:PORT/alphapulse
        cluster.create_database()       # a fresh one: postgresql://…/t_3f9a2c1b

Extra ``settings`` go into postgresql.conf (``-c`` style), ``shared_preload_libraries``
too (a TimescaleDB buffer passes ``["timescaledb"]``). Where PostgreSQL cannot be had,
``start`` raises ``PostgresUnavailableError``; the fixtures turn that into a skip saying why.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import pytest
from psycopg import sql

PG_BIN_ENV = "ALPHAPULSE_TEST_PG_BIN"  # a bin directory to use instead of Debian's
TEST_USER = "alphapulse-test"  # created when the machine has no `postgres` user
SUPERUSER = "alphapulse"
DATABASE = "alphapulse"  # created at start: what dsn() names unless told otherwise
# Tests need no durability across a power cut, and initdb plus fsyncs cost seconds on a
# loaded machine; a caller testing crash recovery passes {"fsync": "on"}.
DEFAULT_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
START_ATTEMPTS = 3  # a free port can be taken between our probe and the server's bind


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL cannot be installed or started here (the reason is the message)."""


@contextlib.contextmanager
def require_or_skip(require_env: str, what: str) -> Iterator[None]:
    """Around a server's start: when it cannot run here the test is skipped, saying why,
    unless ``$require_env`` is set (CI sets it), where that is a failure."""
    try:
        yield
    except PostgresUnavailableError as exc:
        if os.environ.get(require_env):
            pytest.fail(f"{what} is required (${require_env}): {exc}")
        pytest.skip(f"no {what} for the tests: {exc}")


@contextlib.contextmanager
def running(
    cluster: PostgresCluster, require_env: str, what: str, before: Callable[[], object] = object
) -> Iterator[PostgresCluster]:
    """``cluster`` started (``before()`` first, e.g. installing an extension; skipped or
    failed as ``require_or_skip`` says when it cannot), stopped after."""
    with require_or_skip(require_env, what):
        before()
        cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def find_bin_dir(install: bool = True) -> Path:
    """The newest Debian PostgreSQL's bin directory, installing ``postgresql`` if missing."""
    if override := os.environ.get(PG_BIN_ENV):
        return Path(override)
    found = _debian_bin_dirs()
    if not found and install:
        _apt_install("postgresql")
        found = _debian_bin_dirs()
    if not found:
        raise PostgresUnavailableError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
    return found[-1]


def _debian_bin_dirs() -> list[Path]:
    dirs = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    return sorted(dirs, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def _apt_install(package: str) -> None:
    if os.geteuid() != 0:
        raise PostgresUnavailableError(
            f"PostgreSQL is not installed and we are not root to apt-get install {package}"
        )
    if shutil.which("apt-get") is None:
        raise PostgresUnavailableError(
            "PostgreSQL is not installed and this machine has no apt-get"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", package]
    # A fresh machine's package lists may be empty or stale: update once, then retry.
    if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise PostgresUnavailableError(f"apt-get install {package} failed: {tail[0]}")


def server_user() -> str | None:
    """The user the server runs as: None when we are not root (we run it ourselves), else
    `postgres`, or a system user created for the tests (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", TEST_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
        check=True,
        capture_output=True,
    )
    return TEST_USER


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One initdb'd cluster in a temporary directory; ``start`` / ``stop`` or ``with``."""

    def __init__(
        self,
        settings: Mapping[str, str] | None = None,
        shared_preload_libraries: Sequence[str] = (),
        install: bool = True,
    ) -> None:
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        if shared_preload_libraries:
            self.settings["shared_preload_libraries"] = ",".join(shared_preload_libraries)
        self.install = install
        self.password = secrets.token_hex(12)
        self.port = 0
        self.root: Path | None = None
        self.user: str | None = None
        self._bin: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> PostgresCluster:
        self._bin = find_bin_dir(self.install)
        self.user = server_user()
        self.root = Path(tempfile.mkdtemp(prefix="alphapulse-pg-"))
        try:
            if self.user:
                shutil.chown(self.root, self.user, self.user)
            self._initdb()
            for attempt in range(START_ATTEMPTS):
                self.port = free_port()
                self._write_conf()
                started = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log))
                if started.returncode == 0:
                    break
                taken = "Address already in use" in self.log_tail(20)
                if not taken or attempt == START_ATTEMPTS - 1:
                    raise PostgresUnavailableError(f"pg_ctl start failed: {self.log_tail()}")
            with self.connect() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (fast: abort open sessions) and remove the directory."""
        root, self.root = self.root, None
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30", root=root)
                if (root / "data" / "postmaster.pid").exists():
                    self._pg_ctl("stop", "-m", "immediate", "-w", root=root)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def halt(self, mode: str = "fast") -> None:
        """Stop the server and keep its data: a database going down under its clients.
        ``fast`` cuts the sessions off and shuts down cleanly; ``immediate`` is a crash
        (no checkpoint: the next start recovers from the WAL)."""
        assert self.root is not None, "start() first"
        done = self._pg_ctl("stop", "-m", mode, "-w", "-t", "30")
        if done.returncode != 0:
            raise PostgresUnavailableError(f"pg_ctl stop failed: {done.stderr.strip()}")

    def resume(self) -> None:
        """Start a halted server again, on the same port."""
        assert self.root is not None, "start() first"
        done = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log))
        if done.returncode != 0:
            raise PostgresUnavailableError(f"pg_ctl start failed: {self.log_tail()}")

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- use ---------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "the cluster is not started"
        return self.root / "data"

    @property
    def log(self) -> Path:
        assert self.root is not None, "the cluster is not started"
        return self.root / "server.log"

    def dsn(self, dbname: str = DATABASE) -> str:
        """A TCP DSN with a password (the server asks for it: scram-sha-256 on 127.0.0.1)."""
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10)

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database with a unique name; its DSN."""
        name = f"{prefix}_{secrets.token_hex(4)}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        """Drop a database made by create_database, closing any sessions left on it."""
        name = str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])
        with self.connect() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    # -- setup -------------------------------------------------------------------------

    def _initdb(self) -> None:
        assert self.root is not None
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.user:
            shutil.chown(pwfile, self.user, self.user)
        done = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            # The unix socket (only ours can reach it) trusts; TCP asks for the password, so
            # a DSN with a wrong one really fails.
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        if done.returncode != 0:
            raise PostgresUnavailableError(f"initdb failed: {done.stderr.strip()[-500:]}")

    def _write_conf(self) -> None:
        """Our settings at the end of postgresql.conf (the last one of a name wins), so no
        value goes through a shell's quoting as pg_ctl -o would."""
        assert self.root is not None
        base = {
            "port": str(self.port),
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
        }
        lines = [
            f"{key} = '{value.replace(chr(39), chr(39) * 2)}'"
            for key, value in {**base, **self.settings}.items()
        ]
        conf = self.data_dir / "postgresql.conf"
        original = conf.read_text().split("\n# alphapulse tests\n", 1)[0]
        conf.write_text(original + "\n# alphapulse tests\n" + "\n".join(lines) + "\n")

    def _pg_ctl(self, *args: str, root: Path | None = None) -> subprocess.CompletedProcess[str]:
        root = root or self.root
        assert root is not None
        return self._run("pg_ctl", "-D", str(root / "data"), *args)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        command = [str(self._bin / tool), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        # cwd: the server user must be able to enter it (initdb checks its working directory).
        return subprocess.run(
            command, cwd=tempfile.gettempdir(), capture_output=True, text=True, timeout=120
        )
