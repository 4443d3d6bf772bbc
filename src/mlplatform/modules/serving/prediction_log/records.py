"""What the prediction log keeps of one prediction, and how a batch of them becomes a Parquet file.

On the request path a prediction only leaves a `Trace` (references to what it already holds: the model input
after the feature join, the feature statuses, the model's answer); nothing is copied or encoded there. A flush
turns the traces into rows in a worker thread: one Parquet row per model input row, so a drift job reads rows
as the model saw them and a label joins by `request_id` (and `row`).

Inputs, entities, feature statuses and outputs are JSON text columns rather than typed ones: a deployment's
columns change when it moves to another version, a model without a signature takes any columns, and one fixed
schema keeps every file of a deployment readable as one table (DuckDB: `inputs->>'$.amount'`; pandas:
`pd.json_normalize(df.inputs.map(json.loads))`).
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from mlplatform.modules.serving.assembly import Joined
from mlplatform.modules.serving.formats.payload import FrameInput, PredictRequest, TensorInput
from mlplatform.modules.serving.served import Served

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("row", pa.int32(), nullable=False),
        pa.field("time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("project", pa.string(), nullable=False),
        pa.field("deployment_id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.int32(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("inputs", pa.string()),
        pa.field("entities", pa.string()),
        pa.field("features", pa.string()),
        pa.field("output", pa.string()),
    ]
)
"""One row per model input row of a logged prediction (see docs/serving.md#prediction-log)."""

MAX_ERROR_CHARS = 2000
_encoder = msgspec.json.Encoder(enc_hook=str)


@dataclass(slots=True)
class Trace:
    """What one prediction leaves for the log, filled by `predict` as it goes (the last attempt wins when a
    replaced pool made `predict_settled` try again)."""

    request: PredictRequest
    request_id: str
    served: Served | None = None
    outcome: str = "error"
    latency: float = 0.0
    model_input: FrameInput | TensorInput | None = None
    joined: Joined | None = None
    predictions: Any = None
    answered: bool = False

    def fill(
        self,
        served: Served,
        outcome: str,
        latency: float,
        model_input: FrameInput | TensorInput | None,
        joined: Joined | None,
        predictions: Any,
        answered: bool,
    ) -> None:
        self.served, self.outcome, self.latency = served, outcome, latency
        self.model_input, self.joined, self.predictions, self.answered = model_input, joined, predictions, answered


@dataclass(slots=True)
class Pending:
    """A trace accepted into the buffer: who answered, when and how it ended, and how many rows it weighs (its
    model input rows; one for a prediction refused for its size or with no rows)."""

    trace: Trace
    served: Served
    time: datetime
    outcome: str
    error: str | None
    rows: int

    @property
    def date(self) -> str:
        return self.time.strftime("%Y-%m-%d")


@dataclass
class Batch:
    """Encoded rows of one deployment and day, waiting to be written (kept for a retry when a write fails)."""

    project: str
    deployment_id: str
    key: str
    data: bytes
    rows: int
    attempts: int = 0
    retry_at: float = 0.0
    """Monotonic time before which a failed file is not tried again (one flush interval after the failure)."""


def encode_batch(pendings: list[Pending]) -> bytes:
    """The rows of `pendings` as a Parquet file (zstd). Blocking: runs in a worker thread."""
    columns: dict[str, list[Any]] = {name: [] for name in PREDICTION_SCHEMA.names}
    for pending in pendings:
        _append(columns, pending)
    table = pa.Table.from_pydict(columns, schema=PREDICTION_SCHEMA)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _append(columns: dict[str, list[Any]], pending: Pending) -> None:
    trace = pending.trace
    deployment = pending.served.deployment
    rows = pending.rows
    model_input = trace.model_input if trace.model_input is not None else trace.request.input
    entities = trace.request.entities
    if trace.request.rows > deployment.serving.max_rows:
        model_input = entities = None  # refused as too large: one row with the error, not its rows
    for row in range(rows):
        columns["request_id"].append(trace.request_id)
        columns["row"].append(row)
        columns["time"].append(pending.time)
        columns["project"].append(deployment.project)
        columns["deployment_id"].append(str(deployment.id))
        columns["model"].append(deployment.model)
        columns["version"].append(deployment.version)
        columns["outcome"].append(pending.outcome)
        columns["error"].append(pending.error)
        columns["latency_ms"].append(trace.latency * 1000)
        columns["inputs"].append(_json(_input_row(model_input, row, rows)))
        columns["entities"].append(_json({k: v[row] for k, v in entities.items()}) if entities else None)
        columns["features"].append(_json(_statuses(trace.joined, row)) if trace.joined else None)
        columns["output"].append(_json(_output_row(trace.predictions, row, rows)) if trace.answered else None)


def _json(value: Any) -> str | None:
    return None if value is _MISSING else _encoder.encode(value).decode()


_MISSING: Any = object()


def _input_row(model_input: FrameInput | TensorInput | None, row: int, rows: int) -> Any:
    if model_input is None:
        return _MISSING
    if isinstance(model_input, FrameInput):
        return {name: values[row] for name, values in model_input.columns.items() if row < len(values)}
    return _split(model_input.data, row, rows)


def _output_row(predictions: Any, row: int, rows: int) -> Any:
    return _split(predictions, row, rows)


def _split(value: Any, row: int, rows: int) -> Any:
    """Row `row` of a batch-shaped value (a list of `rows` items, or a dict of such lists); anything else is
    kept whole on the first row."""
    if isinstance(value, list) and len(value) == rows:
        return value[row]
    if isinstance(value, dict) and value and all(isinstance(v, list) and len(v) == rows for v in value.values()):
        return {name: values[row] for name, values in value.items()}
    return value if row == 0 else _MISSING


def _statuses(joined: Joined, row: int) -> dict[str, str]:
    return {name: statuses[row] for name, statuses in zip(joined.names, joined.column_statuses, strict=True)}


def error_text(exc: BaseException) -> str:
    detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
    return str(detail)[:MAX_ERROR_CHARS]


def part_key(project: str, deployment_id: str, area: str, date: str, now: datetime) -> str:
    """`projects/<project>/serving/<deployment>/<area>/date=YYYY-MM-DD/part-<UTC time>-<uuid>.parquet`: the
    date is the rows' (UTC), the time the file's; the random part makes every key new (replicas write side by
    side, and a retried write replaces only its own file)."""
    return (
        f"{deployment_prefix(project, deployment_id)}{area}/date={date}/"
        f"part-{now.astimezone(UTC):%Y%m%dT%H%M%S}Z-{uuid.uuid4().hex}.parquet"
    )


def deployment_prefix(project: str, deployment_id: str) -> str:
    """The deployment's folder in the project's folder of the object store (the files API shows it as
    `serving/<deployment>/`)."""
    return f"projects/{project}/serving/{deployment_id}/"
