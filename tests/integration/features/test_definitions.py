"""Definitions over REST: CRUD, 422s that name the field and leave the registry unchanged, events."""

from __future__ import annotations

from typing import Any

from tests.integration.features.data import define, driver_rows
from tests.integration.features.stack import Stack
from tests.support.factories import grant, own_database


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


async def names(stack: Stack, project: str, headers: dict[str, str], kind: str) -> list[str]:
    response = await stack.client.get(f"{base(project)}/{kind}", headers=headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["items"]]


async def test_create_read_list_delete(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    client = stack.client
    view = (await client.get(f"{base(project)}/feature-views/driver_stats", headers=headers)).json()
    assert view["entities"] == ["driver"]
    assert view["join_keys"] == ["driver_id"]
    assert view["features"] == [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}]
    assert view["ttl_seconds"] == 3 * 3600
    assert view["source"] == "drivers"
    assert len(view["version"]) == 16
    assert view["created_at"].endswith("Z")
    service = (await client.get(f"{base(project)}/feature-services/training", headers=headers)).json()
    assert service["features"] == [
        "driver_stats:trips",
        "driver_stats:rating",
        "customer_stats:spend",
        "customer_stats:segment",
    ]
    source = (await client.get(f"{base(project)}/data-sources/drivers", headers=headers)).json()
    assert source["kind"] == "parquet"
    assert source["uri"].endswith(f"/projects/{project}/raw/drivers")
    assert await names(stack, project, headers, "entities") == ["customer", "driver"]
    assert await names(stack, project, headers, "feature-views") == ["customer_stats", "driver_stats"]

    in_use = await client.delete(f"{base(project)}/entities/driver", headers=headers)
    assert in_use.status_code == 409, in_use.text
    assert (await client.delete(f"{base(project)}/feature-services/training", headers=headers)).status_code == 204
    assert (await client.delete(f"{base(project)}/feature-views/driver_stats", headers=headers)).status_code == 204
    assert (await client.delete(f"{base(project)}/entities/driver", headers=headers)).status_code == 204
    assert await names(stack, project, headers, "entities") == ["customer"]
    missing = await client.get(f"{base(project)}/feature-views/driver_stats", headers=headers)
    assert missing.status_code == 404


async def test_pages_with_cursor(stack: Stack) -> None:
    project, headers = await stack.project()
    for name in ("a", "b", "c", "d", "e"):
        response = await stack.client.post(f"{base(project)}/entities", json={"name": name}, headers=headers)
        assert response.status_code == 201
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await stack.client.get(f"{base(project)}/entities", params=params, headers=headers)).json()
        seen += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["a", "b", "c", "d", "e"]
    bad = await stack.client.get(f"{base(project)}/entities", params={"cursor": "nope"}, headers=headers)
    assert bad.status_code == 422


INVALID_VIEWS = [
    ({"entities": ["nobody"]}, "entities[0]"),
    ({"source": "nowhere"}, "source"),
    ({"features": [{"name": "trips", "dtype": "string"}]}, "features[0].dtype"),
    ({"features": [{"name": "trips", "dtype": "decimal128"}]}, "features[0].dtype"),
    ({"features": [{"name": "not_there", "dtype": "int64"}]}, "features[0].name"),
    ({"features": [{"name": "trips", "dtype": "int64"}, {"name": "trips", "dtype": "int64"}]}, "features[1].name"),
    ({"name": "driver_stats"}, "name"),
    ({"expectations": {"columns": {"speed": {"not_null": True}}}}, "expectations.columns.speed"),
]


async def test_invalid_views_are_422_naming_the_field_and_leave_the_registry_unchanged(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    before = (await stack.client.get(f"{base(project)}/feature-views", headers=headers)).json()
    for change, field in INVALID_VIEWS:
        body = {
            "name": "another",
            "entities": ["driver"],
            "features": [{"name": "trips", "dtype": "int64"}],
            "source": "drivers",
            **change,
        }
        response = await stack.client.post(f"{base(project)}/feature-views", json=body, headers=headers)
        assert response.status_code == 422, (change, response.text)
        problem = response.json()
        if "errors" in problem:  # a rule of the declared schema (the type enum): msgspec names the field
            assert [error["key"] for error in problem["errors"]] == [field], (change, problem)
        else:
            assert problem["field"] == field, (change, problem)
            assert problem["detail"].startswith(field)
    after = (await stack.client.get(f"{base(project)}/feature-views", headers=headers)).json()
    assert after == before


async def test_invalid_sources_and_services(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("data-sources", {"name": "s1", "kind": "parquet", "path": "x/y"}, "timestamp_field"),
        ("data-sources", {"name": "s2", "kind": "parquet", "timestamp_field": "ts"}, "path"),
        ("data-sources", {"name": "s3", "kind": "parquet", "path": "../etc", "timestamp_field": "ts"}, "path"),
        (
            "data-sources",
            {"name": "s4", "kind": "parquet", "path": "raw/drivers", "timestamp_field": "when"},
            "timestamp_field",
        ),
        ("data-sources", {"name": "s5", "kind": "push"}, "batch_source"),
        ("data-sources", {"name": "s6", "kind": "push", "batch_source": "missing"}, "batch_source"),
        ("data-sources", {"name": "drivers", "kind": "push", "batch_source": "drivers"}, "name"),
        ("feature-services", {"name": "svc", "features": ["driver_stats:speed"]}, "features[0]"),
        ("feature-services", {"name": "svc", "features": ["driver_stats", "ghost"]}, "features[1]"),
        ("entities", {"name": "driver"}, "name"),
    ]
    postgres = {"name": "pg", "kind": "postgres", "table": "t", "timestamp_field": "ts"}
    cases.append(("data-sources", postgres, "connection"))
    for kind, body, field in cases:
        response = await stack.client.post(f"{base(project)}/{kind}", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.text)
    assert sorted(await names(stack, project, headers, "data-sources")) == ["customers", "drivers"]
    assert await names(stack, project, headers, "feature-services") == ["training"]


async def test_postgres_source_is_checked_against_its_table(full_stack: Stack) -> None:
    stack = full_stack
    project, headers = await stack.project()
    table = stack.create_table(
        driver_rows(), {"driver_id": "bigint", "event_timestamp": "timestamptz", "trips": "bigint", "rating": "real"}
    )
    connection = await stack.postgres_connection(project)
    ok = {
        "name": "drivers",
        "kind": "postgres",
        "connection": connection,
        "table": table,
        "timestamp_field": "event_timestamp",
    }
    assert (await stack.client.post(f"{base(project)}/data-sources", json=ok, headers=headers)).status_code == 201
    missing = {
        "name": "ghost",
        "kind": "postgres",
        "connection": connection,
        "table": "public.no_such_table",
        "timestamp_field": "ts",
    }
    response = await stack.client.post(f"{base(project)}/data-sources", json=missing, headers=headers)
    assert response.status_code == 422
    assert response.json()["field"] == "table"
    driver = {"name": "driver", "join_key": "driver_id"}
    await stack.client.post(f"{base(project)}/entities", json=driver, headers=headers)
    wrong_type = {
        "name": "v",
        "entities": ["driver"],
        "features": [{"name": "trips", "dtype": "string"}],
        "source": "drivers",
    }
    response = await stack.client.post(f"{base(project)}/feature-views", json=wrong_type, headers=headers)
    assert response.status_code == 422
    assert "type mismatch" in response.json()["detail"]


async def test_viewer_reads_but_cannot_write(stack: Stack) -> None:
    project, headers = await stack.project()
    viewer = await grant(stack.app, project=project, role="viewer")
    assert (await stack.client.get(f"{base(project)}/entities", headers=viewer)).status_code == 200
    refused = await stack.client.post(f"{base(project)}/entities", json={"name": "x"}, headers=viewer)
    assert refused.status_code == 403
    outsider = await grant(stack.app)
    assert (await stack.client.get(f"{base(project)}/entities", headers=outsider)).status_code == 404
    del headers


async def outbox(stack: Stack, project: str) -> list[Any]:
    from sqlalchemy import select

    from mlplatform.kernel.events.model import OutboxEvent

    async with own_database(stack.settings.resolved_database_url) as database, database.transaction() as session:
        query = select(OutboxEvent).where(OutboxEvent.project == project).order_by(OutboxEvent.seq)
        return list((await session.scalars(query)).all())


async def test_definition_events_are_published(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    rows = await outbox(stack, project)
    kinds = sorted(row.event_type for row in rows)
    assert kinds == sorted(
        ["EntityApplied"] * 2 + ["DataSourceApplied"] * 2 + ["FeatureViewApplied"] * 2 + ["FeatureServiceApplied"]
    )
    applied = next(r for r in rows if r.event_type == "FeatureViewApplied" and r.payload["name"] == "driver_stats")
    assert applied.payload["features"] == ["trips", "rating"]
    assert applied.actor is not None
    assert applied.actor.startswith("user:")


DRIVER_STATS = {
    "name": "driver_stats",
    "entities": ["driver"],
    "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
    "source": "drivers",
    "ttl_seconds": 3 * 3600,
}


async def test_put_creates_then_replaces_every_kind(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    client = stack.client
    url = base(project)
    before = (await client.get(f"{url}/feature-views/driver_stats", headers=headers)).json()

    created = await client.put(f"{url}/entities/merchant", json={"name": "merchant"}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["join_key"] == "merchant"
    renamed_key = {"name": "merchant", "join_key": "merchant_id", "value_type": "string", "description": "shops"}
    replaced = await client.put(f"{url}/entities/merchant", json=renamed_key, headers=headers)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["join_key"] == "merchant_id"
    assert replaced.json()["value_type"] == "string"

    source = {
        "name": "drivers",
        "kind": "parquet",
        "path": "raw/drivers",
        "timestamp_field": "event_timestamp",
        "description": "trips per driver",
        "tags": {"team": "rides"},
    }
    response = await client.put(f"{url}/data-sources/drivers", json=source, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["description"] == "trips per driver"

    view = {**DRIVER_STATS, "ttl_seconds": 6 * 3600, "description": "longer TTL"}
    response = await client.put(f"{url}/feature-views/driver_stats", json=view, headers=headers)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["ttl_seconds"] == 6 * 3600
    assert after["version"] != before["version"]
    assert (await client.get(f"{url}/feature-views/driver_stats", headers=headers)).json() == after

    service = {"name": "training", "features": ["driver_stats:trips", "customer_stats:spend"]}
    response = await client.put(f"{url}/feature-services/training", json=service, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["features"] == ["driver_stats:trips", "customer_stats:spend"]
    new_service = {"name": "scoring", "features": ["driver_stats"]}
    response = await client.put(f"{url}/feature-services/scoring", json=new_service, headers=headers)
    assert response.status_code == 201, response.text

    online = await client.post(
        f"{url}/online",
        json={"feature_service": "training", "entities": {"driver_id": [1], "customer_id": [7]}},
        headers=headers,
    )
    assert online.status_code == 200, online.text
    assert online.json()["metadata"]["feature_names"] == ["driver_id", "customer_id", "trips", "spend"]

    applied = [(row.event_type, row.payload["name"]) for row in await outbox(stack, project)][7:]
    assert applied == [
        ("EntityApplied", "merchant"),
        ("EntityApplied", "merchant"),
        ("DataSourceApplied", "drivers"),
        ("FeatureViewApplied", "driver_stats"),
        ("FeatureServiceApplied", "training"),
        ("FeatureServiceApplied", "scoring"),
    ]
    view_event = next(row for row in await outbox(stack, project) if row.payload.get("version") == after["version"])
    assert view_event.payload["features"] == ["trips", "rating"]


async def test_put_refuses_bad_bodies_and_breaking_changes(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    client = stack.client
    url = base(project)
    views_before = (await client.get(f"{url}/feature-views", headers=headers)).json()
    sources_before = (await client.get(f"{url}/data-sources", headers=headers)).json()
    entities_before = (await client.get(f"{url}/entities", headers=headers)).json()
    events_before = len(await outbox(stack, project))

    invalid: list[tuple[str, dict[str, Any], str]] = [
        ("feature-views/driver_stats", {**DRIVER_STATS, "name": "other"}, "name"),
        ("feature-views/driver_stats", {**DRIVER_STATS, "entities": ["nobody"]}, "entities[0]"),
        (
            "feature-views/driver_stats",
            {**DRIVER_STATS, "features": [{"name": "trips", "dtype": "string"}]},
            "features[0].dtype",
        ),
        ("data-sources/drivers", {"name": "drivers", "kind": "push"}, "batch_source"),
        ("feature-services/training", {"name": "training", "features": ["ghost"]}, "features[0]"),
    ]
    for path, body, field in invalid:
        response = await client.put(f"{url}/{path}", json=body, headers=headers)
        assert response.status_code == 422, (path, body, response.text)
        assert response.json()["field"] == field, (path, response.text)
    malformed = await client.put(
        f"{url}/feature-views/driver_stats", json={**DRIVER_STATS, "ttl_seconds": "x"}, headers=headers
    )
    assert malformed.status_code == 422, malformed.text
    assert malformed.json()["errors"][0]["key"] == "ttl_seconds"

    conflicts: list[tuple[str, dict[str, Any], str]] = [
        ("entities/driver", {"name": "driver", "join_key": "driver_key"}, "driver_stats"),
        (
            "data-sources/drivers",
            {
                "name": "drivers",
                "kind": "parquet",
                "path": "raw/customers.parquet",
                "timestamp_field": "event_timestamp",
            },
            "driver_stats",
        ),
        ("feature-views/driver_stats", {**DRIVER_STATS, "features": [{"name": "trips", "dtype": "int64"}]}, "training"),
    ]
    for path, body, named in conflicts:
        response = await client.put(f"{url}/{path}", json=body, headers=headers)
        assert response.status_code == 409, (path, response.text)
        assert named in response.json()["detail"]

    viewer = await grant(stack.app, project=project, role="viewer")
    refused = await client.put(
        f"{url}/entities/driver", json={"name": "driver", "join_key": "driver_id"}, headers=viewer
    )
    assert refused.status_code == 403

    assert (await client.get(f"{url}/feature-views", headers=headers)).json() == views_before
    assert (await client.get(f"{url}/data-sources", headers=headers)).json() == sources_before
    assert (await client.get(f"{url}/entities", headers=headers)).json() == entities_before
    assert len(await outbox(stack, project)) == events_before
