"""Model worker pools against real processes and real MLflow models (`conftest.py` builds them).

The pools are started once for the module, concurrently (each child imports MLflow: seconds of CPU). The
order of the tests is part of the budget: the timeout test's worker restarts while the tests after it
run on the other worker (the load-failure test among them), and the next test that needs both waits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import psutil
import pytest

from mlplatform.modules.serving.workers.errors import ModelLoadFailed, ModelRaised, PredictInputError, WorkerUnavailable
from mlplatform.modules.serving.workers.pool import ModelWorkerPool, Supervision, WorkerSpec
from tests.integration.serving.conftest import Models, copy_model
from tests.support.wait import wait_until_async


@dataclass
class Pools:
    lr: ModelWorkerPool
    behaviours: ModelWorkerPool
    """Two processes, 1 GB address space each, 3 s predict timeout."""
    s3: ModelWorkerPool
    fragile: ModelWorkerPool
    """Loaded from a copy of `behaviours` that a test breaks to make its restarts fail."""
    fragile_path: Path


def upload_folder(endpoint: str, folder: Path, bucket: str, prefix: str) -> None:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")


@pytest.fixture(scope="module")
async def pools(models: Models, s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pools]:
    bucket = f"models-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(upload_folder, s3_endpoint, models.behaviours, bucket, "p/behaviours/v1")
    fragile_path = copy_model(models.behaviours, tmp_path_factory.mktemp("fragile") / "model")
    s3_environment = {
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    pools = Pools(
        lr=ModelWorkerPool(WorkerSpec(name="lr:v1", model_location=str(models.lr))),
        behaviours=ModelWorkerPool(
            WorkerSpec(
                name="behaviours:v1",
                model_location=models.behaviours.as_uri(),
                processes=2,
                memory_limit_mb=1024,
                predict_timeout=3.0,
                environment={"MODEL_GREETING": "hello", "MLPLATFORM_SMUGGLED": "no"},
            )
        ),
        s3=ModelWorkerPool(
            WorkerSpec(name="s3:v1", model_location=f"s3://{bucket}/p/behaviours/v1", environment=s3_environment)
        ),
        fragile=ModelWorkerPool(
            WorkerSpec(name="fragile:v1", model_location=str(fragile_path)),
            supervision=Supervision(backoff_first=0.01, backoff_max=0.05, max_start_failures=2),
        ),
        fragile_path=fragile_path,
    )
    everything = [pools.lr, pools.behaviours, pools.s3, pools.fragile]
    try:
        with pytest.MonkeyPatch.context() as environment:
            # What the platform's process holds and a model's code must never see.
            environment.setenv("MLPLATFORM_DATABASE_URL", "postgresql+asyncpg://platform:secret@db/platform")
            environment.setenv("MLFLOW_TRACKING_URI", "postgresql://platform:secret@db/mlflow")
            await asyncio.gather(*(pool.start() for pool in everything))
        yield pools
    finally:
        await asyncio.gather(*(pool.close(drain_timeout=1) for pool in everything))
    assert not [pid for pool in everything for pid in pids(pool) if psutil.pid_exists(pid)]  # zombies included


def pids(pool: ModelWorkerPool) -> list[int]:
    """The pool's current worker processes (a slot's last one, if it is not running)."""
    return [worker["pid"] for worker in pool.stats()["workers"] if worker["pid"] is not None]


async def all_ready(pool: ModelWorkerPool, *, restarts: int = 0) -> None:
    async def ready() -> bool:
        stats = pool.stats()
        return bool(stats["ready"] == stats["processes"] and stats["restarts"] >= restarts)

    await wait_until_async(ready, timeout=90, interval=0.1, message=lambda: f"all workers ready: {pool.stats()}")


def frame(rows: pd.DataFrame) -> dict[str, list[Any]]:
    return {name: rows[name].tolist() for name in rows.columns}


def sample(seed: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(seed).normal(size=(rows, 10)), columns=Models.columns())


async def test_start_reports_the_model_and_its_signature(pools: Pools) -> None:
    info = pools.lr.info
    assert info is not None
    assert info.flavor == "sklearn"
    assert [(column.name, column.type, column.required) for column in info.inputs or []] == [
        (name, "double", True) for name in Models.columns()
    ]
    assert not info.tensor_inputs
    assert info.outputs is None  # the output signature is a tensor
    assert info.mlflow_version == "3.17.2"
    assert 50 < info.memory_rss_mb < 1024
    assert info.load_seconds > 0
    behaviours = pools.behaviours.info
    assert behaviours is not None
    assert behaviours.flavor is None  # a pyfunc model has no other flavor
    assert [(column.name, column.type) for column in behaviours.inputs or []] == [("x", "string")]


async def test_a_predict_timeout_kills_and_restarts_that_worker(pools: Pools) -> None:
    before = set(pids(pools.behaviours))
    with pytest.raises(WorkerUnavailable, match="did not answer within 3 s") as unavailable:
        await pools.behaviours.predict_frame({"x": ["hang"]})
    assert unavailable.value.status_code == 503
    assert unavailable.value.component == "model worker"
    # The other worker answers meanwhile.
    assert (await pools.behaviours.predict_frame({"x": ["meanwhile"]})).predictions == ["meanwhile!"]
    assert pools.behaviours.stats()["ready"] == 1

    async def replaced() -> bool:  # the stuck one was killed; a new one is starting in its place
        return len(before & set(pids(pools.behaviours))) == 1

    await wait_until_async(replaced, timeout=10, interval=0.02)
    # The tests that follow use the other worker meanwhile; the next test that needs both waits for it.


async def test_predictions_equal_the_model_in_process(pools: Pools, models: Models) -> None:
    rows = sample(1, 25)
    answer = await pools.lr.predict_frame(frame(rows))
    assert answer.predictions == models.lr_model.predict(rows).tolist()
    records = await pools.lr.predict_tensor(rows.to_dict(orient="records"))
    assert records.predictions == answer.predictions
    columns = await pools.lr.predict_tensor(frame(rows))
    assert columns.predictions == answer.predictions


async def test_a_missing_or_mistyped_column_is_an_input_error_naming_it(pools: Pools) -> None:
    columns = frame(sample(2, 2))
    missing = {name: values for name, values in columns.items() if name != "f3"}
    with pytest.raises(PredictInputError) as refused:
        await pools.lr.predict_frame(missing)
    assert refused.value.status_code == 422
    assert "f3" in refused.value.detail
    assert "Failed to enforce schema" not in refused.value.detail  # not MLflow's dump of the whole frame
    with pytest.raises(PredictInputError, match="f7"):
        await pools.lr.predict_frame({**columns, "f7": ["seven", "eight"]})
    # As MLflow's scoring server reads JSON: values of another JSON type are cast to the signature's type.
    cast = await pools.lr.predict_frame({**columns, "f1": [1, 0]})
    assert cast.predictions == (await pools.lr.predict_frame({**columns, "f1": [1.0, 0.0]})).predictions


async def test_inputs_the_pool_refuses_before_a_worker_sees_them(pools: Pools) -> None:
    columns = frame(sample(3, 1))
    with pytest.raises(PredictInputError, match="different lengths"):
        await pools.lr.predict_frame({**columns, "f0": [1.0, 2.0]})
    with pytest.raises(PredictInputError, match="no rows"):
        await pools.lr.predict_frame({name: [] for name in Models.columns()})
    with pytest.raises(PredictInputError, match="at most 10000"):
        await pools.lr.predict_frame({name: [0.5] * 10_001 for name in Models.columns()})
    with pytest.raises(PredictInputError, match="cannot be passed"):
        await pools.lr.predict_frame({**columns, "f0": [object()]})
    assert (await pools.lr.predict_frame(columns)).predictions in ([0], [1])


async def test_concurrent_requests_each_get_their_own_rows(pools: Pools, models: Models) -> None:
    """200 at once on one process: the child merges what queues up; every caller gets its own rows back,
    whatever the mix (1-3 rows, int-valued columns that are predicted apart from float ones, a bad one)."""
    samples = [sample(100 + index, 1 + index % 3) for index in range(200)]
    requests = [frame(rows) for rows in samples]
    for index in range(0, 200, 17):
        requests[index] = {**requests[index], "f4": [int(value > 0) for value in requests[index]["f4"]]}
        samples[index] = samples[index].assign(f4=[float(value) for value in requests[index]["f4"]])
    requests[50] = {**requests[50], "f9": ["bad"] * len(requests[50]["f9"])}
    answers = await asyncio.gather(*(pools.lr.predict_frame(columns) for columns in requests), return_exceptions=True)
    assert isinstance(answers[50], PredictInputError)
    for index, (rows, answer) in enumerate(zip(samples, answers, strict=True)):
        if index != 50:
            assert not isinstance(answer, BaseException), answer
            assert answer.predictions == models.lr_model.predict(rows).tolist(), index


async def test_a_model_that_cannot_load_fails_start_and_leaves_nothing(models: Models) -> None:
    def pool(location: Path, processes: int = 2, memory_limit_mb: int = 2048) -> ModelWorkerPool:
        spec = WorkerSpec(
            name=location.name, model_location=str(location), processes=processes, memory_limit_mb=memory_limit_mb
        )
        return ModelWorkerPool(spec)

    pools = [
        pool(models.missing_flavor),
        pool(models.no_mlmodel),
        pool(models.garbage_mlmodel),
        pool(models.lr.parent / "nowhere"),
        pool(models.xgboost, processes=1),
        pool(models.behaviours, processes=1, memory_limit_mb=200),
    ]
    failures = await asyncio.gather(*(pool.start() for pool in pools), return_exceptions=True)
    assert all(isinstance(failure, ModelLoadFailed) for failure in failures), failures
    reasons = [failure.reason for failure in failures if isinstance(failure, ModelLoadFailed)]
    expected = [
        ["missing dependency", "'mlplatform_test_flavor_that_is_not_installed'"],
        ["no MLmodel file"],
        ["MLmodel file is not YAML"],
        ["no MLmodel file"],
        ["missing dependency", "'xgboost'"],
        ["the memory limit (200 MB of address space) was hit while loading"],
    ]
    for reason, parts in zip(reasons, expected, strict=True):
        assert all(part in reason for part in parts), (parts, reasons)
    started = [pid for pool in pools for pid in pids(pool)]
    assert len(started) >= len(pools)  # a start cancelled before it spawned its process has no pid
    left = [psutil.Process(pid) for pid in started if psutil.pid_exists(pid)]
    assert not left, [(process, process.cmdline()) for process in left]  # stopped and reaped: not even a zombie


async def test_a_model_that_raises_is_a_model_error_and_the_worker_goes_on(pools: Pools) -> None:
    await all_ready(pools.behaviours, restarts=1)  # after the timeout test's restart
    before = pids(pools.behaviours)
    with pytest.raises(ModelRaised) as raised:
        await pools.behaviours.predict_frame({"x": ["ok", "raise"]})
    assert raised.value.status_code == 422
    assert raised.value.title == "Model error"
    assert raised.value.detail == "ValueError: the marker value 'raise' was seen"
    answers = await asyncio.gather(*(pools.behaviours.predict_frame({"x": ["ok"]}) for _ in range(4)))
    assert [answer.predictions for answer in answers] == [["ok!"]] * 4
    assert pids(pools.behaviours) == before


async def test_a_model_that_prints_does_not_disturb_the_protocol(pools: Pools) -> None:
    answer = await pools.behaviours.predict_frame({"x": ["print", "y"]})
    assert answer.predictions == ["print!", "y!"]
    assert (await pools.behaviours.predict_frame({"x": ["z"]})).predictions == ["z!"]


async def test_the_memory_limit_fails_the_request_not_the_worker(pools: Pools) -> None:
    before = pids(pools.behaviours)
    results = await asyncio.gather(
        *(pools.behaviours.predict_frame({"x": ["allocate"]}) for _ in range(2)), return_exceptions=True
    )
    for result in results:
        assert isinstance(result, ModelRaised), result
        assert "MemoryError" in result.detail
    assert (await pools.behaviours.predict_frame({"x": ["after"]})).predictions == ["after!"]
    assert pids(pools.behaviours) == before


async def test_the_child_environment_holds_no_platform_secret(pools: Pools) -> None:
    for pid in pids(pools.behaviours) + pids(pools.lr):
        environment = dict(
            entry.split("=", 1) for entry in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in entry
        )
        assert not [name for name in environment if name.startswith("MLPLATFORM_")]
        assert "MLFLOW_TRACKING_URI" not in environment
        assert environment["OMP_NUM_THREADS"] == "1"
    assert "MODEL_GREETING=hello" in Path(f"/proc/{pids(pools.behaviours)[0]}/environ").read_text()


async def test_a_worker_killed_mid_request_fails_its_requests_and_is_restarted(pools: Pools) -> None:
    await all_ready(pools.behaviours)
    restarts = pools.behaviours.stats()["restarts"]
    requests = [asyncio.create_task(pools.behaviours.predict_frame({"x": ["slow"]})) for _ in range(6)]

    async def both_busy() -> bool:
        return all(worker["in_flight"] for worker in pools.behaviours.stats()["workers"])

    await wait_until_async(both_busy, timeout=5, interval=0.01)
    victim, survivor = pids(pools.behaviours)
    os.kill(victim, signal.SIGKILL)
    results = await asyncio.gather(*requests, return_exceptions=True)
    failed = [result for result in results if isinstance(result, BaseException)]
    assert failed, results
    assert all(isinstance(result, WorkerUnavailable) and "SIGKILL" in result.detail for result in failed)
    assert [result.predictions for result in results if not isinstance(result, BaseException)]
    # The survivor serves while the victim restarts; then both do.
    assert (await pools.behaviours.predict_frame({"x": ["during"]})).predictions == ["during!"]
    await all_ready(pools.behaviours, restarts=restarts + 1)
    assert survivor in pids(pools.behaviours)
    assert not psutil.pid_exists(victim)
    answers = await asyncio.gather(*(pools.behaviours.predict_frame({"x": [str(i)]}) for i in range(10)))
    assert [answer.predictions for answer in answers] == [[f"{i}!"] for i in range(10)]


async def test_a_request_that_waited_too_long_behind_others_fails_without_killing_its_worker(pools: Pools) -> None:
    """Requests with params are predicted one at a time (never merged): ten 1 s predicts on two workers
    answer until ~5 s, past the 3 s timeout; the late ones fail, the workers (answering all along) stay."""
    await all_ready(pools.behaviours)
    before, restarts = pids(pools.behaviours), pools.behaviours.stats()["restarts"]
    results = await asyncio.gather(
        *(pools.behaviours.predict_frame({"x": ["slow"]}, params={"n": n}) for n in range(10)),
        return_exceptions=True,
    )
    late = [result for result in results if isinstance(result, BaseException)]
    assert late, results
    assert all(isinstance(result, WorkerUnavailable) and "overloaded" in result.detail for result in late), late
    answered = [result.predictions for result in results if not isinstance(result, BaseException)]
    assert answered
    assert answered == [["slow!"]] * len(answered)
    assert pids(pools.behaviours) == before
    assert pools.behaviours.stats()["restarts"] == restarts


async def test_restarts_that_keep_failing_mark_the_pool_broken(pools: Pools) -> None:
    (pools.fragile_path / "MLmodel").unlink()  # the artifact is gone: every restart fails to load
    (victim,) = pids(pools.fragile)
    os.kill(victim, signal.SIGKILL)

    async def broken() -> str | None:
        return pools.fragile.stats()["broken"]

    reason = await wait_until_async(broken, timeout=30, interval=0.05)
    assert "no MLmodel file" in reason
    with pytest.raises(WorkerUnavailable, match="no MLmodel file"):
        await pools.fragile.predict_frame({"x": ["a"]})


async def test_a_model_from_s3_answers_and_close_drains_and_leaves_no_process(pools: Pools) -> None:
    assert (await pools.s3.predict_frame({"x": ["from s3"]})).predictions == ["from s3!"]
    children = pids(pools.s3)
    in_flight = asyncio.create_task(pools.s3.predict_frame({"x": ["slow"]}))

    async def busy() -> int:
        return int(pools.s3.stats()["in_flight"])

    await wait_until_async(busy, timeout=5, interval=0.01)
    await asyncio.gather(pools.s3.close(), pools.s3.close())
    assert (await in_flight).predictions == ["slow!"]  # answered, not cut off
    await pools.s3.close()
    assert not [pid for pid in children if psutil.pid_exists(pid)]
    with pytest.raises(WorkerUnavailable, match="closed"):
        await pools.s3.predict_frame({"x": ["after"]})
