"""The streaming buffer: the last days of events in PostgreSQL (TimescaleDB when available),
written by binary COPY, its tables created by versioned migrations. See the README's
"The PostgreSQL buffer" section for what exists and what does not yet."""

from alphapulse.buffer.migrations import MIGRATIONS, Layout, MigrationError, migrate
from alphapulse.buffer.schema import SCHEMA, TABLES
from alphapulse.buffer.sink import PostgresSink

__all__ = ["MIGRATIONS", "SCHEMA", "TABLES", "Layout", "MigrationError", "PostgresSink", "migrate"]
