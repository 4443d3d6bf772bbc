"""While a deleted project's purge is pending its name stays taken (409), and its members and keys are cut off
at once; the purge waits until the project's events reached every subscriber, then frees the name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.events import StoredEvent, Subscriber
from mlplatform.kernel.module import Module
from mlplatform.modules.gateway import module as gateway
from mlplatform.modules.gateway.events import ProjectDeleted
from mlplatform.settings import Settings
from tests.support.factories import grant
from tests.support.wait import wait_until_async

TERMINAL = {"succeeded", "failed", "cancelled"}


class Broken:
    """A module whose purge fails (a deterministic error: not retried) until repaired."""

    def __init__(self) -> None:
        self.repaired = False
        self.purged: list[str] = []

    async def purge(self, platform: PlatformContext, project: str) -> Mapping[str, int]:
        if not self.repaired:
            raise Invalid("the module cannot purge yet")
        self.purged.append(project)
        return {"things": 1}


class Gate:
    """A subscriber that fails every delivery of `ProjectDeleted` until opened (a webhook endpoint that is down)."""

    def __init__(self) -> None:
        self.open = False
        self.attempts = 0

    async def handle(self, session: AsyncSession, stored: StoredEvent) -> None:
        self.attempts += 1
        if not self.open:
            raise RuntimeError("subscriber unavailable")


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def broken() -> Broken:
    return Broken()


@pytest.fixture
async def client(tmp_path: Path, gate: Gate, broken: Broken) -> AsyncIterator[AsyncTestClient[Litestar]]:
    from mlplatform.app import create_app

    settings = Settings(
        data_dir=tmp_path / "data",
        outbox={
            "poll_interval_seconds": 0.05,
            "backoff_base_seconds": 0.05,
            "backoff_max_seconds": 0.1,
            "max_attempts": 10_000,
        },
        log_json=False,
    )
    subscriber = Subscriber("tests.gate", gate.handle, frozenset({ProjectDeleted.event_type}))
    blocker = Module(name="gate", subscribers=lambda _: [subscriber])
    breakable = Module(name="breakable", purge_project=broken.purge)
    async with AsyncTestClient(create_app(settings, modules=[gateway, blocker, breakable])) as test_client:
        yield test_client


async def wait_job(client: AsyncTestClient[Litestar], headers: dict[str, str], job_id: str) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        job: dict[str, Any] = (await client.get(f"/api/v1/jobs/{job_id}", headers=headers)).json()
        return job if job["status"] in TERMINAL else None

    return await wait_until_async(finished, timeout=15, message="the purge job finishing")


async def test_the_name_is_taken_until_the_purge_finished(
    client: AsyncTestClient[Litestar], gate: Gate, broken: Broken
) -> None:
    broken.repaired = True
    app = client.app
    admin = await grant(app, platform_admin=True)
    assert (await client.post("/api/v1/projects", json={"name": "p"}, headers=admin)).status_code == 201
    member = await grant(app, project="p", role="contributor", name="carol")
    scoped = await grant(app, project="p", role="viewer", name="dave", key_project="p")
    assert (await client.get("/api/v1/projects/p", headers=member)).status_code == 200

    deleted = await client.delete("/api/v1/projects/p", headers=admin)
    assert deleted.status_code == 202, deleted.text
    job_id = deleted.json()["purge_job_id"]

    again = await client.post("/api/v1/projects", json={"name": "p"}, headers=admin)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "purge is pending" in again.json()["detail"]
    assert again.json()["purge_job_id"] == job_id
    for headers in (admin, member):
        assert (await client.get("/api/v1/projects/p", headers=headers)).status_code == 404
        assert "p" not in [p["name"] for p in (await client.get("/api/v1/projects", headers=headers)).json()]
    assert (await client.get("/api/v1/me", headers=scoped)).status_code == 401, "a key scoped to p is revoked"

    async def third_attempt() -> bool:  # the purge waits for the event's delivery, retried while it fails
        return gate.attempts >= 3

    await wait_until_async(third_attempt, timeout=15, message="the third delivery attempt")
    assert (await client.get(f"/api/v1/jobs/{job_id}", headers=admin)).json()["status"] == "running"
    assert (await client.post("/api/v1/projects", json={"name": "p"}, headers=admin)).status_code == 409

    gate.open = True
    assert (await wait_job(client, admin, job_id))["status"] == "succeeded"
    assert (await client.post("/api/v1/projects", json={"name": "p"}, headers=admin)).status_code == 201
    assert (await client.get("/api/v1/projects/p", headers=member)).status_code == 404, "old members are not members"

    # The new project's admin sees the new project's audit rows only; the old ones are kept.
    owner = await grant(app, project="p", role="admin", name="erin")
    assert (await client.patch("/api/v1/projects/p", json={"description": "new"}, headers=owner)).status_code == 200
    rows = (await client.get("/api/v1/audit-events", params={"project": "p"}, headers=owner)).json()["items"]
    assert [(r["method"], r["actor"]) for r in rows] == [("PATCH", "user:erin")]
    earlier = await client.get("/api/v1/audit-events", params={"project": "p", "earlier_projects": True}, headers=admin)
    assert "DELETE" in [r["method"] for r in earlier.json()["items"]]
    refused = await client.get("/api/v1/audit-events", params={"project": "p", "earlier_projects": True}, headers=owner)
    assert refused.status_code == 403


async def test_a_failed_purge_keeps_the_name_until_run_again(
    client: AsyncTestClient[Litestar], gate: Gate, broken: Broken
) -> None:
    gate.open = True
    admin = await grant(client.app, platform_admin=True)
    owner = await grant(client.app, project="q", role="admin", name="quinn")
    not_deleted = await client.post("/api/v1/projects/q/purge", headers=admin)
    assert not_deleted.status_code == 409, not_deleted.text
    assert (await client.post("/api/v1/projects/q/purge", headers=owner)).status_code == 403

    first = (await client.delete("/api/v1/projects/q", headers=owner)).json()["purge_job_id"]
    failed = await wait_job(client, admin, first)
    assert failed["status"] == "failed", failed
    assert "cannot purge yet" in failed["error"]
    assert (await client.post("/api/v1/projects", json={"name": "q"}, headers=admin)).status_code == 409

    broken.repaired = True
    again = await client.post("/api/v1/projects/q/purge", headers=admin)
    assert again.status_code == 202, again.text
    assert (await wait_job(client, admin, again.json()["purge_job_id"]))["status"] == "succeeded"
    assert broken.purged == ["q"]
    assert (await client.post("/api/v1/projects", json={"name": "q"}, headers=admin)).status_code == 201
    assert (await client.post("/api/v1/projects/q/purge", headers=admin)).status_code == 409
