"""The experiments module's own table (MLflow's tables live in the `mlflow` schema, migrated by MLflow)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
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
