"""features: external data connections (PostgreSQL, S3) and their grants to projects

Revision ID: 20261208_features_connections
Revises: 20261127_features
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlplatform.kernel.db

revision: str = "20261208_features_connections"
down_revision: str | Sequence[str] | None = "20261127_features"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "features_connections",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column(
            "settings", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_features_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_features_connections_name")),
    )
    op.create_table(
        "features_connection_grants",
        sa.Column("connection_id", sa.Uuid(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=True),
        sa.Column("granted_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["features_connections.id"],
            name=op.f("fk_features_connection_grants_connection_id_features_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "project", name=op.f("pk_features_connection_grants")),
    )
    with op.batch_alter_table("features_connection_grants", schema=None) as batch_op:
        batch_op.create_index("ix_features_connection_grants_project", ["project"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("features_connection_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_features_connection_grants_project")
    op.drop_table("features_connection_grants")
    op.drop_table("features_connections")
