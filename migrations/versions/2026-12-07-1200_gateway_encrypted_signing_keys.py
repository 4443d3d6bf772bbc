"""gateway: token signing keys encrypted at rest

The private JWKs move from a plaintext JSON column (`private_jwk`) to `encrypted_jwk`, a `SecretBox` token
under the platform's secret key (`MLPLATFORM_SECRETS__KEYS`, or the development key in the data dir);
existing keys are encrypted here, so tokens they signed stay valid. Downgrading decrypts them back.

Revision ID: 20261207_gateway_signing_keys
Revises: 20261127_gateway
Create Date: 2026-12-07 12:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from mlplatform.kernel.migrations import migration_secrets

revision: str = "20261207_gateway_signing_keys"
down_revision: str | Sequence[str] | None = "20261207_gateway_tombstone"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "gateway_signing_keys"
PLAINTEXT_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
keys = sa.table(
    TABLE,
    sa.column("kid", sa.String()),
    sa.column("private_jwk", PLAINTEXT_TYPE),
    sa.column("encrypted_jwk", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("encrypted_jwk", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(keys.c.kid, keys.c.private_jwk)).all()
    if rows:
        box = migration_secrets(context.config)
        for kid, jwk in rows:
            token = box.encrypt(json.dumps(jwk))
            bind.execute(keys.update().where(keys.c.kid == kid).values(encrypted_jwk=token))
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("encrypted_jwk", existing_type=sa.Text(), nullable=False)
        batch.drop_column("private_jwk")


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("private_jwk", PLAINTEXT_TYPE, nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(keys.c.kid, keys.c.encrypted_jwk)).all()
    if rows:
        box = migration_secrets(context.config)
        for kid, token in rows:
            jwk = json.loads(box.decrypt_text(token))
            bind.execute(keys.update().where(keys.c.kid == kid).values(private_jwk=jwk))
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("private_jwk", existing_type=PLAINTEXT_TYPE, nullable=False)
        batch.drop_column("encrypted_jwk")
