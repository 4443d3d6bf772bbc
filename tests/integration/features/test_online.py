"""Online serving over HTTP: statuses, the Feast-compatible endpoint, metadata refresh, Redis outages, and
the express path answering like the full stack."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.integration.features.data import T0, define
from tests.integration.features.stack import Stack
from tests.support.factories import grant


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


async def materialized(stack: Stack, *, fresh: bool = False) -> tuple[str, dict[str, str]]:
    """A project with the definitions of `data.define`, materialized. One per stack, shared by the tests that
    only read it (a materialization is a job on the worker: seconds); `fresh` for a test that changes it."""
    if not fresh and "online" in stack.shared:
        shared: tuple[str, dict[str, str]] = stack.shared["online"]
        return shared
    project, headers = await stack.project()
    await define(stack, project, headers)
    response = await stack.client.post(
        f"{base(project)}/materializations", json={"start": (T0 - timedelta(days=1)).isoformat()}, headers=headers
    )
    assert response.status_code == 202, response.text
    job = await stack.wait_job(headers, response.json())
    assert job["status"] == "succeeded", job
    assert job["result"]["rows"] == 4  # driver 1 and 2 (newest rows) + customers 7 and 8
    if not fresh:
        stack.shared["online"] = (project, headers)
    return project, headers


def column(answer: dict[str, Any], name: str) -> dict[str, Any]:
    index = answer["metadata"]["feature_names"].index(name)
    result: dict[str, Any] = answer["results"][index]
    return result


async def test_statuses_not_found_and_outside_max_age(stack: Stack) -> None:
    project, headers = await materialized(stack)
    request = {"feature_service": "training", "entities": {"driver_id": [1, 2, 3], "customer_id": [7, 8, 9]}}
    response = await stack.client.post(f"{base(project)}/online", json=request, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["metadata"]["feature_names"][:2] == ["driver_id", "customer_id"]
    assert sorted(answer["metadata"]["feature_names"][2:]) == ["rating", "segment", "spend", "trips"]
    assert column(answer, "driver_id")["values"] == [1, 2, 3]
    # driver_stats has a 3 h TTL and its rows are from January: stale, withheld; driver 3 does not exist.
    trips = column(answer, "trips")
    assert trips["statuses"] == ["OUTSIDE_MAX_AGE", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert trips["values"] == [None, None, None]
    assert trips["event_timestamps"] == ["2026-01-01T05:00:00Z", "2026-01-01T01:00:00Z", "1970-01-01T00:00:00Z"]
    # customer_stats has no TTL.
    spend = column(answer, "spend")
    assert spend["statuses"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert spend["values"] == [2.5, 9.0, None]
    assert column(answer, "segment")["values"] == ["b", "c", None]


async def test_feast_endpoint_answers_like_the_platform_endpoint(stack: Stack) -> None:
    project, headers = await materialized(stack)
    request = {
        "features": ["customer_stats:spend", "driver_stats:trips"],
        "entities": {"customer_id": [8, 7], "driver_id": [2, 1]},
    }
    platform = await stack.client.post(f"{base(project)}/online", json=request, headers=headers)
    feast = await stack.client.post(f"/feast/{project}/get-online-features", json=request, headers=headers)
    assert feast.status_code == 200, feast.text
    assert feast.json() == platform.json()
    full = await stack.client.post(
        f"/feast/{project}/get-online-features", json={**request, "full_feature_names": True}, headers=headers
    )
    assert full.json()["metadata"]["feature_names"] == [
        "customer_id",
        "driver_id",
        "customer_stats__spend",
        "driver_stats__trips",
    ]


async def test_bad_requests_are_422(stack: Stack) -> None:
    project, headers = await materialized(stack)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"features": ["driver_stats:speed"], "entities": {"driver_id": [1]}}, 422, "features[0]"),
        ({"features": ["nope"], "entities": {"driver_id": [1]}}, 422, "features[0]"),
        ({"features": ["driver_stats:trips"], "entities": {"customer_id": [1]}}, 422, "entities"),
        ({"features": ["driver_stats:trips"], "entities": {"driver_id": ["x"]}}, 422, "entities.driver_id"),
        ({"features": ["driver_stats:trips"], "entities": {"driver_id": [1, 2], "other": [1]}}, 422, "entities"),
        (
            {"feature_service": "training", "features": ["driver_stats:trips"], "entities": {"driver_id": [1]}},
            422,
            "features",
        ),
        ({"feature_service": "ghost", "entities": {"driver_id": [1]}}, 404, ""),
    ]
    for body, status, field in cases:
        response = await stack.client.post(f"{base(project)}/online", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["field"] == field, (body, response.text)


async def test_new_definitions_are_served_at_once(stack: Stack) -> None:
    project, headers = await materialized(stack, fresh=True)
    first = await stack.client.post(
        f"{base(project)}/online",
        json={"features": ["customer_stats:spend"], "entities": {"customer_id": [7]}},
        headers=headers,
    )
    assert first.status_code == 200
    view = {
        "name": "customer_more",
        "entities": ["customer"],
        "features": [{"name": "segment", "dtype": "string"}],
        "source": "customers",
    }
    assert (await stack.client.post(f"{base(project)}/feature-views", json=view, headers=headers)).status_code == 201
    second = await stack.client.post(
        f"{base(project)}/online",
        json={"features": ["customer_more:segment"], "entities": {"customer_id": [7]}},
        headers=headers,
    )
    assert second.status_code == 200, second.text
    assert column(second.json(), "segment")["statuses"] == ["NOT_FOUND"]  # defined, not materialized yet


async def test_viewer_can_read_online_features(stack: Stack) -> None:
    project, headers = await materialized(stack)
    viewer = await grant(stack.app, project=project, role="viewer")
    body = {"features": ["customer_stats:spend"], "entities": {"customer_id": [7]}}
    assert (await stack.client.post(f"{base(project)}/online", json=body, headers=viewer)).status_code == 200
    assert (await stack.client.post(f"/feast/{project}/get-online-features", json=body)).status_code == 401
    outsider = await grant(stack.app)
    assert (await stack.client.post(f"{base(project)}/online", json=body, headers=outsider)).status_code == 404
    del headers


async def test_redis_down_is_503_naming_redis(full_stack: Stack) -> None:
    """A second app on the same database with Redis unreachable: online reads fail with a 503 naming Redis,
    definitions keep working."""
    from mlplatform.app import create_app

    project, headers = await materialized(full_stack)
    broken = full_stack.settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async with AsyncTestClient(create_app(broken), timeout=60) as client:
        listing = await client.get(f"{base(project)}/feature-views", headers=headers)
        body = {"features": ["customer_stats:spend"], "entities": {"customer_id": [7]}}
        online = await client.post(f"{base(project)}/online", json=body, headers=headers)
    assert online.status_code == 503, online.text
    assert online.json()["component"] == "redis"
    assert listing.status_code == 200, listing.text


async def test_pushed_rows_are_served_with_their_age(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers, driver_ttl_hours=1)
    source = {"name": "driver_push", "kind": "push", "batch_source": "drivers"}
    assert (await stack.client.post(f"{base(project)}/data-sources", json=source, headers=headers)).status_code == 201
    view = {
        "name": "driver_live",
        "entities": ["driver"],
        "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
        "source": "driver_push",
        "ttl_seconds": 3600,
    }
    assert (await stack.client.post(f"{base(project)}/feature-views", json=view, headers=headers)).status_code == 201
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        {"driver_id": 1, "event_timestamp": (now - timedelta(minutes=5)).isoformat(), "trips": 7, "rating": 4.9},
        {"driver_id": 2, "event_timestamp": (now - timedelta(hours=2)).isoformat(), "trips": 3, "rating": 2.0},
        {"driver_id": 4, "event_timestamp": (now - timedelta(minutes=1)).isoformat(), "trips": 1, "rating": None},
    ]
    pushed = await stack.client.post(
        f"{base(project)}/push", json={"push_source": "driver_push", "rows": rows}, headers=headers
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.json()["rows"] == 3
    body = {"features": ["driver_live:trips", "driver_live:rating"], "entities": {"driver_id": [1, 2, 3, 4]}}
    answer = (await stack.client.post(f"{base(project)}/online", json=body, headers=headers)).json()
    assert column(answer, "trips")["values"] == [7, None, None, 1]
    assert column(answer, "trips")["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND", "PRESENT"]
    assert column(answer, "rating")["statuses"] == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND", "NULL_VALUE"]
    assert column(answer, "trips")["event_timestamps"][0] == (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # An older row for driver 1 does not replace the newer one.
    older = [{"driver_id": 1, "event_timestamp": (now - timedelta(minutes=30)).isoformat(), "trips": 99, "rating": 1.0}]
    assert (
        await stack.client.post(
            f"{base(project)}/push", json={"push_source": "driver_push", "rows": older}, headers=headers
        )
    ).status_code == 200
    again = (await stack.client.post(f"{base(project)}/online", json=body, headers=headers)).json()
    if stack.full:
        assert column(again, "trips")["values"][0] == 7


# Online reads answered as express routes (before Litestar's router) answer exactly like the full stack,
# which still answers whatever the express path declines (here: requests carrying an `Origin` header).

SAME_HEADERS = (
    "content-type",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "cross-origin-opener-policy",
    "ratelimit-limit",
)
FULL_STACK = {"Origin": "http://elsewhere.example"}


async def express_answers(stack: Stack, path: str) -> float:
    metrics = (await stack.client.get("/metrics")).text
    template = re.sub(r"/p-[0-9a-f]+/", "/{project:str}/", path)
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("mlplatform_express_requests_total{") and f'path="{template}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def both(stack: Stack, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[httpx.Response, ...]:
    before = await express_answers(stack, path)
    express = await stack.client.post(path, json=body, headers=headers)
    full = await stack.client.post(path, json=body, headers={**headers, **FULL_STACK})
    assert await express_answers(stack, path) == before + 1, "exactly the first request took the express path"
    return express, full


def without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k != "request_id"}


async def test_express_answers_like_the_full_stack(stack: Stack) -> None:
    project, headers = await materialized(stack)
    body = {"feature_service": "training", "entities": {"driver_id": [1, 3], "customer_id": [7, 9]}}
    for path in (f"{base(project)}/online", f"/feast/{project}/get-online-features"):
        express, full = await both(stack, path, body, headers)
        assert express.status_code == full.status_code == 200, (express.text, full.text)
        assert express.json() == full.json()
        for name in SAME_HEADERS:
            assert express.headers.get(name) == full.headers.get(name), name
        assert express.headers["x-request-id"]
        assert int(express.headers["ratelimit-remaining"]) >= 0


async def test_errors_after_admission_are_the_same_problems(stack: Stack) -> None:
    project, headers = await materialized(stack)
    path = f"{base(project)}/online"
    for body in (
        {"feature_service": "ghost", "entities": {"driver_id": [1]}},
        {"features": ["driver_stats:speed"], "entities": {"driver_id": [1]}},
        {"features": ["driver_stats:trips"], "entities": {"driver_id": ["x"]}},
    ):
        express, full = await both(stack, path, body, headers)
        assert express.status_code == full.status_code, (express.text, full.text)
        assert express.headers["content-type"] == full.headers["content-type"] == "application/problem+json"
        assert without_request_id(express.json()) == without_request_id(full.json())
        assert express.json()["request_id"] == express.headers["x-request-id"]
        for name in SAME_HEADERS[1:]:
            assert express.headers.get(name) == full.headers.get(name), name


async def test_declined_requests_are_answered_by_the_full_stack(stack: Stack) -> None:
    project, headers = await materialized(stack)
    path = f"/feast/{project}/get-online-features"
    body = {"features": ["customer_stats:spend"], "entities": {"customer_id": [7]}}
    before = await express_answers(stack, path)
    anonymous = await stack.client.post(path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    bad_key = await stack.client.post(path, json=body, headers={"Authorization": "Bearer mlp_nope_nope"})
    assert bad_key.status_code == 401
    not_json = await stack.client.post(path, content=b"{", headers={**headers, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    wrong_shape = await stack.client.post(path, json={"entities": [1]}, headers=headers)
    assert wrong_shape.status_code in {400, 422}
    assert wrong_shape.headers["content-type"] == "application/problem+json"
    assert await express_answers(stack, path) == before, "none of these took the express path"
