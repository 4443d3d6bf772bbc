"""Verified credentials: one verification for concurrent requests, renewed ahead of expiry in the
background, and a revocation found by that renewal takes effect without waiting for the entry to expire."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from bench.bench_auth import viewer_key
from sqlalchemy import update

from mlplatform.kernel.db import Database, utcnow
from mlplatform.kernel.secrets import SecretBox, generate_key
from mlplatform.modules.gateway.credentials.api_keys import parse_api_key
from mlplatform.modules.gateway.credentials.authn import AuthenticationFailed, Authenticator
from mlplatform.modules.gateway.credentials.keystore import KeyStore
from mlplatform.modules.gateway.models import ApiKeyRow
from tests.support.clock import FakeClock
from tests.support.wait import wait_until_async

TTL = 2.0


def left(auth: Authenticator, header: str) -> float:
    cached = auth._by_credential.get_with_remaining(header)
    assert cached is not None
    return cached[1]


def into_last_quarter(auth: Authenticator, clock: FakeClock, header: str) -> None:
    """Until 0.4 s of the entry's life is left (the last quarter of 2 s starts at 0.5 s left)."""
    clock.advance(left(auth, header) - 0.4)


async def background_check_done(auth: CountingAuthenticator, header: str, checks: int) -> None:
    """The `checks`-th verification of `header` started in the background has finished and left its answer."""

    async def done() -> bool:
        return auth.checks == checks and header not in auth._verifying

    await wait_until_async(done, timeout=10, message=f"verification {checks} finishing")


class CountingAuthenticator(Authenticator):
    checks = 0

    async def _authenticate(self, authorization: str | None, session_cookie: str | None) -> Any:
        self.checks += 1
        return await super()._authenticate(authorization, session_cookie)


async def test_verification_is_shared_renewed_early_and_revocation_found(clean_postgres: str) -> None:
    key = await viewer_key(clean_postgres, project="cache")
    database = Database(clean_postgres)
    keystore = KeyStore(
        database,
        secrets=SecretBox([generate_key()]),
        environment="development",
        algorithm="ES256",
        max_token_age=timedelta(hours=1),
    )
    clock = FakeClock()
    auth = CountingAuthenticator(
        database, keystore, issuer="http://test", audience="mlplatform", cache_seconds=TTL, clock=clock
    )
    header = f"Bearer {key}"
    try:
        principals = await asyncio.gather(*(auth.authenticate(header, None) for _ in range(10)))
        assert auth.checks == 1, "ten concurrent requests share one verification"
        assert len({p.id for p in principals}) == 1

        into_last_quarter(auth, clock, header)
        assert (await auth.authenticate(header, None)).id == principals[0].id
        await background_check_done(auth, header, 2)  # the entry was renewed in the background
        assert left(auth, header) > TTL / 2, "the renewed entry lives on"

        parsed = parse_api_key(key)
        assert parsed is not None
        key_id = parsed[0]
        async with database.transaction() as session:
            await session.execute(update(ApiKeyRow).where(ApiKeyRow.key_id == key_id).values(revoked_at=utcnow()))
        into_last_quarter(auth, clock, header)
        await auth.authenticate(header, None)  # still cached: starts the renewal, which finds the revocation
        await background_check_done(auth, header, 3)
        with pytest.raises(AuthenticationFailed):
            await auth.authenticate(header, None)  # before the old entry would have expired
    finally:
        await database.dispose()
