"""The facade other modules use: idempotent registration of MLflow model versions."""

from __future__ import annotations

import asyncio

import pytest

from mlplatform.kernel.db import Database
from mlplatform.kernel.errors import Invalid
from mlplatform.modules.catalogue import api
from tests.integration.catalogue.conftest import acting, event_types, events_of


async def register(database: Database, **overrides: object) -> api.ModelVersionRef:
    fields: dict[str, object] = {
        "project": "fraud",
        "model_name": "scorer",
        "source_run_id": "run-1",
        "model_uri": "models:/scorer/1",
        "mlflow_version": "1",
        "metrics": {"auc": 0.9},
        "params": {"depth": 6},
        "actor": "service_account:mlflow",
        "framework": "sklearn",
        **overrides,
    }
    async with database.transaction() as session:
        return await api.register_external_version(session, **fields)  # type: ignore[arg-type]


async def test_registration_creates_the_model_and_is_idempotent(database: Database) -> None:
    first = await register(database)
    again = await register(database, metrics={"auc": 0.1})
    assert first.created
    assert not again.created
    assert (again.version_id, again.version, again.stage) == (first.version_id, 1, "registered")
    second = await register(database, mlflow_version="2", model_uri="models:/scorer/2", source_run_id="run-2")
    assert (second.version, second.created) == (2, True)
    async with acting(database) as svc:
        model = await svc.models.get_model("fraud", "scorer")
        v1 = await svc.models.get_version("fraud", "scorer", 1)
    assert model.owner == "service_account:mlflow"
    assert model.latest_version == 2
    assert (v1.source_type, v1.source_run_id, v1.mlflow_version) == ("mlflow", "run-1", "1")
    assert v1.metrics == {"auc": 0.9}
    assert v1.params == {"depth": "6"}
    assert await event_types(database) == [
        "catalogue.ModelCreated",
        "catalogue.ModelVersionCreated",
        "catalogue.ModelVersionCreated",
    ]
    created = await events_of(database, "catalogue.ModelVersionCreated")
    assert [e["mlflow_version"] for e in created] == ["1", "2"]
    found = None
    async with database.transaction() as session:
        found = await api.find_model_version(session, project="fraud", model_name="scorer", version=2)
        missing = await api.find_model_version(session, project="fraud", model_name="nope", version=1)
    assert found is not None
    assert found.version_id == second.version_id
    assert missing is None


async def test_without_a_registry_version_the_run_id_is_the_key(database: Database) -> None:
    first = await register(database, mlflow_version=None, model_uri="runs:/run-9/model", source_run_id="run-9")
    again = await register(database, mlflow_version=None, model_uri="runs:/run-9/model", source_run_id="run-9")
    assert first.created
    assert not again.created
    assert first.version_id == again.version_id


async def test_bad_input_raises_invalid_and_stores_nothing(database: Database) -> None:
    with pytest.raises(Invalid, match="name"):
        await register(database, model_name="has spaces")
    with pytest.raises(Invalid, match="tags"):
        await register(database, tags={"k": "x" * 1000})
    assert await event_types(database) == []


@pytest.mark.usefixtures("postgres_only")
async def test_concurrent_deliveries_of_the_same_version_register_it_once(database_url: str) -> None:
    database = Database(database_url, pool_size=12)
    try:
        refs = await asyncio.gather(*(register(database) for _ in range(12)))
        assert len({r.version_id for r in refs}) == 1
        assert sum(r.created for r in refs) == 1
        assert await event_types(database) == ["catalogue.ModelCreated", "catalogue.ModelVersionCreated"]
    finally:
        await database.dispose()
