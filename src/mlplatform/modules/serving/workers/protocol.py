"""What the platform and a model worker process say to each other over the child's stdin/stdout pipes.

Each message is one frame: a 4-byte big-endian length, then a msgpack document (msgspec). Requests carry
an id the answer repeats, so several requests can be in flight on one child at a time (pipelining: the
child batches what has queued up while it was busy). The first frame a child sends is `Ready` (model
loaded and warm) or `LoadError`; after that only `Answer` and `Failure`.

Both sides import this module: it depends on msgspec alone (no MLflow, no platform imports).
"""

from __future__ import annotations

import struct
from typing import Any, Literal

import msgspec

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 512 * 1024 * 1024
"""A frame longer than this is a broken stream, not a message (the row limit keeps real ones far smaller)."""


class ColumnSpec(msgspec.Struct, frozen=True):
    """One column of a model signature; `type` is MLflow's ColSpec type name (double, long, string ...,
    or array/object/map for the nested types)."""

    name: str
    type: str
    required: bool = True


class ModelInfo(msgspec.Struct, frozen=True):
    flavor: str | None
    """The model's own flavor in its MLmodel (sklearn, xgboost ...): the one that is not python_function."""
    inputs: list[ColumnSpec] | None
    """The column signature in order; None without a signature or with a tensor signature."""
    tensor_inputs: bool
    outputs: list[ColumnSpec] | None
    mlflow_version: str | None
    memory_rss_mb: float
    """Resident memory of one worker once the model is loaded and warmed up."""
    load_seconds: float
    """From the child's start to warm: interpreter, imports, download, load, warm-up predict."""


class Prediction(msgspec.Struct):
    predictions: Any
    """JSON-able, as MLflow's scoring server answers: a list (one item per row), records, or a dict."""


# Platform -> child


class FrameRequest(msgspec.Struct, tag="frame", array_like=True):
    id: int
    columns: dict[str, list[Any]]
    params: dict[str, Any] | None = None


class TensorRequest(msgspec.Struct, tag="tensor", array_like=True):
    id: int
    data: Any
    params: dict[str, Any] | None = None


Request = FrameRequest | TensorRequest

# Child -> platform


class Ready(msgspec.Struct, tag="ready", array_like=True):
    info: ModelInfo


class LoadError(msgspec.Struct, tag="load_error", array_like=True):
    reason: str


class Answer(msgspec.Struct, tag="answer", array_like=True):
    id: int
    predictions: Any


class Failure(msgspec.Struct, tag="failure", array_like=True):
    id: int
    kind: Literal["input", "model"]
    """input: the model's schema enforcement refused the input; model: its predict raised."""
    message: str


Reply = Ready | LoadError | Answer | Failure

MESSAGE_CHARS = 500
"""Reasons and error messages are trimmed to this: enough to name the cause, never a whole input."""


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


_encoder = msgspec.msgpack.Encoder()


def encode(message: Request | Reply) -> bytes:
    """One frame: header and body (raises TypeError/OverflowError for a value msgpack cannot carry)."""
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


request_decoder = msgspec.msgpack.Decoder(Request)
reply_decoder = msgspec.msgpack.Decoder(Reply)


def frame_length(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ValueError(f"frame of {length} bytes: the stream is out of step")
    return int(length)
