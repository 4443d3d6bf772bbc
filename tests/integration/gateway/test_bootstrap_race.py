"""Replicas starting at once on an empty database all end up with the one bootstrap admin."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.credentials.bootstrap import ADMIN_NAME, ensure_admin
from mlplatform.modules.gateway.models import ApiKeyRow, PrincipalRow


@pytest.mark.parametrize("bootstrap_key", ["race-admin-key-0123456789abcdef", None])
async def test_concurrent_starts_share_one_admin(clean_postgres: str, bootstrap_key: str | None) -> None:
    databases = [Database(clean_postgres) for _ in range(4)]  # one pool per "process"
    try:
        generated = await asyncio.gather(*(ensure_admin(db, bootstrap_key) for db in databases))
        async with databases[0].transaction() as session:
            admins = await session.scalar(
                select(func.count()).select_from(PrincipalRow).where(PrincipalRow.name == ADMIN_NAME)
            )
            keys = await session.scalar(select(func.count()).select_from(ApiKeyRow))
    finally:
        for db in databases:
            await db.dispose()
    assert admins == 1
    assert keys == 1
    printed = [key for key in generated if key is not None]
    assert len(printed) == (0 if bootstrap_key else 1), "a generated key is printed by exactly one process"
