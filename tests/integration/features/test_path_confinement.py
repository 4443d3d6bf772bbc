"""Every path a member sends stays inside their project's folder (`projects/<project>/`): parquet sources,
push targets, `entity_path`, and definitions stored before the rules (or written to the registry around
the API) can reach neither another project's folder nor MLflow's artifacts. On S3 and the embedded default.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pandas as pd
import pyarrow.fs as pafs
import pytest

from tests.integration.features.data import T0, define, driver_rows, entity_rows
from tests.integration.features.stack import Stack

PROBLEM = "application/problem+json"
SECRET = "mlflow/1/0123456789abcdef/artifacts/secret.parquet"
"""An MLflow artifact (store key): what `/mlflow` refuses to non-members of the experiment's project."""


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


def hostile(stack: Stack, other: str, target: str) -> list[str]:
    """Forms of a path meant to reach `target` (a path in project `other`'s folder) or beyond."""
    root = stack.location.root_uri.rstrip("/")
    return [
        f"projects/{other}/{target}",
        f"/projects/{other}/{target}",
        f"{root}/projects/{other}/{target}",
        f"../{other}/{target}",
        f"raw/../../{other}/{target}",
        f"%2e%2e/{other}/{target}",
        f"%252e%252e/{other}/{target}",
        f"raw\\..\\..\\{other}\\{target}",
        SECRET,
        "mlflow/..",
        "s3://another-bucket/x.parquet",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data",
        "raw/\x00x.parquet",
        "a" * 2000,
    ]


def refused(response: Any, field: str) -> None:
    """A 422 problem naming `field` (a body field or `path`; `parameter` for a query parameter such as `prefix`)."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert field in (body.get("field"), body.get("parameter")), response.text


def parquet_files(stack: Stack, key: str) -> list[str]:
    """The parquet files at or below a store key."""
    fs, path = stack.location.filesystem(stack.location.uri_for(key))
    return sorted(
        info.path
        for info in fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
        if info.is_file and info.path.endswith(".parquet")
    )


async def test_parquet_sources_cannot_name_another_projects_folder_or_mlflow_artifacts(stack: Stack) -> None:
    project, headers = await stack.project()
    other, _ = await stack.project()
    stack.write_project_parquet(other, "raw/drivers/part-0.parquet", driver_rows())
    stack.write_parquet(SECRET, driver_rows())
    url = f"{base(project)}/data-sources"
    before = (await stack.client.get(url, headers=headers)).json()
    for path in [*hostile(stack, other, "raw/drivers"), ""]:
        body = {"name": "stolen", "kind": "parquet", "path": path, "timestamp_field": "event_timestamp"}
        refused(await stack.client.post(url, json=body, headers=headers), "path")
        refused(await stack.client.put(f"{url}/stolen", json=body, headers=headers), "path")
    assert (await stack.client.get(url, headers=headers)).json() == before


async def test_a_push_source_cannot_target_another_projects_folder(stack: Stack) -> None:
    project, headers = await stack.project()
    other, _ = await stack.project()
    url = f"{base(project)}/data-sources"
    batch = {"name": "landing", "kind": "parquet", "path": f"../{other}/raw/pushed", "timestamp_field": "ts"}
    refused(await stack.client.post(url, json=batch, headers=headers), "path")
    push = {"name": "landing_push", "kind": "push", "batch_source": "landing"}
    refused(await stack.client.post(url, json=push, headers=headers), "batch_source")


def apply_directly(stack: Stack, project: str, path: str) -> None:
    """A definition whose parquet path the API would refuse, put in the registry with Feast itself (as one
    stored before the rules, or written around the API, would be): a push source feeding one view."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource, RepoConfig, ValueType
    from feast.types import Float64, Int64

    from mlplatform.modules.features.adapters.feast_config import FeastSettings

    settings = FeastSettings.from_settings(stack.settings, stack.location.root_uri)
    store = FeatureStore(config=RepoConfig(**settings.repo_config(project)))
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(name="stolen", path=path, timestamp_field="event_timestamp")
    push = PushSource(name="stolen_push", batch_source=source)
    view = FeatureView(
        name="stolen_stats",
        entities=[driver],
        schema=[
            Field(name="driver_id", dtype=Int64),
            Field(name="trips", dtype=Int64),
            Field(name="rating", dtype=Float64),
        ],
        source=push,
        ttl=timedelta(0),
    )
    store.apply([driver, source, push, view])


async def online_trips(stack: Stack, project: str, headers: dict[str, str]) -> list[Any]:
    body = {"features": ["stolen_stats:trips"], "entities": {"driver_id": [1, 2]}}
    response = await stack.client.post(f"{base(project)}/online", json=body, headers=headers)
    assert response.status_code == 200, response.text
    values: list[Any] = response.json()["results"][1]["values"]
    return values


async def failed_job(stack: Stack, headers: dict[str, str], response: Any) -> str:
    assert response.status_code == 202, response.text
    job = await stack.wait_job(headers, response.json())
    assert job["status"] == "failed", job
    error: str = job["error"]
    return error


@pytest.mark.parametrize("where", ["mlflow", "other-project"])
async def test_a_stored_definition_outside_the_project_is_never_read_or_written(stack: Stack, where: str) -> None:
    project, headers = await stack.project()
    other, _ = await stack.project()
    other_key = f"projects/{other}/raw/drivers"
    stack.write_parquet(f"{other_key}/part-0.parquet", driver_rows())
    stack.write_parquet(SECRET, driver_rows())
    stored = SECRET if where == "mlflow" else other_key
    await asyncio.to_thread(apply_directly, stack, project, stored)

    shown = (await stack.client.get(f"{base(project)}/data-sources/stolen", headers=headers)).json()
    assert (shown["path"], shown["uri"]) == (stored, None)

    materialize = {"feature_views": ["stolen_stats"], "start": (T0 - timedelta(days=1)).isoformat()}
    error = await failed_job(
        stack, headers, await stack.client.post(f"{base(project)}/materializations", json=materialize, headers=headers)
    )
    assert "'stolen'" in error, error
    assert "platform area" in error, error
    assert await online_trips(stack, project, headers) == [None, None]

    validation = await stack.client.post(
        f"{base(project)}/feature-views/stolen_stats/validations", json={}, headers=headers
    )
    assert "'stolen'" in await failed_job(stack, headers, validation)
    training = {
        "features": ["stolen_stats:trips"],
        "entity_rows": [{"driver_id": 1, "event_timestamp": T0.isoformat()}],
    }
    historical = await stack.client.post(f"{base(project)}/historical", json=training, headers=headers)
    assert "'stolen'" in await failed_job(stack, headers, historical)

    files_before = parquet_files(stack, other_key)
    rows = [{"driver_id": 1, "trips": 99, "rating": 1.0, "event_timestamp": T0.isoformat()}]
    for to in ("offline", "online_and_offline", "online"):
        push = {"push_source": "stolen_push", "rows": rows, "to": to}
        refused(await stack.client.post(f"{base(project)}/push", json=push, headers=headers), "path")
    assert parquet_files(stack, other_key) == files_before
    assert await online_trips(stack, project, headers) == [None, None]


async def test_entity_path_outside_the_project_is_422_and_starts_no_job(stack: Stack) -> None:
    project, headers = await stack.project()
    other, _ = await stack.project()
    await define(stack, project, headers)
    frame = pd.DataFrame(entity_rows())
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    stack.write_project_parquet(other, "inputs/entities.parquet", frame)
    uploaded = f"features/{other}/entity-rows/{uuid.uuid4()}.parquet"
    stack.write_parquet(uploaded, frame)
    stack.write_parquet(SECRET, frame)
    jobs = (await stack.client.get("/api/v1/jobs", params={"project": project}, headers=headers)).json()["items"]
    for path in [*hostile(stack, other, "inputs/entities.parquet"), uploaded, ""]:
        body = {"feature_service": "training", "entity_path": path}
        refused(await stack.client.post(f"{base(project)}/historical", json=body, headers=headers), "entity_path")
    after = (await stack.client.get("/api/v1/jobs", params={"project": project}, headers=headers)).json()["items"]
    assert after == jobs
