"""Alembic environment for the platform's own tables (async engine; schema `mlplatform` on PostgreSQL).

MLflow's and Feast's tables live in their own schemas and are migrated by those projects; they are
never part of this metadata.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from mlplatform.kernel.db import ALL_SCHEMAS, PLATFORM_SCHEMA, Base, engine_for, is_postgres_url
from mlplatform.tables import import_all_tables

import_all_tables()
config = context.config
database_url: str = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url") or ""
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    postgres = connection.dialect.name == "postgresql"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=PLATFORM_SCHEMA if postgres else None,
        render_as_batch=not postgres,
        compare_type=True,
    )


def _run_sync(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        for schema in ALL_SCHEMAS:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.commit()
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = engine_for(database_url, null_pool=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=database_url,
        target_metadata=target_metadata,
        literal_binds=True,
        version_table_schema=PLATFORM_SCHEMA if is_postgres_url(database_url) else None,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
