"""Browser sign-in and cookie-authenticated writes: only from the platform's own pages or trusted origins
(login CSRF, CSRF); failed sign-ins are audited as failures and charged to the `auth` budget."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from mlplatform.app import create_app
from mlplatform.modules.gateway.models import AuditEvent
from mlplatform.settings import Settings
from tests.integration.gateway.conftest import Client
from tests.support.factories import grant, own_database
from tests.support.problems import problem

SIGN_IN = "/api/v1/auth/session"
OWN = "http://testserver.local"
"""The test client's own origin (its requests carry `Host: testserver.local`)."""


def configured(settings: Settings, **changes: Any) -> Settings:
    http = settings.http.model_copy(update={"cors_origins": ["https://console.example"]})
    server = settings.server.model_copy(update={"public_url": "https://ml.example"})
    limits = settings.rate_limits.model_copy(update={"groups": {**settings.rate_limits.groups, **changes}})
    return settings.model_copy(update={"http": http, "server": server, "rate_limits": limits})


async def audit_rows(app: Litestar) -> list[AuditEvent]:
    """The audit rows once `app` has stopped (stopping the gateway wrote the audit writer's queue)."""
    async with own_database(app.state.platform.database.url) as database, database.sessionmaker() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


async def sign_in(client: Client, key: str, **headers: str) -> Any:
    return await client.post(
        SIGN_IN, data={"api_key": key, "next": "/api/v1/me"}, headers=headers, follow_redirects=False
    )


async def test_sign_in_only_from_allowed_pages(settings: Settings) -> None:
    app = create_app(configured(settings))
    async with AsyncTestClient(app) as client:
        key = (await grant(app, project="p1", role="viewer"))["Authorization"].removeprefix("Bearer ")
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": "http://testserver.local.evil.example"},
            {"Origin": "https://ml.example.evil.example"},
            {"Referer": "https://evil.example/page"},
        ):
            refused = await sign_in(client, key, **headers)
            body = problem(refused, 403)
            assert "cross-origin" in body["detail"], headers
            assert "set-cookie" not in refused.headers, headers
        for headers in (
            {"Origin": OWN},
            {"Origin": "https://ml.example"},  # server.public_url
            {"Origin": "https://console.example"},  # http.cors_origins
            {"Referer": f"{OWN}/login?next=/mlflow/"},
            {},  # no page sent it (a script)
        ):
            accepted = await sign_in(client, key, **headers)
            assert accepted.status_code == 303, (headers, accepted.text)
            assert accepted.cookies.get("mlp_session"), headers
        client.cookies.clear()
        problem(await client.delete(SIGN_IN, headers={"Origin": "https://evil.example"}), 403)
        assert (await client.delete(SIGN_IN, headers={"Origin": OWN})).status_code == 204
    refusals = [r for r in await audit_rows(app) if r.detail and r.detail.startswith("cross-origin")]
    assert len(refusals) == 6
    assert {(r.outcome, r.status_code) for r in refusals} == {("denied", 403)}


async def test_cookie_writes_only_from_allowed_pages_and_bearer_writes_unaffected(settings: Settings) -> None:
    app = create_app(configured(settings))
    async with AsyncTestClient(app) as client:
        bearer = await grant(app, project="p1", role="admin")
        signed_in = await sign_in(client, bearer["Authorization"].removeprefix("Bearer "), Origin=OWN)
        cookie = {"Cookie": f"mlp_session={signed_in.cookies['mlp_session']}"}
        client.cookies.clear()
        path = "/api/v1/projects/p1"
        refused = await client.patch(
            path, json={"description": "csrf"}, headers={**cookie, "Origin": "https://evil.example"}
        )
        problem(refused, 403)
        refused = await client.post(
            "/api/v1/api-keys", json={"name": "csrf"}, headers={**cookie, "Referer": "https://evil.example/"}
        )
        problem(refused, 403)
        assert (await client.get(path, headers=cookie)).json()["description"] == "", "the refused write changed nothing"
        keys = (await client.get("/api/v1/api-keys", headers={**cookie, "Origin": "https://evil.example"})).json()
        assert [k["name"] for k in keys] == ["test"], "reads are not refused, and no key was created"

        allowed = await client.patch(path, json={"description": "own page"}, headers={**cookie, "Origin": OWN})
        assert allowed.status_code == 200, allowed.text
        bearer_write = await client.patch(
            path, json={"description": "bearer"}, headers={**bearer, "Origin": "https://evil.example"}
        )
        assert bearer_write.status_code == 200, "a page can not make the browser attach a bearer token"
        assert (await client.get(path, headers=bearer)).json()["description"] == "bearer"


async def test_failed_sign_in_is_audited_as_a_failure_and_charged_to_auth(settings: Settings) -> None:
    app = create_app(configured(settings, auth=4, anonymous=2))
    async with AsyncTestClient(app) as client:
        wrong = "mlp_aaaaaaaaaaaa_" + "b" * 43
        codes = [(await sign_in(client, wrong)).status_code for _ in range(5)]
        assert codes == [303, 303, 303, 303, 429], "four attempts per address (auth), not two (anonymous)"
        assert (await client.get("/health/live")).status_code == 200, "the anonymous budget was not spent"
    failed = [r for r in await audit_rows(app) if r.path == SIGN_IN]
    assert [(r.action, r.outcome, r.status_code) for r in failed] == [("auth.failed", "denied", 303)] * 4
    assert all(r.detail == "unknown or wrong API key" for r in failed)


async def test_token_endpoint_failures_are_audited_and_charged_to_auth(settings: Settings) -> None:
    app = create_app(configured(settings, auth=3, anonymous=1))
    async with AsyncTestClient(app) as client:
        form = {"grant_type": "client_credentials", "client_id": "svc", "client_secret": "mlp_aaaaaaaaaaaa_" + "b" * 43}
        codes = [(await client.post("/api/v1/auth/token", data=form)).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        assert (await client.get("/health/live")).status_code == 200
    failed = [r for r in await audit_rows(app) if r.path == "/api/v1/auth/token"]
    assert [(r.action, r.outcome, r.status_code) for r in failed] == [("auth.failed", "denied", 401)] * 3
