"""The features module's own tables. Definitions live in Feast's registry (its own schema); these hold
what Feast has no place for: training datasets and validation reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, UUIDPrimaryKey, utcnow


class DatasetRow(UUIDPrimaryKey, Base):
    __tablename__ = "features_datasets"

    project: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(200))
    feature_service: Mapped[str | None] = mapped_column(String(200))
    features: Mapped[dict[str, Any]]
    """{"refs": ["view:feature", ...], "views": [{"name", "version"}, ...], "columns": [...]}"""
    row_count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    size_bytes: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), default=0)
    uri: Mapped[str] = mapped_column(String(1200))
    object_key: Mapped[str] = mapped_column(String(1024))
    job_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_features_datasets_project", "project", "created_at"),)


class ValidationReportRow(UUIDPrimaryKey, Base):
    __tablename__ = "features_validation_reports"

    project: Mapped[str] = mapped_column(String(100))
    feature_view: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    rows_checked: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    rows_failed: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    details: Mapped[dict[str, Any]]
    """{"failures": [...], "profile": {...} | null, "freshness_seconds": float | null}"""
    job_id: Mapped[uuid.UUID | None]
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_features_validation_reports_view", "project", "feature_view", "created_at"),)
