"""No lost events: what MLflow committed without its event reaching the outbox is published later, once.

The crash between MLflow's commit and the outbox write is simulated by writing to MLflow's stores
directly (what MLflow's handler does), so the observer never sees the write.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from mlplatform.kernel.db import Database
from mlplatform.modules.catalogue.api import find_model_version
from mlplatform.modules.experiments.api import PROJECT_TAG, ModelVersionCreated, RunFinished
from mlplatform.modules.experiments.hosting.config import mlflow_config
from mlplatform.modules.experiments.hosting.host import MlflowHost
from mlplatform.modules.experiments.reconciler import ACTOR, EventReconciler, ReconcileResult
from mlplatform.modules.experiments.snapshots import EventBuilder
from mlplatform.settings import ExperimentsSettings, Settings
from tests.integration.experiments.conftest import API, Client, Members, call, create_experiment, create_run
from tests.integration.experiments.test_events import delivered, events_of
from tests.support.wait import wait_until_async

NOTHING = ReconcileResult(runs=0, model_versions=0)


@pytest.fixture
def mlflow_settings(mlflow_settings: Settings) -> Settings:
    """The app's own reconciler is off: these tests run rounds themselves (a background round would hold
    the watermark row, and a round that finds it held does nothing)."""
    return mlflow_settings.model_copy(update={"experiments": ExperimentsSettings(reconcile_interval_seconds=0)})


@pytest.fixture
async def runtime(mlflow_settings: Settings) -> AsyncIterator[MlflowHost]:
    """The process' MLflow, driven from the test's event loop."""
    runtime = MlflowHost(mlflow_config(mlflow_settings))
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
def reconciler(mlflow_settings: Settings, runtime: MlflowHost, test_database: Database) -> EventReconciler:
    builder = EventBuilder(runtime, mlflow_config(mlflow_settings).artifact_destination)
    return EventReconciler(test_database, runtime, builder, ExperimentsSettings(reconcile_settle_seconds=0))


def now_ms() -> int:
    return int(time.time() * 1000)


async def finished_behind_the_observers_back(runtime: MlflowHost, experiment_id: str, status: int) -> str:
    """A run created, logged to and finished through MLflow's store (no `/mlflow` request, no event)."""
    from mlflow.entities import Metric, Param

    stores = await runtime.stores()

    def write() -> str:
        run = stores.tracking.create_run(experiment_id, "someone", now_ms(), [], "lost")
        run_id = str(run.info.run_id)
        stores.tracking.log_batch(run_id, [Metric("auc", 0.93, now_ms(), 0)], [Param("depth", "4")], [])
        stores.tracking.update_run_info(run_id, status, now_ms(), None)
        return run_id

    return await runtime.call(write)


async def version_behind_the_observers_back(runtime: MlflowHost, model: str, project: str, run_id: str) -> None:
    from mlflow.entities.model_registry import RegisteredModelTag

    stores = await runtime.stores()

    def write() -> None:
        stores.registry.create_registered_model(model, tags=[RegisteredModelTag(PROJECT_TAG, project)])
        stores.registry.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)

    await runtime.call(write)


async def test_a_lost_event_is_published_exactly_once(
    test_database: Database,
    mlflow_client: Client,
    members: Members,
    runtime: MlflowHost,
    reconciler: EventReconciler,
) -> None:
    from mlflow.entities import RunStatus

    experiment_id = await create_experiment(mlflow_client, members)
    # The first round on a database only sets the watermark: nothing before it is its business.
    assert await reconciler.reconcile() == NOTHING

    observed = await create_run(mlflow_client, members.contributor, experiment_id)
    finished = await call(
        mlflow_client,
        "POST",
        "runs/update",
        members.contributor,
        json={"run_id": observed, "status": "FINISHED", "end_time": now_ms()},
    )
    assert finished.status_code == 200, finished.text
    lost = await finished_behind_the_observers_back(runtime, experiment_id, RunStatus.FINISHED)
    model = f"{members.project}.recovered"
    await version_behind_the_observers_back(runtime, model, members.project, lost)
    assert await events_of(test_database, RunFinished.event_type, lost) == []
    assert await events_of(test_database, ModelVersionCreated.event_type, model) == []

    # The observed run has its event already: only the two lost ones are published.
    assert await reconciler.reconcile() == ReconcileResult(runs=1, model_versions=1)
    assert len(await events_of(test_database, RunFinished.event_type, observed)) == 1
    (run_row,) = await events_of(test_database, RunFinished.event_type, lost)
    run_event = run_row.to_stored().decode(RunFinished)
    assert (run_event.project, run_event.status, run_event.experiment_id) == (
        members.project,
        "FINISHED",
        experiment_id,
    )
    assert run_event.metrics == {"auc": 0.93}
    assert run_event.params == {"depth": "4"}
    assert run_row.actor == ACTOR

    (version_row,) = await events_of(test_database, ModelVersionCreated.event_type, model)
    version_event = version_row.to_stored().decode(ModelVersionCreated)
    assert (version_event.project, version_event.model, version_event.version) == (members.project, "recovered", 1)
    assert version_event.run_id == lost
    assert version_event.metrics == {"auc": 0.93}
    assert version_event.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{lost}/artifacts/model"

    # The app's dispatcher hands it to the catalogue like any other event.
    delivery = await delivered(test_database, version_row.seq)
    assert delivery.status == "done", delivery.last_error
    async with test_database.sessionmaker() as session:
        ref = await find_model_version(session, project=members.project, model_name="recovered", version=1)
    assert ref is not None
    assert (ref.source_run_id, ref.mlflow_version) == (lost, "1")

    # Again: nothing more.
    assert await reconciler.reconcile() == NOTHING
    assert len(await events_of(test_database, RunFinished.event_type, lost)) == 1
    assert len(await events_of(test_database, ModelVersionCreated.event_type, model)) == 1

    # A later transition of the same run is an event of its own, as the observer would have published.
    stores = await runtime.stores()
    await runtime.call(stores.tracking.update_run_info, lost, RunStatus.KILLED, now_ms(), None)
    assert await reconciler.reconcile() == ReconcileResult(runs=1, model_versions=0)
    statuses = [row.payload["status"] for row in await events_of(test_database, RunFinished.event_type, lost)]
    assert statuses == ["FINISHED", "KILLED"]


async def test_a_restarted_platform_publishes_what_the_crashed_one_lost(
    mlflow_settings: Settings,
    test_database: Database,
    mlflow_client: Client,
    members: Members,
    runtime: MlflowHost,
    reconciler: EventReconciler,
) -> None:
    """The process that crashed had reconciled before (the watermark exists); the next one publishes the
    lost event in its first round, as soon as MLflow is loaded, with nobody asking for it."""
    from mlflow.entities import RunStatus

    experiment_id = await create_experiment(mlflow_client, members)
    assert await reconciler.reconcile() == NOTHING
    lost = await finished_behind_the_observers_back(runtime, experiment_id, RunStatus.FAILED)

    from mlplatform.app import create_app

    restarted = mlflow_settings.model_copy(
        update={"experiments": ExperimentsSettings(reconcile_interval_seconds=3600, reconcile_settle_seconds=0)}
    )
    async with AsyncTestClient(create_app(restarted)) as client:
        loaded = await client.get(
            f"{API}/experiments/get", params={"experiment_id": experiment_id}, headers=members.viewer
        )
        assert loaded.status_code == 200, loaded.text
        rows: list[Any] = await wait_until_async(
            lambda: events_of(test_database, RunFinished.event_type, lost), timeout=10, message="RunFinished"
        )
    assert len(rows) == 1
    assert rows[0].payload["status"] == "FAILED"
    assert rows[0].actor == ACTOR
