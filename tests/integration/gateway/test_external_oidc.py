"""External OIDC providers: tokens from a test IdP the suite serves itself over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from mlplatform.app import create_app
from tests.support.factories import grant
from tests.support.oidc_idp import AUD, TestIdP
from tests.support.problems import problem


@pytest.fixture
def idp() -> Iterator[TestIdP]:
    server = TestIdP()
    yield server
    server.close()


def with_provider(settings: Any, idp: TestIdP) -> Any:
    provider = {"issuer": idp.issuer, "audience": AUD, "role_mapping": {"team-a": {"p1": "contributor"}}}
    return settings.model_copy(update={"auth": settings.auth.model_copy(update={"oidc_providers": [provider]})})


async def test_external_user_gets_mapped_roles(settings: Any, idp: TestIdP) -> None:
    from mlplatform.settings import Settings

    configured = Settings.model_validate(with_provider(settings, idp).model_dump())
    app = create_app(configured)
    async with AsyncTestClient(app) as client:
        await grant(app, project="p1", role="admin")
        headers = {"Authorization": f"Bearer {idp.token(groups=['team-a'])}"}
        me = await client.get("/api/v1/me", headers=headers)
        assert me.status_code == 200, me.text
        body = me.json()
        assert body["subject"] == "user:ada@example.test"
        assert body["credential"] == "oidc"
        assert body["projects"] == {"p1": "contributor"}
        assert (await client.get("/api/v1/projects/p1", headers=headers)).json()["role"] == "contributor"
        again = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {idp.token(groups=[])}"})
        assert again.json()["id"] == body["id"], "the same external subject maps to the same platform user"
        assert again.json()["projects"] == {}

        problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {idp.token(aud='x')}"}), 401)
        ready = (await client.get("/health/ready")).json()
        assert ready["components"][f"oidc:{idp.issuer}"]["status"] == "up"


async def test_unreachable_idp_is_503_naming_it(settings: Any, idp: TestIdP) -> None:
    from mlplatform.settings import Settings

    configured = Settings.model_validate(with_provider(settings, idp).model_dump())
    token = idp.token()
    idp.close()
    async with AsyncTestClient(create_app(configured)) as client:
        body = problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}), 503)
        assert body["component"] == "identity-provider"
        assert (await client.get("/health/ready")).status_code == 200, "an IdP outage is not a platform outage"
