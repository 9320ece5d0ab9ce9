"""The app database: the reports' schedules and runs (later strategies and backtests), in
SQLite in the data directory or in PostgreSQL (``$ALPHAPULSE_APP_DSN``), migrated by the
Alembic scripts shipped in ``migrations/`` whenever it is opened.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     db = AppDB.open(f"sqlite:///{d}/app.sqlite", data_dir=pathlib.Path(d))
...     run = db.create_run("daily", {"date": "2026-12-01"})
...     print(db.update_run(run.id, status="succeeded").status)
...     db.close()
succeeded
"""

from alphapulse.appdb.engine import APP_DSN_ENV
from alphapulse.appdb.records import (
    MISSED_POLICIES,
    RUN_STATES,
    AppDBError,
    RunRecord,
    ScheduleRecord,
)
from alphapulse.appdb.store import AppDB

__all__ = [
    "APP_DSN_ENV",
    "MISSED_POLICIES",
    "RUN_STATES",
    "AppDB",
    "AppDBError",
    "RunRecord",
    "ScheduleRecord",
]
