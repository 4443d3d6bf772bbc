"""The model workers' wire format, request merging and environment (no processes started here)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from mlplatform.modules.serving.workers import batching
from mlplatform.modules.serving.workers.errors import ModelRaised, PredictInputError, WorkerUnavailable
from mlplatform.modules.serving.workers.process import CHILD_BOOTSTRAP, child_environment
from mlplatform.modules.serving.workers.protocol import (
    HEADER,
    MAX_FRAME_BYTES,
    Answer,
    ColumnSpec,
    Failure,
    FrameRequest,
    ModelInfo,
    Ready,
    Request,
    TensorRequest,
    encode,
    frame_length,
    reply_decoder,
    request_decoder,
)


def test_frames_carry_requests_and_replies_with_their_ids() -> None:
    request = FrameRequest(id=7, columns={"b": [1.5, None], "a": ["x", "y"]}, params={"k": 1})
    frame = encode(request)
    assert frame_length(frame[: HEADER.size]) == len(frame) - HEADER.size
    decoded = request_decoder.decode(frame[HEADER.size :])
    assert decoded == request
    assert list(decoded.columns) == ["b", "a"]  # column order survives
    tensor = TensorRequest(id=8, data={"t": [[1, 2], [3, 4]]})
    assert request_decoder.decode(encode(tensor)[HEADER.size :]) == tensor
    info = ModelInfo(
        flavor="sklearn",
        inputs=[ColumnSpec(name="f0", type="double")],
        tensor_inputs=False,
        outputs=None,
        mlflow_version="3.17.2",
        memory_rss_mb=120.5,
        load_seconds=0.0,
    )
    for reply in (Ready(info=info), Answer(id=7, predictions=[{"a": 1}]), Failure(id=8, kind="model", message="x")):
        assert reply_decoder.decode(encode(reply)[HEADER.size :]) == reply


def test_an_oversized_frame_length_is_a_broken_stream() -> None:
    with pytest.raises(ValueError, match="out of step"):
        frame_length(HEADER.pack(MAX_FRAME_BYTES + 1))


def test_a_value_msgpack_cannot_carry_is_refused_at_encoding() -> None:
    with pytest.raises(TypeError):
        encode(FrameRequest(id=1, columns={"a": [object()]}))


def frame(request_id: int, rows: int = 1, params: dict[str, Any] | None = None, **columns: list[Any]) -> FrameRequest:
    default: dict[str, list[Any]] = {"a": [1.0] * rows, "b": ["x"] * rows}
    return FrameRequest(id=request_id, columns=columns or default, params=params)


def test_requests_with_the_same_columns_and_value_types_are_merged() -> None:
    requests = [frame(1), frame(2, rows=3), frame(3, a=[1], b=["x"]), frame(4), frame(5, a=[2], b=["y"])]
    units = batching.plan(requests, max_rows=100)
    assert [[request.id for request in unit] for unit in units] == [[1, 2, 4], [3, 5]]
    merged = batching.merged_columns([request for request in units[0] if isinstance(request, FrameRequest)])
    assert merged == {"a": [1.0] * 5, "b": ["x"] * 5}


def test_requests_that_could_answer_differently_together_stay_apart() -> None:
    requests: list[Request] = [
        frame(1, params={"threshold": 1}),
        frame(2, params={"threshold": 1}),
        TensorRequest(id=3, data=[[1.0]]),
        TensorRequest(id=4, data=[[1.0]]),
        frame(5, b=["x"], a=[1.0]),  # other column order
        frame(6),
        frame(7, rows=batching.BATCHABLE_ROWS + 1),
        frame(8, rows=batching.BATCHABLE_ROWS + 1),
        frame(9, a=[1.0, None], b=["x", "y"]),  # a None among the floats
    ]
    units = batching.plan(requests, max_rows=10_000)
    assert all(len(unit) == 1 for unit in units)


def test_a_merge_stops_at_the_row_limit() -> None:
    units = batching.plan([frame(index, rows=4) for index in range(5)], max_rows=10)
    assert [[request.id for request in unit] for unit in units] == [[0, 1], [2, 3], [4]]


def test_the_child_environment_keeps_platform_secrets_out() -> None:
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("MLPLATFORM_DATABASE_URL", "postgresql://secret")
        environment.setenv("MLFLOW_TRACKING_URI", "http://tracking")
        environment.setenv("MLFLOW_TRACKING_TOKEN", "token")
        environment.setenv("_MLFLOW_SERVER_FILE_STORE", "postgresql://secret")
        environment.setenv("MLFLOW_REGISTRY_URI", "postgresql://secret")
        environment.setenv("OMP_NUM_THREADS", "3")
        environment.setenv("HOME", "/home/platform")
        child = child_environment({"AWS_ACCESS_KEY_ID": "key", "MLPLATFORM_SMUGGLED": "x", "MKL_NUM_THREADS": "2"})
    assert not [name for name in child if name.startswith(("MLPLATFORM_", "MLFLOW_TRACKING_", "_MLFLOW_SERVER_"))]
    assert "MLFLOW_REGISTRY_URI" not in child
    assert child["AWS_ACCESS_KEY_ID"] == "key"
    assert child["HOME"] == "/home/platform"
    assert (child["OMP_NUM_THREADS"], child["MKL_NUM_THREADS"], child["OPENBLAS_NUM_THREADS"]) == ("3", "2", "1")


def test_errors_answer_as_the_routes_need() -> None:
    assert PredictInputError("Model is missing inputs ['f3'].").status_code == 422
    raised = ModelRaised("ValueError: " + "x" * 2000)
    assert (raised.status_code, raised.title, len(raised.detail)) == (422, "Model error", 500)
    unavailable = WorkerUnavailable("restarting")
    assert (unavailable.status_code, unavailable.component) == (503, "model worker")


def test_the_child_bootstrap_skips_the_serving_module_declaration() -> None:
    """The bootstrap runs the child's `main` without executing `serving/__init__.py` (`--help` stops it
    before it touches its pipes)."""
    probe = CHILD_BOOTSTRAP.replace(
        "main()", "print(sys.modules['mlplatform.modules.serving'].__dict__.get('__file__')); main()"
    )
    done = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("None\n")
    assert "A model worker process" in done.stdout
