"""Successful MLflow writes become outbox events; the catalogue subscriber registers model versions once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.kernel.events.model import OutboxDelivery, OutboxEvent, StoredEvent
from mlplatform.modules.catalogue.api import find_model_version
from mlplatform.modules.experiments.api import ModelVersionCreated, RunFinished
from mlplatform.modules.experiments.subscriber import sync_model_version
from tests.integration.experiments.conftest import Client, Members, call, create_experiment, create_run
from tests.support.factories import grant_in
from tests.support.wait import wait_until_async


async def events_of(database: Database, event_type: str, aggregate_id: str) -> list[OutboxEvent]:
    async with database.sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == event_type, OutboxEvent.aggregate_id == aggregate_id)
            .order_by(OutboxEvent.seq)
        )
        return list(rows.all())


async def delivered(database: Database, seq: int, subscriber: str = "experiments.catalogue_sync") -> OutboxDelivery:
    async def handled() -> OutboxDelivery | None:
        async with database.sessionmaker() as session:
            delivery = await session.get(OutboxDelivery, (subscriber, seq))
            return delivery if delivery is not None and delivery.status != "pending" else None

    return await wait_until_async(handled, timeout=10, message=f"event {seq} delivered to {subscriber}")


async def log(client: Client, headers: dict[str, str], run_id: str, **metrics: float) -> None:
    body: dict[str, Any] = {
        "run_id": run_id,
        "metrics": [{"key": k, "value": v, "timestamp": 1, "step": 0} for k, v in metrics.items()],
        "params": [{"key": "depth", "value": "6"}],
    }
    response = await call(client, "POST", "runs/log-batch", headers, json=body)
    assert response.status_code == 200, response.text


async def test_run_finished_is_published_once_per_transition(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    await log(mlflow_client, members.contributor, run_id, auc=0.91)
    for _ in range(2):  # a client retry repeats the same update
        finished = await call(
            mlflow_client,
            "POST",
            "runs/update",
            members.contributor,
            json={"run_id": run_id, "status": "FINISHED", "end_time": 1_800_000_000_000},
        )
        assert finished.status_code == 200, finished.text
    rows = await events_of(test_database, RunFinished.event_type, run_id)
    assert len(rows) == 1
    event = rows[0].to_stored().decode(RunFinished)
    assert event.project == members.project
    assert event.status == "FINISHED"
    assert event.experiment_id == experiment_id
    assert event.experiment_name == f"{members.project}/exp"
    assert event.metrics == {"auc": 0.91}
    assert event.params == {"depth": "6"}
    assert event.end_time is not None
    assert event.end_time.year == 2027
    assert rows[0].actor is not None
    assert rows[0].actor.startswith("user:")

    still_running = await create_run(mlflow_client, members.contributor, experiment_id)
    renamed = await call(
        mlflow_client, "POST", "runs/update", members.contributor, json={"run_id": still_running, "run_name": "x"}
    )
    assert renamed.status_code == 200
    assert await events_of(test_database, RunFinished.event_type, still_running) == []


async def test_run_finished_carries_platform_tags_and_dataset_inputs(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    """What lineage links a run to its training data with: `mlplatform.*` tags and MLflow dataset inputs."""
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    tags = [
        {"key": "mlplatform.training_dataset", "value": "ds-1"},
        {"key": "mlplatform.feature_service", "value": "card_features"},
        {"key": "team", "value": "risk"},
    ]
    logged = await call(
        mlflow_client, "POST", "runs/log-batch", members.contributor, json={"run_id": run_id, "tags": tags}
    )
    assert logged.status_code == 200, logged.text
    source = '{"uri": "s3://lake/features/fraud/datasets/ds-1.parquet"}'
    dataset = {"name": "ds-1", "digest": "a1b2c3", "source_type": "s3", "source": source}
    inputs = await call(
        mlflow_client,
        "POST",
        "runs/log-inputs",
        members.contributor,
        json={
            "run_id": run_id,
            "datasets": [
                {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "training"}]},
                {"dataset": {**dataset, "name": "holdout", "digest": "d4e5f6"}},
            ],
        },
    )
    assert inputs.status_code == 200, inputs.text
    failed = await call(
        mlflow_client, "POST", "runs/update", members.contributor, json={"run_id": run_id, "status": "FAILED"}
    )
    assert failed.status_code == 200, failed.text

    (row,) = await events_of(test_database, RunFinished.event_type, run_id)
    event = row.to_stored().decode(RunFinished)
    assert event.status == "FAILED"
    assert event.tags == {"mlplatform.training_dataset": "ds-1", "mlplatform.feature_service": "card_features"}
    assert {(d.name, d.digest, d.source_type, d.source, d.context) for d in event.dataset_inputs} == {
        ("ds-1", "a1b2c3", "s3", source, "training"),
        ("holdout", "d4e5f6", "s3", source, None),
    }


def test_run_finished_stored_before_tags_existed_still_decodes() -> None:
    old = {
        "aggregate_id": "r1",
        "project": "fraud",
        "run_id": "r1",
        "experiment_id": "1",
        "experiment_name": "fraud/exp",
        "status": "FINISHED",
        "params": {"depth": "6"},
    }
    stored = StoredEvent(
        id=uuid.uuid4(),
        seq=1,
        event_type=RunFinished.event_type,
        aggregate_type=RunFinished.aggregate_type,
        aggregate_id="r1",
        project="fraud",
        actor=None,
        request_id=None,
        occurred_at=datetime.now(UTC),
        payload=old,
    )
    event = stored.decode(RunFinished)
    assert (event.tags, event.dataset_inputs, event.params) == ({}, [], {"depth": "6"})


async def test_failed_writes_publish_nothing(test_database: Database, mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    denied = await call(
        mlflow_client, "POST", "runs/update", members.viewer, json={"run_id": run_id, "status": "FAILED"}
    )
    assert denied.status_code == 403
    admin = await grant_in(test_database, platform_admin=True)
    missing = await call(mlflow_client, "POST", "runs/update", admin, json={"run_id": "0" * 32, "status": "FAILED"})
    assert missing.status_code == 404
    assert await events_of(test_database, RunFinished.event_type, run_id) == []
    assert await events_of(test_database, RunFinished.event_type, "0" * 32) == []


async def test_model_version_created_reaches_the_catalogue_exactly_once(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    await log(mlflow_client, members.contributor, run_id, auc=0.87, loss=0.2)
    model = f"{members.project}.scorer"
    created = await call(mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": model})
    assert created.status_code == 200, created.text
    version = await call(
        mlflow_client,
        "POST",
        "model-versions/create",
        members.contributor,
        json={"name": model, "source": f"runs:/{run_id}/model", "run_id": run_id, "description": "first"},
    )
    assert version.status_code == 200, version.text

    rows = await events_of(test_database, ModelVersionCreated.event_type, model)
    assert len(rows) == 1
    event = rows[0].to_stored().decode(ModelVersionCreated)
    assert (event.project, event.model, event.version) == (members.project, "scorer", 1)
    assert event.model_uri == f"models:/{model}/1"
    assert event.run_id == run_id
    assert event.experiment_id == experiment_id
    assert event.metrics == {"auc": 0.87, "loss": 0.2}
    assert event.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    assert event.storage_uri is not None
    assert event.storage_uri.startswith("s3://")
    assert event.storage_uri.endswith(f"/platform/mlflow/{experiment_id}/{run_id}/artifacts/model")

    # The app's own dispatcher delivers it: nobody has to do anything.
    database = test_database
    delivery = await delivered(database, rows[0].seq)
    assert delivery.status == "done", delivery.last_error
    async with database.sessionmaker() as session:
        ref = await find_model_version(session, project=members.project, model_name="scorer", version=1)
    assert ref is not None
    assert ref.source_run_id == run_id
    assert ref.mlflow_version == "1"
    assert ref.model_uri == f"models:/{model}/1"

    # The same event handled again (a redelivery after a crash before the commit): still one version.
    stored: StoredEvent = rows[0].to_stored()
    async with database.transaction() as session:
        await sync_model_version(session, stored)
    async with database.sessionmaker() as session:
        again = await find_model_version(session, project=members.project, model_name="scorer", version=1)
        assert again is not None
        assert again.version_id == ref.version_id
        assert await find_model_version(session, project=members.project, model_name="scorer", version=2) is None


async def test_a_version_the_catalogue_refuses_is_recorded_not_retried_forever(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    model = f"{members.project}.has spaces"  # fine for MLflow, not a catalogue model name
    await call(mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": model})
    version = await call(
        mlflow_client,
        "POST",
        "model-versions/create",
        members.contributor,
        json={"name": model, "source": f"runs:/{run_id}/model", "run_id": run_id},
    )
    assert version.status_code == 200, version.text
    (row,) = await events_of(test_database, ModelVersionCreated.event_type, model)
    delivery = await delivered(test_database, row.seq)
    assert delivery.status == "done"
    assert delivery.attempts == 1
    async with test_database.sessionmaker() as session:
        assert await find_model_version(session, project=members.project, model_name="has spaces", version=1) is None
