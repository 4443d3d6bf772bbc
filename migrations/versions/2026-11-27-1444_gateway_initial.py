"""gateway initial

Revision ID: 20261127_gateway
Revises: 20261127_kernel
Create Date: 2026-11-27 14:44:30.650793
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlplatform.kernel.db

revision: str = "20261127_gateway"
down_revision: str | Sequence[str] | None = "20261127_kernel"
branch_labels: str | Sequence[str] | None = ("gateway",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("occurred_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=True),
        sa.Column("resource", sa.String(length=500), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("client_addr", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_audit_events")),
    )
    with op.batch_alter_table("gateway_audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_gateway_audit_events_actor_time", ["actor", "id"], unique=False)
        batch_op.create_index("ix_gateway_audit_events_project_time", ["project", "id"], unique=False)
        batch_op.create_index("ix_gateway_audit_events_time", ["occurred_at", "id"], unique=False)

    op.create_table(
        "gateway_principals",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("platform_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("external_issuer", sa.String(length=500), nullable=True),
        sa.Column("external_subject", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_principals")),
        sa.UniqueConstraint(
            "external_issuer", "external_subject", name=op.f("uq_gateway_principals_external_issuer_external_subject")
        ),
        sa.UniqueConstraint("kind", "name", name=op.f("uq_gateway_principals_kind_name")),
    )
    op.create_table(
        "gateway_projects",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_gateway_projects_name")),
    )
    op.create_table(
        "gateway_signing_keys",
        sa.Column("kid", sa.String(length=100), nullable=False),
        sa.Column("alg", sa.String(length=20), nullable=False),
        sa.Column(
            "private_jwk", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("environment", sa.String(length=20), nullable=False),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_gateway_signing_keys")),
    )
    op.create_table(
        "gateway_api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=True),
        sa.Column("role_ceiling", sa.Integer(), nullable=True),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("expires_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["gateway_principals.id"],
            name=op.f("fk_gateway_api_keys_principal_id_gateway_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_api_keys")),
        sa.UniqueConstraint("key_id", name=op.f("uq_gateway_api_keys_key_id")),
    )
    with op.batch_alter_table("gateway_api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_api_keys_principal_id"), ["principal_id"], unique=False)

    op.create_table(
        "gateway_memberships",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["gateway_principals.id"],
            name=op.f("fk_gateway_memberships_principal_id_gateway_principals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["gateway_projects.id"],
            name=op.f("fk_gateway_memberships_project_id_gateway_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "principal_id", name=op.f("pk_gateway_memberships")),
    )
    with op.batch_alter_table("gateway_memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_memberships_principal_id"), ["principal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("gateway_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_memberships_principal_id"))

    op.drop_table("gateway_memberships")
    with op.batch_alter_table("gateway_api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_api_keys_principal_id"))

    op.drop_table("gateway_api_keys")
    op.drop_table("gateway_signing_keys")
    op.drop_table("gateway_projects")
    op.drop_table("gateway_principals")
    with op.batch_alter_table("gateway_audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_gateway_audit_events_time")
        batch_op.drop_index("ix_gateway_audit_events_project_time")
        batch_op.drop_index("ix_gateway_audit_events_actor_time")

    op.drop_table("gateway_audit_events")
