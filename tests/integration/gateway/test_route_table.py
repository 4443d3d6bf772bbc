"""Every route is covered by the gateway, including routes added later: this walks the route table."""

from __future__ import annotations

from litestar import Litestar

from tests.integration.gateway.conftest import Client
from tests.support.factories import grant
from tests.support.routes import concrete, http_routes

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
SELF_SERVICE = {"create_api_key", "revoke_api_key", "create_session", "delete_session", "issue_token"}
"""Mutations every authenticated caller may make on their own behalf (or public sign-in/out)."""


async def test_every_non_public_route_rejects_anonymous_callers(app: Litestar, client: Client) -> None:
    checked = 0
    for method, path, handler in http_routes(app):
        if handler.opt.get("public") or path.startswith("/schema"):
            continue
        response = await client.request(method, concrete(path, "p1"), json={})
        assert response.status_code == 401, f"{method} {path} answered {response.status_code} to an anonymous call"
        checked += 1
    assert checked >= 10


async def test_every_non_public_route_declares_a_guard(app: Litestar) -> None:
    for method, path, handler in http_routes(app):
        if handler.opt.get("public") or path.startswith("/schema"):
            continue
        assert handler.resolve_guards(), f"{method} {path} has no guard"


async def test_a_viewer_cannot_call_any_mutating_route(app: Litestar, client: Client) -> None:
    viewer = await grant(app, project="p1", role="viewer")
    checked = 0
    for method, path, handler in http_routes(app):
        if (
            method not in MUTATING
            or handler.opt.get("public")
            or handler.opt.get("read_only")
            or handler.handler_name in SELF_SERVICE
        ):
            continue
        response = await client.request(method, concrete(path, "p1"), json={}, headers=viewer)
        assert response.status_code in {403, 404}, f"viewer got {response.status_code} from {method} {path}"
        checked += 1
    assert checked >= 5


async def test_outsiders_get_404_for_projects_they_cannot_see(app: Litestar, client: Client) -> None:
    outsider = await grant(app, project="other", role="admin")
    await grant(app, project="secret", role="admin")
    exists = await client.get("/api/v1/projects/secret", headers=outsider)
    missing = await client.get("/api/v1/projects/no-such-project", headers=outsider)
    assert exists.status_code == missing.status_code == 404
    assert exists.json()["detail"] == "project 'secret' not found"
