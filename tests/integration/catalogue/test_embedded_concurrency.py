"""Concurrent updates on the embedded default (SQLite): without If-Match, updates that overlap are applied
one after the other (200 each, none lost to a 412 nobody asked for); with a stale If-Match, still 412.

The updates go to a served platform (`mlplatform serve`) so that they really overlap in its event loop. To
make them overlap deterministically, the test holds SQLite's write lock from its own connection while they
arrive: each gets as far as it can before the lock is released."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.served import serve

WRITERS = 12
KEY = "mlp_embeddedconcurrency_0123456789"
PROJECT = "/api/v1/projects/fraud"

pytestmark = pytest.mark.embedded


def _revision(etag: str) -> int:
    return int(etag.strip('"').rsplit(".", 1)[1])


async def _all_at_once(
    client: httpx.AsyncClient, database: Path, path: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    blocker = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        sent = [asyncio.ensure_future(client.patch(path, json=body)) for body in bodies]
        await asyncio.sleep(1.5)  # every request reaches the database and waits there
        assert not any(request.done() for request in sent), [r.result().text for r in sent if r.done()]
        blocker.execute("COMMIT")
    finally:
        blocker.close()
    return list(await asyncio.gather(*sent))


async def test_overlapping_patches_without_if_match_all_apply(tmp_path: Path) -> None:
    with serve(tmp_path, env={"MLPLATFORM_BOOTSTRAP_ADMIN_KEY": KEY}, timeout=120) as served:
        database = tmp_path / ".mlplatform" / "mlplatform.db"
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=served.base_url, headers=headers, timeout=60) as client:
            assert (await client.post("/api/v1/projects", json={"name": "fraud"})).status_code == 201
            assert (await client.post(f"{PROJECT}/models", json={"name": "scorer"})).status_code == 201
            version = await client.post(f"{PROJECT}/models/scorer/versions", json={"model_uri": "s3://b/m/1"})
            assert version.status_code == 201, version.text
            deployed = await client.post(
                f"{PROJECT}/deployments", json={"model": "scorer", "version": 1, "environment": "prod"}
            )
            assert deployed.status_code == 201, deployed.text
            targets = {
                f"{PROJECT}/models/scorer": [{"description": f"d{i}", "tags": {"w": str(i)}} for i in range(WRITERS)],
                f"{PROJECT}/models/scorer/versions/1": [{"description": f"v{i}"} for i in range(WRITERS)],
                f"{PROJECT}/deployments/{deployed.json()['id']}": [
                    {"target": f"https://serving/{i}"} for i in range(WRITERS)
                ],
            }
            for path, bodies in targets.items():
                before = (await client.get(path)).json()
                answers = await _all_at_once(client, database, path, bodies)
                assert [a.status_code for a in answers] == [200] * WRITERS, [
                    a.text for a in answers if a.status_code != 200
                ]
                after = (await client.get(path)).json()
                # Each update applied once, one after the other: the revision moved by exactly WRITERS.
                assert _revision(after["etag"]) == _revision(before["etag"]) + WRITERS
                assert sorted(_revision(a.json()["etag"]) for a in answers) == list(
                    range(_revision(before["etag"]) + 1, _revision(after["etag"]) + 1)
                )

            stale = (await client.get(f"{PROJECT}/models/scorer")).json()["etag"]
            assert (await client.patch(f"{PROJECT}/models/scorer", json={"description": "x"})).status_code == 200
            refused = await client.patch(
                f"{PROJECT}/models/scorer", headers={"If-Match": stale}, json={"description": "y"}
            )
            assert refused.status_code == 412, refused.text
