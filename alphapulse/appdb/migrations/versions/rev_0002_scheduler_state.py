"""What a scheduler needs beyond 0001: the missed-run policy, a timeout and the last tick
fired per schedule (so two schedulers never fire one tick twice); per run, a cancel request,
the pid running it and papermill's own time; runs listed by report, newest first, by index.

Revision ID: 0002
Revises: 0001
Created: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN on both databases, never a batch "copy and move": on
    # SQLite that drops the old schedules table, whose implicit DELETE would set every run's
    # schedule_id to NULL. Defaults live on the server, so rows written under 0001 get them.
    op.add_column(
        "schedules", sa.Column("missed", sa.String(16), nullable=False, server_default="skip")
    )
    op.add_column(
        "schedules",
        sa.Column("timeout", sa.Float(), nullable=False, server_default=sa.text("3600")),
    )
    op.add_column(
        "schedules", sa.Column("last_fired_for", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "runs",
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("runs", sa.Column("pid", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("papermill_seconds", sa.Float(), nullable=True))
    op.create_index("ix_runs_report_created_at", "runs", ["report", "created_at"])


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place once no index names it.
    op.drop_index("ix_runs_report_created_at", table_name="runs")
    for column in ("papermill_seconds", "pid", "cancel_requested"):
        op.drop_column("runs", column)
    for column in ("last_fired_for", "timeout", "missed"):
        op.drop_column("schedules", column)
