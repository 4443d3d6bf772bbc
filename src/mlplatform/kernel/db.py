"""Database access: declarative base, engine, sessions and the transaction scope.

The request owns the transaction (DESIGN "Request path"): services `flush()`, never `commit()`;
`Database.transaction()` commits once at the end and re-raises a failed commit. On PostgreSQL the
platform's tables live in their own schema (`mlplatform`); MLflow and Feast get `mlflow` and `feast`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from mlplatform.kernel.errors import Unavailable

PLATFORM_SCHEMA = "mlplatform"
MLFLOW_SCHEMA = "mlflow"
FEAST_SCHEMA = "feast"
ALL_SCHEMAS = (PLATFORM_SCHEMA, MLFLOW_SCHEMA, FEAST_SCHEMA)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONDocument = JSON().with_variant(postgresql.JSONB(), "postgresql")
"""JSON column: JSONB on PostgreSQL (indexable), JSON text on SQLite."""


class Base(DeclarativeBase):
    """Declarative base of every platform table (names prefixed by their module)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def is_postgres_url(url: str) -> bool:
    return url.startswith("postgresql")


def engine_for(url: str, *, pool_size: int = 10, null_pool: bool = False) -> AsyncEngine:
    """An async engine for the platform's schema: asyncpg on PostgreSQL, aiosqlite on SQLite."""
    kwargs: dict[str, Any] = {"pool_pre_ping": False}
    if is_postgres_url(url):
        kwargs["connect_args"] = {
            "server_settings": {"search_path": PLATFORM_SCHEMA, "application_name": "mlplatform"},
            "timeout": 5,
        }
        if null_pool:
            kwargs["poolclass"] = NullPool
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=10, pool_recycle=1800)
    else:
        kwargs["connect_args"] = {"timeout": 30}
    engine = create_async_engine(url, **kwargs)
    if not is_postgres_url(url):
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


async def lock_for_update(session: AsyncSession) -> None:
    """Make the `SELECT ... FOR UPDATE` that follows serialise on SQLite too; nothing on PostgreSQL.

    PostgreSQL locks the selected rows until the end of the transaction. SQLite ignores `FOR UPDATE`, and its
    driver opens a transaction only at the first write, so a read-then-update is not isolated there: two
    requests read the same row, and the second `UPDATE ... WHERE revision = <read>` finds nothing (a conflict
    nobody caused). Called before the locking read, this starts the transaction as SQLite's one writer
    (`BEGIN IMMEDIATE`, waiting up to the busy timeout for another writer to finish), so such requests run one
    after the other. A transaction that has written already holds that lock."""
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    if raw.driver_connection is None or raw.driver_connection.in_transaction:
        return
    await connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Engine + session factory + the one transaction scope every request and job uses."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = engine_for(url, pool_size=pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._after_commit: list[Callable[[], None]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def on_commit(self, hook: Callable[[], None]) -> None:
        """Call `hook` after every successful commit of a transaction that wrote outbox events."""
        self._after_commit.append(hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on error; a failed commit raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            try:
                await session.commit()
            except (OperationalError, DBAPIError) as exc:
                if exc.connection_invalidated or _is_connection_error(exc):
                    raise Unavailable("the database is unreachable", component="database") from exc
                raise
            except OSError as exc:
                raise Unavailable("the database is unreachable", component="database") from exc
            if session.info.pop("outbox_written", False):
                for hook in self._after_commit:
                    hook()

    async def check(self) -> None:
        """Readiness probe: one round trip."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _is_connection_error(exc: DBAPIError) -> bool:
    message = str(exc.orig or exc).lower()
    return any(word in message for word in ("connection", "connect", "closed", "terminat"))


__all__ = [
    "ALL_SCHEMAS",
    "FEAST_SCHEMA",
    "MLFLOW_SCHEMA",
    "PLATFORM_SCHEMA",
    "Base",
    "Database",
    "JSONDocument",
    "Timestamps",
    "UTCDateTime",
    "UUIDPrimaryKey",
    "engine_for",
    "is_postgres_url",
    "lock_for_update",
    "utcnow",
]
