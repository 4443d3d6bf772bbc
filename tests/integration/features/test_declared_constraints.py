"""The constraints the OpenAPI document declares are the ones the server enforces.

For each kind of constraint the features API declares (name patterns, feature types, list and map sizes,
duration bounds, feature references, project paths, push targets, connection names and fields), the value
at the boundary the document allows is accepted, and the first one it forbids is refused with a 422
problem that names it, leaving nothing changed. Run on the embedded stack: the rules are checked before
any store is touched.
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import yaml

from mlplatform.kernel.storage.project_paths import MAX_PATH_BYTES
from mlplatform.modules.features.schemas import MAX_TTL_SECONDS
from tests.integration.features.stack import Stack
from tests.support.factories import grant
from tests.support.problems import problem


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


def refused(response: Any, name: str) -> dict[str, Any]:
    """A 422 problem naming `name` (in `errors`, `field` or `parameter`; an unknown field in the message)."""
    body = problem(response, 422)
    errors = body.get("errors") or []
    named = {error.get("key") for error in errors} | {body.get("field"), body.get("parameter")}
    named |= {error["message"] for error in errors if "unknown field" in error["message"]}
    assert any(key and name in key for key in named), body
    return body


async def _push_source(stack: Stack, project: str, headers: dict[str, str]) -> None:
    """Entity `driver` (join key driver_id) and push source `driver_push` over an empty parquet folder."""
    url = base(project)
    assert (
        await stack.client.post(f"{url}/entities", json={"name": "driver", "join_key": "driver_id"}, headers=headers)
    ).status_code == 201
    source = {"name": "drivers", "kind": "parquet", "path": "raw/drivers", "timestamp_field": "event_timestamp"}
    assert (await stack.client.post(f"{url}/data-sources", json=source, headers=headers)).status_code == 201
    push = {"name": "driver_push", "kind": "push", "batch_source": "drivers"}
    assert (await stack.client.post(f"{url}/data-sources", json=push, headers=headers)).status_code == 201


async def _names(stack: Stack, project: str, headers: dict[str, str], kind: str) -> list[str]:
    listing = await stack.client.get(f"{base(project)}/{kind}", headers=headers)
    assert listing.status_code == 200, listing.text
    return [item["name"] for item in listing.json()["items"]]


async def test_definition_names_follow_the_declared_pattern(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project()
    url = f"{base(project)}/entities"
    longest = "e" * 128
    assert (await stack.client.post(url, json={"name": longest}, headers=headers)).status_code == 201
    for bad in ("e" * 129, "driver\n", "1driver", "dri-ver"):
        refused(await stack.client.post(url, json={"name": bad}, headers=headers), "name")
    assert await _names(stack, project, headers, "entities") == [longest]
    # The same rule on `{name}` in the path: a name no definition can have is a 422, not a lookup.
    assert (await stack.client.get(f"{url}/{longest}", headers=headers)).status_code == 200
    assert (await stack.client.get(f"{url}/nosuch", headers=headers)).status_code == 404
    refused(await stack.client.get(f"{url}/1driver", headers=headers), "name")
    refused(await stack.client.delete(f"{url}/{'e' * 129}", headers=headers), "name")
    assert await _names(stack, project, headers, "entities") == [longest]


async def test_feature_views_take_the_declared_types_sizes_and_bounds(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project()
    await _push_source(stack, project, headers)
    url = f"{base(project)}/feature-views"

    def view(name: str, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "entities": ["driver"],
            "features": [{"name": "trips", "dtype": "array<float64>"}],
            "source": "driver_push",
            "ttl_seconds": MAX_TTL_SECONDS,
            "expectations": {"max_staleness_seconds": MAX_TTL_SECONDS},
        }
        body.update(changes)
        return body

    assert (await stack.client.post(url, json=view("accepted"), headers=headers)).status_code == 201
    refusals: list[tuple[dict[str, Any], str]] = [
        (view("v", features=[{"name": "trips", "dtype": "decimal"}]), "dtype"),
        (view("v", features=[{"name": "trips", "dtype": "INT64"}]), "dtype"),
        (view("v", entities=[]), "entities"),
        (view("v", features=[]), "features"),
        (view("v", ttl_seconds=MAX_TTL_SECONDS + 1), "ttl_seconds"),
        (view("v", ttl_seconds=-1), "ttl_seconds"),
        (view("v", expectations={"max_staleness_seconds": MAX_TTL_SECONDS + 1}), "max_staleness_seconds"),
        (view("v", expectations={"max_staleness_seconds": -1}), "max_staleness_seconds"),
        (view("v", unknown=1), "unknown"),
    ]
    for body, name in refusals:
        refused(await stack.client.post(url, json=body, headers=headers), name)
    assert await _names(stack, project, headers, "feature-views") == ["accepted"]


async def test_feature_references_follow_the_declared_patterns(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project()
    await _stats_view(stack, project, headers)
    url = f"{base(project)}/feature-services"
    service = {"name": "both", "features": ["stats", "stats:trips"]}
    assert (await stack.client.post(url, json=service, headers=headers)).status_code == 201
    for features in ([], ["stats:"], [":trips"], ["stats:trips:x"]):
        refused(await stack.client.post(url, json={"name": "s", "features": features}, headers=headers), "features")
    assert await _names(stack, project, headers, "feature-services") == ["both"]
    # Online reads and training sets name features as `view:feature` only.
    online = {"entities": {"driver_id": [1]}, "features": ["stats:trips"]}
    assert (await stack.client.post(f"{base(project)}/online", json=online, headers=headers)).status_code == 200
    refused(
        await stack.client.post(f"{base(project)}/online", json={**online, "features": ["stats"]}, headers=headers),
        "features",
    )
    refused(
        await stack.client.post(f"{base(project)}/online", json={**online, "entities": {}}, headers=headers), "entities"
    )
    historical = {"features": ["stats"], "entity_rows": [{"driver_id": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]}
    refused(await stack.client.post(f"{base(project)}/historical", json=historical, headers=headers), "features")
    jobs = (await stack.client.get("/api/v1/jobs", params={"project": project}, headers=headers)).json()
    assert jobs["items"] == []


async def test_pushes_take_the_declared_sizes_and_targets(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project()
    await _stats_view(stack, project, headers)
    url = f"{base(project)}/push"
    row = {"driver_id": 1, "event_timestamp": "2026-01-01T00:00:00Z", "trips": 3}
    for body, name in (
        ({"push_source": "driver_push", "rows": []}, "rows"),
        ({"push_source": "driver_push", "rows": [{}]}, "rows"),
        ({"push_source": "driver_push", "columns": {}}, "columns"),
        ({"push_source": "driver_push", "columns": {"trips": []}}, "columns"),
        ({"push_source": "driver-push", "rows": [row]}, "push_source"),
        ({"push_source": "driver_push", "rows": [row], "to": "nowhere"}, "to"),
    ):
        refused(await stack.client.post(url, json=body, headers=headers), name)
    online = {"entities": {"driver_id": [1]}, "features": ["stats:trips"]}
    read = await stack.client.post(f"{base(project)}/online", json=online, headers=headers)
    assert read.json()["results"][1]["statuses"] == ["NOT_FOUND"]
    # The Parquet route's query parameters carry the same rules.
    frame = pd.DataFrame({"driver_id": [1], "event_timestamp": pd.to_datetime(["2026-01-01"], utc=True), "trips": [3]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    parquet = {**headers, "Content-Type": "application/vnd.apache.parquet"}
    batches = f"{url}/batches"
    for params, name in (
        ({"push_source": "driver_push", "to": "nowhere"}, "to"),
        ({"push_source": "1x"}, "push_source"),
    ):
        refused(await stack.client.post(batches, params=params, content=buffer.getvalue(), headers=parquet), name)
    read = await stack.client.post(f"{base(project)}/online", json=online, headers=headers)
    assert read.json()["results"][1]["statuses"] == ["NOT_FOUND"]
    pushed = await stack.client.post(
        batches, params={"push_source": "driver_push", "to": "online"}, content=buffer.getvalue(), headers=parquet
    )
    assert pushed.status_code == 200, pushed.text
    read = await stack.client.post(f"{base(project)}/online", json=online, headers=headers)
    assert read.json()["results"][1]["values"] == [3]


async def test_project_paths_follow_the_declared_pattern(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project()
    files = f"/api/v1/projects/{project}/files"
    longest = "/".join(["d" * 99] * 9)[: MAX_PATH_BYTES - 2] + "/f"
    assert len(longest) == MAX_PATH_BYTES
    created = await stack.client.put(f"{files}/{longest}", content=b"x", headers=headers)
    assert created.status_code == 201, created.text
    for bad in (longest + "x", "mlflow/x", "raw/a b", "raw/x%25"):  # (URLs lose dot segments and empty ones)
        refused(await stack.client.put(f"{files}/{bad}", content=b"x", headers=headers), "path")
    refused(await stack.client.get(files, params={"prefix": "raw/../"}, headers=headers), "prefix")
    listing = await stack.client.get(files, headers=headers)
    assert [item["path"] for item in listing.json()["items"]] == [longest]
    historical = {"features": ["v:f"], "entity_path": "../x.parquet"}
    refused(await stack.client.post(f"{base(project)}/historical", json=historical, headers=headers), "entity_path")


async def test_connection_names_and_fields_follow_the_declared_rules(embedded_stack: Stack) -> None:
    stack = embedded_stack
    admin = await grant(stack.app, platform_admin=True)
    url = "/api/v1/connections"
    assert (await stack.client.get(f"{url}/{'c' * 63}", headers=admin)).status_code == 404
    refused(await stack.client.get(f"{url}/{'c' * 64}", headers=admin), "name")
    refused(await stack.client.delete(f"{url}/c/grants/Not_A_Project", headers=admin), "project")
    for body, name in (
        ({"name": "c" * 64, "kind": "s3", "bucket": "bucket"}, "name"),
        ({"name": "c", "kind": "s3", "bucket": "No_Bucket"}, "bucket"),
        ({"name": "c", "kind": "s3", "bucket": "b..b"}, "bucket"),
        ({"name": "c", "kind": "s3", "bucket": "bucket", "endpoint_url": "ftp://x"}, "endpoint_url"),
        ({"name": "c", "kind": "postgres", "host": "/var/run/postgresql"}, "host"),
        ({"name": "c", "kind": "postgres", "dsn": "mysql://u:p@h/d"}, "dsn"),
        ({"name": "c", "kind": "postgres", "user": "  "}, "user"),
    ):
        refused(await stack.client.post(url, json=body, headers=admin), name)
    refused(await stack.client.post(f"{url}/c/grants", json={"project": "Not_A_Project"}, headers=admin), "project")
    listing = await stack.client.get(url, headers=admin)
    assert listing.json()["items"] == []


async def test_feature_store_yaml_is_yaml_or_the_same_text(embedded_stack: Stack) -> None:
    stack = embedded_stack
    project, headers = await stack.project(role="viewer")
    url = f"{base(project)}/feature_store.yaml"
    as_yaml = await stack.client.get(url, headers=headers)
    assert as_yaml.status_code == 200, as_yaml.text
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    config = yaml.safe_load(as_yaml.text)
    assert set(config) == {
        "project",
        "provider",
        "registry",
        "online_store",
        "auth",
        "entity_key_serialization_version",
    }
    as_text = await stack.client.get(url, headers={**headers, "Accept": "text/plain"})
    assert as_text.headers["content-type"].startswith("text/plain")
    assert as_text.text == as_yaml.text


async def _stats_view(stack: Stack, project: str, headers: dict[str, str]) -> None:
    """The push source and a `stats` view (entity `driver`, feature `trips`) the reference and push tests use."""
    await _push_source(stack, project, headers)
    view = {
        "name": "stats",
        "entities": ["driver"],
        "features": [{"name": "trips", "dtype": "int64"}],
        "source": "driver_push",
    }
    assert (await stack.client.post(f"{base(project)}/feature-views", json=view, headers=headers)).status_code == 201
