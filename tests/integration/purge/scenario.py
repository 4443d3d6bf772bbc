"""A project with data in every module, deleted and created again: what the new project must not inherit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, select

from mlplatform.kernel.events.model import OutboxDelivery, OutboxEvent
from mlplatform.kernel.jobs.model import KernelJob
from mlplatform.modules.catalogue.models import CatalogueModel
from mlplatform.modules.features.models import DatasetRow
from mlplatform.modules.gateway.models import AuditEvent
from mlplatform.modules.lineage.models import LineageEdge, LineageNode
from tests.integration.features.data import T0, define
from tests.integration.features.stack import Stack
from tests.support.factories import grant, own_database, unique_name
from tests.support.wait import wait_until_async

MLFLOW = "/mlflow/api/2.0/mlflow"
ARTIFACTS = "/mlflow/api/2.0/mlflow-artifacts/artifacts"


@dataclass
class Seeded:
    project: str
    admin: dict[str, str]
    experiment_id: str = ""
    run_id: str = ""
    dataset_key: str = ""
    extra_key: str = ""
    counts: dict[str, int] = field(default_factory=dict)


def features(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def populate(stack: Stack) -> Seeded:
    """Create a project through the API and give every module something of it."""
    client = stack.client
    admin = await grant(stack.app, platform_admin=True)
    seeded = Seeded(project=unique_name("purge-", 8), admin=admin)
    project = seeded.project
    await ok(await client.post("/api/v1/projects", json={"name": project}, headers=admin), 201)

    # Features: definitions, materialized online rows, a training set in the object store, and a file in the
    # project's folder.
    await define(stack, project, admin)
    materialized = await ok(
        await client.post(
            f"{features(project)}/materializations",
            json={"start": (T0 - timedelta(days=1)).isoformat(), "end": datetime.now(UTC).isoformat()},
            headers=admin,
        ),
        202,
    )
    assert (await stack.wait_job(admin, materialized))["status"] == "succeeded"
    assert await online_spend(stack, project, admin) == [2.5]
    historical = await ok(
        await client.post(
            f"{features(project)}/historical",
            json={
                "features": ["driver_stats:trips"],
                "entity_rows": [{"driver_id": 1, "event_timestamp": (T0 + timedelta(hours=3)).isoformat()}],
            },
            headers=admin,
        ),
        202,
    )
    done = await stack.wait_job(admin, historical)
    assert done["status"] == "succeeded", done
    seeded.dataset_key = f"features/{project}/datasets/{done['result']['dataset_id']}.parquet"
    seeded.extra_key = f"projects/{project}/raw/extra.parquet"
    stack.write_parquet(seeded.extra_key, pd.DataFrame({"driver_id": [1]}))

    # MLflow: an experiment with a finished run, a metric and an artifact; a registered model with a version
    # (the catalogue registers it); a catalogue model of its own.
    experiment = await ok(
        await client.post(f"{MLFLOW}/experiments/create", json={"name": f"{project}/train"}, headers=admin)
    )
    seeded.experiment_id = experiment["experiment_id"]
    run = await ok(
        await client.post(f"{MLFLOW}/runs/create", json={"experiment_id": seeded.experiment_id}, headers=admin)
    )
    seeded.run_id = run["run"]["info"]["run_id"]
    await ok(
        await client.post(
            f"{MLFLOW}/runs/log-metric",
            json={"run_id": seeded.run_id, "key": "auc", "value": 0.9, "timestamp": 1},
            headers=admin,
        )
    )
    artifact = f"{ARTIFACTS}/{seeded.experiment_id}/{seeded.run_id}/artifacts/model/MLmodel"
    await ok(await client.put(artifact, content=b"flavors: {}\n", headers=admin))
    await ok(
        await client.post(f"{MLFLOW}/runs/update", json={"run_id": seeded.run_id, "status": "FINISHED"}, headers=admin)
    )
    model = f"{project}.clf"
    await ok(await client.post(f"{MLFLOW}/registered-models/create", json={"name": model}, headers=admin))
    await ok(
        await client.post(
            f"{MLFLOW}/model-versions/create",
            json={"name": model, "source": f"runs:/{seeded.run_id}/model", "run_id": seeded.run_id},
            headers=admin,
        )
    )
    await ok(await client.post(f"/api/v1/projects/{project}/models", json={"name": "manual"}, headers=admin), 201)
    await wait_for(lambda: catalogue_models(stack, project), 2)  # `manual`, and `clf` from MLflow's event
    seeded.counts = await counts(stack, project)
    return seeded


async def assert_populated(stack: Stack, seeded: Seeded) -> None:
    """Before the deletion, each thing the new project must not inherit is really there."""
    counts = seeded.counts
    for name, least in (("lineage_nodes", 1), ("lineage_edges", 1), ("audit", 1), ("jobs", 2), ("events", 1)):
        assert counts[name] >= least, counts
    assert counts["datasets"] == 1, counts
    assert seeded.extra_key in await objects(stack, f"projects/{seeded.project}/")
    assert seeded.dataset_key in await objects(stack, f"features/{seeded.project}/")
    assert await objects(stack, f"mlflow/{seeded.experiment_id}/"), "the run's artifact is in the store"
    assert await mlflow_names(stack, seeded) == ([f"{seeded.project}/train"], [f"{seeded.project}.clf"])


async def delete_and_recreate(stack: Stack, seeded: Seeded) -> dict[str, Any]:
    """Delete the project, check the name is held while the purge runs, wait for it, create the project again."""
    client, project, admin = stack.client, seeded.project, seeded.admin
    deletion = await ok(await client.delete(f"/api/v1/projects/{project}", headers=admin), 202)
    assert deletion["name"] == project
    gone = await client.get(f"/api/v1/projects/{project}", headers=admin)
    assert gone.status_code == 404, gone.text
    job = await ok(await client.get(f"/api/v1/jobs/{deletion['purge_job_id']}", headers=admin))
    assert job["kind"] == "kernel.purge_project"
    assert job["project"] is None, "the purge job is not listed as the new project's"
    finished = await stack.wait_job(admin, job, seconds=240)
    assert finished["status"] == "succeeded", finished
    await ok(await client.post("/api/v1/projects", json={"name": project}, headers=admin), 201)
    return finished


async def assert_nothing_inherited(stack: Stack, seeded: Seeded) -> None:
    client, project, admin = stack.client, seeded.project, seeded.admin
    left = await counts(stack, project)
    assert left["audit"] >= seeded.counts["audit"], "the old project's audit rows are kept"
    assert {k: v for k, v in left.items() if k != "audit"} == {
        "lineage_nodes": 0,
        "lineage_edges": 0,
        "jobs": 0,
        "events": 0,
        "datasets": 0,
    }, left
    audit = await ok(await client.get("/api/v1/audit-events", params={"project": project}, headers=admin))
    assert audit["items"] == [], "the new project's audit view shows none of the old project's rows"
    earlier = await ok(
        await client.get("/api/v1/audit-events", params={"project": project, "earlier_projects": "true"}, headers=admin)
    )
    assert len(earlier["items"]) > 0
    jobs = await ok(await client.get("/api/v1/jobs", params={"project": project}, headers=admin))
    assert jobs["items"] == [], jobs

    base = features(project)
    for kind in ("entities", "data-sources", "feature-views", "feature-services"):
        listing = await ok(await client.get(f"{base}/{kind}", headers=admin))
        assert listing["items"] == [], (kind, listing)
    datasets = await ok(await client.get(f"{base}/datasets", headers=admin))
    assert datasets["items"] == [], datasets
    assert (await ok(await client.get(f"/api/v1/projects/{project}/models", headers=admin)))["items"] == []
    assert (await ok(await client.get(f"/api/v1/projects/{project}/experiments", headers=admin)))["items"] == []
    assert await mlflow_names(stack, seeded) == ([], [])
    deleted = await ok(
        await client.post(f"{MLFLOW}/experiments/search", json={"max_results": 100, "view_type": "ALL"}, headers=admin)
    )
    assert [e for e in deleted.get("experiments", []) if e["name"].startswith(f"{project}/")] == []
    run = await client.get(f"{MLFLOW}/runs/get", params={"run_id": seeded.run_id}, headers=admin)
    assert run.status_code == 404, run.text
    assert await objects(stack, f"projects/{project}/") == []
    assert await objects(stack, f"features/{project}/") == []
    assert await objects(stack, f"mlflow/{seeded.experiment_id}/") == []
    lineage = await client.get(
        "/api/v1/lineage", params={"node": f"feature_view:{project}/driver_stats"}, headers=admin
    )
    assert lineage.status_code == 404, lineage.text

    # The same definitions again: the old online rows of the view are not served to the new project.
    await define(stack, project, admin)
    assert await online_spend(stack, project, admin) == [None]


async def online_spend(stack: Stack, project: str, headers: dict[str, str]) -> list[Any]:
    """Customer 7's spend (`customer_stats` has no TTL: its newest row is 2.5)."""
    body = {"features": ["customer_stats:spend"], "entities": {"customer_id": [7]}}
    answer = await ok(await stack.client.post(f"{features(project)}/online", json=body, headers=headers))
    values: list[Any] = answer["results"][1]["values"]
    return values


async def objects(stack: Stack, prefix: str) -> list[str]:
    import pyarrow.fs as pafs

    fs, path = stack.location.filesystem(stack.location.uri_for(prefix.rstrip("/")))
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    root = stack.location.filesystem(stack.location.uri_for("x"))[1][: -len("x")]
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    return sorted(info.path[len(root) :] for info in infos if info.is_file)


async def mlflow_names(stack: Stack, seeded: Seeded) -> tuple[list[str], list[str]]:
    client, admin = stack.client, seeded.admin
    experiments = await ok(await client.post(f"{MLFLOW}/experiments/search", json={"max_results": 100}, headers=admin))
    models = await ok(await client.get(f"{MLFLOW}/registered-models/search", headers=admin))
    prefix = seeded.project
    return (
        [e["name"] for e in experiments.get("experiments", []) if e["name"].startswith(f"{prefix}/")],
        [m["name"] for m in models.get("registered_models", []) if m["name"].startswith(f"{prefix}.")],
    )


async def counts(stack: Stack, project: str) -> dict[str, int]:
    """Rows of the project in the platform's tables (read through the test's own connection pool)."""
    async with own_database(stack.settings.resolved_database_url) as database, database.sessionmaker() as session:

        async def count(statement: Any) -> int:
            return int(await session.scalar(statement) or 0)

        return {
            "lineage_nodes": await count(select(func.count()).where(LineageNode.project == project)),
            "lineage_edges": await count(select(func.count()).where(LineageEdge.project == project)),
            "audit": await count(select(func.count()).where(AuditEvent.project == project)),
            "jobs": await count(select(func.count()).where(KernelJob.project == project)),
            "events": await count(select(func.count()).where(OutboxEvent.project == project)),
            "datasets": await count(select(func.count()).where(DatasetRow.project == project)),
        }


async def catalogue_models(stack: Stack, project: str) -> int:
    async with own_database(stack.settings.resolved_database_url) as database, database.sessionmaker() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(OutboxDelivery)
            .join(OutboxEvent, OutboxEvent.seq == OutboxDelivery.event_seq)
            .where(OutboxEvent.project == project, OutboxDelivery.status == "pending")
        )
        models = await session.scalar(select(func.count()).where(CatalogueModel.project == project))
        return int(models or 0) if not pending else -1


async def wait_for(probe: Any, expected: int, seconds: float = 60) -> None:
    value = None

    async def reached() -> bool:
        nonlocal value
        value = await probe()
        return bool(value == expected)

    await wait_until_async(reached, timeout=seconds, interval=0.2, message=lambda: f"{value} == {expected}")
