"""MLflow's own schema: created and upgraded by `upgrade_mlflow_schema`, in its own PostgreSQL schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy

from mlplatform.modules.experiments.api import upgrade_mlflow_schema
from mlplatform.modules.experiments.hosting.config import backend_store_uri
from mlplatform.modules.experiments.hosting.migrations import mlflow_schema_status
from mlplatform.settings import Settings


def test_sqlite_schema_is_created_then_left_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    uri = backend_store_uri(settings)
    assert mlflow_schema_status(uri)[0] is None
    head = upgrade_mlflow_schema(settings)
    assert mlflow_schema_status(uri) == (head, head)
    engine = sqlalchemy.create_engine(uri)
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"experiments", "runs", "metrics", "registered_models", "model_versions", "alembic_version"} <= tables
    assert upgrade_mlflow_schema(settings) == head


async def test_postgres_keeps_mlflow_in_its_own_schema(mlflow_settings: Settings) -> None:
    head = await asyncio.to_thread(upgrade_mlflow_schema, mlflow_settings)
    assert await asyncio.to_thread(mlflow_schema_status, backend_store_uri(mlflow_settings)) == (head, head)
    engine = sqlalchemy.create_engine(backend_store_uri(mlflow_settings))
    try:
        inspector = sqlalchemy.inspect(engine)
        mlflow_tables = set(inspector.get_table_names(schema="mlflow"))
        platform_tables = set(inspector.get_table_names(schema="mlplatform"))
    finally:
        engine.dispose()
    assert {"experiments", "runs", "model_versions", "alembic_version"} <= mlflow_tables
    assert not {"experiments", "runs", "model_versions"} & platform_tables
    assert "experiments_run_links" in platform_tables
