"""Token signing keys are encrypted at rest with the platform's secret key (`SecretBox`).

The stored column holds a Fernet token, not the JWK; `mlplatform admin rotate-secret-key` re-encrypts it,
so tokens keep verifying through a secret-key rotation; a secret key that decrypts none of them stops the
start with an error naming the setting; the migration encrypts keys stored in plaintext before it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from pydantic import SecretStr
from sqlalchemy import inspect, select, text

from mlplatform.app import create_app
from mlplatform.kernel.db import Base, utcnow
from mlplatform.kernel.migrations import alembic_config, upgrade
from mlplatform.kernel.secrets import SecretBox, generate_key, reencrypt_columns
from mlplatform.modules.gateway.credentials.keystore import KeyStore
from mlplatform.modules.gateway.credentials.signing_keys import generate_signing_key
from mlplatform.modules.gateway.models import SigningKeyRow
from mlplatform.modules.gateway.runtime import GatewayRuntime
from mlplatform.settings import SecretsSettings, Settings
from mlplatform.tables import import_all_tables
from tests.support.factories import access_token, grant, own_database, service_account_key
from tests.support.services import POSTGRES_ADMIN_URL, database_url

BEFORE = "20261207_gateway_tombstone"
"""The gateway's revision whose signing keys were stored in plaintext."""


def with_keys(settings: Settings, *keys: str) -> Settings:
    return settings.model_copy(update={"secrets": SecretsSettings(keys=[SecretStr(k) for k in keys])})


async def stored_rows(url: str) -> list[SigningKeyRow]:
    async with own_database(url) as database, database.sessionmaker() as session:
        return list((await session.scalars(select(SigningKeyRow))).all())


async def test_the_stored_column_is_not_the_key(settings: Settings) -> None:
    key = generate_key()
    app = create_app(with_keys(settings, key))
    async with AsyncTestClient(app) as client:
        public = (await client.get("/.well-known/jwks.json")).json()["keys"][0]
        ring = app.state.platform.runtimes.get(GatewayRuntime).keystore.ring
    (row,) = await stored_rows(settings.resolved_database_url)
    assert row.kid == public["kid"]
    assert ring.active.private_jwk["d"] not in row.encrypted_jwk
    with pytest.raises(json.JSONDecodeError):
        json.loads(row.encrypted_jwk)
    assert json.loads(SecretBox([key]).decrypt_text(row.encrypted_jwk)) == ring.active.private_jwk
    async with own_database(settings.resolved_database_url) as database, database.engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("gateway_signing_keys", schema="mlplatform")}
        )
    assert "encrypted_jwk" in columns
    assert "private_jwk" not in columns, "no plaintext copy is left"


async def test_tokens_keep_verifying_through_a_secret_key_rotation(settings: Settings) -> None:
    old, new = generate_key(), generate_key()
    app = create_app(with_keys(settings, old))
    async with AsyncTestClient(app) as client:
        secret = await service_account_key(client, await grant(app, platform_admin=True))
        token = await access_token(client, "trainer", secret)
    (before,) = await stored_rows(settings.resolved_database_url)

    import_all_tables()
    # What `mlplatform admin rotate-secret-key` does, with the new key listed first.
    async with own_database(settings.resolved_database_url) as database:
        assert await reencrypt_columns(database, SecretBox([new, old]), Base.metadata) >= 1
    (after,) = await stored_rows(settings.resolved_database_url)
    assert after.encrypted_jwk != before.encrypted_jwk
    assert SecretBox([new]).decrypt_text(after.encrypted_jwk) == SecretBox([old]).decrypt_text(before.encrypted_jwk)

    rotated = create_app(with_keys(settings, new))  # the old key dropped
    async with AsyncTestClient(rotated) as client:
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["subject"] == "service_account:trainer"
        fresh = await access_token(client, "trainer", secret)
        assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


def messages(exc: BaseException) -> str:
    """Every message in an exception and the groups/causes around it."""
    found = [str(exc)]
    for inner in getattr(exc, "exceptions", ()):
        found.append(messages(inner))
    if exc.__cause__ is not None:
        found.append(messages(exc.__cause__))
    return " | ".join(found)


async def test_a_wrong_secret_key_is_a_clear_start_up_error(settings: Settings) -> None:
    async with AsyncTestClient(create_app(with_keys(settings, generate_key()))):
        pass
    with pytest.raises(BaseException) as raised:  # noqa: PT011 - the lifespan may wrap it in a group
        async with AsyncTestClient(create_app(with_keys(settings, generate_key()))):
            pass
    text_ = messages(raised.value)
    assert "gateway_signing_keys" in text_, text_
    assert "MLPLATFORM_SECRETS__KEYS" in text_, text_


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    name = f"mlplatform_keys_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg", "postgresql")
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    yield database_url(POSTGRES_ADMIN_URL, name)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def test_the_migration_encrypts_plaintext_keys_and_downgrade_restores_them(fresh_database: str) -> None:
    from alembic import command

    await asyncio.to_thread(upgrade, fresh_database, BEFORE)
    signing_key = generate_signing_key("ES256")
    async with own_database(fresh_database) as database, database.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO gateway_signing_keys (kid, alg, private_jwk, environment, created_at) "
                "VALUES (:kid, 'ES256', CAST(:jwk AS JSONB), 'development', :now)"
            ),
            {"kid": signing_key.kid, "jwk": json.dumps(signing_key.private_jwk), "now": utcnow()},
        )

    box = SecretBox([generate_key()])
    await asyncio.to_thread(upgrade, fresh_database, "heads", secrets=lambda: box)
    (row,) = await stored_rows(fresh_database)
    assert signing_key.private_jwk["d"] not in row.encrypted_jwk
    assert json.loads(box.decrypt_text(row.encrypted_jwk)) == signing_key.private_jwk
    async with own_database(fresh_database) as database:
        store = KeyStore(
            database, secrets=box, environment="development", algorithm="ES256", max_token_age=timedelta(hours=1)
        )
        assert (await store.load()).active.kid == signing_key.kid

    config = alembic_config(fresh_database)
    config.attributes["secrets"] = lambda: box
    await asyncio.to_thread(command.downgrade, config, BEFORE)
    async with own_database(fresh_database) as database, database.engine.connect() as connection:
        restored = (await connection.execute(text("SELECT private_jwk FROM gateway_signing_keys"))).scalar_one()
    assert (json.loads(restored) if isinstance(restored, str) else restored) == signing_key.private_jwk
