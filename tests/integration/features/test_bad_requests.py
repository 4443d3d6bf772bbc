"""Malformed feature requests answer 4xx problem+json and change nothing (they used to answer 500)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.integration.features.data import define
from tests.integration.features.stack import Stack

FULL_STACK = {"Origin": "http://elsewhere.example"}
"""Online reads with an Origin header skip the express path (see test_online.py)."""


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


def assert_problem(response: Any, status: set[int]) -> dict[str, Any]:
    assert response.status_code in status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    return problem


async def test_a_features_map_where_a_list_belongs_is_a_client_error(stack: Stack) -> None:
    """`"features": {}` was a 500 on every route whose body has a `features` field: Litestar took the field
    for the handler's `features` dependency (see `controllers/dependencies.py`)."""
    project, headers = await stack.project()
    await define(stack, project, headers)
    entities = {"driver_id": [1]}
    online = {"features": {}, "entities": entities}
    for path in (f"{base(project)}/online", f"/feast/{project}/get-online-features"):
        for extra in ({}, FULL_STACK):
            problem = assert_problem(
                await stack.client.post(path, json=online, headers={**headers, **extra}), {400, 422}
            )
            assert "features" in str(problem), problem
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "feature-views", {"name": "v", "entities": ["driver"], "features": {}, "source": "drivers"}),
        ("PUT", "feature-views/v", {"name": "v", "entities": ["driver"], "features": {}, "source": "drivers"}),
        ("POST", "feature-services", {"name": "s", "features": {}}),
        ("PUT", "feature-services/s", {"name": "s", "features": {}}),
        (
            "POST",
            "historical",
            {"features": {}, "entity_rows": [{"driver_id": 1, "event_timestamp": datetime.now(UTC).isoformat()}]},
        ),
    ]
    for method, path, body in bodies:
        response = await stack.client.request(method, f"{base(project)}/{path}", json=body, headers=headers)
        problem = assert_problem(response, {400, 422})
        assert "features" in str(problem), problem
    # Nothing was created.
    assert (await stack.client.get(f"{base(project)}/feature-views/v", headers=headers)).status_code == 404
    assert (await stack.client.get(f"{base(project)}/feature-services/s", headers=headers)).status_code == 404
    jobs = (await stack.client.get("/api/v1/jobs", params={"project": project}, headers=headers)).json()
    assert jobs["items"] == []


async def test_ttl_is_bounded(stack: Stack) -> None:
    project, headers = await stack.project()
    await define(stack, project, headers)
    view: dict[str, Any] = {
        "name": "long_lived",
        "entities": ["driver"],
        "features": [{"name": "trips", "dtype": "int64"}],
        "source": "drivers",
    }
    for ttl in (10**20, 10 * 366 * 86_400 + 1, -1):
        for method, path in (("POST", "feature-views"), ("PUT", "feature-views/long_lived")):
            response = await stack.client.request(
                method, f"{base(project)}/{path}", json={**view, "ttl_seconds": ttl}, headers=headers
            )
            problem = assert_problem(response, {422})
            assert "ttl_seconds" in str(problem), problem
    assert (await stack.client.get(f"{base(project)}/feature-views/long_lived", headers=headers)).status_code == 404
    ten_years = await stack.client.post(
        f"{base(project)}/feature-views", json={**view, "ttl_seconds": 10 * 365 * 86_400}, headers=headers
    )
    assert ten_years.status_code == 201, ten_years.text
    assert ten_years.json()["ttl_seconds"] == 10 * 365 * 86_400
