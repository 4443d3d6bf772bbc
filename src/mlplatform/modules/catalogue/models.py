"""The catalogue's tables (all prefixed `catalogue_`).

Invariants the database itself enforces, not only the code:
- a model name is unique per project;
- version numbers are unique per model;
- at most ONE version per model is in `production` (partial unique index, PostgreSQL and SQLite);
- at most one *pending* transition request per version, one open alert per rule;
- an MLflow registry version maps to at most one catalogue version (idempotent registration);
- a deployment's traffic share is within 0..100.

Search: model and version tags are JSONB on PostgreSQL with a GIN `jsonb_path_ops` index, so a
filter on several tags is ONE containment test (`tags @> '{"a": "1", "b": "2", "c": "3"}'`) answered
from one index, not one join or sub-query per tag (the shape MLflow's registry search uses, see
mlflow#13633). The GIN indexes have `fastupdate = off`: new entries go straight into the index
instead of a pending list that every search would scan until the next vacuum (catalogue writes are
rare next to reads). Text search uses trigram indexes when `pg_trgm` is available (migration only).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, JSONDocument, Timestamps, UUIDPrimaryKey, utcnow

PRODUCTION_ONLY = text("stage = 'production'")
PENDING_ONLY = text("status = 'pending'")
OPEN_ONLY = text("status = 'open'")
HAS_MLFLOW_VERSION = text("mlflow_version IS NOT NULL")


class CatalogueModel(UUIDPrimaryKey, Timestamps, Base):
    """A named model in a project. `latest_version` is the counter that numbers new versions."""

    __tablename__ = "catalogue_models"

    project: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200))
    task_type: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    required_validations: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    approval_policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Stage → number of approvals (from maintainers other than the requester) a move into it needs."""
    latest_version: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(200))
    revision: Mapped[int] = mapped_column(default=1)
    """Bumped by every ORM update of the row (`version_id_col`: the UPDATE says `WHERE revision = <read>`,
    so a concurrent change makes it fail instead of being overwritten); the ETag is built from it."""

    __mapper_args__ = {"version_id_col": revision}

    __table_args__ = (
        UniqueConstraint("project", "name"),
        Index("ix_catalogue_models_project_updated", "project", "updated_at", "id"),
        Index("ix_catalogue_models_project_created", "project", "created_at", "id"),
        Index("ix_catalogue_models_project_owner", "project", "owner"),
        Index(
            "ix_catalogue_models_tags",
            "tags",
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
    )


class CatalogueModelVersion(UUIDPrimaryKey, Timestamps, Base):
    """One registered version of a model; `stage` is its place in the lifecycle."""

    __tablename__ = "catalogue_model_versions"

    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_models.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(String(100))
    version: Mapped[int]
    stage: Mapped[str] = mapped_column(String(20), default="registered")
    description: Mapped[str] = mapped_column(Text, default="")
    source_type: Mapped[str] = mapped_column(String(16))
    """`mlflow` (an MLflow run / registry version) or `uri` (any artifact URI)."""
    source_run_id: Mapped[str | None] = mapped_column(String(64))
    mlflow_version: Mapped[str | None] = mapped_column(String(32))
    model_uri: Mapped[str] = mapped_column(String(1024))
    framework: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    feature_service: Mapped[str | None] = mapped_column(String(200))
    feast_project: Mapped[str | None] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(200))
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}

    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        Index(
            "uq_catalogue_model_versions_one_production",
            "model_id",
            unique=True,
            postgresql_where=PRODUCTION_ONLY,
            sqlite_where=PRODUCTION_ONLY,
        ),
        Index(
            "uq_catalogue_model_versions_mlflow_version",
            "model_id",
            "mlflow_version",
            unique=True,
            postgresql_where=HAS_MLFLOW_VERSION,
            sqlite_where=HAS_MLFLOW_VERSION,
        ),
        Index("ix_catalogue_model_versions_model_stage", "model_id", "stage"),
        Index("ix_catalogue_model_versions_model_run", "model_id", "source_run_id"),
        Index("ix_catalogue_model_versions_project_created", "project", "created_at", "id"),
        Index("ix_catalogue_model_versions_project_stage", "project", "stage"),
        Index("ix_catalogue_model_versions_project_framework", "project", "framework"),
        Index(
            "ix_catalogue_model_versions_tags",
            "tags",
            postgresql_using="gin",
            postgresql_ops={"tags": "jsonb_path_ops"},
            postgresql_with={"fastupdate": "off"},
        ),
    )


class CatalogueValidation(UUIDPrimaryKey, Base):
    """One named check of a version. The latest record per name is the one that counts."""

    __tablename__ = "catalogue_validations"

    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_model_versions.id", ondelete="CASCADE"))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_models.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_uri: Mapped[str | None] = mapped_column(String(1024))
    details: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('passed', 'failed')", name="status"),
        Index("ix_catalogue_validations_version_name", "version_id", "name", "created_at"),
    )


class CatalogueTransitionRequest(UUIDPrimaryKey, Base):
    """A stage change waiting for approvals (the model's policy asked for them)."""

    __tablename__ = "catalogue_transition_requests"

    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_model_versions.id", ondelete="CASCADE"))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_models.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(String(100))
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(200))
    required_approvals: Mapped[int]
    status: Mapped[str] = mapped_column(String(12), default="pending")
    """pending → applied | rejected | cancelled | superseded."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        Index(
            "uq_catalogue_transition_requests_one_pending",
            "version_id",
            unique=True,
            postgresql_where=PENDING_ONLY,
            sqlite_where=PENDING_ONLY,
        ),
        Index("ix_catalogue_transition_requests_version_created", "version_id", "created_at", "id"),
    )


class CatalogueApproval(UUIDPrimaryKey, Base):
    """One maintainer's decision on a transition request."""

    __tablename__ = "catalogue_approvals"

    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_transition_requests.id", ondelete="CASCADE"))
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_model_versions.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("request_id", "actor"),
        CheckConstraint("decision IN ('approve', 'reject')", name="decision"),
        Index("ix_catalogue_approvals_version_created", "version_id", "created_at", "id"),
    )


class CatalogueStageTransition(UUIDPrimaryKey, Base):
    """History: every stage change that happened, with who, why and (if any) the approved request."""

    __tablename__ = "catalogue_stage_transitions"

    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_model_versions.id", ondelete="CASCADE"))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_models.id", ondelete="CASCADE"))
    from_stage: Mapped[str] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalogue_transition_requests.id", ondelete="SET NULL")
    )
    automatic: Mapped[bool] = mapped_column(default=False)
    """True when the platform made the move (the previous production version archived by a promotion)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_catalogue_stage_transitions_version_created", "version_id", "created_at", "id"),)


class CatalogueDeployment(UUIDPrimaryKey, Timestamps, Base):
    """A version running (or meant to run) in an environment, taking a share of its traffic."""

    __tablename__ = "catalogue_deployments"

    project: Mapped[str] = mapped_column(String(100))
    model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_models.id", ondelete="CASCADE"))
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_model_versions.id", ondelete="CASCADE"))
    environment: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(1024), default="")
    status: Mapped[str] = mapped_column(String(10), default="active")
    """pending | active | failed | retired (pending and active hold traffic)."""
    traffic_share: Mapped[int] = mapped_column(default=100)
    mode: Mapped[str] = mapped_column(String(10), default="external", server_default="external")
    """external (a record of a server elsewhere) | managed (the serving module runs it)."""
    serving: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    """A managed deployment's serving options (`schemas.ServingOptions`)."""
    status_reason: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    """Why a managed deployment is pending or failed, or which version it is moving to (set by the serving
    module)."""
    next_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("catalogue_model_versions.id", ondelete="SET NULL", name="fk_catalogue_deployments_next_version")
    )
    """A managed deployment that follows the production stage: the version it moves to once that version's
    workers are warm (the serving module swaps it and clears this)."""
    created_by: Mapped[str] = mapped_column(String(200))
    retired_at: Mapped[datetime | None]
    revision: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": revision}

    __table_args__ = (
        CheckConstraint("traffic_share >= 0 AND traffic_share <= 100", name="traffic_share"),
        Index("ix_catalogue_deployments_mode_status", "mode", "status"),
        Index("ix_catalogue_deployments_model_env_status", "model_id", "environment", "status"),
        Index("ix_catalogue_deployments_version", "version_id"),
        Index("ix_catalogue_deployments_project_created", "project", "created_at", "id"),
    )


class CatalogueMonitoringRule(UUIDPrimaryKey, Base):
    """A threshold on a deployment metric: a record breaking it opens (or extends) an alert."""

    __tablename__ = "catalogue_monitoring_rules"

    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_deployments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(128))
    operator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(10), default="warning")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("deployment_id", "name"),)


class CatalogueMonitoringRecord(UUIDPrimaryKey, Base):
    """One observed metric value of a deployment over a window ending at `observed_at`."""

    __tablename__ = "catalogue_monitoring_records"

    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_deployments.id", ondelete="CASCADE"))
    metric: Mapped[str] = mapped_column(String(128))
    value: Mapped[float] = mapped_column(Float)
    window_seconds: Mapped[int | None]
    observed_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_catalogue_monitoring_records_deployment_observed", "deployment_id", "observed_at", "id"),
        Index("ix_catalogue_monitoring_records_deployment_metric", "deployment_id", "metric", "observed_at"),
    )


class CatalogueMonitoringAlert(UUIDPrimaryKey, Base):
    """A rule in breach. Open until a later record of the metric is back within the threshold."""

    __tablename__ = "catalogue_monitoring_alerts"

    deployment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("catalogue_deployments.id", ondelete="CASCADE"))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("catalogue_monitoring_rules.id", ondelete="SET NULL"))
    """Null once the rule is deleted (its alerts stay as history)."""
    rule_name: Mapped[str] = mapped_column(String(100))
    metric: Mapped[str] = mapped_column(String(128))
    operator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(10))
    value: Mapped[float] = mapped_column(Float)
    """The latest breaching value."""
    breaches: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_breach_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "uq_catalogue_monitoring_alerts_one_open",
            "rule_id",
            unique=True,
            postgresql_where=OPEN_ONLY,
            sqlite_where=OPEN_ONLY,
        ),
        Index("ix_catalogue_monitoring_alerts_deployment_status", "deployment_id", "status", "opened_at"),
    )
