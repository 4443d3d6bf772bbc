"""kernel outbox

Revision ID: 20261127_kernel
Revises:
Create Date: 2026-11-27 14:33:48.581210
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import mlplatform.kernel.db

revision: str = "20261127_kernel"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kernel_outbox_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("aggregate_type", sa.String(length=60), nullable=False),
        sa.Column("aggregate_id", sa.String(length=200), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("fanned_out", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_kernel_outbox_events")),
        sa.UniqueConstraint("id", name=op.f("uq_kernel_outbox_events_id")),
    )
    with op.batch_alter_table("kernel_outbox_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kernel_outbox_events_aggregate", ["aggregate_type", "aggregate_id", "seq"], unique=False
        )
        batch_op.create_index(
            "ix_kernel_outbox_events_pending_fanout", ["seq"], unique=False, postgresql_where="NOT fanned_out"
        )
        batch_op.create_index("ix_kernel_outbox_events_type", ["event_type", "seq"], unique=False)

    op.create_table(
        "kernel_outbox_deliveries",
        sa.Column("subscriber", sa.String(length=100), nullable=False),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("aggregate_key", sa.String(length=270), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", mlplatform.kernel.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_seq"],
            ["kernel_outbox_events.seq"],
            name=op.f("fk_kernel_outbox_deliveries_event_seq_kernel_outbox_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber", "event_seq", name=op.f("pk_kernel_outbox_deliveries")),
    )
    with op.batch_alter_table("kernel_outbox_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_kernel_outbox_deliveries_due", ["status", "next_attempt_at", "event_seq"], unique=False
        )
        batch_op.create_index(
            "ix_kernel_outbox_deliveries_order", ["subscriber", "aggregate_key", "status", "event_seq"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("kernel_outbox_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_kernel_outbox_deliveries_order")
        batch_op.drop_index("ix_kernel_outbox_deliveries_due")

    op.drop_table("kernel_outbox_deliveries")
    with op.batch_alter_table("kernel_outbox_events", schema=None) as batch_op:
        batch_op.drop_index("ix_kernel_outbox_events_type")
        batch_op.drop_index("ix_kernel_outbox_events_pending_fanout", postgresql_where="NOT fanned_out")
        batch_op.drop_index("ix_kernel_outbox_events_aggregate")

    op.drop_table("kernel_outbox_events")
