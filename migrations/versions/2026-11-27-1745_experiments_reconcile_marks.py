"""experiments: reconciler watermarks (how far MLflow's stores were compared with the outbox)

Revision ID: 20261127_experiments_reconcile
Revises: 20261127_experiments
Create Date: 2026-11-27 17:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mlplatform.kernel.db

revision: str = "20261127_experiments_reconcile"
down_revision: str | Sequence[str] | None = "20261127_experiments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiments_reconcile_marks",
        sa.Column("stream", sa.String(length=40), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("until_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("stream", name=op.f("pk_experiments_reconcile_marks")),
    )


def downgrade() -> None:
    op.drop_table("experiments_reconcile_marks")
