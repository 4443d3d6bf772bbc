"""The prediction log and labels against real object stores (the local folder and S3 on moto), real model
workers behind `predict_settled`, and the labels route over HTTP on the full stack."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aioboto3
import pyarrow.parquet as pq
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from mlplatform.kernel.errors import PlatformError
from mlplatform.kernel.storage import LocalObjectStore, ObjectStore, object_store_from_url
from mlplatform.modules.serving import predict
from mlplatform.modules.serving.formats.payload import FrameInput, PredictRequest
from mlplatform.modules.serving.monitoring import Monitor
from mlplatform.modules.serving.prediction_log.writer import PredictionLog
from mlplatform.modules.serving.served import Served
from mlplatform.modules.serving.workers.pool import ModelWorkerPool, WorkerSpec
from tests.integration.serving.conftest import Models
from tests.support.factories import catalogue_model, grant, own_database
from tests.unit.serving.prediction_log_support import frame_trace, read_rows, served, settings

BASE = "/api/v1/projects/fraud"


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    bucket = f"log-{uuid.uuid4().hex[:12]}"
    async with aioboto3.Session().client("s3", endpoint_url=s3_endpoint, region_name="us-east-1") as client:
        await client.create_bucket(Bucket=bucket)
    s3 = object_store_from_url(f"s3://{bucket}/platform", endpoint_url=s3_endpoint, region="us-east-1")
    yield s3
    await s3.close()


async def test_logged_predictions_land_as_parquet_in_the_store(store: ObjectStore) -> None:
    log = PredictionLog(store, settings(log_flush_seconds=0.02, log_flush_rows=20))
    target = served()
    log.loop.start()
    for index in range(100):
        assert log.record(frame_trace(target, f"r{index}", rows=3), None)
        if index % 10 == 0:
            await asyncio.sleep(0.005)
    await log.stop()
    keys, table = await read_rows(store)
    assert table is not None
    assert table.num_rows == 300
    assert all(key.startswith(f"projects/fraud/serving/{target.deployment.id}/predictions/date=") for key in keys)
    pairs = list(zip(table.column("request_id").to_pylist(), table.column("row").to_pylist(), strict=True))
    assert len(set(pairs)) == 300


async def test_a_bucket_that_is_missing_then_created_gets_the_rows(s3_endpoint: str) -> None:
    """S3 refusing the writes (here: no bucket yet) costs the predictions nothing; the rows follow once it works."""
    bucket = f"later-{uuid.uuid4().hex[:10]}"
    store = object_store_from_url(f"s3://{bucket}/platform", endpoint_url=s3_endpoint, region="us-east-1")
    try:
        log = PredictionLog(store, settings(log_flush_seconds=0.05, log_write_attempts=50))
        log.loop.start()
        log.record(frame_trace(served(), "waited", rows=2), None)
        await asyncio.sleep(0.2)
        assert log.held == 2
        async with aioboto3.Session().client("s3", endpoint_url=s3_endpoint, region_name="us-east-1") as client:
            await client.create_bucket(Bucket=bucket)
        for _ in range(100):
            if not log.held:
                break
            await asyncio.sleep(0.05)
        await log.stop()
        _, table = await read_rows(store)
        assert table is not None
        assert table.column("request_id").to_pylist() == ["waited", "waited"]
    finally:
        await store.close()


async def test_predict_settled_logs_answers_and_model_errors_with_their_request_ids(
    models: Models, tmp_path: Path
) -> None:
    pool = ModelWorkerPool(WorkerSpec(name="behaviours:v1", model_location=str(models.behaviours)))
    info = await pool.start()
    try:
        store = LocalObjectStore(tmp_path / "objects")
        log = PredictionLog(store, settings())
        target = served(rate=1.0)
        live = Served(deployment=target.deployment, pool=pool, info=info, feature_service=None)
        supervisor: Any = SimpleNamespace(monitor=None, served={live.deployment.id: live})

        async def call(values: list[str], request_id: str) -> Any:
            request = PredictRequest(FrameInput(columns={"x": values}, rows=len(values)), None, None)
            return await predict.predict_settled(None, supervisor, live, request, log, request_id)  # type: ignore[arg-type]

        answers = await asyncio.gather(*(call([f"v{i}", f"w{i}"], f"ok-{i}") for i in range(20)))
        assert answers[3].predictions == ["v3!", "w3!"]
        with pytest.raises(PlatformError):
            await call(["raise"], "boom")
        await log.flush()
        _, table = await read_rows(store)
        assert table is not None
        rows = {(r["request_id"], r["row"]): r for r in table.to_pylist()}
        assert len(rows) == 41
        assert json.loads(rows[("ok-3", 1)]["inputs"]) == {"x": "w3"}
        assert json.loads(rows[("ok-3", 1)]["output"]) == "w3!"
        failed = rows[("boom", 0)]
        assert (failed["outcome"], failed["output"]) == ("model_error", None)
        assert "the marker value 'raise' was seen" in failed["error"]

        # A shadow deployment's answer to the copy goes to its own log, under the same request id.
        shadow_target = served(rate=1.0)
        shadow = Served(deployment=shadow_target.deployment, pool=pool, info=info, feature_service=None)
        supervisor.shadows_of = lambda *_: [shadow]
        supervisor.mirrored = set()
        copied = PredictRequest(FrameInput(columns={"x": ["s"]}, rows=1), None, None)
        predict.mirror(None, supervisor, live, copied, log, "mirrored-1")  # type: ignore[arg-type]
        await asyncio.gather(*supervisor.mirrored)
        await log.flush()
        keys, table = await read_rows(store, f"projects/fraud/serving/{shadow.deployment.id}/")
        assert table is not None
        assert len(keys) == 1
        assert table.column("request_id").to_pylist() == ["mirrored-1"]
        assert table.column("output").to_pylist() == ['"s!"']
    finally:
        await pool.close(drain_timeout=0)


async def test_nothing_is_traced_when_the_deployment_logs_nothing(models: Models) -> None:
    log = PredictionLog(LocalObjectStore(Path("/nonexistent-never-written")), settings())
    target = served(rate=0.0)
    supervisor: Any = SimpleNamespace(monitor=Monitor.__new__(Monitor), served={})
    supervisor.monitor.windows = {}
    with pytest.raises(PlatformError):  # no rows: refused before any worker (none exists here)
        await predict.predict_settled(None, supervisor, target, PredictRequest(None, None, None), log, "x")  # type: ignore[arg-type]
    assert log.held == 0


async def managed_deployment(app: Litestar, client: AsyncTestClient[Litestar], headers: dict[str, str]) -> str:
    async with own_database(app.state.platform.database.url) as database:
        await catalogue_model(database, "fraud", "scorer", versions=1)
    created = await client.post(
        f"{BASE}/deployments",
        headers=headers,
        json={
            "model": "scorer",
            "version": 1,
            "environment": "prod",
            "mode": "managed",
            "serving": {"log_sample_rate": 0.25},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["serving"]["log_sample_rate"] == 0.25
    return str(created.json()["id"])


async def label_files(client: AsyncTestClient[Litestar], headers: dict[str, str], deployment_id: str) -> list[Any]:
    """The deployment's label files, read as a user reads them: through the project's files API."""
    listed = await client.get(f"{BASE}/files", headers=headers, params={"prefix": f"serving/{deployment_id}/labels/"})
    assert listed.status_code == 200, listed.text
    tables = []
    for item in listed.json()["items"]:
        downloaded = await client.get(f"{BASE}/files/{item['path']}", headers=headers)
        assert downloaded.status_code == 200, downloaded.text
        tables.append(pq.read_table(io.BytesIO(downloaded.content)).to_pylist())
    return tables


async def test_labels_over_http(app: Litestar, client: AsyncTestClient[Litestar]) -> None:
    dev = await grant(app, project="fraud", role="contributor", name="dev")
    viewer = await grant(app, project="fraud", role="viewer", name="reader")
    deployment_id = await managed_deployment(app, client, await grant(app, project="fraud", role="maintainer"))
    url = f"{BASE}/deployments/{deployment_id}/labels"
    body = {
        "labels": [
            {"request_id": "req-1", "label": 1},
            {"request_id": "req-2", "label": {"fraud": True}, "row": 3, "observed_at": "2026-12-01T10:00:00+01:00"},
        ]
    }

    accepted = await client.post(url, headers=dev, json=body)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["accepted"] == 2
    assert accepted.json()["file"].startswith(f"serving/{deployment_id}/labels/date=")
    (rows,) = await label_files(client, viewer, deployment_id)
    assert [(r["request_id"], json.loads(r["label"]), r["row"]) for r in rows] == [
        ("req-1", 1, None),
        ("req-2", {"fraud": True}, 3),
    ]
    assert rows[1]["observed_at"].isoformat() == "2026-12-01T09:00:00+00:00"
    assert rows[0]["actor"].startswith("user:")

    bad = {"labels": [{"request_id": "ok", "label": 0}, {"request_id": "no spaces allowed", "label": 1}]}
    refused = await client.post(url, headers=dev, json=bad)
    assert refused.status_code == 422, refused.text
    assert "labels[1].request_id" in refused.text
    naive = {"labels": [{"request_id": "ok", "label": 0, "observed_at": "2026-12-01T10:00:00"}]}
    refused = await client.post(url, headers=dev, json=naive)
    assert refused.status_code == 422, refused.text
    assert "labels[0].observed_at" in refused.text
    too_many = {"labels": [{"request_id": f"r{i}", "label": i} for i in range(10_001)]}
    assert (await client.post(url, headers=dev, json=too_many)).status_code == 422
    assert len(await label_files(client, viewer, deployment_id)) == 1

    assert (await client.post(url, headers=viewer, json=body)).status_code == 403
    unknown = await client.post(f"{BASE}/deployments/{uuid.uuid4()}/labels", headers=dev, json=body)
    assert unknown.status_code == 404, unknown.text
    external = await client.post(
        f"{BASE}/deployments",
        headers=await grant(app, project="fraud", role="maintainer"),
        json={"model": "scorer", "version": 1, "environment": "staging", "target": "https://elsewhere"},
    )
    assert external.status_code == 201, external.text
    not_managed = await client.post(f"{BASE}/deployments/{external.json()['id']}/labels", headers=dev, json=body)
    assert not_managed.status_code == 404, not_managed.text
