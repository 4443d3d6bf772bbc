"""The skew guard, end to end in one app on the embedded default: real feature definitions, a real training
dataset built by the historical job, lineage linking model version ← run ← dataset (the run's
`mlplatform.training_dataset` param, delivered to the lineage subscriber as the outbox would), then deployments
of the version while the feature views stay, change, or go."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from mlplatform.kernel.events.model import OutboxEvent
from mlplatform.kernel.migrations import upgrade
from mlplatform.modules.catalogue import events as catalogue_events
from mlplatform.modules.experiments import events as experiments_events
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.modules.gateway.models import AuditEvent
from mlplatform.modules.lineage.api import TRAINING_DATASET_TAG
from mlplatform.settings import Settings
from tests.integration.features.data import define, driver_rows, entity_rows
from tests.integration.features.stack import Stack
from tests.integration.lineage.flow import apply_all, from_domain
from tests.support.factories import catalogue_model, own_database
from tests.support.wait import wait_until_async

MODEL = "scorer"


@pytest.fixture(scope="module")
def skew_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The embedded default, migrated; model workers off (the guard is the catalogue's, before any worker)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("skew-guard"), log_json=False, serving={"enabled": False})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture(scope="module")
async def stack(skew_settings: Settings) -> AsyncIterator[Stack]:
    """The whole app on the embedded default."""
    from mlplatform.app import create_app

    app = create_app(skew_settings)
    root = Path(skew_settings.resolved_storage_url).resolve().as_uri()
    location = StoreLocation(root, None, skew_settings.s3_region)
    async with AsyncTestClient(app, timeout=60) as client:
        yield Stack(name="embedded", settings=skew_settings, app=app, client=client, location=location)


def features(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


async def trained_version(stack: Stack, *, lineage: bool = True) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A project with feature views `driver_stats` and `customer_stats` (service `training`), a training dataset
    built from them, and version 1 of model `scorer` whose MLflow run trained on that dataset (per lineage).
    Returns the project, a contributor's headers and the dataset record."""
    project, headers = await stack.project()
    await define(stack, project, headers)
    response = await stack.client.post(
        f"{features(project)}/historical",
        json={"feature_service": "training", "entity_rows": entity_rows()[:3]},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    job = await stack.wait_job(headers, response.json())
    assert job["status"] == "succeeded", job
    dataset = (
        await stack.client.get(f"{features(project)}/datasets/{job['result']['dataset_id']}", headers=headers)
    ).json()
    assert {v["name"] for v in dataset["feature_views"]} == {"driver_stats", "customer_stats"}
    async with own_database(stack.settings.resolved_database_url) as database:
        await catalogue_model(database, project, MODEL, versions=1)
        version = await stack.client.get(f"/api/v1/projects/{project}/models/{MODEL}/versions/1", headers=headers)
        assert version.status_code == 200, version.text
        if lineage:
            await apply_all(database, lineage_events(project, dataset["id"], version.json()["id"]))
    return project, headers, dataset


def lineage_events(project: str, dataset_id: str, version_id: str) -> list[Any]:
    """The run that trained on the dataset and the catalogue version registered from it, as stored events."""
    run_id = uuid.uuid4().hex
    return [
        from_domain(
            experiments_events.RunFinished(
                aggregate_id=run_id,
                project=project,
                run_id=run_id,
                experiment_id="1",
                experiment_name=f"{project}/baseline",
                run_name="baseline-1",
                status="FINISHED",
                start_time=None,
                end_time=None,
                metrics={},
                params={TRAINING_DATASET_TAG: dataset_id},
                tags={},
                dataset_inputs=[],
            )
        ),
        from_domain(
            catalogue_events.ModelVersionCreated(
                aggregate_id=str(uuid.uuid4()),
                project=project,
                model=MODEL,
                version=1,
                version_id=version_id,
                model_uri=f"s3://b/{MODEL}/1",
                source_run_id=run_id,
                mlflow_version=None,
                framework=None,
                feature_service=None,
                feast_project=project,
            )
        ),
    ]


async def deploy(stack: Stack, project: str, headers: dict[str, str], **fields: Any) -> Any:
    body = {"model": MODEL, "version": 1, "environment": "prod", "mode": "managed", **fields}
    return await stack.client.post(f"/api/v1/projects/{project}/deployments", json=body, headers=headers)


async def deployments(stack: Stack, project: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await stack.client.get(f"/api/v1/projects/{project}/deployments", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def change_driver_stats(stack: Stack, project: str, headers: dict[str, str]) -> str:
    """Add a feature to `driver_stats` (read from a new source that has it); returns its new version."""
    frame = driver_rows().assign(trips_per_hour=[0.5, 1.0, 1.5, 2.0])
    stack.write_project_parquet(project, "raw/drivers_v2.parquet", frame)
    source = {
        "name": "drivers_v2",
        "kind": "parquet",
        "path": "raw/drivers_v2.parquet",
        "timestamp_field": "event_timestamp",
    }
    response = await stack.client.post(f"{features(project)}/data-sources", json=source, headers=headers)
    assert response.status_code == 201, response.text
    body = {
        "name": "driver_stats",
        "entities": ["driver"],
        "features": [
            {"name": "trips", "dtype": "int64"},
            {"name": "rating", "dtype": "float64"},
            {"name": "trips_per_hour", "dtype": "float64"},
        ],
        "source": "drivers_v2",
        "ttl_seconds": 3 * 3600,
    }
    response = await stack.client.put(f"{features(project)}/feature-views/driver_stats", json=body, headers=headers)
    assert response.status_code == 200, response.text
    version: str = response.json()["version"]
    return version


def recorded(dataset: dict[str, Any], view: str) -> str:
    version: str = next(v["version"] for v in dataset["feature_views"] if v["name"] == view)
    return version


async def test_unchanged_views_deploy(stack: Stack) -> None:
    project, headers, _ = await trained_version(stack)
    response = await deploy(stack, project, headers)
    assert response.status_code == 201, response.text
    external = await deploy(stack, project, headers, mode="external", environment="staging", target="http://x")
    assert external.status_code == 201, external.text


async def test_no_training_dataset_known_means_no_check(stack: Stack) -> None:
    project, headers, _ = await trained_version(stack, lineage=False)
    await change_driver_stats(stack, project, headers)
    response = await deploy(stack, project, headers)
    assert response.status_code == 201, response.text


async def test_changed_view_is_refused_naming_it_and_nothing_is_created(stack: Stack) -> None:
    project, headers, dataset = await trained_version(stack)
    now = await change_driver_stats(stack, project, headers)
    assert now != recorded(dataset, "driver_stats")
    for mode in ("managed", "external"):
        response = await deploy(
            stack, project, headers, mode=mode, **({"target": "http://x"} if mode == "external" else {})
        )
        assert response.status_code == 409, response.text
        problem = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "driver_stats (changed)" in problem["detail"]
        assert "customer_stats" not in problem["detail"]
        assert problem["skewed_views"] == [
            {
                "name": "driver_stats",
                "trained_on": recorded(dataset, "driver_stats"),
                "now": now,
                "dataset": dataset["id"],
            }
        ]
    assert await deployments(stack, project, headers) == []


async def test_override_deploys_and_is_recorded(stack: Stack) -> None:
    project, headers, dataset = await trained_version(stack)
    now = await change_driver_stats(stack, project, headers)
    reason = "trips_per_hour is new and unused by this model"
    response = await deploy(stack, project, headers, skew_override=reason)
    assert response.status_code == 201, response.text
    deployment_id = response.json()["id"]
    async with own_database(stack.settings.resolved_database_url) as database:
        async with database.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(OutboxEvent).where(
                        OutboxEvent.project == project, OutboxEvent.event_type == "catalogue.DeploymentChanged"
                    )
                )
            ).all()
        assert [(r.payload["change"], r.payload["skew_override"]) for r in rows] == [("created", reason)]
        assert rows[0].payload["skewed_views"] == [
            {
                "name": "driver_stats",
                "trained_on": recorded(dataset, "driver_stats"),
                "now": now,
                "dataset": dataset["id"],
            }
        ]

        async def audited() -> AuditEvent | None:
            async with database.sessionmaker() as session:
                return await session.scalar(
                    select(AuditEvent).where(
                        AuditEvent.project == project,
                        AuditEvent.method == "POST",
                        AuditEvent.outcome == "success",
                        AuditEvent.path == f"/api/v1/projects/{project}/deployments",
                    )
                )

        row = await wait_until_async(audited, timeout=10, message="the deployment's audit row")
    assert row.resource == f"deployment={deployment_id}"
    assert row.detail is not None
    assert reason in row.detail
    assert "driver_stats (changed)" in row.detail

    async def lineage_node() -> dict[str, Any] | None:
        response = await stack.client.get(
            "/api/v1/lineage", params={"node": f"deployment:{deployment_id}", "depth": 1}, headers=headers
        )
        if response.status_code != 200:
            return None
        node: dict[str, Any] = next(n for n in response.json()["nodes"] if n["type"] == "deployment")
        return node if "skew_override" in node["attributes"] else None

    node = await wait_until_async(lineage_node, timeout=30, message="the deployment's lineage node")
    assert node["attributes"]["skew_override"] == reason
    assert [v["name"] for v in node["attributes"]["skewed_views"]] == ["driver_stats"]


async def test_deleted_view_is_refused(stack: Stack) -> None:
    project, headers, dataset = await trained_version(stack)
    for path in ("feature-services/training", "feature-views/customer_stats"):
        response = await stack.client.delete(f"{features(project)}/{path}", headers=headers)
        assert response.status_code == 204, response.text
    response = await deploy(stack, project, headers)
    assert response.status_code == 409, response.text
    assert "customer_stats (deleted)" in response.json()["detail"]
    assert response.json()["skewed_views"] == [
        {
            "name": "customer_stats",
            "trained_on": recorded(dataset, "customer_stats"),
            "now": None,
            "dataset": dataset["id"],
        }
    ]
    assert await deployments(stack, project, headers) == []


async def test_a_blank_override_is_refused(stack: Stack) -> None:
    project, headers, _ = await trained_version(stack, lineage=False)
    response = await deploy(stack, project, headers, skew_override="")
    assert response.status_code in (400, 422), response.text
