"""Forged, stale and revoked credentials answer 401 problem+json and are audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from litestar import Litestar
from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.credentials.jwt_tokens import issue_access_token
from mlplatform.modules.gateway.models import AuditEvent
from mlplatform.modules.gateway.runtime import GatewayRuntime
from tests.integration.gateway.conftest import Client
from tests.support.factories import grant
from tests.support.problems import problem


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def valid_claims(app: Litestar, client: Client) -> tuple[dict[str, Any], dict[str, Any], str]:
    headers = await grant(app, project="p1", role="viewer")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    settings = app.state.settings
    ring = app.state.platform.runtimes.get(GatewayRuntime).keystore.ring
    now = int(time.time())
    claims = {"iss": settings.token_issuer, "aud": settings.auth.audience, "sub": me["id"], "iat": now, "nbf": now}
    header = {"alg": ring.active.alg, "kid": ring.active.kid, "typ": "at+jwt"}
    token, _ = issue_access_token(
        ring, issuer=settings.token_issuer, audience=settings.auth.audience, subject=me["id"], claims={}, ttl_seconds=60
    )
    return claims, header, token


def sign(header: dict[str, Any], claims: dict[str, Any], key: Any) -> str:
    return jwt.encode(header, claims, key, algorithms=[header["alg"]])


async def test_a_valid_token_is_accepted(app: Litestar, client: Client) -> None:
    _, _, token = await valid_claims(app, client)
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200


@pytest.mark.parametrize(
    "attack",
    [
        "expired",
        "not_yet_valid",
        "alg_none",
        "hs256_with_public_key",
        "foreign_rs256",
        "wrong_issuer",
        "wrong_audience",
        "unknown_kid",
        "tampered_payload",
        "foreign_key_claiming_our_kid",
    ],
)
async def test_token_attacks_are_rejected_and_audited(app: Litestar, client: Client, attack: str) -> None:
    claims, header, token = await valid_claims(app, client)
    ring = app.state.platform.runtimes.get(GatewayRuntime).keystore.ring
    now = int(time.time())
    exp = now + 300
    if attack == "expired":
        forged = sign(header, {**claims, "iat": now - 4000, "nbf": now - 4000, "exp": now - 3000}, ring.active.key)
    elif attack == "not_yet_valid":
        forged = sign(header, {**claims, "nbf": now + 3000, "exp": now + 4000}, ring.active.key)
    elif attack == "alg_none":
        forged = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64({**claims, 'exp': exp})}."
    elif attack == "hs256_with_public_key":
        public_pem = ring.active.key.as_pem(private=False)
        signing_input = f"{b64({**header, 'alg': 'HS256'})}.{b64({**claims, 'exp': exp})}"
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        forged = f"{signing_input}.{b64(mac)}"
    elif attack == "foreign_rs256":
        foreign = RSAKey.generate_key(2048, parameters={"kid": "attacker"})
        forged = sign({"alg": "RS256", "kid": "attacker", "typ": "at+jwt"}, {**claims, "exp": exp}, foreign)
    elif attack == "wrong_issuer":
        forged = sign(header, {**claims, "iss": "https://evil.example", "exp": exp}, ring.active.key)
    elif attack == "wrong_audience":
        forged = sign(header, {**claims, "aud": "someone-else", "exp": exp}, ring.active.key)
    elif attack == "unknown_kid":
        forged = sign({**header, "kid": "no-such-key"}, {**claims, "exp": exp}, ring.active.key)
    elif attack == "tampered_payload":
        head, _, signature = token.split(".")
        forged = f"{head}.{b64({**claims, 'exp': exp, 'sub': claims['sub'], 'name': 'user:admin'})}.{signature}"
    else:
        foreign_ec = ECKey.generate_key("P-256", parameters={"kid": header["kid"]})
        forged = sign(header, {**claims, "exp": exp}, foreign_ec)

    body = problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401)
    assert body["detail"].startswith("invalid credentials")
    assert forged not in json.dumps(body)
    database = Database(app.state.platform.database.url)
    async with database.sessionmaker() as session:
        failures = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.failed"))).all()
    await database.dispose()
    assert len(failures) == 1
    assert failures[0].outcome == "denied"
    assert failures[0].status_code == 401
    assert forged[-20:] not in (failures[0].detail or "")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer mlp_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "Bearer garbage", "Basic !!!", "Digest x"],
)
async def test_unknown_credentials_are_401(client: Client, authorization: str) -> None:
    problem(await client.get("/api/v1/me", headers={"Authorization": authorization}), 401)


async def test_anonymous_call_to_a_protected_route_is_401_with_challenge(client: Client) -> None:
    response = await client.get("/api/v1/me")
    problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_expired_api_key_is_rejected(app: Litestar, client: Client, settings: Any) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from mlplatform.kernel.db import utcnow
    from mlplatform.modules.gateway.models import ApiKeyRow

    headers = await grant(app, project="p1", role="viewer")
    database = Database(settings.resolved_database_url)
    async with database.transaction() as session:
        await session.execute(update(ApiKeyRow).values(expires_at=utcnow() - timedelta(seconds=1)))
    await database.dispose()
    body = problem(await client.get("/api/v1/me", headers=headers), 401)
    assert "expired" in body["detail"]
