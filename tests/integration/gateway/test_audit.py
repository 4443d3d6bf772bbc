"""The audit log records mutations (with the change's transaction) and auth failures; no secrets."""

from __future__ import annotations

from litestar import Litestar

from tests.integration.gateway.conftest import Client
from tests.support.factories import grant
from tests.support.problems import problem


async def test_mutations_and_failures_are_audited_and_listed(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True, name="auditor")
    await client.post("/api/v1/projects", json={"name": "audited"}, headers=admin)
    await client.post("/api/v1/projects", json={"name": "audited"}, headers=admin)
    await client.get("/api/v1/me", headers={"Authorization": "Bearer mlp_aaaaaaaaaaaa_" + "b" * 43})
    created_key = await client.post("/api/v1/api-keys", json={"name": "k"}, headers=admin)
    secret = created_key.json()["key"]

    page = await client.get("/api/v1/audit-events", headers=admin)
    assert page.status_code == 200
    events = page.json()["items"]
    actions = [(e["action"], e["outcome"], e["status_code"]) for e in events]
    assert ("projects_create_project", "success", None) in actions
    assert ("projects_create_project", "failed", 409) in actions
    assert ("auth.failed", "denied", 401) in actions
    assert ("principals_create_api_key", "success", None) in actions
    success = next(e for e in events if e["action"] == "projects_create_project" and e["outcome"] == "success")
    assert success["actor"] == "user:auditor"
    assert success["request_id"]
    assert success["method"] == "POST"
    assert secret not in page.text
    assert secret.split("_")[2] not in page.text

    filtered = await client.get("/api/v1/audit-events", params={"outcome": "denied"}, headers=admin)
    assert {e["outcome"] for e in filtered.json()["items"]} == {"denied"}


async def test_audit_pages_and_bad_cursor(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    for index in range(5):
        await client.post("/api/v1/users", json={"name": f"u{index}"}, headers=admin)
    first = (await client.get("/api/v1/audit-events", params={"limit": 2}, headers=admin)).json()
    second = (
        await client.get("/api/v1/audit-events", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin)
    ).json()
    assert len(first["items"]) == len(second["items"]) == 2
    assert first["items"][-1]["id"] > second["items"][0]["id"]
    problem(await client.get("/api/v1/audit-events", params={"cursor": "garbage"}, headers=admin), 422)
    problem(await client.get("/api/v1/audit-events", params={"limit": 0}, headers=admin), 422)


async def test_audit_visibility(app: Litestar, client: Client) -> None:
    project_admin = await grant(app, project="p1", role="admin")
    viewer = await grant(app, project="p1", role="viewer")
    assert (
        await client.get("/api/v1/audit-events", params={"project": "p1"}, headers=project_admin)
    ).status_code == 200
    problem(await client.get("/api/v1/audit-events", headers=project_admin), 403)
    problem(await client.get("/api/v1/audit-events", params={"project": "p1"}, headers=viewer), 403)


async def test_read_only_posts_are_not_audited_as_mutations(settings: object) -> None:
    from litestar import post
    from litestar.testing import AsyncTestClient

    from mlplatform.app import create_app
    from mlplatform.kernel.module import Module
    from mlplatform.modules.gateway import module as gateway
    from mlplatform.modules.gateway.api import READ_ONLY, Role, requires_role

    @post("/api/v1/projects/{project:str}/lookup", guards=[requires_role(Role.VIEWER)], opt=READ_ONLY, status_code=200)
    async def lookup(project: str, data: dict[str, int]) -> dict[str, int]:
        return data

    app = create_app(settings, modules=[gateway, Module(name="probe", route_handlers=[lookup])])  # type: ignore[arg-type]
    async with AsyncTestClient(app) as client:
        viewer = await grant(app, project="p1", role="viewer")
        admin = await grant(app, platform_admin=True)
        answered = await client.post("/api/v1/projects/p1/lookup", json={"x": 1}, headers=viewer)
        assert answered.status_code == 200
        events = (await client.get("/api/v1/audit-events", headers=admin)).json()["items"]
        assert [e for e in events if e["path"].endswith("/lookup")] == []


async def test_writes_refused_for_the_project_role_are_audited(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    viewer = await grant(app, project="guarded", role="viewer")
    outsider = await grant(app, project="elsewhere", role="admin")
    member, role = "/api/v1/projects/guarded/members/user:someone", {"role": "viewer"}
    problem(await client.put(member, json=role, headers=viewer), 403)
    problem(await client.put(member, json=role, headers=outsider), 404)
    problem(await client.get("/api/v1/projects/guarded/members", headers=outsider), 404)

    page = await client.get("/api/v1/audit-events", params={"project": "guarded"}, headers=admin)
    refused = [(e["method"], e["outcome"], e["status_code"]) for e in page.json()["items"]]
    assert sorted(refused) == [("PUT", "denied", 403), ("PUT", "failed", 404)]  # reads leave no row
