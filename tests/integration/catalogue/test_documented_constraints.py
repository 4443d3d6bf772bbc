"""The constraints the OpenAPI document states are the ones the server enforces: for each kind, the
boundary value the document allows is accepted and the first one it forbids is refused with a 422
problem+json that changes nothing.

Each case also checks the document itself, so a constraint cannot be enforced without being published
(or published without being enforced).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.factories import grant
from tests.support.problems import problem

Client = AsyncTestClient[Litestar]
BASE = "/api/v1/projects/fraud"
INT32_MAX = 2**31 - 1


@dataclass
class World:
    headers: dict[str, str]
    deployment: str
    document: dict[str, Any]

    def operation(self, method: str, path: str) -> dict[str, Any]:
        return self.document["paths"][f"/api/v1/projects/{{project}}{path}"][method.lower()]  # type: ignore[no-any-return]

    def parameter(self, method: str, path: str, name: str) -> dict[str, Any]:
        found = [p for p in self.operation(method, path)["parameters"] if p["name"] == name]
        assert found, f"{method} {path} documents no parameter {name}"
        schema: dict[str, Any] = found[0]["schema"]
        return schema

    def body_property(self, component: str, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.document["components"]["schemas"][component]["properties"][name]
        return schema


@pytest.fixture
async def world(app: Litestar, client: Client) -> World:
    lead = await grant(app, project="fraud", role="maintainer", name="lead")
    assert (await client.post(f"{BASE}/models", json={"name": "scorer"}, headers=lead)).status_code == 201
    version = await client.post(f"{BASE}/models/scorer/versions", json={"model_uri": "s3://b/m"}, headers=lead)
    assert version.status_code == 201, version.text
    deployment = await client.post(
        f"{BASE}/deployments", json={"model": "scorer", "version": 1, "environment": "prod"}, headers=lead
    )
    assert deployment.status_code == 201, deployment.text
    document = (await client.get("/schema/openapi.json")).json()
    return World(headers=lead, deployment=deployment.json()["id"], document=document)


async def snapshot(client: Client, world: World) -> Any:
    reads = [
        "/models",
        "/model-versions",
        "/deployments",
        f"/deployments/{world.deployment}",
        "/models/scorer/versions/1/validations",
    ]
    return [(await client.get(BASE + path, headers=world.headers)).json() for path in reads]


async def refused(client: Client, world: World, method: str, path: str, **request: Any) -> dict[str, Any]:
    before = await snapshot(client, world)
    response = await client.request(method, BASE + path.format(d=world.deployment), headers=world.headers, **request)
    body = problem(response, 422)
    assert await snapshot(client, world) == before, f"{method} {path} {request} changed something"
    return body


async def accepted(client: Client, world: World, method: str, path: str, **request: Any) -> Any:
    response = await client.request(method, BASE + path.format(d=world.deployment), headers=world.headers, **request)
    assert response.status_code < 300, f"{method} {path} {request}: {response.status_code} {response.text}"
    return response


# Query parameters: page size, cursor, sorts and enumerated filters.


@dataclass
class QueryCase:
    path: str
    name: str
    allowed: list[str]
    forbidden: list[str]
    documented: dict[str, Any] = field(default_factory=dict)


QUERY_CASES = [
    QueryCase("/models", "limit", ["1", "500"], ["0", "501"], {"minimum": 1, "maximum": 500}),
    QueryCase("/deployments/{d}/metrics", "limit", ["500"], ["501"], {"maximum": 500}),
    QueryCase("/models", "cursor", [], ["!", "a b"], {"pattern": r"^(?:[A-Za-z0-9_\-]+)(?!\n)$"}),
    QueryCase("/models", "sort", ["-name", "created_at"], ["popularity", "version"]),
    QueryCase("/models/scorer/versions", "sort", ["-version", "updated_at"], ["-name"]),
    QueryCase("/model-versions", "sort", ["updated_at"], ["version"]),
    QueryCase("/deployments", "sort", ["updated_at"], ["name"]),
    QueryCase("/models", "stage", ["production"], ["shipped"]),
    QueryCase("/models", "tag", ["team:", "team:a:b", f"k:{'v' * 256}"], ["team", ":v", f"k:{'v' * 257}"]),
    QueryCase("/models", "q", ["x" * 200], ["x" * 201], {"maxLength": 200}),
    QueryCase("/models", "task_type", ["x" * 64], ["x" * 65], {"maxLength": 64}),
    QueryCase("/deployments", "status", ["live", "retired"], ["sleeping"]),
    QueryCase("/deployments", "environment", ["prod-eu_1"], ["Prod", "-prod"]),
    QueryCase("/deployments", "version", [str(INT32_MAX)], ["0", str(INT32_MAX + 1)]),
    QueryCase("/deployments", "model", ["scorer"], ["../etc"]),
    QueryCase("/deployments/{d}/alerts", "status", ["open", "resolved"], ["closed"]),
    QueryCase("/deployments/{d}/metrics", "metric", ["latency/p99:ms"], ["bad metric"]),
    QueryCase("/models/scorer/versions/1/transition-requests", "status", ["superseded"], ["waiting"]),
    QueryCase(
        "/models",
        "updated_since",
        ["2026-11-27T10:00:00Z", "2026-11-27t10:00:00.123456+01:00"],
        ["0.5", "2026-11-27T10:00:00", "2026-11-27", "2026-13-27T10:00:00Z"],
        {"format": "date-time"},
    ),
    QueryCase("/deployments/{d}/metrics", "since", ["2026-11-27T10:00:00-05:00"], ["1764237600"]),
]


@pytest.mark.parametrize("case", QUERY_CASES, ids=lambda c: f"{c.path}?{c.name}")
async def test_query_parameter_constraints(client: Client, world: World, case: QueryCase) -> None:
    template = case.path.replace("{d}", "{deployment_id}").replace("/scorer", "/{model}")
    schema = world.parameter("GET", template.replace("/versions/1", "/versions/{version}"), case.name)
    text = repr(schema)
    for key, value in case.documented.items():
        assert f"'{key}': {value!r}" in text, f"{case.name} does not document {key}={value}: {schema}"
    for value in case.allowed:
        await accepted(client, world, "GET", case.path, params={case.name: value})
    for value in case.forbidden:
        await refused(client, world, "GET", case.path, params={case.name: value})


def test_sort_parameters_list_every_order_the_repositories_know() -> None:
    from typing import get_args

    from mlplatform.modules.catalogue import repositories
    from mlplatform.modules.catalogue.controllers import dependencies

    assert set(get_args(dependencies.ModelSort)) == set(repositories.MODEL_SORTS)
    assert set(get_args(dependencies.VersionSort)) == set(repositories.VERSION_SORTS)
    assert set(get_args(dependencies.ModelVersionSort)) == set(repositories.MODEL_VERSION_SORTS)
    assert set(get_args(dependencies.DeploymentSort)) == set(repositories.DEPLOYMENT_SORTS)


# Path parameters: model names and version numbers.


async def test_path_parameter_constraints(client: Client, world: World) -> None:
    version = world.parameter("GET", "/models/{model}/versions/{version}", "version")
    assert (version["minimum"], version["maximum"]) == (1, INT32_MAX)
    assert "pattern" in world.parameter("GET", "/models/{model}", "model")
    missing = await client.get(f"{BASE}/models/scorer/versions/{INT32_MAX}", headers=world.headers)
    problem(missing, 404)
    for path in (f"/models/scorer/versions/{INT32_MAX + 1}", "/models/scorer/versions/0", "/models/bad name"):
        await refused(client, world, "GET", path)
    await refused(client, world, "PATCH", f"/models/scorer/versions/{INT32_MAX + 1}", json={"description": "x"})
    await accepted(client, world, "GET", "/models/scorer/versions/1")


# Body fields: closed objects, patterns, lengths, sizes of maps and lists, ranges.


@dataclass
class BodyCase:
    label: str
    method: str
    path: str
    allowed: dict[str, Any]
    forbidden: dict[str, Any]


BODY_CASES = [
    BodyCase("unknown field", "PATCH", "/models/scorer", {"description": "x"}, {"description": "x", "colour": "red"}),
    BodyCase("model name", "POST", "/models", {"name": "a" * 128}, {"name": "a" * 129}),
    BodyCase("model name, final newline", "POST", "/models", {"name": "m.1"}, {"name": "m.1\n"}),
    BodyCase("tag count", "PATCH", "/models/scorer", {"tags": {f"k{i}": "v" for i in range(50)}},
             {"tags": {f"k{i}": "v" for i in range(51)}}),
    BodyCase("tag key", "PATCH", "/models/scorer", {"tags": {"a/b.c-d_e": "v"}}, {"tags": {"a b": "v"}}),
    BodyCase("tag value", "PATCH", "/models/scorer", {"tags": {"k": "v" * 256}}, {"tags": {"k": "v" * 257}}),
    BodyCase("required validations", "PATCH", "/models/scorer", {"required_validations": [f"c{i}" for i in range(20)]},
             {"required_validations": [f"c{i}" for i in range(21)]}),
    BodyCase("approval policy stage", "PATCH", "/models/scorer", {"approval_policy": {"rejected": 1}},
             {"approval_policy": {"registered": 1}}),
    BodyCase("approval count", "PATCH", "/models/scorer", {"approval_policy": {"production": 10}},
             {"approval_policy": {"production": 11}}),
    BodyCase("metric key", "POST", "/models/scorer/versions", {"model_uri": "s3://b/k", "metrics": {"m" * 250: 1.0}},
             {"model_uri": "s3://b/k", "metrics": {"m" * 251: 1.0}}),
    BodyCase("param value", "POST", "/models/scorer/versions", {"model_uri": "s3://b/k", "params": {"p": "v" * 6000}},
             {"model_uri": "s3://b/k", "params": {"p": "v" * 6001}}),
    BodyCase("uri scheme", "POST", "/models/scorer/versions/1/validations",
             {"name": "auc", "status": "passed", "report_uri": "gs://b/r.html"},
             {"name": "auc", "status": "passed", "report_uri": "ftp://b/r.html"}),
    BodyCase("check name", "POST", "/models/scorer/versions/1/validations",
             {"name": "c" * 100, "status": "passed"}, {"name": "c" * 101, "status": "passed"}),
    BodyCase("deployed version", "POST", "/deployments",
             {"model": "scorer", "version": 1, "environment": "canary", "traffic_share": 0},
             {"model": "scorer", "version": INT32_MAX + 1, "environment": "canary", "traffic_share": 0}),
    BodyCase("environment", "POST", "/deployments",
             {"model": "scorer", "version": 1, "environment": "e" * 64, "traffic_share": 0},
             {"model": "scorer", "version": 1, "environment": "E", "traffic_share": 0}),
    BodyCase("observed_at", "POST", "/deployments/{d}/metrics",
             {"records": [{"metric": "m", "value": 1.0, "observed_at": 1764237600}]},
             {"records": [{"metric": "m", "value": 1.0, "observed_at": "2026-11-27T10:00:00"}]}),
    BodyCase("monitoring metric", "POST", "/deployments/{d}/metrics",
             {"records": [{"metric": "p99/ms:x", "value": 1.0}]}, {"records": [{"metric": "p 99", "value": 1.0}]}),
]  # fmt: skip


@pytest.mark.parametrize("case", BODY_CASES, ids=lambda c: c.label)
async def test_body_field_constraints(client: Client, world: World, case: BodyCase) -> None:
    await refused(client, world, case.method, case.path, json=case.forbidden)
    await accepted(client, world, case.method, case.path, json=case.allowed)


async def test_request_bodies_are_documented_closed_with_their_inner_constraints(world: World) -> None:
    components = world.document["components"]["schemas"]
    for name in ("ModelCreate", "ModelUpdate", "ModelVersionCreate", "DeploymentCreate", "ValidationCreate"):
        assert components[name]["additionalProperties"] is False, name
    tags = world.body_property("ModelCreate", "tags")
    assert tags["maxProperties"] == 50
    assert tags["additionalProperties"]["maxLength"] == 256
    assert "pattern" in tags["propertyNames"]
    policy = world.body_property("ModelCreate", "approval_policy")
    assert "registered" not in policy["propertyNames"]["pattern"]
    assert policy["additionalProperties"] == {"type": "integer", "minimum": 0, "maximum": 10}
    assert world.body_property("ModelCreate", "required_validations")["maxItems"] == 20
    assert world.body_property("DeploymentCreate", "version")["maximum"] == INT32_MAX
    assert "'pattern'" in repr(world.body_property("ValidationCreate", "report_uri"))


async def test_etag_headers_have_a_schema(world: World) -> None:
    for method, path in (("get", "/models/{model}"), ("patch", "/deployments/{deployment_id}")):
        headers = world.operation(method, path)["responses"]["200"]["headers"]
        assert headers["ETag"]["schema"] == {"type": "string"}
    if_match = world.parameter("PATCH", "/models/{model}", "If-Match")
    assert if_match["type"] == "string"
    assert "oneOf" not in if_match  # a header is text or absent, never JSON null


HANDLER_STATUSES = [
    ("post", "/models", {"409"}),
    ("post", "/models/{model}/versions", {"409"}),
    ("post", "/models/{model}/versions/{version}/transitions", {"200", "202", "409", "412"}),
    ("post", "/models/{model}/versions/{version}/approvals", {"403", "409"}),
    ("post", "/deployments", {"409"}),
    ("patch", "/deployments/{deployment_id}", {"409", "412"}),
    ("post", "/deployments/{deployment_id}/rules", {"409"}),
]


async def test_statuses_only_the_handler_knows_are_documented(world: World) -> None:
    for method, path, statuses in HANDLER_STATUSES:
        documented = set(world.operation(method, path)["responses"])
        assert statuses <= documented, f"{method} {path}: {statuses - documented} undocumented"
