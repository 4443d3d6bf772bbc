"""The constraints the OpenAPI document states are the ones the server enforces, at their boundaries.

For each kind of constraint on the gateway's operations (pattern, length, enum, integer range, date-time
format, site path, the token endpoint's form), the last value the document allows is accepted and the first
it forbids is refused with a 422 problem (the token endpoint: its RFC 6749 400), and the refusal changed
nothing. The document is read from the app, so a constraint dropped from it fails here too.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar

from tests.integration.gateway.conftest import Client
from tests.support.factories import grant
from tests.support.problems import problem


def schema_of(app: Litestar, path: str, method: str, *, parameter: str | None = None) -> dict[str, Any]:
    """The documented schema of a parameter of an operation, or of its JSON body's component."""
    spec = app.openapi_schema.to_schema()
    operation = spec["paths"][path][method]
    if parameter is not None:
        return next(p["schema"] for p in operation["parameters"] if p["name"] == parameter)
    reference = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return spec["components"]["schemas"][reference.rsplit("/", 1)[1]]  # type: ignore[no-any-return]


def allowed(schema: dict[str, Any], value: str) -> bool:
    """Whether the documented string schema allows `value` (lengths and pattern)."""
    return (
        schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
        and re.search(schema["pattern"], value) is not None
    )


async def project_names(client: Client, headers: dict[str, str]) -> set[str]:
    return {p["name"] for p in (await client.get("/api/v1/projects", headers=headers)).json()}


async def test_project_names_pattern_and_length(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    name = schema_of(app, "/api/v1/projects", "post")["properties"]["name"]
    longest, too_long, trailing_newline, edge_dash = "a" * 63, "a" * 64, "demo\n", "demo-"
    assert allowed(name, longest)
    assert not any(allowed(name, v) for v in (too_long, trailing_newline, edge_dash))

    assert (await client.post("/api/v1/projects", json={"name": longest}, headers=admin)).status_code == 201
    for refused in (too_long, trailing_newline, edge_dash):
        problem(await client.post("/api/v1/projects", json={"name": refused}, headers=admin), 422)
    assert await project_names(client, admin) == {longest}
    duplicate = await client.post("/api/v1/projects", json={"name": longest}, headers=admin)
    problem(duplicate, 409)
    assert "409" in app.openapi_schema.to_schema()["paths"]["/api/v1/projects"]["post"]["responses"]

    path = schema_of(app, "/api/v1/projects/{project}/purge", "post", parameter="project")
    assert path["pattern"] == name["pattern"]
    assert path["maxLength"] == 63
    problem(await client.post(f"/api/v1/projects/{too_long}/purge", headers=admin), 422)
    body = problem(await client.get("/api/v1/audit-events", params={"project": "Not_A_Name"}, headers=admin), 422)
    assert body["errors"][0]["key"] == "project"


async def test_text_lengths(app: Litestar, client: Client) -> None:
    admin = await grant(app, project="p1", role="admin", platform_admin=True)
    display = schema_of(app, "/api/v1/projects/{project}", "patch")["properties"]["display_name"]
    assert display["maxLength"] == 200
    accepted = await client.patch("/api/v1/projects/p1", json={"display_name": "d" * 200}, headers=admin)
    assert accepted.status_code == 200, accepted.text
    problem(await client.patch("/api/v1/projects/p1", json={"display_name": "e" * 201}, headers=admin), 422)
    assert (await client.get("/api/v1/projects/p1", headers=admin)).json()["display_name"] == "d" * 200


async def test_principal_names_and_email(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    schema = schema_of(app, "/api/v1/users", "post")["properties"]
    longest, too_long = "u" * 200, "u" * 201
    assert allowed(schema["name"], longest)
    assert not allowed(schema["name"], too_long)
    assert not allowed(schema["name"], "alice#1")
    assert not allowed(schema["name"], "alice\n")
    email = schema["email"]
    assert allowed(email, "a@b")
    assert not allowed(email, "a b@c")
    assert not allowed(email, "a@b\n")

    assert (
        await client.post("/api/v1/users", json={"name": longest, "email": "a@b"}, headers=admin)
    ).status_code == 201
    for body in ({"name": too_long}, {"name": "alice#1"}, {"name": "alice\n"}, {"name": "bob", "email": "a b@c"}):
        problem(await client.post("/api/v1/users", json=body, headers=admin), 422)
    users = {u["name"] for u in (await client.get("/api/v1/users", headers=admin)).json()}
    assert longest in users
    assert not users & {too_long, "alice#1", "alice\n", "bob"}

    problem(await client.post(f"/api/v1/users/{too_long}/disable", headers=admin), 422)
    assert (await client.post(f"/api/v1/users/{longest}/disable", headers=admin)).json()["disabled"] is True


async def test_subjects_and_roles(app: Litestar, client: Client) -> None:
    admin = await grant(app, project="p1", role="admin", platform_admin=True)
    await grant(app, name="member", project="p0")
    member = schema_of(app, "/api/v1/projects/{project}/members/{member}", "put", parameter="member")
    assert allowed(member, "user:member")
    assert not allowed(member, "member")
    assert not allowed(member, "group:x")
    role = schema_of(app, "/api/v1/projects/{project}/members/{member}", "put")
    assert role["properties"]["role"]["enum"] == ["viewer", "contributor", "maintainer", "admin"]

    put = await client.put("/api/v1/projects/p1/members/user:member", json={"role": "viewer"}, headers=admin)
    assert put.status_code == 200, put.text
    problem(await client.put("/api/v1/projects/p1/members/user:member", json={"role": "owner"}, headers=admin), 422)
    problem(await client.put("/api/v1/projects/p1/members/member", json={"role": "admin"}, headers=admin), 422)
    members = (await client.get("/api/v1/projects/p1/members", headers=admin)).json()
    assert {(m["principal"], m["role"]) for m in members} >= {("user:member", "viewer")}
    assert not any(m["principal"] == "member" for m in members)

    listed = await client.get("/api/v1/api-keys", params={"owner": "user:member"}, headers=admin)
    assert listed.status_code == 200, listed.text
    problem(await client.get("/api/v1/api-keys", params={"owner": "member"}, headers=admin), 422)


async def test_ranges_enums_and_date_times(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    limit = schema_of(app, "/api/v1/audit-events", "get", parameter="limit")
    assert (limit["minimum"], limit["maximum"]) == (1, 500)
    accepted_values = (
        {"limit": 1},
        {"limit": 500},
        {"outcome": "denied"},
        {"since": "2026-01-01T00:00:00+01:00"},
        {"until": "2026-01-01T00:00:00Z"},
    )
    for accepted in accepted_values:
        response = await client.get("/api/v1/audit-events", params=accepted, headers=admin)
        assert response.status_code == 200, (accepted, response.text)
    refused_values = (
        {"limit": 0},
        {"limit": 501},
        {"outcome": "other"},
        {"since": "2026-01-01T00:00:00"},  # no offset
        {"until": "0.5"},  # not a date-time (Litestar would read it as a timestamp)
    )
    for refused in refused_values:
        problem(await client.get("/api/v1/audit-events", params=refused, headers=admin), 422)

    days = schema_of(app, "/api/v1/api-keys", "post")["properties"]["expires_in_days"]
    assert (days["minimum"], days["maximum"]) == (1, 3650)
    created = await client.post("/api/v1/api-keys", json={"name": "long", "expires_in_days": 3650}, headers=admin)
    assert created.status_code == 201, created.text
    for days_refused in (0, 3651):
        body = {"name": "refused", "expires_in_days": days_refused}
        problem(await client.post("/api/v1/api-keys", json=body, headers=admin), 422)
    keys = {k["name"] for k in (await client.get("/api/v1/api-keys", headers=admin)).json()}
    assert "long" in keys
    assert "refused" not in keys


async def test_sign_in_goes_only_to_paths_of_this_site(app: Litestar, client: Client) -> None:
    key = (await grant(app, project="p1", role="viewer"))["Authorization"].removeprefix("Bearer ")
    spec = app.openapi_schema.to_schema()["components"]["schemas"]["SessionCreate"]["properties"]["next"]
    assert allowed(spec, "/")
    assert allowed(spec, "/mlflow/#/experiments")
    assert not any(allowed(spec, v) for v in ("//evil.example", "/\\evil.example", "https://evil.example", "/a\r\n"))

    home = await client.post("/api/v1/auth/session", data={"api_key": key, "next": "/"}, follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/")
    client.cookies.clear()
    for refused in ("/\\evil.example", "/a\r\nSet-Cookie: x=1"):
        answer = await client.post(
            "/api/v1/auth/session", data={"api_key": key, "next": refused}, follow_redirects=False
        )
        problem(answer, 422)
        assert "set-cookie" not in answer.headers


async def test_token_endpoint_refusals_are_rfc6749_json(app: Litestar, client: Client) -> None:
    spec = app.openapi_schema.to_schema()
    operation = spec["paths"]["/api/v1/auth/token"]["post"]
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    grant_type = spec["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]["properties"]["grant_type"]
    assert grant_type["const"] == "client_credentials"
    for status in ("400", "401"):
        assert operation["responses"][status]["content"]["application/json"]["schema"]["$ref"].endswith("OAuthError")

    for body, status, error in (
        ("grant_type=client_credentials", 401, "invalid_client"),
        ("grant_type=password", 400, "unsupported_grant_type"),
        ("", 400, "invalid_request"),
        ("grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"),
        ("grant_type=client_credentials&client_id=%ff", 400, "invalid_request"),
    ):
        answer = await client.post(
            "/api/v1/auth/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/json"), body
        assert answer.headers["cache-control"] == "no-store"
        document = answer.json()
        assert set(document) == {"error", "error_description"}, body
        assert document["error"] == error, body
    nul = await client.post(
        "/api/v1/auth/token",
        content="grant_type=client_credentials&client_id=a%00b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    problem(nul, 422)  # documented on every operation: a value no route accepts
    assert operation["responses"]["422"]["content"]["application/problem+json"]
