"""The embedded default: MLflow on a SQLite file in the data dir, artifacts in the local object store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.kernel.db import Database
from mlplatform.settings import Settings
from tests.integration.experiments.conftest import API, grant_in

pytestmark = pytest.mark.embedded


@pytest.fixture
def embedded(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", server={"public_url": "http://testserver.local"}, log_json=False)


@pytest.fixture
async def embedded_mlflow(embedded: Settings) -> AsyncIterator[tuple[AsyncTestClient[Litestar], Database]]:
    from mlplatform.app import create_app

    async with AsyncTestClient(create_app(embedded)) as client:
        database = Database(embedded.resolved_database_url, pool_size=1)
        try:
            yield client, database
        finally:
            await database.dispose()


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
