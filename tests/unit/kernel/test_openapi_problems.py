"""The served OpenAPI document documents every error as the `Problem` component (`kernel/openapi_problems.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from mlplatform.kernel.errors import Conflict, problem_document
from mlplatform.kernel.problem import Problem
from mlplatform.kernel.request_ids import current_request_id
from mlplatform.settings import Settings

METHODS = ("get", "put", "post", "patch", "delete")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    from mlplatform.app import create_app

    data_dir: Path = tmp_path_factory.mktemp("openapi")
    return create_app(Settings(data_dir=data_dir, log_json=False))


@pytest.fixture(scope="module")
def document(app: Litestar) -> dict[str, Any]:
    spec: dict[str, Any] = app.openapi_schema.to_schema()
    return spec


def declared_by_the_route(app: Litestar) -> set[tuple[str, str]]:
    """(`METHOD path`, status) of the answers a route documents itself (`responses=`), such as the OAuth token
    endpoint's RFC 6749 error body or the readiness probe's 503: those are not problems."""
    return {
        (f"{method} {route.path_format}", str(status))
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for handler in route.route_handlers
        for method in handler.http_methods
        for status in handler.responses or {}
    }


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_error_response_is_a_problem(app: Litestar, document: dict[str, Any]) -> None:
    own = declared_by_the_route(app)
    assert ("GET /health/ready", "503") in own
    checked = 0
    for name, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (name, status) in own:
                continue
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (name, status)
            checked += 1
    assert checked > 500


def test_litestars_default_error_shape_is_gone(document: dict[str, Any]) -> None:
    for name, operation in operations(document):
        responses = msgspec.json.encode(operation["responses"]).decode()
        assert '"status_code"' not in responses, name


def test_the_problem_component_is_the_struct_errors_render(document: dict[str, Any]) -> None:
    _, expected = msgspec.json.schema_components([Problem], ref_template="#/components/schemas/{name}")
    for name, schema in expected.items():
        assert document["components"]["schemas"][name] == schema


@pytest.mark.parametrize(
    ("operation", "statuses"),
    [
        ("PATCH /api/v1/projects/{project}/models/{model}", {400, 401, 403, 404, 412, 413, 422, 429, 503}),
        ("POST /api/v1/projects", {400, 401, 403, 413, 422, 429, 503}),
        ("POST /api/v1/jobs/{job_id}/cancel", {401, 404, 409, 422, 429, 503}),
        ("GET /health/live", {400, 422, 429}),
    ],
)
def test_an_operation_documents_what_its_guards_path_body_and_raises_imply(
    document: dict[str, Any], operation: str, statuses: set[int]
) -> None:
    found = dict(operations(document))[operation]
    documented = {int(status) for status in found["responses"] if int(status) >= 400}
    assert statuses <= documented, sorted(documented)


def test_a_route_without_a_body_or_a_lookup_documents_neither(document: dict[str, Any]) -> None:
    documented = dict(operations(document))["GET /health/live"]["responses"]
    assert {"404", "409", "412", "413"}.isdisjoint(documented)


def test_a_rate_limited_answer_documents_retry_after(document: dict[str, Any]) -> None:
    for name, operation in operations(document):
        headers = operation["responses"]["429"]["headers"]
        assert headers["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}, name


def test_204s_have_no_content_and_every_header_a_schema(document: dict[str, Any]) -> None:
    no_content = 0
    for name, operation in operations(document):
        for status, response in operation["responses"].items():
            if status == "204":
                assert "content" not in response, name
                no_content += 1
            for header, spec in (response.get("headers") or {}).items():
                assert "schema" in spec, (name, status, header)
    assert no_content > 5


def test_an_extension_member_never_replaces_a_standard_one() -> None:
    with pytest.raises(TypeError, match="status"):
        Conflict("retired", status="retired")
    token = current_request_id.set("r1")
    try:
        body = problem_document(status=409, detail="taken", instance="/x", current_stage="production")
    finally:
        current_request_id.reset(token)
    assert body == {
        "type": "https://mlplatform.dev/problems/conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "taken",
        "instance": "/x",
        "request_id": "r1",
        "current_stage": "production",
    }


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 429, 500, 503])
def test_every_rendered_problem_decodes_as_the_component(status: int) -> None:
    body = problem_document(status=status, detail="what went wrong", instance="/api/v1/x", field="name")
    problem = msgspec.convert(body, Problem)
    assert msgspec.to_builtins(problem) == body
