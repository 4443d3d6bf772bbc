"""Helpers of the prediction log tests: a deployment as the writer sees it, traces, stores that fail."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mlplatform.kernel.storage import LocalObjectStore, ObjectStore, ObjectStoreUnavailable
from mlplatform.modules.catalogue.api import ManagedDeployment, ServingOptions
from mlplatform.modules.serving.assembly import Joined
from mlplatform.modules.serving.formats.payload import FrameInput, PredictRequest, TensorInput
from mlplatform.modules.serving.prediction_log.records import Trace
from mlplatform.modules.serving.served import Served
from mlplatform.settings import ServingSettings


def served(rate: float = 1.0, project: str = "fraud", max_rows: int = 1000) -> Served:
    deployment = ManagedDeployment(
        id=uuid.uuid4(),
        project=project,
        model="scorer",
        version=3,
        version_id=uuid.uuid4(),
        environment="prod",
        status="active",
        traffic_share=100,
        model_uri="models:/fraud.scorer/3",
        mlflow_version="3",
        signature=None,
        serving=ServingOptions(log_sample_rate=rate, max_rows=max_rows),
        feature_service=None,
        revision=1,
    )
    return Served(deployment=deployment, pool=None, info=None, feature_service=None)  # type: ignore[arg-type]


def frame_trace(target: Served, request_id: str, rows: int = 2, *, answered: bool = True) -> Trace:
    """A finished prediction of `rows` rows with entity keys and a joined feature."""
    entities = {"card_id": list(range(rows))}
    model_input = FrameInput(columns={"amount": [float(i) for i in range(rows)], "hour": [13] * rows}, rows=rows)
    trace = Trace(PredictRequest(None, entities, None), request_id)
    joined = Joined(names=["amount"], column_statuses=[["PRESENT"] * rows])
    outcome = "ok" if answered else "model_error"
    trace.fill(target, outcome, 0.004, model_input, joined, [i % 2 for i in range(rows)], answered=answered)
    return trace


def tensor_trace(target: Served, request_id: str, data: Any, predictions: Any, rows: int) -> Trace:
    trace = Trace(PredictRequest(TensorInput(data=data, rows=rows), None, None), request_id)
    trace.fill(target, "ok", 0.001, TensorInput(data=data, rows=rows), None, predictions, answered=True)
    return trace


def settings(**values: Any) -> ServingSettings:
    return ServingSettings(**{"log_flush_seconds": 3600.0, **values})


async def read_rows(store: ObjectStore, prefix: str = "projects/") -> tuple[list[str], pa.Table | None]:
    """Every Parquet file under `prefix` (their keys) and their rows as one table."""
    keys = [info.key async for info in store.list(prefix)]
    tables = [pq.read_table(io.BytesIO(await store.get(key))) for key in keys]
    return keys, pa.concat_tables(tables) if tables else None


class FlakyStore(LocalObjectStore):
    """A local store whose `put` fails while `down` (as S3 does when it is unreachable)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = False
        self.puts = 0

    async def put(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.puts += 1
        if self.down:
            raise ObjectStoreUnavailable("connection refused")
        await super().put(key, data, content_type)
