"""Production refuses unsafe set-ups."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from mlplatform.app import create_app
from mlplatform.kernel.secrets import development_key
from mlplatform.modules.gateway.credentials.keystore import DevelopmentKeyInProduction
from mlplatform.settings import Settings


def as_production(settings: Settings) -> Settings:
    data = settings.model_dump()
    data["env"] = "production"
    data["server"]["public_url"] = "https://ml.example.com"
    # The key development generated for this data dir, so production reads what development stored.
    data["secrets"]["keys"] = [development_key(settings.data_dir)]
    return Settings.model_validate(data)


async def test_production_refuses_a_development_signing_key(settings: Any) -> None:
    async with AsyncTestClient(create_app(settings)) as client:
        assert (await client.get("/health/live")).status_code == 200
    production = as_production(settings)
    with pytest.raises(BaseExceptionGroup) as info:
        async with AsyncTestClient(create_app(production)):
            pass
    matched, _ = info.value.split(DevelopmentKeyInProduction)
    assert matched is not None
    assert "rotate-signing-key" in str(matched.exceptions[0])


async def test_production_generates_its_own_key_on_an_empty_database(settings: Any) -> None:
    production = as_production(settings)
    async with AsyncTestClient(create_app(production)) as client:
        response = await client.get("/health/live")
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert response.headers["x-content-type-options"] == "nosniff"
