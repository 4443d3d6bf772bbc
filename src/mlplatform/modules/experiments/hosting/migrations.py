"""MLflow's own schema migrations, run by `mlplatform migrate` (and at start in development).

MLflow keeps its 60-odd tables and its own `alembic_version` in the `mlflow` schema on PostgreSQL
(or in `mlflow.db` on the embedded default): they are migrated by MLflow's Alembic scripts, never by
the platform's. MLflow creates its tables on an empty database by itself but refuses to start on an
outdated one, so deploys must run this before the new version serves traffic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from mlplatform.kernel.db import MLFLOW_SCHEMA
from mlplatform.modules.experiments.hosting.config import backend_store_uri
from mlplatform.settings import Settings

log = structlog.get_logger("mlplatform.experiments")

_ADVISORY_LOCK_KEY = 0x6D6C666C6F77  # "mlflow": one migrator at a time across replicas


def upgrade_mlflow_schema(settings: Settings) -> str:
    """Create or upgrade MLflow's schema to the version this MLflow expects. Returns that revision.

    Blocking (imports MLflow's store, ~2 s the first time): call it from a thread inside an event loop.
    Safe to run from several replicas at once on PostgreSQL (an advisory lock serialises them).
    """
    return upgrade_mlflow_schema_at(backend_store_uri(settings))


def upgrade_mlflow_schema_at(uri: str) -> str:
    import sqlalchemy
    from mlflow.store.db import utils as db_utils

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{MLFLOW_SCHEMA}"'))
        else:
            db_utils._make_parent_dirs_if_sqlite(uri)
        with _migration_lock(engine):
            current = _current_revision(engine)
            head = db_utils._get_latest_schema_revision()
            if current == head:
                return head
            log.info("mlflow_schema_migrating", current=current, target=head)
            if db_utils._is_empty_database(engine):
                db_utils._initialize_tables(engine)
            else:
                db_utils._upgrade_db(engine)
            return head
    finally:
        engine.dispose()


def mlflow_schema_status(uri: str) -> tuple[str | None, str]:
    """(current revision or None, revision this MLflow expects)."""
    import sqlalchemy
    from mlflow.store.db import utils as db_utils

    engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
    try:
        return _current_revision(engine), db_utils._get_latest_schema_revision()
    finally:
        engine.dispose()


def _current_revision(engine: Any) -> str | None:
    import sqlalchemy
    from alembic.runtime.migration import MigrationContext

    if "alembic_version" not in sqlalchemy.inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        revision: str | None = MigrationContext.configure(conn).get_current_revision()
        return revision


@contextmanager
def _migration_lock(engine: Any) -> Iterator[None]:
    """Serialise migrators on PostgreSQL with a session-level advisory lock (SQLite needs none)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    import sqlalchemy

    with engine.connect() as conn:
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_KEY})
