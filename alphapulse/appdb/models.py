"""The head schema as typed ORM models. The migrations in ``migrations/versions`` build it
step by step and do not import these classes (a migration must keep meaning what it meant
when it shipped); tests compare the migrated tables with these models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out. PostgreSQL keeps ``timestamptz``; SQLite has no zone, so it
    stores naive UTC (its text form then sorts and compares in time order)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime cannot be stored: {value.isoformat()}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Schedule(Base):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    report: Mapped[str] = mapped_column(String(200))
    cron: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]]
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    enabled: Mapped[bool] = mapped_column(server_default=true())
    created_at: Mapped[datetime]
    # 0002
    missed: Mapped[str] = mapped_column(String(16), server_default="skip")
    timeout: Mapped[float] = mapped_column(Float, server_default=text("3600"))
    last_fired_for: Mapped[datetime | None]


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_report_created_at", "report", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    report: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]]
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    scheduled_for: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    seconds: Mapped[float | None] = mapped_column(Float)
    archive: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    # 0002
    cancel_requested: Mapped[bool] = mapped_column(server_default=false())
    pid: Mapped[int | None]
    papermill_seconds: Mapped[float | None] = mapped_column(Float)
