"""Projects, members and role checks over HTTP."""

from __future__ import annotations

from litestar import Litestar

from tests.integration.gateway.conftest import Client
from tests.support.factories import grant
from tests.support.problems import problem


async def test_admin_creates_a_project_and_becomes_its_admin(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True, name="root")
    created = await client.post(
        "/api/v1/projects", json={"name": "churn", "description": "churn models"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.json()["role"] == "admin"
    members = (await client.get("/api/v1/projects/churn/members", headers=admin)).json()
    assert members[0]["principal"] == "user:root"
    assert members[0]["role"] == "admin"
    problem(await client.post("/api/v1/projects", json={"name": "churn"}, headers=admin), 409)


async def test_bad_project_input_is_422_and_changes_nothing(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    for body in ({"name": "Bad Name"}, {"name": "-x"}, {"name": "x" * 64}, {"name": "ok", "extra": 1}, {}):
        response = await client.post("/api/v1/projects", json=body, headers=admin)
        assert response.status_code in {400, 422}, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/v1/projects", headers=admin)).json() == []


async def test_only_platform_admins_create_projects(app: Litestar, client: Client) -> None:
    user = await grant(app, project="p1", role="admin")
    problem(await client.post("/api/v1/projects", json={"name": "mine"}, headers=user), 403)


async def test_members_roles_and_their_effect(app: Litestar, client: Client) -> None:
    owner = await grant(app, project="p1", role="admin", name="owner")
    bob = await grant(app, name="bob")
    problem(await client.get("/api/v1/projects/p1", headers=bob), 404)

    granted = await client.put("/api/v1/projects/p1/members/user:bob", json={"role": "viewer"}, headers=owner)
    assert granted.status_code == 200, granted.text
    assert (await client.get("/api/v1/projects/p1", headers=bob)).json()["role"] == "viewer"
    problem(await client.patch("/api/v1/projects/p1", json={"description": "x"}, headers=bob), 403)

    await client.put("/api/v1/projects/p1/members/user:bob", json={"role": "maintainer"}, headers=owner)
    problem(await client.put("/api/v1/projects/p1/members/user:bob", json={"role": "admin"}, headers=bob), 403)
    assert (await client.get("/api/v1/projects", headers=bob)).json()[0]["role"] == "maintainer"

    assert (await client.delete("/api/v1/projects/p1/members/user:bob", headers=owner)).status_code == 204
    problem(await client.get("/api/v1/projects/p1", headers=bob), 404)


async def test_last_admin_cannot_leave(app: Litestar, client: Client) -> None:
    owner = await grant(app, project="p1", role="admin", name="solo")
    problem(await client.delete("/api/v1/projects/p1/members/user:solo", headers=owner), 409)
    problem(await client.put("/api/v1/projects/p1/members/user:solo", json={"role": "viewer"}, headers=owner), 409)


async def test_member_input_errors(app: Litestar, client: Client) -> None:
    owner = await grant(app, project="p1", role="admin")
    problem(await client.put("/api/v1/projects/p1/members/nobody", json={"role": "viewer"}, headers=owner), 422)
    problem(await client.put("/api/v1/projects/p1/members/user:ghost", json={"role": "viewer"}, headers=owner), 404)
    problem(await client.put("/api/v1/projects/p1/members/user:ghost", json={"role": "god"}, headers=owner), 422)


async def test_platform_admin_sees_every_project_but_not_missing_ones(app: Litestar, client: Client) -> None:
    await grant(app, project="p1", role="admin")
    admin = await grant(app, platform_admin=True)
    assert (await client.get("/api/v1/projects/p1", headers=admin)).status_code == 200
    problem(await client.get("/api/v1/projects/nope", headers=admin), 404)


async def test_users_and_service_accounts_are_admin_only(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    user = await grant(app, project="p1", role="admin")
    problem(await client.post("/api/v1/users", json={"name": "eve"}, headers=user), 403)
    created = await client.post("/api/v1/users", json={"name": "eve", "email": "eve@example.com"}, headers=admin)
    assert created.status_code == 201
    assert created.json()["subject"] == "user:eve"
    problem(await client.post("/api/v1/users", json={"name": "eve"}, headers=admin), 409)
    assert (await client.post("/api/v1/service-accounts", json={"name": "etl"}, headers=admin)).status_code == 201
    names = [p["name"] for p in (await client.get("/api/v1/service-accounts", headers=admin)).json()]
    assert names == ["etl"]


async def test_disabled_user_is_locked_out(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    victim = await grant(app, project="p1", role="viewer", name="leaver")
    assert (await client.get("/api/v1/me", headers=victim)).status_code == 200
    assert (await client.post("/api/v1/users/leaver/disable", headers=admin)).status_code == 200
    problem(await client.get("/api/v1/me", headers=victim), 401)
