"""catalogue: managed deployments (mode, serving options, status reason, the version a following one moves to)

Revision ID: 20261208_catalogue_managed
Revises: 20261127_catalogue
Create Date: 2026-12-08 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261208_catalogue_managed"
down_revision: str | Sequence[str] | None = "20261127_catalogue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalogue_deployments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(length=10), server_default="external", nullable=False))
        batch_op.add_column(
            sa.Column(
                "serving", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
            )
        )
        batch_op.add_column(sa.Column("status_reason", sa.String(length=1000), server_default="", nullable=False))
        batch_op.add_column(sa.Column("next_version_id", sa.Uuid(), nullable=True))
        batch_op.create_index("ix_catalogue_deployments_mode_status", ["mode", "status"], unique=False)
        batch_op.create_foreign_key(
            "fk_catalogue_deployments_next_version",
            "catalogue_model_versions",
            ["next_version_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("catalogue_deployments", schema=None) as batch_op:
        batch_op.drop_constraint("fk_catalogue_deployments_next_version", type_="foreignkey")
        batch_op.drop_index("ix_catalogue_deployments_mode_status")
        batch_op.drop_column("next_version_id")
        batch_op.drop_column("status_reason")
        batch_op.drop_column("serving")
        batch_op.drop_column("mode")
