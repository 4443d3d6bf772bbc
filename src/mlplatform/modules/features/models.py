"""The features module's own tables. Definitions live in Feast's registry (its own schema); these hold
what Feast has no place for: training datasets, validation reports, and the external data connections
platform admins register and grant to projects."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, Timestamps, UUIDPrimaryKey, utcnow
from mlplatform.kernel.secrets import ENCRYPTED


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


class ConnectionRow(UUIDPrimaryKey, Timestamps, Base):
    """An external data connection (PostgreSQL database or S3 bucket/prefix) registered by a platform admin."""

    __tablename__ = "features_connections"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    """`postgres` or `s3`."""
    description: Mapped[str] = mapped_column(String(2000), default="")
    settings: Mapped[dict[str, Any]]
    """What may be shown: postgres {host, port, database, user, sslmode}; s3 {bucket, prefix, endpoint_url, region}."""
    credentials: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    """A `SecretBox` token of a JSON object: postgres {password}; s3 {access_key_id, secret_access_key}."""
    created_by: Mapped[str | None] = mapped_column(String(200))


class ConnectionGrantRow(Base):
    """A connection granted to a project: the project's data sources may read through it."""

    __tablename__ = "features_connection_grants"

    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("features_connections.id", ondelete="CASCADE"), primary_key=True
    )
    project: Mapped[str] = mapped_column(String(100), primary_key=True)
    granted_by: Mapped[str | None] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_features_connection_grants_project", "project"),)
