"""The experiments module's own tables (MLflow's tables live in the `mlflow` schema, migrated by MLflow)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, UUIDPrimaryKey, utcnow


class RunLinkRow(UUIDPrimaryKey, Base):
    """An MLflow run linked to a catalogue model version by a user (one link per run and version)."""

    __tablename__ = "experiments_run_links"

    project: Mapped[str] = mapped_column(String(100))
    run_id: Mapped[str] = mapped_column(String(64))
    experiment_id: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    version: Mapped[int]
    catalogue_version_id: Mapped[uuid.UUID]
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("project", "run_id", "model", "version"),
        Index("ix_experiments_run_links_version", "catalogue_version_id"),
    )


class ReconcileMarkRow(Base):
    """How far the reconciler has compared one MLflow stream (`runs`, `model_versions`) with the outbox.

    Times are MLflow's (epoch milliseconds: run end times, model version creation times). `until_ms` is
    where the last round stopped; `started_ms` where the first one did: nothing older is ever scanned
    (what happened before the reconciler first ran on this database is not its business). The row is also
    the reconciler's lock: a round holds it `FOR UPDATE`, so replicas take turns."""

    __tablename__ = "experiments_reconcile_marks"

    stream: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    until_ms: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
