"""Alembic's entry point, run by alphapulse.appdb.migrate with the connection it opened and
locked (config.attributes["connection"]): the upgrade joins that transaction, so it
commits whole or not at all."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from alphapulse.appdb.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "the app database's migrations run through alphapulse.appdb (AppDB.open), "
        "which hands them its connection"
    )
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
