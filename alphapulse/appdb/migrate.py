"""Bring a database to this package's newest schema with the Alembic scripts shipped in
``migrations/`` (no alembic.ini: the connection is handed to env.py). Two processes opening
an empty database at once (the server and a CLI) serialize on a lock, and a database of a
revision we do not know (written by a newer AlphaPulse) is refused before anything is
touched."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from alphapulse.appdb.engine import WRITE
from alphapulse.appdb.records import AppDBError

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
# pg_advisory_xact_lock's key for "migrating the app database" (ASCII "apdb"): any constant
# works as long as every AlphaPulse uses the same one.
PG_LOCK_KEY = 0x61706462


@functools.cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head() -> str:
    newest = scripts().get_current_head()
    assert newest is not None, "the package ships no migrations"
    return newest


def revisions() -> list[str]:
    """Every revision this package knows, oldest first."""
    return [s.revision for s in reversed(list(scripts().walk_revisions()))]


def alembic_config(connection: Connection) -> Config:
    """A Config for alembic.command that runs on ``connection`` (env.py reads it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, shown_url: str, target: str = "head") -> None:
    """Upgrade to ``target`` (a revision of ours; "head" unless a test wants an older one)."""
    wanted = head() if target == "head" else target
    # The common case, a database already at head, takes no lock: opens stay concurrent.
    with engine.connect() as connection:
        if _checked(connection, shown_url) == wanted:
            return
    with engine.execution_options(**WRITE).begin() as connection:  # SQLite: BEGIN IMMEDIATE
        if connection.dialect.name == "postgresql":
            # Held to the end of this transaction, which also holds the whole upgrade.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        # Again under the lock: the other opener may have migrated while we waited.
        if _checked(connection, shown_url) == wanted:
            return
        command.upgrade(alembic_config(connection), wanted)


def _checked(connection: Connection, shown_url: str) -> str | None:
    current = current_revision(connection)
    if current is not None and current not in revisions():
        raise AppDBError(
            f"the app database at {shown_url} has schema revision {current}, newer than this "
            f"AlphaPulse knows (newest: {head()}): upgrade alphapulse"
        )
    return current
