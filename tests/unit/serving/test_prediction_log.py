"""The prediction log's writer: sampling, the Parquet layout, the bounded buffer, retries and the final flush."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY

from mlplatform.kernel.errors import Invalid
from mlplatform.kernel.storage import LocalObjectStore
from mlplatform.modules.serving.formats.payload import PredictRequest
from mlplatform.modules.serving.prediction_log.records import PREDICTION_SCHEMA, Trace
from mlplatform.modules.serving.prediction_log.writer import PredictionLog
from tests.unit.serving.prediction_log_support import (
    FlakyStore,
    frame_trace,
    read_rows,
    served,
    settings,
    tensor_trace,
)


def dropped(target_id: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "mlplatform_serving_log_dropped_total", {"project": "fraud", "deployment": target_id, "reason": reason}
    )
    return value or 0.0


async def test_a_deployment_that_logs_nothing_keeps_nothing(tmp_path: Path) -> None:
    log = PredictionLog(LocalObjectStore(tmp_path), settings())
    assert not log.record(frame_trace(served(rate=0.0), "r1"), None)
    assert not log.record(frame_trace(served(rate=0.0), "r2", answered=False), Invalid("bad"))
    assert log.held == 0


async def test_a_logged_prediction_is_one_row_per_model_input_row(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    log = PredictionLog(store, settings())
    target = served()
    assert log.record(frame_trace(target, "req-1", rows=3), None)
    await log.flush()
    keys, table = await read_rows(store)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    (key,) = keys
    assert key.startswith(f"projects/fraud/serving/{target.deployment.id}/predictions/date={today}/part-")
    assert key.endswith(".parquet")
    assert table is not None
    assert table.schema.equals(PREDICTION_SCHEMA)
    rows = table.to_pylist()
    assert [(r["request_id"], r["row"], r["outcome"], r["version"]) for r in rows] == [
        ("req-1", 0, "ok", 3),
        ("req-1", 1, "ok", 3),
        ("req-1", 2, "ok", 3),
    ]
    assert json.loads(rows[2]["inputs"]) == {"amount": 2.0, "hour": 13}
    assert json.loads(rows[2]["entities"]) == {"card_id": 2}
    assert json.loads(rows[2]["features"]) == {"amount": "PRESENT"}
    assert [json.loads(r["output"]) for r in rows] == [0, 1, 0]
    assert rows[0]["latency_ms"] == 4.0
    assert rows[0]["error"] is None
    assert log.held == 0


async def test_every_failure_is_logged_with_its_error_while_the_deployment_logs(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    log = PredictionLog(store, settings())
    target = served(rate=0.000001)
    for index in range(5):
        assert log.record(frame_trace(target, f"bad-{index}", rows=1, answered=False), Invalid("inputs: no"))
    await log.flush()
    _, table = await read_rows(store)
    assert table is not None
    assert sorted(table.column("request_id").to_pylist()) == [f"bad-{i}" for i in range(5)]
    assert set(table.column("outcome").to_pylist()) == {"model_error"}
    assert set(table.column("error").to_pylist()) == {"inputs: no"}
    assert set(table.column("output").to_pylist()) == {None}


async def test_tensors_and_column_outputs_are_split_by_row_and_a_too_large_request_is_one_row(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    log = PredictionLog(store, settings())
    target = served(max_rows=2)
    log.record(tensor_trace(target, "t", [[1, 2], [3, 4]], {"p": [0.1, 0.9], "q": [1, 0]}, rows=2), None)
    log.record(tensor_trace(target, "s", {"a": 1}, "whole", rows=1), None)
    big = Trace(PredictRequest(None, {"card_id": list(range(5))}, None), "big")
    big.fill(target, "bad_input", 0.0, None, None, None, answered=False)
    log.record(big, Invalid("5 rows; at most 2"))
    await log.flush()
    _, table = await read_rows(store)
    assert table is not None
    rows = {(r["request_id"], r["row"]): r for r in table.to_pylist()}
    assert json.loads(rows[("t", 1)]["inputs"]) == [3, 4]
    assert json.loads(rows[("t", 1)]["output"]) == {"p": 0.9, "q": 0}
    assert json.loads(rows[("s", 0)]["inputs"]) == {"a": 1}
    assert json.loads(rows[("s", 0)]["output"]) == "whole"
    assert rows[("big", 0)]["inputs"] is None
    assert rows[("big", 0)]["entities"] is None
    assert ("big", 1) not in rows
    assert rows[("big", 0)]["outcome"] == "bad_input"


async def test_concurrent_predictions_leave_exactly_the_sampled_ones_once(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    log = PredictionLog(store, settings(log_flush_seconds=0.01, log_flush_rows=50))
    targets = [served(rate=0.5), served(rate=0.5)]
    kept: list[str] = []
    log.loop.start()

    async def client(number: int) -> None:
        for index in range(200):
            request_id = f"c{number}-{index}"
            if log.record(frame_trace(targets[index % 2], request_id, rows=2), None):
                kept.append(request_id)
            await asyncio.sleep(0)

    await asyncio.gather(*(client(n) for n in range(8)))
    await log.stop()
    keys, table = await read_rows(store)
    assert table is not None
    assert len(keys) >= 2
    logged = [
        (r, i) for r, i in zip(table.column("request_id").to_pylist(), table.column("row").to_pylist(), strict=True)
    ]
    assert len(logged) == len(set(logged)) == 2 * len(kept)
    assert {r for r, _ in logged} == set(kept)
    assert 400 < len(kept) < 1200  # about half of 1600
    assert log.held == 0


async def test_a_flood_never_waits_and_what_the_bound_refuses_is_counted(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path)
    store.down = True  # nothing leaves: the bound alone limits memory
    log = PredictionLog(
        store, settings(log_max_buffered_rows=100, log_flush_rows=10, log_flush_seconds=0.01, log_write_attempts=100)
    )
    target = served()
    before = dropped(str(target.deployment.id), "buffer_full")
    log.loop.start()
    started = time.perf_counter()
    accepted = sum(log.record(frame_trace(target, f"r{i}", rows=2), None) for i in range(20_000))
    spent = time.perf_counter() - started
    await asyncio.sleep(0.1)  # flushes run (and fail) meanwhile
    assert accepted == 50
    assert log.held == 100
    assert dropped(str(target.deployment.id), "buffer_full") - before == 2 * (20_000 - 50)
    assert spent / 20_000 < 0.0005  # each record() is a few microseconds
    await log.stop()


async def test_a_store_that_is_down_then_up_gets_the_batch_and_one_that_stays_down_drops_it(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path)
    log = PredictionLog(store, settings(log_write_attempts=3, log_flush_seconds=0.05))
    target = served()
    store.down = True
    log.record(frame_trace(target, "kept", rows=1), None)
    await log.flush()
    await log.flush()  # too soon: a failed file waits one flush interval
    assert log.held == 1
    assert store.puts == 1
    await asyncio.sleep(0.06)
    await log.flush()
    assert log.held == 1
    assert store.puts == 2
    store.down = False
    await asyncio.sleep(0.06)
    await log.flush()
    keys, table = await read_rows(store)
    assert table is not None
    assert table.column("request_id").to_pylist() == ["kept"]
    assert len(keys) == 1
    assert log.held == 0

    before = dropped(str(target.deployment.id), "write_failed")
    store.down = True
    log.record(frame_trace(target, "lost", rows=4), None)
    for _ in range(3):
        await asyncio.sleep(0.06)
        await log.flush()
    assert log.held == 0
    assert dropped(str(target.deployment.id), "write_failed") - before == 4
    store.down = False
    await log.flush()
    _, table = await read_rows(store)
    assert table is not None
    assert table.column("request_id").to_pylist() == ["kept"]


async def test_stopping_writes_what_is_buffered(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    log = PredictionLog(store, settings(log_flush_seconds=3600.0))
    log.loop.start()
    await asyncio.sleep(0.01)  # the loop's first round has run: the next is an hour away
    log.record(frame_trace(served(), "last", rows=1), None)
    await log.stop()
    _, table = await read_rows(store)
    assert table is not None
    assert table.column("request_id").to_pylist() == ["last"]


class Directory:
    def __init__(self, existing: set[str]) -> None:
        self.existing = existing

    async def exists(self, project: str) -> bool:
        return project in self.existing


async def test_rows_of_a_project_deleted_meanwhile_are_not_written(tmp_path: Path) -> None:
    """The purge empties the project's folder; a replica's buffer must not fill it again."""
    store = LocalObjectStore(tmp_path)
    directory = Directory({"fraud"})
    log = PredictionLog(store, settings(), lambda: directory)
    target = served()
    log.record(frame_trace(target, "before", rows=1), None)
    await log.flush()
    directory.existing.clear()
    before = dropped(str(target.deployment.id), "project_deleted")
    log.record(frame_trace(target, "after", rows=2), None)
    await log.flush()
    _, table = await read_rows(store)
    assert table is not None
    assert table.column("request_id").to_pylist() == ["before"]
    assert dropped(str(target.deployment.id), "project_deleted") - before == 2
    assert log.held == 0


async def test_the_sample_is_fixed_by_request_id_so_shadows_log_the_same_requests(tmp_path: Path) -> None:
    log = PredictionLog(LocalObjectStore(tmp_path), settings(log_max_buffered_rows=10_000))
    champion, challenger = served(rate=0.3), served(rate=0.3)
    kept = [
        (
            log.record(frame_trace(champion, f"r{i}", rows=1), None),
            log.record(frame_trace(challenger, f"r{i}", rows=1), None),
        )
        for i in range(500)
    ]
    assert all(first == second for first, second in kept)
    assert 80 < sum(first for first, _ in kept) < 220
