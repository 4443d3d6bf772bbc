"""Online reads answered as express routes (before Litestar's router) answer exactly like the full stack,
which still answers whatever the express path declines (here: requests carrying an `Origin` header)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.integration.features.stack import Stack
from tests.integration.features.test_online import base, materialized

SAME_HEADERS = (
    "content-type",
    "x-content-type-options",
    "referrer-policy",
    "x-frame-options",
    "cross-origin-opener-policy",
    "ratelimit-limit",
)
FULL_STACK = {"Origin": "http://elsewhere.example"}


async def express_answers(stack: Stack, path: str) -> float:
    metrics = (await stack.client.get("/metrics")).text
    template = re.sub(r"/p-[0-9a-f]+/", "/{project:str}/", path)
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("mlplatform_express_requests_total{") and f'path="{template}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def both(stack: Stack, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[httpx.Response, ...]:
    before = await express_answers(stack, path)
    express = await stack.client.post(path, json=body, headers=headers)
    full = await stack.client.post(path, json=body, headers={**headers, **FULL_STACK})
    assert await express_answers(stack, path) == before + 1, "exactly the first request took the express path"
    return express, full


def without_request_id(problem: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in problem.items() if k != "request_id"}


async def test_express_answers_like_the_full_stack(stack: Stack) -> None:
    project, headers = await materialized(stack)
    body = {"feature_service": "training", "entities": {"driver_id": [1, 3], "customer_id": [7, 9]}}
    for path in (f"{base(project)}/online", f"/feast/{project}/get-online-features"):
        express, full = await both(stack, path, body, headers)
        assert express.status_code == full.status_code == 200, (express.text, full.text)
        assert express.json() == full.json()
        for name in SAME_HEADERS:
            assert express.headers.get(name) == full.headers.get(name), name
        assert express.headers["x-request-id"]
        assert int(express.headers["ratelimit-remaining"]) >= 0


async def test_errors_after_admission_are_the_same_problems(stack: Stack) -> None:
    project, headers = await materialized(stack)
    path = f"{base(project)}/online"
    for body in (
        {"feature_service": "ghost", "entities": {"driver_id": [1]}},
        {"features": ["driver_stats:speed"], "entities": {"driver_id": [1]}},
        {"features": ["driver_stats:trips"], "entities": {"driver_id": ["x"]}},
    ):
        express, full = await both(stack, path, body, headers)
        assert express.status_code == full.status_code, (express.text, full.text)
        assert express.headers["content-type"] == full.headers["content-type"] == "application/problem+json"
        assert without_request_id(express.json()) == without_request_id(full.json())
        assert express.json()["request_id"] == express.headers["x-request-id"]
        for name in SAME_HEADERS[1:]:
            assert express.headers.get(name) == full.headers.get(name), name


async def test_declined_requests_are_answered_by_the_full_stack(stack: Stack) -> None:
    project, headers = await materialized(stack)
    path = f"/feast/{project}/get-online-features"
    body = {"features": ["customer_stats:spend"], "entities": {"customer_id": [7]}}
    before = await express_answers(stack, path)
    anonymous = await stack.client.post(path, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    bad_key = await stack.client.post(path, json=body, headers={"Authorization": "Bearer mlp_nope_nope"})
    assert bad_key.status_code == 401
    not_json = await stack.client.post(path, content=b"{", headers={**headers, "Content-Type": "application/json"})
    assert not_json.status_code == 400
    wrong_shape = await stack.client.post(path, json={"entities": [1]}, headers=headers)
    assert wrong_shape.status_code in {400, 422}
    assert wrong_shape.headers["content-type"] == "application/problem+json"
    assert await express_answers(stack, path) == before, "none of these took the express path"
