"""features initial: training datasets and validation reports (definitions live in Feast's registry)

Revision ID: 20261127_features
Revises: 20261127_kernel
Create Date: 2026-11-27 15:22:26.207873
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlplatform.kernel.db

revision: str = "20261127_features"
down_revision: str | Sequence[str] | None = "20261127_kernel"
branch_labels: str | Sequence[str] | None = ("features",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "features_datasets",
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("feature_service", sa.String(length=200), nullable=True),
        sa.Column(
            "features", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("row_count", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("size_bytes", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("uri", sa.String(length=1200), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_features_datasets")),
    )
    with op.batch_alter_table("features_datasets", schema=None) as batch_op:
        batch_op.create_index("ix_features_datasets_project", ["project", "created_at"], unique=False)

    op.create_table(
        "features_validation_reports",
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("feature_view", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("rows_checked", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rows_failed", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_features_validation_reports")),
    )
    with op.batch_alter_table("features_validation_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_features_validation_reports_view", ["project", "feature_view", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("features_validation_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_features_validation_reports_view")

    op.drop_table("features_validation_reports")
    with op.batch_alter_table("features_datasets", schema=None) as batch_op:
        batch_op.drop_index("ix_features_datasets_project")

    op.drop_table("features_datasets")
