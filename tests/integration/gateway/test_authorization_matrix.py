"""The authorization matrix: every route x every kind of caller, with the answer its guard promises.

The expectation of a route comes from the guards it declares (`requires_role(role)` on the `{project}` path
parameter, `requires_platform_admin`, `requires_authenticated`), so a route added later is covered by the
same rules. A caller is *let through* when the answer is neither 401, 403, nor the guard's "project not
found" 404 (the handler may still answer 400/404/409/422 for the made-up body and ids).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient

from mlplatform.modules.gateway.api import Role, requires_platform_admin
from mlplatform.settings import Settings
from tests.support.factories import grant
from tests.support.routes import concrete, http_routes

PROJECT = "p1"
OTHER = "p2"
DESTRUCTIVE = {("DELETE", "/api/v1/projects/{project:str}")}
"""Let-through calls that would end the test's project; checked once, last."""


@dataclass(frozen=True)
class Caller:
    name: str
    headers: dict[str, str]
    role: Role | None
    """The role the caller acts with in PROJECT (None: not a member, or its key is scoped elsewhere)."""
    authenticated: bool = True
    platform_admin: bool = False


@dataclass(frozen=True)
class Rule:
    kind: str
    """`project` (a role in the path's project), `platform_admin`, or `authenticated`."""
    role: Role | None = None


def rule_of(handler: HTTPRouteHandler) -> Rule:
    guards = handler.resolve_guards()
    for guard in guards:
        role = getattr(guard, "required_role", None)
        if role is not None:
            return Rule("project", role)
    if requires_platform_admin in guards:
        return Rule("platform_admin")
    return Rule("authenticated")


def expected(rule: Rule, caller: Caller) -> str:
    """`401`, `403`, `404` (the project is invisible to the caller), `through`, or `authenticated` (any answer but
    401: routes open to every caller decide in the handler, e.g. the audit log's own project-admin rule)."""
    if not caller.authenticated:
        return "401"
    if rule.kind == "authenticated":
        return "authenticated"
    if caller.platform_admin:
        return "through"
    if rule.kind == "platform_admin":
        return "403"
    assert rule.role is not None
    if caller.role is None:
        return "404"
    return "through" if caller.role >= rule.role else "403"


def observed(response: Any) -> str:
    status = response.status_code
    if status in (401, 403):
        return str(status)
    if status == 404 and response.json().get("detail") == f"project {PROJECT!r} not found":
        return "404"
    return "through"


@pytest.fixture
async def matrix_app(settings: Settings) -> AsyncIterator[tuple[Litestar, AsyncTestClient[Litestar]]]:
    from mlplatform.app import create_app

    # Hundreds of calls per caller: the budgets are not what this test is about.
    app = create_app(
        settings.model_copy(update={"rate_limits": settings.rate_limits.model_copy(update={"enabled": False})})
    )
    async with AsyncTestClient(app) as client:
        yield app, client


async def callers(app: Litestar) -> list[Caller]:
    await grant(app, project=OTHER, role="admin")
    found = [Caller("anonymous", {}, None, authenticated=False)]
    found.append(Caller("outsider", await grant(app, project=OTHER, role="admin"), None))
    for role in ("viewer", "contributor", "maintainer", "admin"):
        found.append(Caller(role, await grant(app, project=PROJECT, role=role), Role.parse(role)))
    name = "key-elsewhere"
    await grant(app, project=PROJECT, role="admin", name=name)
    found.append(Caller(name, await grant(app, project=OTHER, role="admin", name=name, key_project=OTHER), None))
    capped = await grant(app, project=PROJECT, role="admin", name="capped", key_role="viewer")
    found.append(Caller("admin-key-capped-at-viewer", capped, Role.VIEWER))
    found.append(Caller("platform-admin", await grant(app, platform_admin=True), Role.ADMIN, platform_admin=True))
    return found


async def test_every_route_answers_every_caller_as_its_guard_promises(
    matrix_app: tuple[Litestar, AsyncTestClient[Litestar]],
) -> None:
    app, client = matrix_app
    people = await callers(app)
    routes = [
        (method, path, handler)
        for method, path, handler in http_routes(app)
        if not handler.opt.get("public") and not path.startswith("/schema")
    ]
    wrong: list[str] = []
    kinds: set[str] = set()
    for method, path, handler in routes:
        rule = rule_of(handler)
        kinds.add(rule.kind)
        for caller in people:
            want = expected(rule, caller)
            if want == "through" and (method, path) in DESTRUCTIVE:
                continue
            response = await client.request(method, concrete(path, PROJECT), json={}, headers=caller.headers)
            got = observed(response)
            if got != want and not (want == "authenticated" and got != "401"):
                wrong.append(f"{method} {path} as {caller.name}: expected {want}, got {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert len(routes) >= 60
    assert kinds == {"project", "platform_admin", "authenticated"}

    for method, path in DESTRUCTIVE:
        admin = next(c for c in people if c.name == "admin")
        response = await client.request(method, concrete(path, PROJECT), headers=admin.headers)
        assert observed(response) == "through", response.text
