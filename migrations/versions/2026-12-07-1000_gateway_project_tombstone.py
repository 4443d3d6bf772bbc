"""gateway: project tombstones (a deleted project keeps its name until its purge job finished)

Revision ID: 20261207_gateway_tombstone
Revises: 20261127_gateway
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mlplatform.kernel.db

revision: str = "20261207_gateway_tombstone"
down_revision: str | Sequence[str] | None = "20261127_gateway"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("gateway_projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purge_job_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateway_projects", schema=None) as batch_op:
        batch_op.drop_column("purge_job_id")
        batch_op.drop_column("deleted_at")
