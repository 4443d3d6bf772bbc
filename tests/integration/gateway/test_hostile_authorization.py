"""Odd and hostile `Authorization` headers: 401 problem+json and an `auth.failed` audit row, never a 500.

`Authorization: Basic` with bytes outside ASCII used to answer 500 on every route (`base64` raises a
`ValueError` for non-ASCII text, which was not caught), and the token endpoint's client authentication
did the same."""

from __future__ import annotations

import base64

import pytest
from litestar import Litestar
from sqlalchemy import func, select

from mlplatform.kernel.db import Database
from mlplatform.modules.gateway.models import AuditEvent
from tests.integration.gateway.conftest import Client
from tests.support.factories import own_database
from tests.support.problems import problem


def b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


HOSTILE: dict[str, bytes] = {
    "basic, latin-1 bytes": b"Basic \xe9\xe9\xe9\xe9",
    "basic, high bytes": b"Basic \xff\xfe\xfd",
    "basic, base64 then a high byte": b"Basic " + b64(b"u:p") + b"\xe9",
    "basic, not UTF-8 inside": b"Basic " + b64(b"user:\xff\xfe\xfd"),
    "basic, UTF-8 password": b"Basic " + b64("user:pässwörd-that-is-long-enough".encode()),
    "basic, no colon": b"Basic " + b64(b"justonepart"),
    "basic, empty password": b"Basic " + b64(b"user:"),
    "basic, bad padding": b"Basic dXNlcjpw=",
    "basic alone": b"Basic",
    "bearer alone": b"Bearer",
    "bearer, spaces only": b"Bearer    ",
    "only spaces": b"   ",
    "bearer, high bytes": b"Bearer \xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0",
    "bearer, latin-1 JWT-shaped": b"Bearer \xe9\xe9.\xe9\xe9.\xe9\xe9",
    "bearer, JWT of garbage": b"Bearer a.b.c",
    "bearer, JWT with a list header": b"Bearer " + base64.urlsafe_b64encode(b"[1]") + b".e30.c2ln",
    "bearer, JWT with a number issuer": b"Bearer eyJhbGciOiJFUzI1NiJ9."
    + base64.urlsafe_b64encode(b'{"iss":5}')
    + b".x",
    "bearer, four dots": b"Bearer a.b.c.d.e",
    "bearer, API-key-shaped": b"Bearer mlp_aaaaaaaaaaaa_" + b"\xe9" * 43,
    "bearer, 8 KB": b"Bearer " + b"A" * 8192,
    "bearer, control byte": b"Bearer abcdefghijklmnop\x01qrstuv",
    "unknown scheme": b"Digest username=x",
    "scheme with tab": b"Bearer\tmlp_aaaaaaaaaaaa_" + b"b" * 43,
    "lower-case basic, high byte": b"basic \x80",
}


async def count_failed(database: Database) -> int:
    async with database.sessionmaker() as session:
        statement = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.failed")
        return int(await session.scalar(statement) or 0)


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/projects/p1/models"])
async def test_hostile_authorization_is_401_and_audited(app: Litestar, client: Client, path: str) -> None:
    async with own_database(app.state.platform.database.url) as database:
        for name, value in HOSTILE.items():
            before = await count_failed(database)
            response = await client.get(path, headers=[(b"authorization", value)])
            body = problem(response, 401)
            assert "invalid credentials" in body["detail"], (name, body)
            assert response.headers["www-authenticate"].startswith("Bearer"), name
            assert await count_failed(database) == before + 1, name


async def test_hostile_client_authentication_at_the_token_endpoint(client: Client) -> None:
    for name, value in HOSTILE.items():
        response = await client.post(
            "/api/v1/auth/token",
            content=b"grant_type=client_credentials",
            headers=[(b"authorization", value), (b"content-type", b"application/x-www-form-urlencoded")],
        )
        assert response.status_code == 401, (name, response.status_code, response.text)
        assert response.json()["error"] == "invalid_client", name
