"""OAuth2 client credentials, discovery, JWKS, API keys as Bearer and Basic, browser sessions."""

from __future__ import annotations

import base64

from joserfc import jwt
from joserfc.jwk import KeySet
from litestar import Litestar

from tests.integration.gateway.conftest import Client
from tests.support.factories import grant, service_account_key
from tests.support.problems import problem


async def test_discovery_and_jwks_describe_the_token_endpoint(client: Client) -> None:
    config = (await client.get("/.well-known/openid-configuration")).json()
    assert config["token_endpoint"] == f"{config['issuer']}/api/v1/auth/token"
    assert config["grant_types_supported"] == ["client_credentials"]
    keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert keys
    assert all("d" not in k for k in keys), "JWKS must not publish private parameters"


async def test_client_credentials_token_works_as_bearer(app: Litestar, client: Client) -> None:
    admin = await grant(app, platform_admin=True)
    secret = await service_account_key(client, admin)
    assert secret.startswith("mlp_")
    response = await client.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "trainer", "client_secret": secret}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    keys = KeySet.import_key_set((await client.get("/.well-known/jwks.json")).json())
    claims = jwt.decode(body["access_token"], keys).claims
    assert claims["name"] == "service_account:trainer"
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["subject"] == "service_account:trainer"
    assert me.json()["credential"] == "jwt"


async def test_client_credentials_with_http_basic_client_auth(app: Litestar, client: Client) -> None:
    secret = await service_account_key(client, await grant(app, platform_admin=True))
    basic = base64.b64encode(f"service_account%3Atrainer:{secret}".encode()).decode()
    response = await client.post(
        "/api/v1/auth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200, response.text


async def test_token_endpoint_errors_are_rfc6749(app: Litestar, client: Client) -> None:
    secret = await service_account_key(client, await grant(app, platform_admin=True))
    cases = [
        ({}, 400, "invalid_request"),
        ({"grant_type": "password", "username": "x", "password": "y"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            {"grant_type": "client_credentials", "client_id": "trainer", "client_secret": "mlp_wrong"},
            401,
            "invalid_client",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "someone-else", "client_secret": secret},
            401,
            "invalid_client",
        ),
    ]
    for form, status, error in cases:
        response = await client.post("/api/v1/auth/token", data=form)
        assert response.status_code == status, (form, response.text)
        assert response.json()["error"] == error


async def test_api_key_as_bearer_and_as_basic_password(app: Litestar, client: Client) -> None:
    headers = await grant(app, project="p1", role="viewer", name="ada")
    key = headers["Authorization"].removeprefix("Bearer ")
    assert (await client.get("/api/v1/me", headers=headers)).json()["projects"] == {"p1": "viewer"}
    basic = base64.b64encode(f"anything:{key}".encode()).decode()
    me = await client.get("/api/v1/me", headers={"Authorization": f"Basic {basic}"})
    assert me.status_code == 200
    assert me.json()["subject"] == "user:ada"


async def test_scoped_api_key_is_capped_to_its_project_and_role(app: Litestar, client: Client) -> None:
    headers = await grant(app, project="p1", role="admin", name="boss")
    await grant(app, project="p2", role="viewer", name="boss")
    created = await client.post(
        "/api/v1/api-keys", json={"name": "ro", "project": "p1", "role": "viewer"}, headers=headers
    )
    assert created.status_code == 201, created.text
    scoped = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await client.get("/api/v1/me", headers=scoped)).json()["projects"] == {"p1": "viewer"}
    problem(await client.patch("/api/v1/projects/p1", json={"description": "x"}, headers=scoped), 403)
    problem(await client.get("/api/v1/projects/p2", headers=scoped), 404)


async def test_revoked_key_stops_working_at_once(app: Litestar, client: Client) -> None:
    headers = await grant(app, project="p1", role="viewer")
    created = await client.post("/api/v1/api-keys", json={"name": "tmp"}, headers=headers)
    new_key = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await client.get("/api/v1/me", headers=new_key)).status_code == 200
    listed = (await client.get("/api/v1/api-keys", headers=headers)).json()
    assert {k["name"] for k in listed} == {"test", "tmp"}
    assert all("key" not in k for k in listed)
    revoke = await client.delete(f"/api/v1/api-keys/{created.json()['id']}", headers=headers)
    assert revoke.status_code == 204
    body = problem(await client.get("/api/v1/me", headers=new_key), 401)
    assert "revoked" in body["detail"]


async def test_browser_session_cookie(app: Litestar, client: Client) -> None:
    headers = await grant(app, project="p1", role="viewer", name="browser-user")
    key = headers["Authorization"].removeprefix("Bearer ")
    page = await client.get("/login")
    assert page.status_code == 200
    assert "<form" in page.text
    bad = await client.post("/api/v1/auth/session", data={"api_key": "mlp_nope"}, follow_redirects=False)
    assert bad.status_code == 303
    assert bad.headers["location"] == "/login?error=1"
    signed_in = await client.post(
        "/api/v1/auth/session", data={"api_key": key, "next": "/api/v1/me"}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    session_value = signed_in.cookies["mlp_session"]
    me = await client.get("/api/v1/me", cookies={"mlp_session": session_value})
    assert me.status_code == 200
    assert me.json()["credential"] == "session"
    evil = await client.post(
        "/api/v1/auth/session", data={"api_key": key, "next": "//evil.example"}, follow_redirects=False
    )
    problem(evil, 422)


async def test_bootstrap_admin_key_from_settings(settings: object) -> None:
    from litestar.testing import AsyncTestClient

    from mlplatform.app import create_app

    chosen = "operator-chosen-admin-key-123"
    app = create_app(settings.model_copy(update={"bootstrap_admin_key": chosen}))  # type: ignore[attr-defined]
    async with AsyncTestClient(app) as client:
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {chosen}"})
        assert me.status_code == 200, me.text
        assert me.json()["platform_admin"] is True
        assert me.json()["subject"] == "user:admin"


async def test_first_start_prints_a_generated_admin_key_once(embedded_settings: object, capfd: object) -> None:
    from litestar.testing import AsyncTestClient

    from mlplatform.app import create_app

    async with AsyncTestClient(create_app(embedded_settings)) as client:  # type: ignore[arg-type]
        printed = capfd.readouterr().err  # type: ignore[attr-defined]
        key = next(line.strip() for line in printed.splitlines() if line.strip().startswith("mlp_"))
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert me.json()["platform_admin"] is True
    async with AsyncTestClient(create_app(embedded_settings)):  # type: ignore[arg-type]
        assert "mlp_" not in capfd.readouterr().err  # type: ignore[attr-defined]


async def test_rotation_keeps_old_tokens_valid(app: Litestar, client: Client, settings: object) -> None:
    """Another replica (here: the admin command) rotates; this replica follows on the first token it cannot place."""
    import asyncio
    from datetime import timedelta

    from mlplatform.kernel.db import Database
    from mlplatform.modules.gateway.cli import rotate_signing_key
    from mlplatform.modules.gateway.credentials.jwt_tokens import issue_access_token
    from mlplatform.modules.gateway.credentials.keystore import KeyStore

    secret = await service_account_key(client, await grant(app, platform_admin=True))
    form = {"grant_type": "client_credentials", "client_id": "trainer", "client_secret": secret}
    old = (await client.post("/api/v1/auth/token", data=form)).json()["access_token"]
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"})).json()
    old_kid = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}.pop()

    new_kid = await asyncio.to_thread(rotate_signing_key, settings)  # type: ignore[arg-type]
    database = Database(settings.resolved_database_url)  # type: ignore[attr-defined]
    other_replica = KeyStore(
        database,
        secrets=app.state.platform.secrets,
        environment="development",
        algorithm="ES256",
        max_token_age=timedelta(hours=9),
    )
    ring = await other_replica.load()
    await database.dispose()
    assert ring.active.kid == new_kid != old_kid
    token, _ = issue_access_token(
        ring,
        issuer=app.state.settings.token_issuer,
        audience=app.state.settings.auth.audience,
        subject=me["id"],
        claims={},
        ttl_seconds=60,
    )
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"})).status_code == 200
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert kids == {old_kid, new_kid}


async def test_a_browser_without_a_session_is_sent_to_the_login_page(client: Client) -> None:
    page = await client.get(
        "/api/v1/projects/p1?x=1", headers={"Accept": "text/html,application/xhtml+xml"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fapi%2Fv1%2Fprojects%2Fp1%3Fx%3D1"
    mounted = await client.get("/mlflow/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert mounted.headers["location"] == "/login?next=%2Fmlflow%2F", "the mount prefix is kept"
    api = await client.get("/api/v1/projects/p1", headers={"Accept": "application/json"})
    problem(api, 401)
