"""Running requests against the loaded model (child side): frames and tensors in, replies out.

A unit of several frame requests (see `batching.py`) is predicted as one merged frame when that works and
the output has one row per input row; otherwise each request is predicted alone, so one caller's bad
input or the model raising on one caller's row never fails the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlplatform.modules.serving.workers import batching
from mlplatform.modules.serving.workers.frames import FramePlan
from mlplatform.modules.serving.workers.outputs import jsonable, row_count, split_rows
from mlplatform.modules.serving.workers.protocol import (
    MESSAGE_CHARS,
    Answer,
    Failure,
    FrameRequest,
    Reply,
    Request,
    describe,
)

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel


def input_refusal(exc: BaseException) -> str | None:
    """The reason when `exc` is MLflow refusing the input (its schema enforcement), else None.

    pyfunc wraps the refusal in "Failed to enforce schema of data '<the whole frame>' with schema ...
    Error: <reason>": the reason (which names the column) is the exception it was raised from."""
    from mlflow.exceptions import MlflowException

    if not isinstance(exc, MlflowException):
        return None
    if exc.error_class != "SCHEMA_ENFORCEMENT_FAILED" and "Failed to enforce schema" not in exc.message:
        return None
    cause = exc.__cause__ or exc.__context__
    reason = str(cause) if cause is not None and str(cause) else exc.message.rpartition("Error: ")[2]
    return reason[:MESSAGE_CHARS]


class Worker:
    """Runs requests against the loaded model."""

    def __init__(self, model: PyFuncModel, max_rows: int, example: Any = None) -> None:
        import pandas as pd

        self.model = model
        self.max_rows = max_rows
        self.input_schema = model.metadata.get_input_schema()
        self.pandas = pd
        self.plan = FramePlan(model)
        self.plan.calibrate(model, example)

    def predict_columns(self, columns: dict[str, list[Any]]) -> Any:
        """`predict` of a frame request: straight to the flavor when the frame can be built exactly as MLflow's
        enforcement would leave it (`frames.py`), through MLflow's full path otherwise."""
        exact = self.plan.exact(columns)
        if exact is not None and self.plan.predict_fn is not None:
            return self.plan.predict_exact(exact)
        return self.model.predict(self.frame(columns))

    def frame(self, columns: dict[str, list[Any]]) -> Any:
        """The columns as a DataFrame with the signature's types, as MLflow's scoring server builds it from
        JSON (a JSON `4` is an integer; a `double` column takes it as 4.0)."""
        from mlflow.utils.proto_json_utils import cast_df_types_according_to_schema

        frame = self.pandas.DataFrame(columns)
        if self.input_schema is not None and not self.input_schema.is_tensor_spec():
            frame = cast_df_types_according_to_schema(frame, self.input_schema)
        return frame

    def run(self, requests: list[Request]) -> Iterator[list[Reply]]:
        """The replies to `requests`, as each is ready (a merged unit's together): the caller sends each
        list at once, so a quick request is not held back by a slow one queued with it."""
        for unit in batching.plan(requests, self.max_rows):
            merged = self.run_merged(unit) if len(unit) > 1 else None
            if merged is not None:
                yield merged
            else:
                for request in unit:
                    yield [self.run_one(request)]

    def run_merged(self, unit: list[Request]) -> list[Reply] | None:
        """One predict for the unit, split back per request; None: predict them one by one instead."""
        frames = [request for request in unit if isinstance(request, FrameRequest)]
        sizes = [batching.rows(request) for request in frames]
        try:
            raw = self.predict_columns(batching.merged_columns(frames))
            if row_count(raw) != sum(sizes):
                return None
            return [
                Answer(id=request.id, predictions=jsonable(part))
                for request, part in zip(frames, split_rows(raw, sizes), strict=True)
            ]
        except Exception:
            return None  # one request's bad input must not fail the others: each is tried alone

    def run_one(self, request: Request) -> Reply:
        exact = None
        try:
            if isinstance(request, FrameRequest) and request.params is None:
                exact = self.plan.exact(request.columns)
            if exact is not None:
                data: Any = exact
            elif isinstance(request, FrameRequest):
                data = self.frame(request.columns)
            else:
                data = self.parse_tensor(request.data)
        except Exception as exc:
            return Failure(id=request.id, kind="input", message=input_refusal(exc) or describe(exc))
        try:
            if exact is not None and self.plan.predict_fn is not None:
                raw = self.plan.predict_exact(exact)
            elif request.params is not None:
                raw = self.model.predict(data, params=request.params)
            else:
                raw = self.model.predict(data)
            return Answer(id=request.id, predictions=jsonable(raw))
        except Exception as exc:
            refusal = input_refusal(exc)
            if refusal is not None:
                return Failure(id=request.id, kind="input", message=refusal)
            return Failure(id=request.id, kind="model", message=describe(exc))

    def parse_tensor(self, data: Any) -> Any:
        """`instances`/`inputs` data as MLflow's scoring server parses it: rows of objects are `instances`
        (turned into columns), anything else `inputs` (cast to the signature's types)."""
        from mlflow.utils.proto_json_utils import parse_tf_serving_input

        key = "instances" if isinstance(data, list) and data and isinstance(data[0], dict) else "inputs"
        return parse_tf_serving_input({key: data}, schema=self.input_schema)
