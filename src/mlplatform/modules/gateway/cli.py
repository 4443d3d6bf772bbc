"""`mlplatform admin ...` commands of the gateway (run against the configured database)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from mlplatform.kernel.db import Database
from mlplatform.kernel.secrets import secret_box
from mlplatform.modules.gateway.credentials.keystore import KeyStore
from mlplatform.settings import Settings


def rotate_signing_key(settings: Settings) -> str:
    """Make a new signing key active (generated for the current MLPLATFORM_ENV). Returns its kid."""

    async def rotate() -> str:
        database = Database(settings.resolved_database_url)
        try:
            store = KeyStore(
                database,
                secrets=secret_box(settings),
                environment=settings.env.value,
                algorithm=settings.auth.signing_algorithm,
                max_token_age=timedelta(hours=8, minutes=1),
            )
            return (await store.rotate()).kid
        finally:
            await database.dispose()

    return asyncio.run(rotate())
