"""The full stack (PostgreSQL, Redis, S3) with the MLflow server in process.

MLflow's configuration is process-wide, so every test here shares one object-store bucket and data
dir: the MLflow server keeps one configuration for the whole session instead of being re-pointed per
test. MLflow's own tables (schema `mlflow`) are not emptied between tests; each test uses its own
projects (`grant` creates them), so names never collide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.kernel.db import Database
from mlplatform.settings import Settings
from tests.support.factories import grant_in, s3_bucket, unique_name

Client = AsyncTestClient[Litestar]
API = "/mlflow/api/2.0/mlflow"


@pytest.fixture(scope="session")
def mlflow_bucket(s3_endpoint: str) -> str:
    return s3_bucket(s3_endpoint, "mlflow-")


@pytest.fixture(scope="session")
def mlflow_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlflow-data")


@pytest.fixture
def mlflow_settings(
    clean_postgres: str, clean_redis: str, s3_endpoint: str, mlflow_bucket: str, mlflow_data_dir: Path
) -> Settings:
    return Settings(
        data_dir=mlflow_data_dir,
        database_url=clean_postgres,
        redis_url=clean_redis,
        storage_url=f"s3://{mlflow_bucket}/platform",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        server={"public_url": "http://testserver.local"},
        log_json=False,
    )


@pytest.fixture
def mlflow_app(mlflow_settings: Settings) -> Litestar:
    from mlplatform.app import create_app

    return create_app(mlflow_settings)


@pytest.fixture
async def mlflow_client(mlflow_app: Litestar) -> AsyncIterator[Client]:
    async with AsyncTestClient(mlflow_app) as client:
        yield client


@pytest.fixture
async def test_database(mlflow_settings: Settings) -> AsyncIterator[Database]:
    """The platform database, from the test's own event loop.

    The test client runs the app (and its connection pool) on another loop, in a portal thread; an
    asyncpg connection must not cross loops, so tests read and grant through their own pool.
    """
    database = Database(mlflow_settings.resolved_database_url, pool_size=2)
    yield database
    await database.dispose()


class Members:
    """Credentials for one fresh project: contributor, viewer, and an outsider (member elsewhere)."""

    def __init__(self, project: str, contributor: dict[str, str], viewer: dict[str, str], outsider: dict[str, str]):
        self.project = project
        self.contributor = contributor
        self.viewer = viewer
        self.outsider = outsider


@pytest.fixture
async def members(test_database: Database, mlflow_client: Client) -> Members:
    project = unique_name("p")
    return Members(
        project,
        contributor=await grant_in(test_database, project=project, role="contributor"),
        viewer=await grant_in(test_database, project=project, role="viewer"),
        outsider=await grant_in(test_database, project=unique_name("p"), role="admin"),
    )


async def call(client: Client, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    response = await client.request(
        method, f"{API}/{path}" if not path.startswith("/") else path, headers=headers, **kwargs
    )
    return response


async def create_experiment(client: Client, members: Members, name: str = "exp") -> str:
    response = await call(
        client, "POST", "experiments/create", members.contributor, json={"name": f"{members.project}/{name}"}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["experiment_id"])


async def create_run(client: Client, headers: dict[str, str], experiment_id: str) -> str:
    response = await call(client, "POST", "runs/create", headers, json={"experiment_id": experiment_id})
    assert response.status_code == 200, response.text
    return str(response.json()["run"]["info"]["run_id"])


def mlflow_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """MLflow's own error shape: the MLflow client parses `error_code` and `message`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error_code"] == code, body
    assert body["message"]
    return body
