"""Calls the end-to-end tests make over real HTTP: one expected status per call, jobs waited for."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.wait import wait_until_async


async def call(client: httpx.AsyncClient, method: str, path: str, expect: int, **kwargs: Any) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


async def finished_job(client: httpx.AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        current: dict[str, Any] = await call(client, "GET", f"/api/v1/jobs/{job['id']}", 200)
        return current if current["status"] in {"succeeded", "failed", "cancelled"} else None

    current = await wait_until_async(finished, timeout=120, interval=0.2, message=f"job {job['id']} finishing")
    assert current["status"] == "succeeded", current
    return current
