"""The catalogue over HTTP with real credentials: the walkthrough of docs/catalogue.md, problem+json for bad input
(and nothing changes), ETag/If-Match, role checks and concurrent stage changes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.factories import grant
from tests.support.problems import problem

Client = AsyncTestClient[Litestar]
BASE = "/api/v1/projects/fraud"


async def walkthrough(app: Litestar, client: Client) -> dict[str, Any]:
    """Register, validate, request production, approve, deploy, monitor (docs/catalogue.md)."""
    dev = await grant(app, project="fraud", role="contributor", name="dev")
    lead = await grant(app, project="fraud", role="maintainer", name="lead")
    await grant(app, project="fraud", role="maintainer", name="owner")

    created = await client.post(
        f"{BASE}/models",
        headers=lead,
        json={
            "name": "scorer",
            "description": "card fraud scorer",
            "tags": {"team": "risk", "domain": "cards"},
            "required_validations": ["holdout-auc"],
            "approval_policy": {"production": 1},
        },
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{BASE}/models/scorer"
    assert created.headers["etag"] == created.json()["etag"]

    version = await client.post(
        f"{BASE}/models/scorer/versions",
        headers=dev,
        json={
            # A runs:/ source must be a real run of the project (test_catalogue_sources.py): a URI outside
            # the platform keeps this walkthrough free of MLflow.
            "model_uri": "s3://models/fraud/scorer/1",
            "framework": "xgboost",
            "metrics": {"auc": 0.93},
            "params": {"max_depth": "6"},
            "tags": {"dataset": "2026-11"},
            "feature_service": {"name": "card_features", "feast_project": "fraud"},
        },
    )
    assert version.status_code == 201, version.text
    assert version.json()["version"] == 1

    validation = await client.post(
        f"{BASE}/models/scorer/versions/1/validations",
        headers=dev,
        json={"name": "holdout-auc", "status": "passed", "metrics": {"auc": 0.93}, "report_uri": "s3://r/1.html"},
    )
    assert validation.status_code == 201, validation.text
    for stage in ("validated", "staging"):
        moved = await client.post(f"{BASE}/models/scorer/versions/1/transitions", headers=dev, json={"to_stage": stage})
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == "applied"

    pending = await client.post(
        f"{BASE}/models/scorer/versions/1/transitions",
        headers=dev,
        json={"to_stage": "production", "reason": "beats v0 by 2 points"},
    )
    assert pending.status_code == 202, pending.text
    assert pending.json()["status"] == "pending_approval"
    assert pending.json()["version"]["stage"] == "staging"

    approved = await client.post(
        f"{BASE}/models/scorer/versions/1/approvals", headers=lead, json={"decision": "approve", "comment": "lgtm"}
    )
    assert approved.status_code == 201, approved.text
    assert approved.json()["request"]["status"] == "applied"
    assert approved.json()["version"]["stage"] == "production"

    deployed = await client.post(
        f"{BASE}/deployments",
        headers=dev,
        json={
            "model": "scorer",
            "version": 1,
            "environment": "prod",
            "target": "https://serving.internal/fraud-scorer",
            "rules": [{"name": "latency", "metric": "latency_p99_ms", "operator": "gt", "threshold": 250}],
        },
    )
    assert deployed.status_code == 201, deployed.text
    deployment_id = deployed.json()["id"]
    metrics = await client.post(
        f"{BASE}/deployments/{deployment_id}/metrics",
        headers=dev,
        json={"records": [{"metric": "latency_p99_ms", "value": 310, "window_seconds": 300}]},
    )
    assert metrics.status_code == 201, metrics.text
    assert [a["status"] for a in metrics.json()["alerts"]] == ["open"]
    shown = await client.get(f"{BASE}/deployments/{deployment_id}", headers=dev)
    assert shown.status_code == 200
    assert (shown.json()["health"], shown.json()["open_alerts"]) == ("alerting", 1)
    return {"dev": dev, "lead": lead, "deployment_id": deployment_id}


async def test_walkthrough_on_postgres(app: Litestar, client: Client) -> None:
    context = await walkthrough(app, client)
    model = (await client.get(f"{BASE}/models/scorer", headers=context["dev"])).json()
    assert (model["production_version"], model["latest_version"]) == (1, 1)
    found = await client.get(
        f"{BASE}/models",
        params=[("tag", "team:risk"), ("tag", "domain:cards"), ("stage", "production")],
        headers=context["dev"],
    )
    assert [m["name"] for m in found.json()["items"]] == ["scorer"]
    history = await client.get(f"{BASE}/models/scorer/versions/1/transitions", headers=context["dev"])
    assert [t["to_stage"] for t in history.json()["items"]] == ["production", "staging", "validated"]
    across = await client.get(f"{BASE}/model-versions", params={"framework": "xgboost"}, headers=context["dev"])
    assert [(v["model"], v["version"]) for v in across.json()["items"]] == [("scorer", 1)]


@pytest.mark.embedded
async def test_walkthrough_on_the_embedded_default(embedded_client: Client) -> None:
    await walkthrough(embedded_client.app, embedded_client)


async def snapshot(client: Client, headers: dict[str, str]) -> Any:
    models = (await client.get(f"{BASE}/models", headers=headers)).json()
    versions = (await client.get(f"{BASE}/model-versions", headers=headers)).json()
    deployments = (await client.get(f"{BASE}/deployments", headers=headers)).json()
    return models, versions, deployments


BAD_REQUESTS = [
    ("unknown stage", "POST", "/models/scorer/versions/1/transitions", {"to_stage": "shipped"}, {400, 422}),
    ("illegal move", "POST", "/models/scorer/versions/1/transitions", {"to_stage": "registered"}, {409}),
    (
        "negative traffic",
        "POST",
        "/deployments",
        {"model": "scorer", "version": 1, "environment": "canary", "traffic_share": -1},
        {400, 422},
    ),
    ("traffic over 100", "PATCH", "/deployments/{deployment}", {"traffic_share": 101}, {400, 422}),
    ("second full deployment", "POST", "/deployments", {"model": "scorer", "version": 1, "environment": "prod"}, {409}),
    ("duplicate model name", "POST", "/models", {"name": "scorer"}, {409}),
    ("oversize tag value", "POST", "/models", {"name": "other", "tags": {"k": "x" * 257}}, {422}),
    ("too many tags", "POST", "/models", {"name": "other", "tags": {f"k{i}": "v" for i in range(51)}}, {422}),
    ("bad tag key", "PATCH", "/models/scorer", {"tags": {"no spaces": "v"}}, {422}),
    ("bad model name", "POST", "/models", {"name": "../etc"}, {400, 422}),
    ("unknown field", "POST", "/models", {"name": "other", "colour": "red"}, {400, 422}),
    ("bad uri", "POST", "/models/scorer/versions", {"model_uri": "not a uri"}, {422}),
    ("unknown model", "POST", "/models/nope/versions", {"model_uri": "s3://b/k"}, {404}),
    ("unknown version", "POST", "/models/scorer/versions/7/validations", {"name": "x", "status": "passed"}, {404}),
    (
        "bad validation status",
        "POST",
        "/models/scorer/versions/1/validations",
        {"name": "x", "status": "ok"},
        {400, 422},
    ),
    ("nothing to approve", "POST", "/models/scorer/versions/1/approvals", {"decision": "approve"}, {404}),
    (
        "naive observed_at",
        "POST",
        "/deployments/{deployment}/metrics",
        {"records": [{"metric": "m", "value": 1, "observed_at": "2026-01-01T00:00:00"}]},
        {400, 422},
    ),
    ("empty metrics batch", "POST", "/deployments/{deployment}/metrics", {"records": []}, {400, 422}),
]


async def test_bad_input_is_problem_json_and_changes_nothing(app: Litestar, client: Client) -> None:
    context = await walkthrough(app, client)
    headers = context["lead"]
    before = await snapshot(client, headers)
    for case, method, path, body, statuses in BAD_REQUESTS:
        response = await client.request(
            method, BASE + path.format(deployment=context["deployment_id"]), json=body, headers=headers
        )
        assert response.status_code in statuses, f"{case}: {response.status_code} {response.text}"
        problem(response, statuses)
        assert await snapshot(client, headers) == before, f"{case} changed something"


BAD_QUERIES = [
    ("/models", {"cursor": "not-a-cursor"}),
    ("/models", {"sort": "popularity"}),
    ("/models", {"limit": "0"}),
    ("/models", {"tag": "no-colon"}),
    ("/models", {"stage": "shipped"}),
    ("/models", {"updated_since": "2026-11-27T10:00:00"}),
    ("/model-versions", {"cursor": "AAAA"}),
    ("/models/scorer/versions", {"sort": "-name"}),
    ("/deployments", {"status": "sleeping"}),
]


async def test_bad_query_parameters_are_422(app: Litestar, client: Client) -> None:
    viewer = await grant(app, project="fraud", role="viewer")
    lead = await grant(app, project="fraud", role="maintainer")
    assert (await client.post(f"{BASE}/models", json={"name": "scorer"}, headers=lead)).status_code == 201
    for path, params in BAD_QUERIES:
        response = await client.get(BASE + path, params=params, headers=viewer)
        assert response.status_code == 422, f"{path} {params}: {response.status_code} {response.text}"
        problem(response, 422)


async def test_cursor_from_one_page_continues_the_listing(app: Litestar, client: Client) -> None:
    lead = await grant(app, project="fraud", role="maintainer")
    for i in range(5):
        assert (await client.post(f"{BASE}/models", json={"name": f"m{i}"}, headers=lead)).status_code == 201
    names: list[str] = []
    params: dict[str, str] = {"limit": "2", "sort": "-name"}
    while True:
        page = (await client.get(f"{BASE}/models", params=params, headers=lead)).json()
        names += [m["name"] for m in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert names == ["m4", "m3", "m2", "m1", "m0"]


async def test_stale_if_match_is_412_and_changes_nothing(app: Litestar, client: Client) -> None:
    lead = await grant(app, project="fraud", role="maintainer")
    created = await client.post(f"{BASE}/models", json={"name": "m", "description": "one"}, headers=lead)
    etag = created.headers["etag"]
    first = await client.patch(f"{BASE}/models/m", json={"description": "two"}, headers={**lead, "If-Match": etag})
    assert first.status_code == 200
    assert first.headers["etag"] != etag
    stale = await client.patch(f"{BASE}/models/m", json={"description": "three"}, headers={**lead, "If-Match": etag})
    body = problem(stale, 412)
    assert body["current_etag"] == first.headers["etag"]
    assert (await client.get(f"{BASE}/models/m", headers=lead)).json()["description"] == "two"

    await client.post(f"{BASE}/models/m/versions", json={"model_uri": "s3://b/m/1"}, headers=lead)
    version = await client.get(f"{BASE}/models/m/versions/1", headers=lead)
    moved = await client.post(
        f"{BASE}/models/m/versions/1/transitions",
        json={"to_stage": "validated"},
        headers={**lead, "If-Match": version.headers["etag"]},
    )
    assert moved.status_code == 200
    problem(
        await client.post(
            f"{BASE}/models/m/versions/1/transitions",
            json={"to_stage": "staging"},
            headers={**lead, "If-Match": version.headers["etag"]},
        ),
        412,
    )
    assert (await client.get(f"{BASE}/models/m/versions/1", headers=lead)).json()["stage"] == "validated"


async def test_roles(app: Litestar, client: Client) -> None:
    viewer = await grant(app, project="fraud", role="viewer")
    dev = await grant(app, project="fraud", role="contributor")
    lead = await grant(app, project="fraud", role="maintainer")
    outsider = await grant(app, project="elsewhere", role="admin")
    problem(await client.post(f"{BASE}/models", json={"name": "m"}, headers=viewer), 403)
    problem(await client.get(f"{BASE}/models", headers=outsider), 404)
    assert (await client.post(f"{BASE}/models", json={"name": "m"}, headers=dev)).status_code == 201
    problem(await client.patch(f"{BASE}/models/m", json={"approval_policy": {"production": 0}}, headers=dev), 403)
    ok = await client.patch(f"{BASE}/models/m", json={"approval_policy": {"staging": 1}}, headers=lead)
    assert ok.status_code == 200
    assert ok.json()["approval_policy"] == {"staging": 1}
    await client.post(f"{BASE}/models/m/versions", json={"model_uri": "s3://b/m/1"}, headers=dev)
    await client.post(f"{BASE}/models/m/versions/1/transitions", json={"to_stage": "validated"}, headers=dev)
    assert (
        await client.post(f"{BASE}/models/m/versions/1/transitions", json={"to_stage": "staging"}, headers=lead)
    ).status_code == 202
    problem(await client.post(f"{BASE}/models/m/versions/1/approvals", json={"decision": "approve"}, headers=dev), 403)
    problem(await client.post(f"{BASE}/models/m/versions/1/approvals", json={"decision": "approve"}, headers=lead), 403)
    assert (await client.get(f"{BASE}/models/m/versions/1", headers=viewer)).json()["stage"] == "validated"


async def test_fifty_concurrent_promotions_of_one_version_have_one_winner(app: Litestar, client: Client) -> None:
    lead = await grant(app, project="fraud", role="maintainer")
    await client.post(f"{BASE}/models", json={"name": "m"}, headers=lead)
    await client.post(f"{BASE}/models/m/versions", json={"model_uri": "s3://b/m/1"}, headers=lead)
    for stage in ("validated", "staging"):
        await client.post(f"{BASE}/models/m/versions/1/transitions", json={"to_stage": stage}, headers=lead)
    responses = await asyncio.gather(
        *(
            client.post(f"{BASE}/models/m/versions/1/transitions", json={"to_stage": "production"}, headers=lead)
            for _ in range(50)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * 49, codes
    for response in responses:
        if response.status_code == 409:
            assert problem(response, 409)["allowed_moves"] == ["staging", "archived"]
    history = (await client.get(f"{BASE}/models/m/versions/1/transitions", headers=lead)).json()["items"]
    assert [t["to_stage"] for t in history] == ["production", "staging", "validated"]
