"""Issue 18: deleting a project leaves nothing a new project of the same name could inherit."""

from __future__ import annotations

from tests.integration.features.stack import Stack
from tests.integration.purge.scenario import assert_nothing_inherited, assert_populated, delete_and_recreate, populate


async def test_a_recreated_project_inherits_nothing_on_the_full_stack(full_platform: Stack) -> None:
    seeded = await populate(full_platform)
    await assert_populated(full_platform, seeded)
    finished = await delete_and_recreate(full_platform, seeded)
    removed = finished["result"]["removed"]
    assert removed["features"]["online_keys"] > 0, removed
    assert removed["experiments"]["runs"] == 1, removed
    assert removed["experiments"]["registered_models"] == 1, removed
    await assert_nothing_inherited(full_platform, seeded)


async def test_a_recreated_project_inherits_nothing_on_the_embedded_default(embedded_platform: Stack) -> None:
    seeded = await populate(embedded_platform)
    await assert_populated(embedded_platform, seeded)
    await delete_and_recreate(embedded_platform, seeded)
    await assert_nothing_inherited(embedded_platform, seeded)
