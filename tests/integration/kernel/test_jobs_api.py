"""`/api/v1/jobs` over HTTP: who sees which jobs, filters and cursor pages, cancellation rights."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.kernel.db import utcnow
from mlplatform.kernel.jobs import KernelJob
from mlplatform.settings import Settings
from tests.support.factories import grant, own_database
from tests.support.wait import wait_until_async

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def client(embedded_settings: Settings) -> AsyncIterator[Client]:
    from mlplatform.app import create_app

    async with AsyncTestClient(create_app(embedded_settings), timeout=30) as test_client:
        yield test_client


async def insert(app: Litestar, *jobs: KernelJob) -> None:
    async with own_database(app.state.platform.database.url) as database, database.transaction() as session:
        session.add_all(jobs)


def finished(
    project: str | None, kind: str = "features.materialize", *, by: str = "user:someone", minutes: int = 0
) -> KernelJob:
    at = utcnow() - timedelta(minutes=minutes)
    return KernelJob(
        id=uuid.uuid4(),
        kind=kind,
        project=project,
        status="succeeded",
        progress=1.0,
        params={},
        result={"rows": 1},
        attempts=1,
        created_by=by,
        created_at=at,
        updated_at=at,
        finished_at=at,
    )


async def test_members_see_their_projects_jobs_only(client: Client) -> None:
    app = client.app
    alice = await grant(app, project="alpha", role="viewer", name="alice")
    await grant(app, project="beta", role="contributor", name="bob")
    admin = await grant(app, platform_admin=True)
    jobs = [finished("alpha", minutes=3), finished("beta", minutes=2), finished("alpha", "kernel.selftest", minutes=1)]
    mine = finished(None, "kernel.selftest", by="user:alice")
    await insert(app, *jobs, mine)

    listed = (await client.get("/api/v1/jobs", headers=alice)).json()
    assert [j["id"] for j in listed["items"]] == [str(mine.id), str(jobs[2].id), str(jobs[0].id)]
    assert (await client.get(f"/api/v1/jobs/{jobs[1].id}", headers=alice)).status_code == 404
    shown = (await client.get(f"/api/v1/jobs/{jobs[0].id}", headers=alice)).json()
    assert shown["status"] == "succeeded"
    assert shown["result"] == {"rows": 1}
    everything = (await client.get("/api/v1/jobs", headers=admin)).json()
    assert {str(j.id) for j in [*jobs, mine]} <= {j["id"] for j in everything["items"]}
    assert (await client.get("/api/v1/jobs")).status_code == 401


async def test_filters_and_cursor_pages(client: Client) -> None:
    app = client.app
    headers = await grant(app, project="gamma", role="viewer")
    jobs = [finished("gamma", minutes=10 - i) for i in range(5)] + [finished("gamma", "kernel.selftest")]
    await insert(app, *jobs)
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"project": "gamma", "kind": "features.materialize", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/jobs", params=params, headers=headers)).json()
        ids += [j["id"] for j in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids == [str(j.id) for j in reversed(jobs[:5])]
    running = (await client.get("/api/v1/jobs", params={"status": "running"}, headers=headers)).json()
    assert running["items"] == []
    bad = await client.get("/api/v1/jobs", params={"status": "sleeping"}, headers=headers)
    assert bad.status_code == 422
    assert (await client.get("/api/v1/jobs", params={"cursor": "garbage"}, headers=headers)).status_code == 422


async def test_cancel_needs_contributor_and_a_live_job(client: Client) -> None:
    app = client.app
    viewer = await grant(app, project="delta", role="viewer")
    contributor = await grant(app, project="delta", role="contributor")
    running = KernelJob(
        id=uuid.uuid4(),
        kind="kernel.selftest",
        project="delta",
        status="queued",
        params={"seconds": 30},
        attempts=0,
        max_attempts=1,
        created_by="user:someone-else",
    )
    await insert(app, running)

    async def job_in(*statuses: str) -> dict[str, Any] | None:
        state: dict[str, Any] = (await client.get(f"/api/v1/jobs/{running.id}", headers=viewer)).json()
        return state if state["status"] in statuses and state["progress"] > 0 else None

    # The in-process runner picks it up.
    await wait_until_async(lambda: job_in("running"), timeout=10, interval=0.1, message="the job running")
    refused = await client.post(f"/api/v1/jobs/{running.id}/cancel", headers=viewer)
    assert refused.status_code == 403
    accepted = await client.post(f"/api/v1/jobs/{running.id}/cancel", headers=contributor)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["cancel_requested"] is True
    state = await wait_until_async(lambda: job_in("cancelled"), timeout=10, interval=0.1, message="cancelled")
    assert 0 < state["progress"] < 1
    again = await client.post(f"/api/v1/jobs/{running.id}/cancel", headers=contributor)
    assert again.status_code == 409
