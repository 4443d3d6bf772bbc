"""The embedded default: MLflow on a SQLite file in the data dir, artifacts in the local object store."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.kernel.db import Database
from mlplatform.settings import Settings
from tests.integration.experiments.conftest import API
from tests.support.factories import grant_in, own_database
from tests.support.wait import wait_until_async

pytestmark = pytest.mark.embedded


@pytest.fixture
def embedded(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", server={"public_url": "http://testserver.local"}, log_json=False)


@pytest.fixture
async def embedded_mlflow(embedded: Settings) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Database]]:
    from mlplatform.app import create_app

    async with (
        AsyncTestClient(create_app(embedded)) as client,
        own_database(embedded.resolved_database_url) as database,
    ):
        yield client, database


async def test_tracking_and_artifacts_on_the_embedded_default(
    embedded: Settings, embedded_mlflow: tuple[AsyncTestClient[Litestar], Database]
) -> None:
    client, database = embedded_mlflow
    headers = await grant_in(database, project="solo", role="contributor")
    created = await client.post(f"{API}/experiments/create", json={"name": "solo/first"}, headers=headers)
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    run = await client.post(f"{API}/runs/create", json={"experiment_id": experiment_id}, headers=headers)
    run_id = run.json()["run"]["info"]["run_id"]
    logged = await client.post(
        f"{API}/runs/log-metric", json={"run_id": run_id, "key": "m", "value": 2.5, "timestamp": 1}, headers=headers
    )
    assert logged.status_code == 200, logged.text

    path = f"{experiment_id}/{run_id}/artifacts/notes/readme.txt"
    uploaded = await client.put(f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{path}", content=b"hello", headers=headers)
    assert uploaded.status_code == 200, uploaded.text
    downloaded = await client.get(f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{path}", headers=headers)
    assert downloaded.content == b"hello"

    data_dir = embedded.data_dir.resolve()
    assert (data_dir / "mlflow.db").is_file()
    assert (data_dir / "objects" / "mlflow" / path).read_bytes() == b"hello"
    typed = await client.get(f"/api/v1/projects/solo/runs/{run_id}", headers=headers)
    assert typed.json()["metrics"] == {"m": 2.5}


async def test_the_reconciler_publishes_a_lost_event_on_sqlite(tmp_path: Path) -> None:
    """The app's own reconciler, in the background, on the embedded default (no `FOR UPDATE` in SQLite)."""
    from mlflow.entities import RunStatus

    from mlplatform.app import create_app
    from mlplatform.modules.experiments.api import RunFinished
    from mlplatform.modules.experiments.hosting.config import mlflow_config
    from mlplatform.modules.experiments.hosting.host import MlflowHost
    from mlplatform.modules.experiments.models import ReconcileMarkRow
    from tests.integration.experiments.test_events import events_of

    settings = Settings(
        data_dir=tmp_path / "data",
        server={"public_url": "http://testserver.local"},
        log_json=False,
        experiments={"reconcile_interval_seconds": 0.2, "reconcile_settle_seconds": 0},
    )
    async with (
        AsyncTestClient(create_app(settings)) as client,
        own_database(settings.resolved_database_url) as database,
    ):
        runtime = MlflowHost(mlflow_config(settings))
        await runtime.start()
        try:
            headers = await grant_in(database, project="solo", role="contributor")
            created = await client.post(f"{API}/experiments/create", json={"name": "solo/lost"}, headers=headers)
            assert created.status_code == 200, created.text
            stores = await runtime.stores()

            def finish_behind_the_observers_back() -> str:
                run = stores.tracking.create_run(created.json()["experiment_id"], "someone", 1, [], "lost")
                stores.tracking.update_run_info(run.info.run_id, RunStatus.FINISHED, int(time.time() * 1000), None)
                return str(run.info.run_id)

            async def watermark_set() -> bool:
                async with database.sessionmaker() as session:
                    return await session.get(ReconcileMarkRow, "runs") is not None

            # The first round (once MLflow is loaded) sets the watermark.
            await wait_until_async(watermark_set, timeout=10, message="the reconciler's first round")
            run_id = await runtime.call(finish_behind_the_observers_back)
            rows: list[Any] = await wait_until_async(
                lambda: events_of(database, RunFinished.event_type, run_id), timeout=10, message="RunFinished"
            )
            assert len(rows) == 1
            assert rows[0].payload["project"] == "solo"
        finally:
            await runtime.stop()


async def test_a_started_platform_process_has_mlflow_telemetry_off(
    embedded_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set at start-up, before MLflow is imported: `mlplatform worker` runs the same start-up."""
    from mlplatform.app import create_app

    monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY", raising=False)
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    async with AsyncTestClient(create_app(embedded_settings)):
        assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
        assert os.environ["DO_NOT_TRACK"] == "true"
