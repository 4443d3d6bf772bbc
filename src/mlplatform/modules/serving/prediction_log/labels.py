"""Ground truth for logged predictions: labels attached by request id, written as one Parquet file per call.

Labels are written before the call is answered (not buffered like predictions): an acknowledged label is
stored, and a store that is down answers 503 so the caller sends them again. They land in the deployment's
folder beside its predictions, partitioned by the day they were received:
`projects/<project>/serving/<deployment>/labels/date=YYYY-MM-DD/part-<time>-<uuid>.parquet`.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from mlplatform.kernel.errors import Invalid, Unavailable
from mlplatform.kernel.storage import ObjectStore, ObjectStoreUnavailable
from mlplatform.modules.serving.prediction_log.records import part_key

MAX_LABELS = 10_000
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,100}$"
"""The platform's request ids (and the `X-Request-ID` values a client may send with its prediction)."""
LABEL_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("row", pa.int32()),
        pa.field("label", pa.string(), nullable=False),
        pa.field("observed_at", pa.timestamp("us", tz="UTC")),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("deployment_id", pa.string(), nullable=False),
        pa.field("actor", pa.string(), nullable=False),
    ]
)


class Label(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    request_id: Annotated[str, msgspec.Meta(pattern=REQUEST_ID_PATTERN)]
    """The request id of the prediction (its `X-Request-ID` response header, or the one the client sent)."""
    label: Any
    """The ground truth: any JSON value (a class, a number, an object ...), stored as JSON text."""
    row: Annotated[int, msgspec.Meta(ge=0, le=MAX_LABELS - 1)] | None = None
    """The row of a prediction request with several rows; none: the label is about the whole request."""
    observed_at: datetime | None = None
    """When the outcome was observed (RFC 3339 with an offset); default: when the platform received it."""


class LabelsBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    labels: Annotated[list[Label], msgspec.Meta(min_length=1, max_length=MAX_LABELS)]


class LabelsAccepted(msgspec.Struct, kw_only=True):
    accepted: int
    file: str
    """The file written, as the project's files API names it (`serving/<deployment>/labels/date=.../...`)."""


def check_labels(body: LabelsBody) -> None:
    """What the schema cannot say: an observation time must carry its offset."""
    for index, item in enumerate(body.labels):
        if item.observed_at is not None and item.observed_at.tzinfo is None:
            raise Invalid(
                f"labels[{index}].observed_at: give an RFC 3339 time with an offset (such as 'Z')",
                field=f"labels[{index}].observed_at",
            )


def encode_labels(body: LabelsBody, deployment_id: str, actor: str, received: datetime) -> bytes:
    """Blocking (worker thread): the labels as a Parquet file (zstd)."""
    encoder = msgspec.json.Encoder()
    labels = body.labels
    columns = {
        "request_id": [item.request_id for item in labels],
        "row": [item.row for item in labels],
        "label": [encoder.encode(item.label).decode() for item in labels],
        "observed_at": [item.observed_at.astimezone(UTC) if item.observed_at else received for item in labels],
        "received_at": [received] * len(labels),
        "deployment_id": [deployment_id] * len(labels),
        "actor": [actor] * len(labels),
    }
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(columns, schema=LABEL_SCHEMA), sink, compression="zstd")
    return sink.getvalue()


async def write_labels(
    store: ObjectStore, project: str, deployment_id: str, body: LabelsBody, actor: str
) -> LabelsAccepted:
    check_labels(body)
    received = datetime.now(UTC)
    data = await asyncio.to_thread(encode_labels, body, deployment_id, actor, received)
    key = part_key(project, deployment_id, "labels", f"{received:%Y-%m-%d}", received)
    try:
        await store.put(key, data, "application/vnd.apache.parquet")
    except ObjectStoreUnavailable as exc:
        raise Unavailable(f"the labels could not be stored: {exc}", component="object_store") from exc
    return LabelsAccepted(accepted=len(body.labels), file=key.removeprefix(f"projects/{project}/"))
