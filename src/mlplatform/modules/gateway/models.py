"""The gateway's tables: projects, principals, memberships, API keys, signing keys, audit events."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mlplatform.kernel.db import Base, Timestamps, UUIDPrimaryKey, utcnow
from mlplatform.kernel.secrets import ENCRYPTED


class Project(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "gateway_projects"

    name: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(200))
    deleted_at: Mapped[datetime | None]
    """Set when the project was deleted: it is gone for everyone, its name stays taken until the purge job
    (`purge_job_id`) removed what it left in every module and then this row."""
    purge_job_id: Mapped[uuid.UUID | None]


class PrincipalRow(UUIDPrimaryKey, Timestamps, Base):
    """A user or a service account."""

    __tablename__ = "gateway_principals"

    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    description: Mapped[str] = mapped_column(Text, default="")
    platform_admin: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    external_issuer: Mapped[str | None] = mapped_column(String(500))
    external_subject: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        UniqueConstraint("kind", "name"),
        UniqueConstraint("external_issuer", "external_subject"),
    )

    @property
    def subject(self) -> str:
        """`user:<name>` or `service_account:<name>`: how routes and audit rows name the principal."""
        return f"{self.kind}:{self.name}"


class Membership(Base):
    __tablename__ = "gateway_memberships"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gateway_projects.id", ondelete="CASCADE"), primary_key=True
    )
    principal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gateway_principals.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    granted_by: Mapped[str | None] = mapped_column(String(200))


class ApiKeyRow(UUIDPrimaryKey, Base):
    """An API key: only the SHA-256 of its secret part is stored; `key_id` is the public lookup part."""

    __tablename__ = "gateway_api_keys"

    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gateway_principals.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    project: Mapped[str | None] = mapped_column(String(63))
    """Scope: the only project this key may act in (null: every project of its owner)."""
    role_ceiling: Mapped[int | None] = mapped_column(Integer)
    """Scope: the highest role this key may use (null: the owner's roles)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SigningKeyRow(Base):
    """A token signing key. The private JWK is stored encrypted (`SecretBox`; re-encrypted by
    `mlplatform admin rotate-secret-key`), never in plaintext."""

    __tablename__ = "gateway_signing_keys"

    kid: Mapped[str] = mapped_column(String(100), primary_key=True)
    alg: Mapped[str] = mapped_column(String(20))
    encrypted_jwk: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    """The private JWK as JSON, encrypted with the platform's secret key (a Fernet token)."""
    environment: Mapped[str] = mapped_column(String(20))
    """The MLPLATFORM_ENV the key was generated in; production refuses to sign with a development key."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "gateway_audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(200))
    """`user:alice`, `service_account:trainer`, or null when unauthenticated."""
    action: Mapped[str] = mapped_column(String(200))
    """Operation id of the route (`catalogue_create_model`) or an event name (`auth.failed`)."""
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    project: Mapped[str | None] = mapped_column(String(63))
    resource: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(20))
    """success, denied (401/403/404 from auth), failed (other 4xx/5xx)."""
    status_code: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(100))
    client_addr: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_gateway_audit_events_time", "occurred_at", "id"),
        Index("ix_gateway_audit_events_project_time", "project", "id"),
        Index("ix_gateway_audit_events_actor_time", "actor", "id"),
    )
