"""Real error answers match the `Problem` component of the served OpenAPI document, and each is documented
on its operation (`kernel/openapi_problems.py`)."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.app import create_app
from mlplatform.settings import Settings
from tests.support.factories import grant
from tests.support.problems import problem


def limited(settings: Settings, **groups: int) -> Settings:
    limits = settings.rate_limits.model_copy(update={"groups": {**settings.rate_limits.groups, **groups}})
    return settings.model_copy(update={"rate_limits": limits})


def check(document: dict[str, Any], response: httpx.Response, path: str, method: str, status: int) -> dict[str, Any]:
    """The body of `response`: a problem of `status`, valid against the component and documented on the operation."""
    body = problem(response, status)
    validator = Draft202012Validator({"$ref": "#/components/schemas/Problem", "components": document["components"]})
    assert not list(validator.iter_errors(body)), body
    documented = document["paths"][path][method]["responses"][str(status)]
    assert documented["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    return body


async def test_real_problems_match_the_documented_component(settings: Settings) -> None:
    app: Litestar = create_app(limited(settings, api=30))
    async with AsyncTestClient(app) as client:
        document = (await client.get("/schema/openapi.json")).json()
        viewer = await grant(app, project="p1", role="viewer")
        contributor = await grant(app, project="p1", role="contributor")
        models = "/api/v1/projects/{project}/models"

        check(document, await client.get("/api/v1/me"), "/api/v1/me", "get", 401)
        created = await client.post("/api/v1/projects/p1/models", json={"name": "m1"}, headers=viewer)
        check(document, created, models, "post", 403)
        check(document, await client.get("/api/v1/projects/nope/models", headers=viewer), models, "get", 404)
        assert (await client.post("/api/v1/projects/p1/models", json={"name": "m1"}, headers=contributor)).is_success
        taken = await client.post("/api/v1/projects/p1/models", json={"name": "m1"}, headers=contributor)
        assert check(document, taken, models, "post", 409)["field"] == "name"
        invalid = await client.post("/api/v1/projects/p1/models", json={"name": 5}, headers=contributor)
        body = check(document, invalid, models, "post", 422)
        assert body["errors"] == [{"key": "name", "message": "Expected `str`, got `int`", "source": "body"}]
        unreadable = await client.post(
            "/api/v1/projects/p1/models",
            content=b"{bad",
            headers={**contributor, "content-type": "application/json"},
        )
        check(document, unreadable, models, "post", 400)

        for _ in range(40):
            answer = await client.get("/api/v1/me", headers=viewer)
            if answer.status_code == 429:
                break
        check(document, answer, "/api/v1/me", "get", 429)
        assert int(answer.headers["retry-after"]) >= 1
