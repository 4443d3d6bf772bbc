"""The lineage API over HTTP with real credentials, and emission while the platform serves requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.modules.lineage.models import OpenLineageEventRow
from mlplatform.settings import LineageSettings, Settings
from tests.integration.lineage.capture import CaptureServer
from tests.integration.lineage.flow import Flow, apply_all
from tests.integration.lineage.schema import validate_run_event
from tests.support.factories import grant, own_database
from tests.support.problems import problem
from tests.support.wait import wait_until_async

Client = AsyncTestClient[Litestar]


async def seed(app: Litestar, *flows: Flow) -> None:
    # Its own engine: the test client runs the app on another event loop.
    async with own_database(app.state.platform.database.url) as database:
        for flow in flows:
            await apply_all(database, flow.events())


async def test_anonymous_callers_are_refused(client: Client) -> None:
    for path in ("/api/v1/lineage?node=feature_view:fraud/card_stats", "/api/v1/lineage/events"):
        problem(await client.get(path), 401)


async def test_provenance_and_impact_in_one_call_each(app: Litestar, client: Client) -> None:
    flow = Flow()
    await seed(app, flow)
    viewer = await grant(app, project="fraud", role="viewer")

    provenance = await client.get(
        "/api/v1/lineage",
        params={"node": f"deployment:{flow.deployment_id}", "direction": "upstream", "depth": 10},
        headers=viewer,
    )
    assert provenance.status_code == 200, provenance.text
    body = provenance.json()
    assert {n["type"] for n in body["nodes"]} == {
        "deployment",
        "model_version",
        "experiment_run",
        "training_dataset",
        "feature_service",
        "feature_view",
        "data_source",
        "job",
    }
    assert body["nodes"][0] == {**body["nodes"][0], "relation": "root", "distance": 0}

    impact = await client.get(
        "/api/v1/lineage", params={"node": "feature_view:fraud/card_stats", "direction": "downstream"}, headers=viewer
    )
    assert impact.status_code == 200, impact.text
    reached = {n["id"] for n in impact.json()["nodes"]}
    assert {"model:fraud/scorer", "model_version:fraud/scorer/1", f"deployment:{flow.deployment_id}"} <= reached


async def test_bad_input_is_422_and_unreadable_nodes_404(app: Litestar, client: Client) -> None:
    flow = Flow()
    await seed(app, flow, Flow(project="shared"))
    viewer = await grant(app, project="fraud", role="viewer")
    for params in (
        {"node": "feature_view"},
        {"node": "table:x"},
        {"node": "feature_view:fraud/card_stats", "depth": "11"},
        {"node": "feature_view:fraud/card_stats", "depth": "deep"},
        {"node": "feature_view:fraud/card_stats", "direction": "sideways"},
    ):
        problem(await client.get("/api/v1/lineage", params=params, headers=viewer), 422)
    # `node` is a required parameter of the document: leaving it out is a malformed request, like any other.
    problem(await client.get("/api/v1/lineage", headers=viewer), 400)
    problem(await client.get("/api/v1/lineage", params={"node": "feature_view:shared/card_stats"}, headers=viewer), 404)
    problem(await client.get("/api/v1/lineage", params={"node": "feature_view:fraud/nothing"}, headers=viewer), 404)
    admin = await grant(app, platform_admin=True)
    shared = await client.get("/api/v1/lineage", params={"node": "feature_view:shared/card_stats"}, headers=admin)
    assert shared.status_code == 200, shared.text


async def test_event_log_pages_and_is_filtered_by_project(app: Litestar, client: Client) -> None:
    await seed(app, Flow(), Flow(project="shared"))
    viewer = await grant(app, project="fraud", role="viewer")
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await client.get("/api/v1/lineage/events", params=params, headers=viewer)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 12
    assert {item["project"] for item in seen} == {"fraud"}
    assert [item["id"] for item in seen] == sorted((item["id"] for item in seen), reverse=True)
    for item in seen:
        validate_run_event(item["event"])
        assert item["status"] == "unsent"

    trained = await client.get(
        "/api/v1/lineage/events", params={"job": "train.fraud/baseline", "project": "fraud"}, headers=viewer
    )
    assert [i["event_type"] for i in trained.json()["items"]] == ["COMPLETE", "START"]
    problem(await client.get("/api/v1/lineage/events", params={"project": "shared"}, headers=viewer), 404)
    problem(await client.get("/api/v1/lineage/events", params={"status": "lost"}, headers=viewer), 422)
    problem(await client.get("/api/v1/lineage/events", params={"cursor": "nope"}, headers=viewer), 422)
    admin = await grant(app, platform_admin=True)
    everything = await client.get("/api/v1/lineage/events", params={"limit": 100}, headers=admin)
    assert {item["project"] for item in everything.json()["items"]} == {"fraud", "shared"}


@pytest.fixture
async def emitting_client(settings: Settings, capture: CaptureServer) -> AsyncIterator[Client]:
    from mlplatform.app import create_app

    lineage = LineageSettings(
        namespace="staging", endpoint="api/v1/lineage", backoff_base_seconds=0.05, poll_interval_seconds=0.1
    )
    app = create_app(settings.model_copy(update={"openlineage_url": capture.url, "lineage": lineage}))
    async with AsyncTestClient(app) as test_client:
        yield test_client


async def wait_for(database: Database, predicate: Any, seconds: float = 20.0) -> list[OpenLineageEventRow]:
    found: list[OpenLineageEventRow] = []

    async def met() -> bool:
        nonlocal found
        async with database.sessionmaker() as session:
            found = list((await session.scalars(select(OpenLineageEventRow).order_by(OpenLineageEventRow.id))).all())
        return bool(predicate(found))

    await wait_until_async(
        met, timeout=seconds, interval=0.1, message=lambda: f"condition: {[(r.status, r.last_error) for r in found]}"
    )
    return found


async def test_a_down_endpoint_never_fails_the_request(emitting_client: Client, capture: CaptureServer) -> None:
    """Marquez answers 503 (slowly): the catalogue requests still succeed; the events wait, retried, and go
    out once Marquez is back."""
    app = emitting_client.app
    capture.fail_next, capture.delay_seconds = 1000, 0.2
    dev = await grant(app, project="fraud", role="maintainer")
    base = "/api/v1/projects/fraud"
    made = await emitting_client.post(f"{base}/models", headers=dev, json={"name": "scorer"})
    assert made.status_code == 201, made.text
    version = await emitting_client.post(
        f"{base}/models/scorer/versions", headers=dev, json={"model_uri": "s3://models/scorer/1"}
    )
    assert version.status_code == 201, version.text
    checked = await emitting_client.post(
        f"{base}/models/scorer/versions/1/validations", headers=dev, json={"name": "holdout-auc", "status": "passed"}
    )
    assert checked.status_code == 201, checked.text

    async with own_database(app.state.platform.database.url) as database:
        failing = await wait_for(database, lambda rows: len(rows) == 2 and rows[0].attempts >= 3)
        assert failing[0].status == "pending"
        assert "503" in (failing[0].last_error or "")
        capture.fail_next, capture.delay_seconds = 0, 0.0
        done = await wait_for(database, lambda rows: all(r.status == "emitted" for r in rows))
    assert [e["eventType"] for e in capture.events] == ["START", "COMPLETE"]
    assert capture.events == [row.body for row in done]
    # The `lineage` settings reach the app: its namespace names the events.
    assert {e["job"]["namespace"] for e in capture.events} == {"staging/fraud"}
    assert set(capture.paths) == {"/api/v1/lineage"}
    for event in capture.events:
        validate_run_event(event)
