"""The first admin credential.

With `MLPLATFORM_BOOTSTRAP_ADMIN_KEY` set, a platform-admin user `admin` holds an API key with exactly
that value after start (re-enabled and un-revoked if needed). Without it, the first start of an empty
platform creates `admin` with a fresh key and prints the key once, to stderr; later starts print
nothing (the key is stored hashed only).
"""

from __future__ import annotations

import sys

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.credentials.api_keys import generate_api_key, hash_secret, opaque_key, parse_api_key
from mlplatform.modules.gateway.models import ApiKeyRow, PrincipalRow

ADMIN_NAME = "admin"
BOOTSTRAP_KEY_NAME = "bootstrap"


async def ensure_admin(database: Database, bootstrap_key: str | None) -> str | None:
    """Make sure an admin credential exists. Returns a newly generated key (to print once), else None.

    Several processes (replicas, `serve` workers) may start at once on an empty database: the row lock
    cannot cover a row that does not exist yet, so the loser of the insert race sees a unique violation
    and simply runs again, now finding the winner's admin."""
    attempts_left = 3
    while True:
        try:
            return await _ensure_admin(database, bootstrap_key)
        except IntegrityError:
            attempts_left -= 1
            if not attempts_left:
                raise


async def _ensure_admin(database: Database, bootstrap_key: str | None) -> str | None:
    async with database.transaction() as session:
        admin = await session.scalar(
            select(PrincipalRow).where(PrincipalRow.kind == "user", PrincipalRow.name == ADMIN_NAME).with_for_update()
        )
        if bootstrap_key is None:
            any_admin = await session.scalar(select(PrincipalRow.id).where(PrincipalRow.platform_admin).limit(1))
            if any_admin is not None:
                return None
        if admin is None:
            admin = PrincipalRow(kind="user", name=ADMIN_NAME, platform_admin=True, description="bootstrap admin")
            session.add(admin)
            await session.flush()
        admin.platform_admin = True
        admin.disabled = False
        if bootstrap_key is None:
            generated = generate_api_key()
            session.add(
                ApiKeyRow(
                    key_id=generated.key_id,
                    secret_hash=generated.secret_hash,
                    principal_id=admin.id,
                    name=BOOTSTRAP_KEY_NAME,
                    created_by="bootstrap",
                )
            )
            return generated.plaintext
        parsed = parse_api_key(bootstrap_key) or opaque_key(bootstrap_key)
        if parsed is None:
            raise ValueError("MLPLATFORM_BOOTSTRAP_ADMIN_KEY is not usable as an API key")
        key = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == parsed.key_id))
        if key is None:
            session.add(
                ApiKeyRow(
                    key_id=parsed.key_id,
                    secret_hash=hash_secret(parsed.secret),
                    principal_id=admin.id,
                    name=BOOTSTRAP_KEY_NAME,
                    created_by="bootstrap",
                )
            )
        else:
            key.secret_hash = hash_secret(parsed.secret)
            key.principal_id = admin.id
            key.revoked_at = None
            key.expires_at = None
        return None


def announce(key: str) -> None:
    """Print the generated admin key once, outside the structured log (it must not be collected there)."""
    sys.stderr.write(
        "\n"
        "  mlplatform: created the platform admin `user:admin` with this API key (shown once, stored hashed):\n"
        f"\n      {key}\n\n"
        "  Use it as `Authorization: Bearer <key>`, or set MLPLATFORM_BOOTSTRAP_ADMIN_KEY to choose it yourself.\n\n"
    )
    sys.stderr.flush()
