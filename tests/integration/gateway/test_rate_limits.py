"""Rate limits per principal and route group (Redis, one round trip), per address before auth."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.app import create_app
from tests.support.factories import grant


def limited(settings: Any, **groups: int) -> Any:
    limits = settings.rate_limits.model_copy(update={"groups": {**settings.rate_limits.groups, **groups}})
    return settings.model_copy(update={"rate_limits": limits})


async def test_over_budget_is_429_with_headers_per_principal(settings: Any) -> None:
    app: Litestar = create_app(limited(settings, api=3))
    async with AsyncTestClient(app) as client:
        alice = await grant(app, project="p1", role="viewer")
        bob = await grant(app, project="p1", role="viewer")
        responses = [await client.get("/api/v1/me", headers=alice) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert responses[0].headers["ratelimit-limit"] == "3"
        assert responses[0].headers["ratelimit-remaining"] == "2"
        denied = responses[-1]
        assert denied.headers["content-type"].startswith("application/problem+json")
        assert int(denied.headers["retry-after"]) >= 1
        assert (await client.get("/api/v1/me", headers=bob)).status_code == 200


async def test_anonymous_budget_is_per_address(settings: Any) -> None:
    async with AsyncTestClient(create_app(limited(settings, anonymous=2))) as client:
        codes = [(await client.get("/health/live")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


async def test_online_group_has_its_own_budget(settings: Any) -> None:
    from litestar import get

    from mlplatform.kernel.module import Module
    from mlplatform.modules.gateway import module as gateway
    from mlplatform.modules.gateway.api import Role, rate_group, requires_role

    @get("/api/v1/projects/{project:str}/hot", guards=[requires_role(Role.VIEWER)], opt=rate_group("online"))
    async def hot(project: str) -> dict[str, str]:
        return {"project": project}

    app = create_app(limited(settings, api=1, online=5), modules=[gateway, Module(name="probe", route_handlers=[hot])])
    async with AsyncTestClient(app) as client:
        user = await grant(app, project="p1", role="viewer")
        online = [(await client.get("/api/v1/projects/p1/hot", headers=user)).status_code for _ in range(5)]
        assert online == [200] * 5
        assert (await client.get("/api/v1/me", headers=user)).status_code == 200
        assert (await client.get("/api/v1/me", headers=user)).status_code == 429


async def test_redis_down_fails_open(settings: Any) -> None:
    broken = limited(settings, api=1).model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(broken)
    async with AsyncTestClient(app) as client:
        user = await grant(app, project="p1", role="viewer")
        codes = [(await client.get("/api/v1/me", headers=user)).status_code for _ in range(3)]
    assert codes == [200, 200, 200]


async def test_embedded_default_limits_in_process(embedded_settings: Any) -> None:
    app = create_app(limited(embedded_settings, api=2))
    async with AsyncTestClient(app) as client:
        user = await grant(app, project="p1", role="viewer")
        codes = [(await client.get("/api/v1/me", headers=user)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
