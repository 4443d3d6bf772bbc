"""One request's text can not switch the after-response audit trail off.

An MLflow `experiments/create` whose name holds a lone surrogate (`"p/\\ud800"`, valid JSON, not encodable
as UTF-8) used to put that text into an audit row; the batch holding it failed on every flush, so every
later after-response row (MLflow writes, denied mutations) waited behind it and was lost at shutdown.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from mlplatform.app import create_app
from mlplatform.modules.gateway.models import AuditEvent
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.settings import Settings
from tests.support.factories import grant, own_database, s3_bucket
from tests.support.wait import wait_until_async

API = "/mlflow/api/2.0/mlflow"


@pytest.fixture
def mlflow_settings(clean_postgres: str, clean_redis: str, s3_endpoint: str, tmp_path: Path) -> Settings:
    bucket = s3_bucket(s3_endpoint, "mlflow-")
    return Settings(
        data_dir=tmp_path / "data",
        database_url=clean_postgres,
        redis_url=clean_redis,
        storage_url=f"s3://{bucket}/platform",
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        server={"public_url": "http://testserver.local"},
        log_json=False,
    )


async def audit_rows(url: str) -> list[AuditEvent]:
    async with own_database(url) as database, database.sessionmaker() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


async def test_a_lone_surrogate_does_not_stop_the_audit_trail(mlflow_settings: Settings) -> None:
    app = create_app(mlflow_settings)
    async with AsyncTestClient(app) as client:
        contributor = await grant(app, project="p", role="contributor", name="poisoner")
        poison = await client.post(
            f"{API}/experiments/create",
            content=b'{"name": "p/\\ud800"}',
            headers={**contributor, "content-type": "application/json"},
        )
        assert poison.status_code == 400, poison.text  # MLflow refuses the name; the attempt is audited

        async def poisoned_row_handled() -> bool:  # the writer's batch that holds it was attempted
            rows = await audit_rows(mlflow_settings.resolved_database_url)
            return any(r.actor == "user:poisoner" and r.path.endswith("experiments/create") for r in rows)

        await wait_until_async(poisoned_row_handled, timeout=10, message="the poisoned row written")
        normal = await client.post(f"{API}/experiments/create", json={"name": "p/normal"}, headers=contributor)
        assert normal.status_code == 200, normal.text
        denied = await client.post("/api/v1/projects", json={"name": "nope"}, headers=contributor)
        assert denied.status_code == 403
        runtime = app.state.platform.runtimes.get(GatewayRuntime)

        async def queue_empty() -> bool:
            return runtime.audit.pending == 0

        await wait_until_async(queue_empty, timeout=10, message="nothing waiting behind the poisoned row")
    rows = await audit_rows(mlflow_settings.resolved_database_url)
    creates = [r for r in rows if r.action == "mlflow.experiments.create" or r.path.endswith("experiments/create")]
    assert len(creates) == 2, [(r.action, r.resource, r.outcome) for r in rows]
    poisoned = next(r for r in creates if r.resource != "experiment:p/normal")
    assert (poisoned.actor, poisoned.resource, poisoned.outcome) == ("user:poisoner", "experiment:p/\ufffd", "failed")
    assert any(r.resource == "experiment:p/normal" and r.outcome == "success" for r in creates)
    assert any(r.action == "projects_create_project" and r.outcome == "denied" for r in rows)


async def test_rows_queued_when_the_app_stops_are_written(mlflow_settings: Settings) -> None:
    """Shutdown drains the queue, a poisoned row included, instead of dropping what is left."""
    app = create_app(mlflow_settings)
    async with AsyncTestClient(app) as client:
        contributor = await grant(app, project="p", role="contributor", name="late")
        runtime = app.state.platform.runtimes.get(GatewayRuntime)
        runtime.audit.flush_seconds = 60.0  # nothing is written before shutdown
        await client.post(
            f"{API}/experiments/create",
            content=b'{"name": "p/\\ud800x"}',
            headers={**contributor, "content-type": "application/json"},
        )
        for n in range(3):
            await client.post("/api/v1/projects", json={"name": f"denied{n}"}, headers=contributor)
        assert runtime.audit.pending >= 4
    rows = await audit_rows(mlflow_settings.resolved_database_url)
    assert len([r for r in rows if r.action == "projects_create_project" and r.outcome == "denied"]) == 3
    assert any(r.action.startswith("mlflow.") and r.actor == "user:late" for r in rows)
