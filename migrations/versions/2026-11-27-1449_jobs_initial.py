"""jobs initial: the kernel_jobs table (records of long-running jobs)

Revision ID: 20261127_jobs
Revises: 20261127_kernel
Create Date: 2026-11-27 14:49:25.735699
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlplatform.kernel.db

revision: str = "20261127_jobs"
down_revision: str | Sequence[str] | None = "20261127_kernel"
branch_labels: str | Sequence[str] | None = ("jobs",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kernel_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column(
            "params", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("heartbeat_seconds", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("queue_key", sa.String(length=100), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kernel_jobs")),
    )
    with op.batch_alter_table("kernel_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_kernel_jobs_listing", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_kernel_jobs_project", ["project", "created_at"], unique=False)
        batch_op.create_index("ix_kernel_jobs_status", ["status", "heartbeat_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kernel_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_kernel_jobs_status")
        batch_op.drop_index("ix_kernel_jobs_project")
        batch_op.drop_index("ix_kernel_jobs_listing")

    op.drop_table("kernel_jobs")
